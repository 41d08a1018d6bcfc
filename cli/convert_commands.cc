// convert and compare: whole-disk copies and comparisons between raw files and VHDX images.
//
// Both stream the source through a ChunkReader (a reader thread a few 8 MiB chunks ahead), skip
// ranges the source's map reports as zero without reading them, and skip all-zero data when
// writing: a dynamic VHDX output allocates only the blocks that hold data, a raw output is sparse.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "cli/chunk_reader.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/disk_source.h"
#include "cli/size_parse.h"
#include "vhdx/image.h"
#include "vhdx/layout.h"

namespace hvdisk::cli {
namespace {

constexpr size_t kChunkSize = 8 * vhdx::kMiB;
constexpr size_t kReadAhead = 4;
constexpr size_t kSparseGranularity = 64 * vhdx::kKiB;  // raw and fixed outputs
constexpr size_t kCompareSector = 512;                   // qemu-img compare's unit
constexpr uint64_t kWritebackInterval = 32 * vhdx::kMiB;

// ---- convert -----------------------------------------------------------------------------------

struct ConvertArgs {
  std::string src_format;
  std::string out_format;
  std::string type = "dynamic";
  std::string block;
  uint32_t logical_sector = 0;
  uint32_t physical_sector = 0;
  std::string src;
  std::string dst;
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
    return InvalidArgument("source size " + std::to_string(src->size()) +
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
  auto zero_at = [&](size_t pos) {
    const size_t n = std::min(granularity, chunk.length - pos);
    return IsAllZero(std::span(chunk.data + pos, n));
  };
  size_t pos = 0;
  while (pos < chunk.length) {
    if (zero_at(pos)) {
      pos += granularity;
      continue;
    }
    const size_t start = pos;
    while (pos < chunk.length && !zero_at(pos)) pos += granularity;
    pos = std::min(pos, chunk.length);
    RETURN_IF_ERROR(dst->Write(chunk.offset + start,
                               std::span<const std::byte>(chunk.data + start, pos - start)));
  }
  return Status::Ok();
}

// Copies every non-zero range; the output's writeback is started every kWritebackInterval so
// that the final Flush waits for little more than the last few chunks.
Status CopyData(Disk* src, Disk* dst, size_t granularity) {
  ChunkReader reader(src, 0, src->size(), kChunkSize, kReadAhead);
  RETURN_IF_ERROR(reader.Start());
  uint64_t since_writeback = 0;
  for (;;) {
    Chunk chunk;
    ASSIGN_OR_RETURN(bool more, reader.Next(&chunk));
    if (!more) break;
    Status s = chunk.zero ? Status::Ok() : WriteNonZero(dst, chunk, granularity);
    since_writeback += chunk.zero ? 0 : chunk.length;
    reader.Release(chunk);
    RETURN_IF_ERROR(s);
    if (since_writeback >= kWritebackInterval) {
      dst->StartWriteback();
      since_writeback = 0;
    }
  }
  RETURN_IF_ERROR(dst->Flush());
  return dst->Close();
}

DiskFormat OutputFormat(const ConvertArgs& a) {
  if (a.out_format == "vhdx") return DiskFormat::kVhdx;
  if (a.out_format == "raw") return DiskFormat::kRaw;
  return HasVhdxExtension(a.dst) ? DiskFormat::kVhdx : DiskFormat::kRaw;
}

// Creates the output; *granularity is the unit in which all-zero data is skipped.
Result<std::unique_ptr<Disk>> CreateOutput(const ConvertArgs& a, Disk* src, size_t* granularity) {
  *granularity = kSparseGranularity;
  if (OutputFormat(a) == DiskFormat::kRaw) return Disk::CreateRaw(a.dst, src->size());
  ASSIGN_OR_RETURN(vhdx::CreateOptions o, OutputOptions(a, src));
  if (o.type == vhdx::DiskType::kDynamic) *granularity = std::min<size_t>(o.block_size, kChunkSize);
  return CreateVhdxOutput(a.dst, o);
}

int RunConvert(const ConvertArgs& a) {
  Result<DiskFormat> format = ParseFormat(a.src_format);
  if (!format.ok()) return UsageError(format.status());
  Result<std::unique_ptr<Disk>> src = Disk::Open(a.src, {.format = *format});
  if (!src.ok()) return ReportError(src.status());
  FileSystem* fs = DefaultFileSystem();
  Result<bool> exists = fs->Exists(a.dst);
  if (exists.ok() && *exists) {
    return ReportError(InvalidArgument(a.dst + " exists; convert never overwrites: remove it"));
  }
  size_t granularity = 0;
  Result<std::unique_ptr<Disk>> dst = CreateOutput(a, src->get(), &granularity);
  if (!dst.ok()) {
    if (dst.status().code() == Code::kInvalidArgument) return UsageError(dst.status());
    (void)fs->Unlink(a.dst);
    return ReportError(dst.status().WithContext("create " + a.dst));
  }
  Status s = CopyData(src->get(), dst->get(), granularity);
  dst->reset();
  if (!s.ok()) {
    (void)fs->Unlink(a.dst);
    return ReportError(s.WithContext("convert " + a.src + " to " + a.dst));
  }
  return kExitOk;
}

void RegisterConvert(CLI::App& app) {
  auto a = std::make_shared<ConvertArgs>();
  CLI::App* sub = app.add_subcommand(
      "convert", "Copy a disk's content into a new raw file or VHDX image (sparse output)");
  AddFormatOption(sub, &a->src_format);
  sub->add_option("-O,--output-format", a->out_format,
                  "raw or vhdx (default: vhdx for a .vhdx/.avhdx DST, else raw)")
      ->check(CLI::IsMember({"raw", "vhdx"}));
  sub->add_option("-t,--type", a->type, "VHDX output: fixed or dynamic (default dynamic)")
      ->check(CLI::IsMember({"fixed", "dynamic"}));
  sub->add_option("-b,--block-size", a->block, "VHDX output block size (default: SRC's or 32M)")
      ->check(SizeValidator());
  sub->add_option("--logical-sector", a->logical_sector, "VHDX output: 512 or 4096")
      ->check(CLI::IsMember({512, 4096}));
  sub->add_option("--physical-sector", a->physical_sector, "VHDX output: 512 or 4096")
      ->check(CLI::IsMember({512, 4096}));
  sub->add_option("SRC", a->src, "The source disk")->required();
  sub->add_option("DST", a->dst, "The new file (must not exist)")->required();
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
};

// The offset of the first 512-byte unit where a and b differ; a null side reads as zeros.
std::optional<size_t> FirstDifference(const std::byte* a, const std::byte* b, size_t len) {
  if (a == nullptr && b == nullptr) return std::nullopt;
  if (a == nullptr) std::swap(a, b);
  auto differs = [&](size_t off, size_t n) {
    return b ? std::memcmp(a + off, b + off, n) != 0 : !IsAllZero(std::span(a + off, n));
  };
  if (!differs(0, len)) return std::nullopt;
  for (size_t off = 0; off < len; off += kCompareSector) {
    if (differs(off, std::min(kCompareSector, len - off))) return off;
  }
  return std::nullopt;
}

const std::byte* DataOf(const Chunk* c) { return c == nullptr || c->zero ? nullptr : c->data; }

// Compares two chunks at the same offset, either of which may be missing (past that disk's end).
std::optional<uint64_t> CompareChunks(const Chunk* ca, const Chunk* cb) {
  const Chunk* any = ca ? ca : cb;
  const size_t la = ca ? ca->length : 0;
  const size_t lb = cb ? cb->length : 0;
  const size_t common = std::min(la, lb);
  if (auto d = FirstDifference(DataOf(ca), DataOf(cb), common)) return any->offset + *d;
  const Chunk* longer = la > lb ? ca : cb;
  const std::byte* tail = DataOf(longer);
  if (tail == nullptr || la == lb) return std::nullopt;
  if (auto d = FirstDifference(tail + common, nullptr, longer->length - common)) {
    return longer->offset + common + *d;
  }
  return std::nullopt;
}

// The first differing offset, or nullopt when the content is the same (a longer disk's extra part
// must be zeros).
Result<std::optional<uint64_t>> FindMismatch(Disk* a, Disk* b) {
  ChunkReader ra(a, 0, a->size(), kChunkSize, kReadAhead);
  ChunkReader rb(b, 0, b->size(), kChunkSize, kReadAhead);
  RETURN_IF_ERROR(ra.Start());
  RETURN_IF_ERROR(rb.Start());
  for (;;) {
    Chunk ca, cb;
    ASSIGN_OR_RETURN(bool has_a, ra.Next(&ca));
    ASSIGN_OR_RETURN(bool has_b, rb.Next(&cb));
    if (!has_a && !has_b) return std::optional<uint64_t>();
    std::optional<uint64_t> m = CompareChunks(has_a ? &ca : nullptr, has_b ? &cb : nullptr);
    if (has_a) ra.Release(ca);
    if (has_b) rb.Release(cb);
    if (m) return m;
  }
}

int CompareError(const Status& status) {
  ReportError(status);
  return kExitCompareError;
}

int RunCompare(const CompareArgs& args) {
  Result<DiskFormat> fa = ParseFormat(args.format_a);
  Result<DiskFormat> fb = ParseFormat(args.format_b);
  if (!fa.ok() || !fb.ok()) return UsageError(InvalidArgument("bad format"));
  Result<std::unique_ptr<Disk>> a = Disk::Open(args.a, {.format = *fa});
  if (!a.ok()) return CompareError(a.status());
  Result<std::unique_ptr<Disk>> b = Disk::Open(args.b, {.format = *fb});
  if (!b.ok()) return CompareError(b.status());
  if ((*a)->size() != (*b)->size()) std::printf("Warning: Image size mismatch!\n");
  Result<std::optional<uint64_t>> m = FindMismatch(a->get(), b->get());
  if (!m.ok()) return CompareError(m.status());
  if (*m) {
    std::printf("Content mismatch at offset %llu!\n", static_cast<unsigned long long>(**m));
    return kExitDifferent;
  }
  std::printf("Images are identical.\n");
  return kExitOk;
}

void RegisterCompare(CLI::App& app) {
  auto a = std::make_shared<CompareArgs>();
  CLI::App* sub = app.add_subcommand(
      "compare",
      "Compare two disks' content. Exit 0: same; 1: different; 2: error. A longer disk's extra "
      "part must read as zeros");
  sub->add_option("-f,--format", a->format_a, "Format of A: raw or vhdx (default: detected)")
      ->check(CLI::IsMember({"raw", "vhdx"}));
  sub->add_option("-F,--format-b", a->format_b, "Format of B: raw or vhdx (default: detected)")
      ->check(CLI::IsMember({"raw", "vhdx"}));
  sub->add_option("A", a->a, "First disk")->required();
  sub->add_option("B", a->b, "Second disk")->required();
  SetCommand(sub, [a] { return RunCompare(*a); });
}

}  // namespace

void RegisterConvertCommands(CLI::App& app) {
  RegisterConvert(app);
  RegisterCompare(app);
}

}  // namespace hvdisk::cli
