// Maintenance commands on one image file: resize (Resize-VHD) and compact (Optimize-VHD).
//
// Both open FILE alone, writable (the image locks keep qemu and other hvdisk processes out), and
// never open or change a parent. A differencing disk must keep its parent's virtual size
// (chain/linkage), so resize takes a differencing disk only to its parent's size: grow the base
// first, then each child to the same size.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chain/parent_path.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/size_parse.h"
#include "vhdx/image.h"

namespace hvdisk::cli {
namespace {

using Json = nlohmann::ordered_json;

struct MaintainArgs {
  std::string file;
  std::string size;
  bool shrink = false;
  bool zero_scan = false;
  bool json = false;
  std::vector<std::string> roots;
};

Result<std::unique_ptr<vhdx::Image>> OpenWritable(const std::string& file) {
  return vhdx::Image::Open(DefaultFileSystem(), file, {.read_only = false});
}

// The virtual size of the differencing image's parent, found through its locator's paths within
// the allowed roots (as a chain resolves it, without the linkage checks that a size change
// breaks for a while).
Result<uint64_t> ParentSize(const vhdx::Image& child, const std::vector<std::string>& roots) {
  FileSystem* fs = DefaultFileSystem();
  const std::string dir = DirName(child.path());
  ASSIGN_OR_RETURN(std::string real_dir, fs->RealPath(dir));
  const std::vector<std::string> allowed = roots.empty() ? std::vector{real_dir} : roots;
  for (const auto& [key, value] : child.parent_locator()) {
    if (key != "relative_path" && key != "absolute_win32_path") continue;
    for (const std::string& candidate : chain::ParentPathCandidates(dir, value)) {
      Result<std::string> real = chain::Confine(fs, candidate, allowed);
      if (!real.ok()) continue;
      auto parent = vhdx::Image::Open(fs, *real, {.read_only = true, .force_share = true});
      if (parent.ok()) return (*parent)->virtual_size();
    }
  }
  return NotFound(child.path() + ": its parent was not found through its parent locator");
}

int RunResize(const MaintainArgs& a) {
  const uint64_t size = CheckedSize(a.size);
  auto image = OpenWritable(a.file);
  if (!image.ok()) return ReportError(image.status());
  const uint64_t old_size = (*image)->virtual_size();
  if ((*image)->type() == vhdx::DiskType::kDifferencing) {
    Result<uint64_t> parent = ParentSize(**image, a.roots);
    if (!parent.ok()) return ReportError(parent.status());
    if (*parent != size) {
      return UsageError(InvalidArgument(
          a.file + " is a differencing disk: its size must stay its parent's (" +
          std::to_string(*parent) + " bytes); resize the parent first, then each child to it"));
    }
  }
  Status s = (*image)->Resize(size, a.shrink);
  if (s.ok()) s = (*image)->Close();
  if (!s.ok()) {
    if (s.code() == Code::kInvalidArgument) return UsageError(s);
    return ReportError(s);
  }
  if (a.json) {
    PrintJson(Json{{"filename", a.file}, {"old-size", old_size}, {"virtual-size", size}});
  } else {
    std::printf("%s: resized from %s to %s\n", a.file.c_str(), FormatSize(old_size).c_str(),
                FormatSize(size).c_str());
  }
  return kExitOk;
}

int RunCompact(const MaintainArgs& a) {
  auto image = OpenWritable(a.file);
  if (!image.ok()) return ReportError(image.status());
  Result<vhdx::CompactReport> r = (*image)->Compact({.zero_scan = a.zero_scan});
  Status s = r.ok() ? (*image)->Close() : r.status();
  if (!s.ok()) return ReportError(s);
  if (a.json) {
    PrintJson(Json{{"filename", a.file},
                   {"blocks-trimmed", r->blocks_trimmed},
                   {"blocks-moved", r->blocks_moved},
                   {"file-size-before", r->file_size_before},
                   {"file-size-after", r->file_size_after}});
  } else {
    std::printf("%s: %llu zero blocks freed, %llu blocks moved; file %s -> %s\n", a.file.c_str(),
                static_cast<unsigned long long>(r->blocks_trimmed),
                static_cast<unsigned long long>(r->blocks_moved),
                FormatSize(r->file_size_before).c_str(), FormatSize(r->file_size_after).c_str());
  }
  return kExitOk;
}

}  // namespace

void RegisterMaintainCommands(CLI::App& app) {
  auto r = std::make_shared<MaintainArgs>();
  CLI::App* resize = app.add_subcommand(
      "resize", "Change a VHDX's virtual size (Resize-VHD): grow, or with --shrink shrink");
  AddJsonFlag(resize, &r->json, "filename, old-size, virtual-size");
  AddAllowRootOption(resize, &r->roots);
  resize->add_option("FILE", r->file, "The VHDX (a differencing disk: to its parent's size)")
      ->required();
  resize->add_option("SIZE", r->size, "The new virtual size (K/M/G/T)")
      ->required()
      ->check(SizeValidator());
  resize->add_flag("--shrink", r->shrink,
                   "Allow a smaller size; refused when data lies past the new end");
  SetCommand(resize, [r] { return RunResize(*r); });

  auto c = std::make_shared<MaintainArgs>();
  CLI::App* compact = app.add_subcommand(
      "compact",
      "Shrink a dynamic or differencing VHDX (Optimize-VHD): free trimmed space, move blocks "
      "down into holes, truncate the file; the content is unchanged and parents are not touched");
  AddJsonFlag(compact, &c->json, "filename, blocks-trimmed, blocks-moved, file-size-before, ...");
  compact->add_option("FILE", c->file, "The VHDX")->required();
  compact->add_flag("--zero-scan", c->zero_scan,
                    "Also read every allocated block and free the ones that are all zeros");
  SetCommand(compact, [c] { return RunCompact(*c); });
}

}  // namespace hvdisk::cli
