// Content commands: digest, map, read, write.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/size_parse.h"
#include "disk/copier.h"
#include "disk/open.h"
#include "platform/digest.h"
#include "platform/hex.h"
#include "vhdx/format.h"

namespace hvdisk::cli {
namespace {

using disk::LayerExtent;
using disk::VirtualDisk;
using vhdx::Extent;

constexpr size_t kIoChunk = 1 * vhdx::kMiB;

struct FileArgs {
  std::string format;
  std::string file;
  bool json = false;
  std::string offset;
  std::string length;
  std::string pattern;
  std::vector<std::string> roots;
  bool force_share = false;
  std::string max_length;  // map: --max-length (default: to the end)
};

Result<std::unique_ptr<VirtualDisk>> OpenFileDisk(const FileArgs& a, bool writable) {
  ASSIGN_OR_RETURN(disk::Format format, disk::ParseFormat(a.format));
  return OpenDisk(a.file, {.format = format,
                           .writable = writable,
                           .force_share = a.force_share,
                           .allowed_roots = a.roots});
}

// ---- digest ------------------------------------------------------------------------------------

int RunDigest(const FileArgs& a) {
  Result<std::unique_ptr<VirtualDisk>> disk = OpenFileDisk(a, false);
  if (!disk.ok()) return ReportDiskError(disk.status(), a.file, true);
  Progress progress("digest", (*disk)->size(), a.json);
  disk::CopyOptions copy{.progress = [&](uint64_t done, uint64_t) { progress.Update(done); }};
  Result<Hash128> hash = disk::Copier(disk->get(), copy).Digest();
  progress.Finish();
  if (!hash.ok()) return ReportDiskError(hash.status(), a.file, true);
  if (a.json) {
    nlohmann::ordered_json j{{"filename", a.file},
                             {"algorithm", "xxh3-128-1m"},
                             {"digest", hash->ToHex()},
                             {"virtual-size", (*disk)->size()}};
    PrintJson(j);
  } else {
    std::printf("%s  %s\n", hash->ToHex().c_str(), a.file.c_str());
  }
  return kExitOk;
}

// ---- map ---------------------------------------------------------------------------------------

// Joins neighbours of the same kind and layer (data only when also contiguous in the file).
std::vector<LayerExtent> Coalesce(const std::vector<LayerExtent>& in) {
  std::vector<LayerExtent> out;
  for (const LayerExtent& le : in) {
    const Extent& e = le.extent;
    if (!out.empty()) {
      Extent& last = out.back().extent;
      const bool same =
          last.kind == e.kind && out.back().layer == le.layer &&
          (e.kind != Extent::Kind::kData || last.file_offset + last.length == e.file_offset);
      if (same && last.virtual_offset + last.length == e.virtual_offset) {
        last.length += e.length;
        continue;
      }
    }
    out.push_back(le);
  }
  return out;
}

// qemu-img map's keys: depth is the layer deciding the extent (0 the leaf, 1 its parent, ...);
// data extents also name their file. kParent (the bottom of an image opened alone) is not present.
nlohmann::ordered_json MapJson(const std::vector<LayerExtent>& extents,
                               const std::vector<std::string>& files) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const LayerExtent& le : extents) {
    const Extent& e = le.extent;
    const bool data = e.kind == Extent::Kind::kData;
    nlohmann::ordered_json j;
    j["start"] = e.virtual_offset;
    j["length"] = e.length;
    j["depth"] = le.layer + (e.kind == Extent::Kind::kParent ? 1 : 0);
    j["present"] = e.kind != Extent::Kind::kParent;
    j["zero"] = !data;
    j["data"] = data;
    if (data) j["offset"] = e.file_offset;
    if (data) j["filename"] = files[static_cast<size_t>(le.layer)];
    out.push_back(std::move(j));
  }
  return out;
}

const char* KindName(Extent::Kind k) {
  switch (k) {
    case Extent::Kind::kData:
      return "data";
    case Extent::Kind::kZero:
      return "zero";
    case Extent::Kind::kParent:
      return "parent";
  }
  return "?";
}

// The File column names the layer deciding the extent (zero extents too, in a chain).
void PrintMapText(const std::vector<LayerExtent>& extents, const std::vector<std::string>& files) {
  std::printf("%-20s%-20s%-8s%-20s%s\n", "Offset", "Length", "Type", "Mapped to", "File");
  for (const LayerExtent& le : extents) {
    const Extent& e = le.extent;
    const bool data = e.kind == Extent::Kind::kData;
    const bool named = data || (files.size() > 1 && e.kind == Extent::Kind::kZero);
    std::printf("%-20s%-20s%-8s%-20s%s\n", Hex(e.virtual_offset).c_str(), Hex(e.length).c_str(),
                KindName(e.kind), data ? Hex(e.file_offset).c_str() : "-",
                named ? files[static_cast<size_t>(le.layer)].c_str() : "-");
  }
}

int RunMap(const FileArgs& a) {
  Result<std::unique_ptr<VirtualDisk>> disk = OpenFileDisk(a, false);
  if (!disk.ok()) return ReportDiskError(disk.status(), a.file, true);
  const uint64_t size = (*disk)->size();
  const uint64_t start = std::min(a.offset.empty() ? 0 : CheckedSize(a.offset), size);
  const uint64_t length =
      std::min(a.max_length.empty() ? size : CheckedSize(a.max_length), size - start);
  Result<std::vector<LayerExtent>> extents = (*disk)->Map(start, length);
  if (!extents.ok() && extents.status().code() == Code::kInvalidArgument) {
    return UsageError(extents.status());
  }
  if (!extents.ok()) return ReportDiskError(extents.status(), a.file, true);
  std::vector<LayerExtent> runs = Coalesce(*extents);
  const std::vector<std::string> files = (*disk)->layer_paths();
  if (a.json) {
    PrintJson(MapJson(runs, files));
  } else {
    PrintMapText(runs, files);
  }
  return kExitOk;
}

// ---- read --------------------------------------------------------------------------------------

int RunRead(const FileArgs& a) {
  Result<std::unique_ptr<VirtualDisk>> disk = OpenFileDisk(a, false);
  if (!disk.ok()) return ReportDiskError(disk.status(), a.file, true);
  const uint64_t offset = CheckedSize(a.offset);
  const uint64_t length = CheckedSize(a.length);
  if (Status s = disk::CheckRange(**disk, offset, length); !s.ok()) return UsageError(s);
  if (a.json) {  // the range's metadata instead of its bytes
    PrintJson({{"filename", a.file},
               {"format", std::string(disk::FormatName((*disk)->format()))},
               {"virtual-size", (*disk)->size()},
               {"offset", offset},
               {"length", length}});
    return kExitOk;
  }
  std::vector<std::byte> buf(std::min<uint64_t>(length, kIoChunk));
  for (uint64_t done = 0; done < length;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), length - done));
    Status s = (*disk)->Read(offset + done, std::span(buf).first(n));
    if (!s.ok()) return ReportDiskError(s, a.file, true);
    if (s = WriteStdout(buf.data(), n); !s.ok()) return ReportError(s);
    done += n;
  }
  if (std::fflush(stdout) != 0) return ReportError(IoError("flush stdout"));
  return kExitOk;
}

// ---- write -------------------------------------------------------------------------------------

// Writes the pattern byte `length` times, or stdin to its end, at `offset`; returns the count.
Result<uint64_t> WriteData(VirtualDisk* disk, const FileArgs& a, uint64_t offset) {
  const bool pattern = !a.pattern.empty();
  const uint64_t length = pattern ? CheckedSize(a.length) : 0;
  std::vector<std::byte> buf(pattern ? std::min<uint64_t>(length, 8 * kIoChunk) : kIoChunk);
  if (pattern) {
    Result<uint8_t> byte = ParseByte(a.pattern);
    std::fill(buf.begin(), buf.end(), std::byte{byte.ok() ? *byte : uint8_t{0}});
    RETURN_IF_ERROR(disk::CheckRange(*disk, offset, length));
  }
  uint64_t done = 0;
  for (;;) {
    size_t n = pattern ? static_cast<size_t>(std::min<uint64_t>(buf.size(), length - done))
                       : std::fread(buf.data(), 1, buf.size(), stdin);
    if (n == 0) break;
    RETURN_IF_ERROR(disk::CheckRange(*disk, offset + done, n));
    RETURN_IF_ERROR(disk->Write(offset + done, std::span(buf).first(n)));
    done += n;
  }
  if (!pattern && std::ferror(stdin)) return IoError("read from stdin failed");
  return done;
}

int RunWrite(const FileArgs& a) {
  Result<std::unique_ptr<VirtualDisk>> disk = OpenFileDisk(a, true);
  if (!disk.ok()) return ReportDiskError(disk.status(), a.file, false);
  const uint64_t offset = CheckedSize(a.offset);
  Result<uint64_t> done = WriteData(disk->get(), a, offset);
  if (!done.ok()) {
    (void)(*disk)->Close();
    if (done.status().code() == Code::kInvalidArgument) return UsageError(done.status());
    return ReportDiskError(done.status(), a.file, false);
  }
  Status s = (*disk)->Flush();
  if (s.ok()) s = (*disk)->Close();
  if (!s.ok()) return ReportDiskError(s, a.file, false);
  if (a.json) {
    nlohmann::ordered_json j{{"filename", a.file}, {"offset", offset}, {"bytes-written", *done}};
    PrintJson(j);
  } else {
    std::printf("wrote %llu bytes at offset %llu\n", static_cast<unsigned long long>(*done),
                static_cast<unsigned long long>(offset));
  }
  return kExitOk;
}

// ---- registration ------------------------------------------------------------------------------

void RegisterContent(CLI::App& app) {
  auto d = std::make_shared<FileArgs>();
  CLI::App* digest = app.add_subcommand(
      "digest",
      "Content digest of the whole virtual content (xxh3-128-1m: XXH3-128 of the XXH3-128 of each "
      "MiB; hvdisk-json(7)), skipping what the allocation map reports as zero");
  AddJsonFlag(digest, &d->json, "filename, algorithm, digest, virtual-size");
  AddFormatOption(digest, &d->format);
  AddAllowRootOption(digest, &d->roots);
  AddForceShareFlag(digest, &d->force_share);
  digest->add_option("FILE", d->file, "The disk")->required();
  SetCommand(digest, [d] { return RunDigest(*d); });

  auto m = std::make_shared<FileArgs>();
  CLI::App* map = app.add_subcommand("map", "Show the runs of data and zeros and where they lie");
  AddJsonFlag(map, &m->json, "an array of extents, as 'qemu-img map --output=json'");
  AddFormatOption(map, &m->format);
  AddAllowRootOption(map, &m->roots);
  AddForceShareFlag(map, &m->force_share);
  map->add_option("--start-offset", m->offset, "First byte mapped (default 0), as qemu-img map")
      ->check(SizeValidator());
  map->add_option("--max-length", m->max_length, "Bytes mapped at most (default: to the end)")
      ->check(SizeValidator());
  map->add_option("FILE", m->file, "The disk")->required();
  SetCommand(map, [m] { return RunMap(*m); });
}

void RegisterReadWrite(CLI::App& app) {
  auto r = std::make_shared<FileArgs>();
  CLI::App* read = app.add_subcommand("read", "Copy LENGTH bytes at OFFSET to stdout");
  AddFormatOption(read, &r->format);
  AddAllowRootOption(read, &r->roots);
  AddForceShareFlag(read, &r->force_share);
  AddJsonFlag(read, &r->json,
              "the range (filename, format, virtual-size, offset, length), no data");
  read->add_option("FILE", r->file, "The disk")->required();
  read->add_option("OFFSET", r->offset, "Byte offset (K/M/G/T suffixes)")
      ->required()
      ->check(SizeValidator());
  read->add_option("LENGTH", r->length, "Byte count")->required()->check(SizeValidator());
  SetCommand(read, [r] { return RunRead(*r); });

  auto w = std::make_shared<FileArgs>();
  CLI::App* write = app.add_subcommand(
      "write", "Write stdin (or --length bytes of --pattern) at OFFSET, then flush and close");
  AddJsonFlag(write, &w->json, "filename, offset, bytes-written");
  AddFormatOption(write, &w->format);
  AddAllowRootOption(write, &w->roots);
  write->add_option("FILE", w->file, "The disk")->required();
  write->add_option("OFFSET", w->offset, "Byte offset")->required()->check(SizeValidator());
  CLI::Option* pattern =
      write->add_option("--pattern", w->pattern, "Byte value to fill with")->check(ByteValidator());
  CLI::Option* length =
      write->add_option("--length", w->length, "Byte count for --pattern")->check(SizeValidator());
  pattern->needs(length);
  length->needs(pattern);
  SetCommand(write, [w] { return RunWrite(*w); });
}

}  // namespace

void RegisterIoCommands(CLI::App& app) {
  RegisterContent(app);
  RegisterReadWrite(app);
}

}  // namespace hvdisk::cli
