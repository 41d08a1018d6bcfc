// convert and compare: whole-disk copies and comparisons between raw files and VHDX images.
//
// Both stream the source through a ChunkReader (a reader thread a few 8 MiB chunks ahead), skip
// ranges the source's map reports as zero without reading them, and skip all-zero data when
// writing: a dynamic VHDX output allocates only the blocks that hold data, a raw output is sparse.
//
// convert writes a hidden temporary beside DST and renames it to DST only once it is complete and
// flushed (platform/atomic_output.h): SIGINT, SIGTERM, a full disk or an I/O error leave no DST.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/chunk_reader.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/disk_source.h"
#include "cli/interrupt.h"
#include "cli/progress.h"
#include "cli/size_parse.h"
#include "cli/writeback.h"
#include "platform/atomic_output.h"
#include "vhdx/image.h"
#include "vhdx/layout.h"

namespace hvdisk::cli {
namespace {

constexpr size_t kChunkSize = 8 * vhdx::kMiB;
constexpr size_t kReadAhead = 4;
constexpr size_t kSparseGranularity = 64 * vhdx::kKiB;  // raw and fixed outputs
constexpr size_t kCompareSector = 512;                  // qemu-img compare's unit
constexpr uint64_t kWritebackInterval = 32 * vhdx::kMiB;

// ---- convert -----------------------------------------------------------------------------------

struct ConvertArgs {
  std::string src_format;
  std::string out_format;
  std::string type = "dynamic";
  std::string cache = "writeback";
  std::string block;
  uint32_t logical_sector = 0;
  uint32_t physical_sector = 0;
  std::string src;
  std::string dst;
  std::vector<std::string> roots;
  bool json = false;
};

// The VHDX creation options for converting `src`: explicit options win, then the source's.
Result<vhdx::CreateOptions> OutputOptions(const ConvertArgs& a, Disk* src) {
  vhdx::Image* img = src->image();
  vhdx::CreateOptions o;
  o.type = a.type == "fixed" ? vhdx::DiskType::kFixed : vhdx::DiskType::kDynamic;
  uint64_t block = img ? img->block_size() : 32 * vhdx::kMiB;
  if (!a.block.empty()) block = CheckedSize(a.block);
  if (!vhdx::IsValidBlockSize(block)) {
    return InvalidArgument("block size must be a power of two from 1M to 256M");
  }
  o.block_size = static_cast<uint32_t>(block);
  o.logical_sector_size = a.logical_sector ? a.logical_sector : (img ? src->sector_size() : 512);
  o.physical_sector_size =
      a.physical_sector ? a.physical_sector : (img ? img->physical_sector_size() : 4096);
  const uint64_t lss = o.logical_sector_size;
  o.virtual_size = (src->size() + lss - 1) / lss * lss;  // a raw tail is padded with zeros
  if (o.virtual_size == 0 || o.virtual_size > vhdx::kMaxVirtualDiskSize) {
    return Unsupported("source size " + std::to_string(src->size()) +
                       " cannot be a VHDX virtual size (1 sector .. 64 TiB)");
  }
  return o;
}

Result<std::unique_ptr<Disk>> CreateVhdxOutput(const std::string& path,
                                               const vhdx::CreateOptions& o) {
  FileSystem* fs = DefaultFileSystem();
  RETURN_IF_ERROR(vhdx::Image::Create(fs, path, o));
  ASSIGN_OR_RETURN(std::unique_ptr<vhdx::Image> image,
                   vhdx::Image::Open(fs, path, {.read_only = false}));
  return Disk::FromImage(std::move(image));
}

// Writes the runs of `chunk` that are not all zero, tested `granularity` bytes at a time.
Status WriteNonZero(Disk* dst, const Chunk& chunk, size_t granularity) {
  const size_t length = static_cast<size_t>(chunk.length);  // a data chunk: one buffer
  auto zero_at = [&](size_t pos) {
    const size_t n = std::min(granularity, length - pos);
    return IsAllZero(std::span(chunk.data + pos, n));
  };
  size_t pos = 0;
  while (pos < length) {
    if (zero_at(pos)) {
      pos += granularity;
      continue;
    }
    const size_t start = pos;
    while (pos < length && !zero_at(pos)) pos += granularity;
    pos = std::min(pos, length);
    RETURN_IF_ERROR(dst->Write(chunk.offset + start,
                               std::span<const std::byte>(chunk.data + start, pos - start)));
  }
  return Status::Ok();
}

// How the output is written: see CreateOutput.
struct OutputMode {
  size_t granularity = kSparseGranularity;  // the unit in which all-zero data is skipped
  bool durable = true;                      // one Flush ends the copy
  bool writeback = false;                   // page cache output: write it back alongside
};

// Copies every non-zero range. Durable (the default): one Flush ends the copy; a page cache
// output's writeback runs alongside (Writeback). Not durable (--cache unsafe, qemu-img convert's
// default): no flush for a raw output; a VHDX output's Close still flushes its metadata.
Status CopyData(Disk* src, Disk* dst, const OutputMode& mode, Progress* progress) {
  ChunkReader reader(src, 0, src->size(), kChunkSize, kReadAhead);
  RETURN_IF_ERROR(reader.Start());
  Writeback writeback(dst, kWritebackInterval);
  if (mode.writeback) writeback.Start();
  for (;;) {
    if (CancelRequested()) return CancelledBySignal();
    Chunk chunk;
    ASSIGN_OR_RETURN(bool more, reader.Next(&chunk));
    if (!more) break;
    Status s = chunk.zero ? Status::Ok() : WriteNonZero(dst, chunk, mode.granularity);
    writeback.Written(chunk.zero ? 0 : chunk.length);
    reader.Release(chunk);
    RETURN_IF_ERROR(s);
    progress->Update(chunk.offset + chunk.length);
  }
  if (mode.durable) RETURN_IF_ERROR(dst->Flush());
  return dst->Close();
}

DiskFormat OutputFormat(const ConvertArgs& a) {
  if (a.out_format == "vhdx") return DiskFormat::kVhdx;
  if (a.out_format == "raw") return DiskFormat::kRaw;
  return HasVhdxExtension(a.dst) ? DiskFormat::kVhdx : DiskFormat::kRaw;
}

// Creates the output at `path` (DST's temporary) and says how to write it. A durable raw output
// is written with O_DIRECT: the data goes from the read buffers to the device without a copy into
// the page cache, and the final Flush has no dirty pages to wait for. A VHDX output, or an unsafe
// raw one, is buffered.
Result<std::unique_ptr<Disk>> CreateOutput(const ConvertArgs& a, const std::string& path, Disk* src,
                                           OutputMode* mode) {
  mode->durable = a.cache != "unsafe";
  if (OutputFormat(a) == DiskFormat::kRaw) return Disk::CreateRaw(path, src->size(), mode->durable);
  mode->writeback = mode->durable;
  ASSIGN_OR_RETURN(vhdx::CreateOptions o, OutputOptions(a, src));
  if (o.type == vhdx::DiskType::kDynamic) {
    mode->granularity = std::min<size_t>(o.block_size, kChunkSize);
  }
  return CreateVhdxOutput(path, o);
}

// DST's temporary, holding the output created by CreateOutput (*dst).
Result<std::unique_ptr<AtomicOutput>> StartOutput(const ConvertArgs& a, Disk* src,
                                                  std::unique_ptr<Disk>* dst, OutputMode* mode) {
  const AtomicOutput::Options options{.durable = a.cache != "unsafe"};
  return AtomicOutput::Create(DefaultFileSystem(), a.dst, options,
                              [&](const std::string& temp) -> Status {
                                ASSIGN_OR_RETURN(*dst, CreateOutput(a, temp, src, mode));
                                return Status::Ok();
                              });
}

void PrintConverted(const ConvertArgs& a, uint64_t size) {
  if (!a.json) return;
  nlohmann::ordered_json j{{"source", a.src},
                           {"destination", a.dst},
                           {"format", OutputFormat(a) == DiskFormat::kVhdx ? "vhdx" : "raw"},
                           {"virtual-size", size}};
  PrintJson(j);
}

int RunConvert(const ConvertArgs& a) {
  CancelOnSignals cancel_on_signals;  // before the temporary exists
  Result<DiskFormat> format = ParseFormat(a.src_format);
  if (!format.ok()) return UsageError(format.status());
  Result<std::unique_ptr<Disk>> src =
      Disk::Open(a.src, {.format = *format, .allowed_roots = a.roots});
  if (!src.ok()) return ReportError(src.status());
  if (DefaultFileSystem()->KindOf(a.dst).ok()) {  // a dangling symbolic link included
    return ReportError(InvalidArgument(a.dst + " exists; convert never overwrites: remove it"));
  }
  OutputMode mode;
  std::unique_ptr<Disk> dst;
  Result<std::unique_ptr<AtomicOutput>> out = StartOutput(a, src->get(), &dst, &mode);
  if (!out.ok()) {
    if (out.status().code() == Code::kInvalidArgument) return UsageError(out.status());
    return ReportError(out.status().WithContext("create " + a.dst));
  }
  Progress progress("convert", (*src)->size(), a.json);
  Status s = CopyData(src->get(), dst.get(), mode, &progress);
  progress.Finish();
  dst.reset();
  if (s.ok() && CancelRequested()) s = CancelledBySignal();
  if (s.ok()) s = (*out)->Commit();
  if (!s.ok()) {
    out->reset();  // removes the temporary: no DST
    return ReportError(s.WithContext("convert " + a.src + " to " + a.dst));
  }
  PrintConverted(a, (*src)->size());
  return kExitOk;
}

void RegisterConvert(CLI::App& app) {
  auto a = std::make_shared<ConvertArgs>();
  CLI::App* sub = app.add_subcommand(
      "convert", "Copy a disk's content into a new raw file or VHDX image (sparse output)");
  AddJsonFlag(sub, &a->json, "source, destination, format, virtual-size");
  AddFormatOption(sub, &a->src_format);
  AddAllowRootOption(sub, &a->roots);
  sub->add_option("-O,--output-format", a->out_format,
                  "raw or vhdx (default: vhdx for a .vhdx/.avhdx DST, else raw)")
      ->check(CLI::IsMember({"raw", "vhdx"}));
  sub->add_option("-t,--type", a->type, "VHDX output: fixed or dynamic (default dynamic)")
      ->check(CLI::IsMember({"fixed", "dynamic"}));
  sub->add_option("-b,--block-size", a->block, "VHDX output block size (default: SRC's or 32M)")
      ->check(SizeValidator());
  AddSectorOption(sub, "--logical-sector", &a->logical_sector, "VHDX output: 512 or 4K");
  AddSectorOption(sub, "--physical-sector", &a->physical_sector, "VHDX output: 512 or 4K");
  sub->add_option("--cache", a->cache,
                  "writeback (default: the output is flushed, durable when convert returns) or "
                  "unsafe (no final flush of a raw output, as qemu-img convert's default)")
      ->check(CLI::IsMember({"writeback", "unsafe"}));
  sub->add_option("SRC", a->src, "The source disk")->required();
  sub->add_option("DST", a->dst, "The new file (must not exist)")->required();
  SetExitStatus(
      sub,
      {"0  done", "1  the operation failed (the error and its Code on stderr); DST was not created",
       "2  bad arguments (usage)",
       "130, 143  (as a shell shows them) interrupted by SIGINT, SIGTERM: convert removed its "
       "output and ended by that signal"});
  SetCommand(sub, [a] { return RunConvert(*a); });
}

// ---- compare -----------------------------------------------------------------------------------

constexpr int kExitDifferent = 1;
constexpr int kExitCompareError = 2;

struct CompareArgs {
  std::string format_a;
  std::string format_b;
  std::string a;
  std::string b;
  std::vector<std::string> roots;
  bool json = false;
};

// The offset of the first 512-byte unit where a and b differ; a null side reads as zeros.
std::optional<uint64_t> FirstDifference(const std::byte* a, const std::byte* b, uint64_t len) {
  if (a == nullptr && b == nullptr) return std::nullopt;
  if (a == nullptr) std::swap(a, b);
  auto differs = [&](uint64_t off, uint64_t n) {
    return b ? std::memcmp(a + off, b + off, n) != 0 : !IsAllZero(std::span(a + off, n));
  };
  if (!differs(0, len)) return std::nullopt;
  for (uint64_t off = 0; off < len; off += kCompareSector) {
    if (differs(off, std::min<uint64_t>(kCompareSector, len - off))) return off;
  }
  return std::nullopt;
}

// One side of a comparison: the chunk covering the current position, if any is left.
class Side {
 public:
  explicit Side(Disk* disk) : reader_(disk, 0, disk->size(), kChunkSize, kReadAhead) {}
  ~Side() { Drop(); }
  Status Start() { return reader_.Start(); }
  // Moves to the chunk holding `pos` (chunks arrive in order); past the end, none.
  Status Seek(uint64_t pos) {
    while (!done_ && (!has_ || pos >= chunk_.offset + chunk_.length)) {
      Drop();
      ASSIGN_OR_RETURN(has_, reader_.Next(&chunk_));
      done_ = !has_;
    }
    return Status::Ok();
  }
  uint64_t end() const { return has_ ? chunk_.offset + chunk_.length : UINT64_MAX; }
  // The bytes at pos, or null where they read as zeros (a zero chunk, or past the end).
  const std::byte* At(uint64_t pos) const {
    return has_ && !chunk_.zero ? chunk_.data + (pos - chunk_.offset) : nullptr;
  }

 private:
  void Drop() {
    if (has_) reader_.Release(chunk_);
    has_ = false;
  }
  ChunkReader reader_;
  Chunk chunk_;
  bool has_ = false;
  bool done_ = false;
};

// The first differing offset, or nullopt when the content is the same (a longer disk's extra part
// must be zeros). The two disks' chunks need not line up: zero chunks span many cells.
Result<std::optional<uint64_t>> FindMismatch(Disk* a, Disk* b, Progress* progress) {
  Side sa(a), sb(b);
  RETURN_IF_ERROR(sa.Start());
  RETURN_IF_ERROR(sb.Start());
  const uint64_t end = std::max(a->size(), b->size());
  for (uint64_t pos = 0; pos < end;) {
    RETURN_IF_ERROR(sa.Seek(pos));
    RETURN_IF_ERROR(sb.Seek(pos));
    const uint64_t stop = std::min({sa.end(), sb.end(), end});
    if (auto d = FirstDifference(sa.At(pos), sb.At(pos), stop - pos)) {
      return std::optional<uint64_t>(pos + *d);
    }
    pos = stop;
    progress->Update(pos);
  }
  return std::optional<uint64_t>();
}

int CompareError(const Status& status) {
  ReportError(status);
  return kExitCompareError;
}

void PrintCompare(const CompareArgs& args, uint64_t size_a, uint64_t size_b,
                  std::optional<uint64_t> mismatch) {
  if (args.json) {
    nlohmann::ordered_json j{{"a", args.a},
                             {"b", args.b},
                             {"identical", !mismatch.has_value()},
                             {"size-mismatch", size_a != size_b},
                             {"a-size", size_a},
                             {"b-size", size_b}};
    if (mismatch) j["mismatch-offset"] = *mismatch;
    PrintJson(j);
    return;
  }
  if (size_a != size_b) std::printf("Warning: Image size mismatch!\n");
  if (mismatch) {
    std::printf("Content mismatch at offset %llu!\n", static_cast<unsigned long long>(*mismatch));
  } else {
    std::printf("Images are identical.\n");
  }
}

int RunCompare(const CompareArgs& args) {
  Result<DiskFormat> fa = ParseFormat(args.format_a);
  Result<DiskFormat> fb = ParseFormat(args.format_b);
  if (!fa.ok() || !fb.ok()) return UsageError(InvalidArgument("bad format"));
  Result<std::unique_ptr<Disk>> a =
      Disk::Open(args.a, {.format = *fa, .allowed_roots = args.roots});
  if (!a.ok()) return CompareError(a.status());
  Result<std::unique_ptr<Disk>> b =
      Disk::Open(args.b, {.format = *fb, .allowed_roots = args.roots});
  if (!b.ok()) return CompareError(b.status());
  Progress progress("compare", std::max((*a)->size(), (*b)->size()), args.json);
  Result<std::optional<uint64_t>> m = FindMismatch(a->get(), b->get(), &progress);
  progress.Finish();
  if (!m.ok()) return CompareError(m.status());
  PrintCompare(args, (*a)->size(), (*b)->size(), *m);
  return *m ? kExitDifferent : kExitOk;
}

void RegisterCompare(CLI::App& app) {
  auto a = std::make_shared<CompareArgs>();
  CLI::App* sub = app.add_subcommand(
      "compare", "Compare two disks' content (a longer disk's extra part must read as zeros)");
  AddJsonFlag(sub, &a->json, "a, b, identical, size-mismatch, sizes, mismatch-offset");
  sub->add_option("-f,--format", a->format_a, "Format of A: raw or vhdx (default: detected)")
      ->check(CLI::IsMember({"raw", "vhdx"}));
  sub->add_option("-F,--format-b", a->format_b, "Format of B: raw or vhdx (default: detected)")
      ->check(CLI::IsMember({"raw", "vhdx"}));
  AddAllowRootOption(sub, &a->roots);
  sub->add_option("A", a->a, "First disk")->required();
  sub->add_option("B", a->b, "Second disk")->required();
  SetExitStatus(sub, {"0  same content", "1  different content",
                      "2  could not compare (missing file, I/O error) or bad arguments (usage)"});
  SetCommand(sub, [a] { return RunCompare(*a); });
}

}  // namespace

void RegisterConvertCommands(CLI::App& app) {
  RegisterConvert(app);
  RegisterCompare(app);
}

}  // namespace hvdisk::cli
