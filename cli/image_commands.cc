// Image commands: create (a new image, or with -p a differencing child), info (of the whole chain).
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chain/chain.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/hints.h"
#include "cli/qemu_options.h"
#include "cli/size_parse.h"
#include "disk/open.h"
#include "vhdx/image.h"

namespace hvdisk::cli {
namespace {

using Json = nlohmann::ordered_json;

// ---- create ------------------------------------------------------------------------------------

struct CreateArgs {
  std::string type = "dynamic";
  std::string block = "32M";
  uint32_t logical_sector = 512;
  uint32_t physical_sector = 4096;
  std::string file;
  std::string size;
  std::string parent;
  std::vector<std::string> roots;
  std::string options;  // -o key=value,...
  bool block_given = false;
  bool image_given = false;  // --type, a sector size or -o: not with a parent
  bool json = false;
  bool quiet = false;
};

// -o's settings over the options given (block size, type, logical sector).
Status ApplyCreateOptions(CreateArgs* a) {
  ASSIGN_OR_RETURN(ImageOptions o, ParseImageOptions(a->options));
  if (o.subformat) a->type = *o.subformat;
  if (o.block_size) {
    a->block = *o.block_size;
    a->block_given = true;
  }
  if (o.logical_sector_size) a->logical_sector = *o.logical_sector_size;
  return Status::Ok();
}

// With a parent (-p/-b): what the child takes from it may not be given; -b 1M is a block size
// given out of an old habit.
Status CheckChildArgs(const CreateArgs& a) {
  RETURN_IF_ERROR(CheckBackingIsNotABlockSize(a.parent));
  if (!a.size.empty()) {
    return InvalidArgument("SIZE is taken from the backing file " + a.parent + "; omit it");
  }
  if (a.image_given) {
    return InvalidArgument("--type and the sector sizes are taken from the backing file " +
                           a.parent);
  }
  return Status::Ok();
}

// --json: the new image as `info --json` shows it (defined with info below).
int PrintCreatedJson(const CreateArgs& a);

Status ValidateCreate(const vhdx::CreateOptions& o) {
  if (!vhdx::IsValidBlockSize(o.block_size)) {
    return InvalidArgument("block size must be a power of two from 1M to 256M");
  }
  if (o.virtual_size == 0 || o.virtual_size % o.logical_sector_size != 0) {
    return InvalidArgument("size must be a non-zero multiple of the logical sector size (" +
                           std::to_string(o.logical_sector_size) + ")");
  }
  if (o.virtual_size > vhdx::kMaxVirtualDiskSize) {
    return InvalidArgument("size exceeds the VHDX maximum of 64 TiB");
  }
  return Status::Ok();
}

// The child must open as a chain with the roots given, or it is removed again.
int RunCreateChild(const CreateArgs& a) {
  FileSystem* fs = DefaultFileSystem();
  chain::CreateChildOptions o;
  if (a.block_given) {
    const uint64_t block = CheckedSize(a.block);
    if (!vhdx::IsValidBlockSize(block)) {
      return UsageError(InvalidArgument("block size must be a power of two from 1M to 256M"));
    }
    o.block_size = static_cast<uint32_t>(block);
  }
  if (Status s = chain::CreateChild(fs, a.parent, a.file, o); !s.ok()) {
    return ReportError(s.WithContext("create " + a.file + " on " + a.parent),
                       hint::NewFile(s, a.file, a.parent));
  }
  Result<std::unique_ptr<disk::VirtualDisk>> disk = OpenDisk(a.file, {.allowed_roots = a.roots});
  if (!disk.ok()) {
    (void)fs->Unlink(a.file);
    return ReportDiskError(disk.status().WithContext("create " + a.file + " (removed again)"),
                           a.parent, true);
  }
  if (a.json) return PrintCreatedJson(a);
  if (a.quiet) return kExitOk;
  vhdx::Image* child = (*disk)->image();
  std::printf("Created '%s': differencing VHDX on '%s', virtual size %s, block size %s, depth %d\n",
              a.file.c_str(), a.parent.c_str(), FormatSize(child->virtual_size()).c_str(),
              FormatSize(child->block_size()).c_str(), (*disk)->chain()->depth());
  return kExitOk;
}

int RunCreate(CreateArgs a) {
  if (Status s = ApplyCreateOptions(&a); !s.ok()) return UsageError(s);
  if (!a.parent.empty()) {
    if (Status s = CheckChildArgs(a); !s.ok()) return UsageError(s);
    return RunCreateChild(a);
  }
  if (a.size.empty()) return UsageError(InvalidArgument("SIZE is required (unless -p PARENT)"));
  vhdx::CreateOptions o;
  o.type = a.type == "fixed" ? vhdx::DiskType::kFixed : vhdx::DiskType::kDynamic;
  o.virtual_size = CheckedSize(a.size);
  const uint64_t block = CheckedSize(a.block);
  o.block_size = block <= vhdx::kMaxBlockSize ? static_cast<uint32_t>(block) : 0;
  o.logical_sector_size = a.logical_sector;
  o.physical_sector_size = a.physical_sector;
  if (Status s = ValidateCreate(o); !s.ok()) return UsageError(s);
  if (Status s = vhdx::Image::Create(DefaultFileSystem(), a.file, o); !s.ok()) {
    return ReportError(s.WithContext("create " + a.file), hint::NewFile(s, a.file));
  }
  if (a.json) return PrintCreatedJson(a);
  if (a.quiet) return kExitOk;
  std::printf("Created '%s': %s VHDX, virtual size %s (%llu bytes), block size %s, sectors %u/%u\n",
              a.file.c_str(), a.type.c_str(), FormatSize(o.virtual_size).c_str(),
              static_cast<unsigned long long>(o.virtual_size), FormatSize(o.block_size).c_str(),
              o.logical_sector_size, o.physical_sector_size);
  return kExitOk;
}

void RegisterCreate(CLI::App& app) {
  auto a = std::make_shared<CreateArgs>();
  CLI::App* sub = app.add_subcommand(
      "create",
      "Create a new VHDX image, or (-b/-p) a differencing image on top of a backing file");
  CLI::Option* parent = sub->add_option(
      "-b,-p,--backing,--parent", a->parent,
      "Create a differencing child of this VHDX, as qemu-img create -b (size, sectors and disk "
      "id copied from it)");
  sub->add_option("-F,--backing-format", "Format of the backing file: vhdx (the only one)")
      ->check(CLI::IsMember({"vhdx"}))
      ->needs(parent);
  sub->add_option("-f,--format", "Format of FILE: vhdx (the only one hvdisk creates)")
      ->check(CLI::IsMember({"vhdx"}));
  CLI::Option* opts[] = {
      sub->add_option("-t,--type", a->type, "fixed or dynamic (default dynamic)")
          ->check(CLI::IsMember({"fixed", "dynamic"})),
      AddSectorOption(sub, "--logical-sector", &a->logical_sector, "512 or 4K (default 512)"),
      AddSectorOption(sub, "--physical-sector", &a->physical_sector, "512 or 4K (default 4K)"),
      sub->add_option("-o,--options", a->options,
                      "qemu-img's VHDX options, comma separated: subformat=fixed|dynamic, "
                      "block_size=SIZE, log_size=1M, logical_sector_size=512|4096")};
  CLI::Option* block =
      sub->add_option("--block-size", a->block,
                      "Block size, 1M..256M (default 32M; with -b the backing file's)")
          ->check(SizeValidator());
  AddAllowRootOption(sub, &a->roots)->needs(parent);
  AddJsonFlag(sub, &a->json, "the new image, keys as info");
  sub->add_flag("-q,--quiet", a->quiet, "Print nothing when it succeeds");
  sub->add_option("FILE", a->file, "The image to create (must not exist)")->required();
  sub->add_option("SIZE", a->size, "Virtual size, e.g. 64M, 10G (not with -b)")
      ->check(SizeValidator());
  SetCommand(sub, [a, block, opts] {
    a->block_given = block->count() > 0;
    a->image_given = std::any_of(std::begin(opts), std::end(opts) - 1,
                                 [](CLI::Option* o) { return o->count() > 0; });
    return RunCreate(*a);
  });
}

// ---- info --------------------------------------------------------------------------------------

struct InfoArgs {
  bool json = false;
  std::string format;
  std::string file;
  std::vector<std::string> roots;
  bool force_share = false;
};

const char* TypeName(vhdx::DiskType t) {
  switch (t) {
    case vhdx::DiskType::kFixed:
      return "fixed";
    case vhdx::DiskType::kDynamic:
      return "dynamic";
    case vhdx::DiskType::kDifferencing:
      return "differencing";
  }
  return "unknown";
}

void AddFileSizes(const std::string& path, Json* j) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return;
  (*j)["file-size"] = static_cast<uint64_t>(st.st_size);
  (*j)["actual-size"] = static_cast<uint64_t>(st.st_blocks) * 512;
}

void AddImageInfo(vhdx::Image& img, Json* j) {
  (*j)["cluster-size"] = img.block_size();        // qemu-img's name for the block size
  (*j)["dirty-flag"] = !img.log_guid().IsZero();  // a log to replay: not cleanly closed
  (*j)["type"] = TypeName(img.type());
  (*j)["block-size"] = img.block_size();
  (*j)["logical-sector-size"] = img.logical_sector_size();
  (*j)["physical-sector-size"] = img.physical_sector_size();
  (*j)["virtual-disk-id"] = img.virtual_disk_id().ToString();
  (*j)["data-write-guid"] = img.data_write_guid().ToString();
  (*j)["file-write-guid"] = img.file_write_guid().ToString();
  (*j)["log-guid"] = img.log_guid().ToString();
  (*j)["allocated-blocks"] = img.allocated_blocks();
  (*j)["total-blocks"] = (img.virtual_size() + img.block_size() - 1) / img.block_size();
  if (!img.parent_locator().empty()) {
    Json locator = Json::object();
    for (const auto& [key, value] : img.parent_locator()) locator[key] = value;
    (*j)["parent-locator"] = locator;
  }
}

// One layer of the chain: its file, type, block size, DataWriteGuid and parent locator (whose
// parent_linkage names the DataWriteGuid of the layer below).
Json LayerJson(vhdx::Image& img, const std::string& path) {
  Json j;
  j["filename"] = path;
  j["type"] = TypeName(img.type());
  j["block-size"] = img.block_size();
  j["data-write-guid"] = img.data_write_guid().ToString();
  j["allocated-blocks"] = img.allocated_blocks();
  if (!img.parent_locator().empty()) {
    Json locator = Json::object();
    for (const auto& [key, value] : img.parent_locator()) locator[key] = value;
    j["parent-locator"] = locator;
  }
  return j;
}

void AddChainInfo(disk::VirtualDisk& disk, Json* j) {
  const chain::Chain* chain = disk.chain();
  if (chain == nullptr) return;
  const std::vector<std::string> paths = disk.layer_paths();
  if (paths.size() > 1) {
    (*j)["backing-filename"] = paths[1];
    (*j)["full-backing-filename"] = paths[1];  // already the parent's real path
  }
  Json layers = Json::array();
  for (size_t i = 0; i < paths.size(); ++i) {
    layers.push_back(LayerJson(*chain->images()[i], paths[i]));
  }
  (*j)["chain"] = layers;
}

void PrintObject(const Json& object, const char* indent) {
  for (const auto& [k, v] : object.items()) {
    std::printf("%s%s: %s\n", indent, k.c_str(), v.get<std::string>().c_str());
  }
}

// "[1] d1.avhdx: differencing, block size 1 MiB, 3 blocks allocated", then its GUID and locator.
void PrintChainText(const Json& chain) {
  if (chain.size() < 2) return;  // a lone image: the keys above say it all
  std::printf("chain (leaf first):\n");
  for (size_t i = 0; i < chain.size(); ++i) {
    const Json& l = chain[i];
    std::printf("    [%zu] %s: %s, block size %s, %llu blocks allocated\n", i,
                l["filename"].get<std::string>().c_str(), l["type"].get<std::string>().c_str(),
                FormatSize(l["block-size"].get<uint64_t>()).c_str(),
                static_cast<unsigned long long>(l["allocated-blocks"].get<uint64_t>()));
    std::printf("        data write guid: %s\n", l["data-write-guid"].get<std::string>().c_str());
    if (l.contains("parent-locator")) PrintObject(l["parent-locator"], "        ");
  }
}

// "virtual size: 64 MiB (67108864 bytes)" for the size keys, "key: value" for the others.
void PrintInfoText(const Json& j) {
  for (const auto& [key, value] : j.items()) {
    std::string label = key;
    for (char& c : label) c = c == '-' ? ' ' : c;
    if (value.is_array()) {
      PrintChainText(value);
    } else if (value.is_object()) {
      std::printf("%s:\n", label.c_str());
      PrintObject(value, "    ");
    } else if (value.is_string()) {
      std::printf("%s: %s\n", label.c_str(), value.get<std::string>().c_str());
    } else if (label.find("size") != std::string::npos && label.find("sector") == label.npos) {
      const uint64_t n = value.get<uint64_t>();
      std::printf("%s: %s (%llu bytes)\n", label.c_str(), FormatSize(n).c_str(),
                  static_cast<unsigned long long>(n));
    } else {
      std::printf("%s: %s\n", label.c_str(), value.dump().c_str());
    }
  }
}

// The disk, or its leaf alone when only its chain is broken (disk::OpenForInspection), so that
// info still shows the locator to repair.
Result<std::unique_ptr<disk::VirtualDisk>> OpenForInfo(const InfoArgs& a, disk::Format format,
                                                       Status* chain_error) {
  Result<std::unique_ptr<disk::VirtualDisk>> disk = disk::OpenForInspection(
      DefaultFileSystem(), a.file,
      {.format = format, .force_share = a.force_share, .allowed_roots = a.roots}, chain_error);
  if (!disk.ok()) return ExplainChainError(disk.status());
  *chain_error = ExplainChainError(*chain_error);
  return disk;
}

// The info keys of a.file; *chain_error as OpenForInfo sets it.
Result<Json> BuildInfo(const InfoArgs& a, disk::Format format, Status* chain_error) {
  ASSIGN_OR_RETURN(std::unique_ptr<disk::VirtualDisk> disk, OpenForInfo(a, format, chain_error));
  Json j;
  j["filename"] = a.file;
  j["format"] = std::string(disk::FormatName(disk->format()));
  j["virtual-size"] = disk->size();
  AddFileSizes(a.file, &j);
  if (vhdx::Image* img = disk->image()) AddImageInfo(*img, &j);
  AddChainInfo(*disk, &j);
  if (!chain_error->ok()) j["chain-error"] = chain_error->ToString();
  return j;
}

int PrintCreatedJson(const CreateArgs& a) {
  Status chain_error;
  Result<Json> j = BuildInfo({.file = a.file, .roots = a.roots}, disk::Format::kVhdx, &chain_error);
  if (!j.ok()) return ReportDiskError(j.status(), a.file, true);
  PrintJson(*j);
  return kExitOk;
}

int RunInfo(const InfoArgs& a) {
  Result<disk::Format> format = disk::ParseFormat(a.format);
  if (!format.ok()) return UsageError(format.status());
  Status chain_error;
  Result<Json> info = BuildInfo(a, *format, &chain_error);
  if (!info.ok()) return ReportDiskError(info.status(), a.file, true);
  const Json& j = *info;
  if (a.json) {
    PrintJson(j);
  } else {
    PrintInfoText(j);
  }
  if (!chain_error.ok()) {
    std::fprintf(stderr, "hvdisk: warning: the chain does not open; showing %s alone: %s: %s\n",
                 a.file.c_str(), std::string(CodeWords(chain_error.code())).c_str(),
                 chain_error.message().c_str());
  }
  return kExitOk;
}

void RegisterInfo(CLI::App& app) {
  auto a = std::make_shared<InfoArgs>();
  CLI::App* sub = app.add_subcommand(
      "info", "Show an image's type, sizes, GUIDs and locator, and each layer of its chain");
  AddJsonFlag(sub, &a->json,
              "qemu-img info's keys where they exist; \"chain\": every layer, leaf first");
  AddFormatOption(sub, &a->format);
  AddAllowRootOption(sub, &a->roots);
  AddForceShareFlag(sub, &a->force_share);
  sub->add_option("FILE", a->file, "The image")->required();
  SetCommand(sub, [a] { return RunInfo(*a); });
}

}  // namespace

void RegisterImageCommands(CLI::App& app) {
  RegisterCreate(app);
  RegisterInfo(app);
}

}  // namespace hvdisk::cli
