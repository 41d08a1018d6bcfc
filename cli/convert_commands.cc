// convert and compare: whole-disk copies and comparisons between raw files and VHDX images.
//
// Both stream the source through disk/'s copier (reads in flight a few 8 MiB chunks ahead, ranges
// the source's map reports as zero never read, all-zero data not written: a dynamic VHDX output
// allocates only the blocks that hold data, a raw output is sparse).
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

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/hints.h"
#include "cli/interrupt.h"
#include "cli/progress.h"
#include "cli/qemu_options.h"
#include "cli/salvage.h"
#include "cli/size_parse.h"
#include "disk/compare.h"
#include "disk/copier.h"
#include "disk/open.h"
#include "platform/atomic_output.h"
#include "vhdx/image.h"

namespace hvdisk::cli {
namespace {

using disk::Format;
using disk::VirtualDisk;

constexpr size_t kChunkSize = disk::kDefaultChunkSize;
constexpr size_t kSparseGranularity = 64 * vhdx::kKiB;  // raw and fixed outputs

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
  std::string options;  // -o key=value,...
  bool json = false;
  bool force_share = false;  // the source's image locks (SRC only: DST is always locked)
  bool salvage = false;      // copy what can be read, zeros for the rest (cli/salvage.h)
  bool no_create = false;    // -n: DST exists; write into it
};

// -o's settings over the options given.
Status ApplyConvertOptions(ConvertArgs* a) {
  ASSIGN_OR_RETURN(ImageOptions o, ParseImageOptions(a->options));
  if (o.subformat) a->type = *o.subformat;
  if (o.block_size) a->block = *o.block_size;
  if (o.logical_sector_size) a->logical_sector = *o.logical_sector_size;
  return Status::Ok();
}

// The VHDX creation options for converting `src`: explicit options win, then the source's.
Result<vhdx::CreateOptions> OutputOptions(const ConvertArgs& a, VirtualDisk* src) {
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

// How the output is written: see CreateOutput.
struct OutputMode {
  size_t granularity = kSparseGranularity;  // the unit in which all-zero data is skipped
  bool durable = true;                      // one Flush ends the copy
  bool writeback = false;                   // page cache output: write it back alongside
};

// Copies every non-zero range (disk::Copier). Durable (the default): one Flush ends the copy; a
// page cache output's writeback runs alongside. Not durable (--cache unsafe, qemu-img convert's
// default): no flush for a raw output; a VHDX output's Close still flushes its metadata.
Status CopyData(VirtualDisk* src, VirtualDisk* dst, const OutputMode& mode, Progress* progress) {
  disk::CopyOptions copy{
      .progress = [&](uint64_t done, uint64_t) { progress->Update(done); },
      .check = [] { return CancelRequested() ? CancelledBySignal() : Status::Ok(); }};
  disk::WriteOptions write{
      .sparse_granularity = mode.granularity, .flush = mode.durable, .writeback = mode.writeback};
  RETURN_IF_ERROR(disk::Copier(src, copy).CopyTo(dst, write));
  return dst->Close();
}

Format OutputFormat(const ConvertArgs& a) {
  if (a.out_format == "vhdx") return Format::kVhdx;
  if (a.out_format == "raw") return Format::kRaw;
  return disk::HasVhdxExtension(a.dst) ? Format::kVhdx : Format::kRaw;
}

// Creates the output at `path` (DST's temporary) and says how to write it. A durable raw output
// is written with O_DIRECT: the data goes from the read buffers to the device without a copy into
// the page cache, and the final Flush has no dirty pages to wait for. A VHDX output, or an unsafe
// raw one, is buffered.
Result<std::unique_ptr<VirtualDisk>> CreateOutput(const ConvertArgs& a, const std::string& path,
                                                  VirtualDisk* src, OutputMode* mode) {
  FileSystem* fs = DefaultFileSystem();
  mode->durable = a.cache != "unsafe";
  if (OutputFormat(a) == Format::kRaw) return disk::CreateRaw(fs, path, src->size(), mode->durable);
  mode->writeback = mode->durable;
  ASSIGN_OR_RETURN(vhdx::CreateOptions o, OutputOptions(a, src));
  if (o.type == vhdx::DiskType::kDynamic) {
    mode->granularity = std::min<size_t>(o.block_size, kChunkSize);
  }
  return disk::CreateVhdx(fs, path, o);
}

// DST's temporary, holding the output created by CreateOutput (*dst). A DST that exists (a
// regular file) is replaced at the commit, as qemu-img convert overwrites it; one that appears
// meanwhile is not (kInUse).
Result<std::unique_ptr<AtomicOutput>> StartOutput(const ConvertArgs& a, VirtualDisk* src,
                                                  std::unique_ptr<VirtualDisk>* dst,
                                                  OutputMode* mode, bool replace) {
  const AtomicOutput::Options options{
      .replace = replace ? AtomicOutput::Replace::kAllowed : AtomicOutput::Replace::kNever,
      .durable = a.cache != "unsafe"};
  return AtomicOutput::Create(DefaultFileSystem(), a.dst, options,
                              [&](const std::string& temp) -> Status {
                                ASSIGN_OR_RETURN(*dst, CreateOutput(a, temp, src, mode));
                                return Status::Ok();
                              });
}

void PrintConverted(const ConvertArgs& a, uint64_t size, const std::vector<vhdx::LostRange>& lost) {
  if (!a.json) {
    for (const vhdx::LostRange& l : lost) {
      std::printf("Lost: bytes %llu..%llu (%s), written as zeros\n",
                  static_cast<unsigned long long>(l.offset),
                  static_cast<unsigned long long>(l.offset + l.length), l.why.c_str());
    }
    return;
  }
  nlohmann::ordered_json j{{"source", a.src},
                           {"destination", a.dst},
                           {"format", OutputFormat(a) == Format::kVhdx ? "vhdx" : "raw"},
                           {"virtual-size", size}};
  if (a.salvage) {
    nlohmann::ordered_json ranges = nlohmann::ordered_json::array();
    for (const vhdx::LostRange& l : lost) {
      ranges.push_back({{"offset", l.offset}, {"length", l.length}, {"reason", l.why}});
    }
    j["lost"] = ranges;
  }
  PrintJson(j);
}

// The source: as it is, or (--salvage) what SalvageSource opens.
Result<std::unique_ptr<VirtualDisk>> OpenSource(const ConvertArgs& a, Format format,
                                                std::unique_ptr<SalvageSource>* salvage) {
  const disk::OpenOptions o{
      .format = format, .force_share = a.force_share, .allowed_roots = a.roots};
  if (!a.salvage) return OpenDisk(a.src, o);
  ASSIGN_OR_RETURN(*salvage, SalvageSource::Open(a.src, o));
  return std::unique_ptr<VirtualDisk>();  // the disk stays the salvage source's
}

// -n: DST exists (made beforehand, as qemu-img convert -n expects) and is at least SRC's size;
// SRC's content is written into it in place (not atomically: an interrupted copy leaves part).
int ConvertInto(const ConvertArgs& a, VirtualDisk* src) {
  Result<std::unique_ptr<VirtualDisk>> dst = OpenDisk(a.dst, {.writable = true});
  if (!dst.ok()) return ReportDiskError(dst.status(), a.dst, false);
  if ((*dst)->size() < src->size()) {
    return UsageError(InvalidArgument("-n: " + a.dst + " (" + std::to_string((*dst)->size()) +
                                      " bytes) is smaller than " + a.src));
  }
  Progress progress("convert", src->size(), a.json);
  const OutputMode mode{.durable = a.cache != "unsafe"};
  Status s = CopyData(src, dst->get(), mode, &progress);
  progress.Finish();
  if (s.ok() && CancelRequested()) s = CancelledBySignal();
  if (!s.ok()) {
    return ReportError(s.WithContext("convert " + a.src + " into " + a.dst),
                       hint::OpenDisk(s, a.dst, false));
  }
  PrintConverted(a, src->size(), {});
  return kExitOk;
}

int RunConvert(ConvertArgs a) {
  CancelOnSignals cancel_on_signals;  // before the temporary exists
  if (Status s = ApplyConvertOptions(&a); !s.ok()) return UsageError(s);
  Result<Format> format = disk::ParseFormat(a.src_format);
  if (!format.ok()) return UsageError(format.status());
  std::unique_ptr<SalvageSource> salvage;
  Result<std::unique_ptr<VirtualDisk>> opened = OpenSource(a, *format, &salvage);
  if (!opened.ok()) return ReportDiskError(opened.status(), a.src, true);
  VirtualDisk* source = salvage ? salvage->disk() : opened->get();
  std::vector<vhdx::LostRange> lost;
  if (salvage) lost = salvage->lost();
  if (a.no_create) return ConvertInto(a, source);
  Result<FileKind> kind = DefaultFileSystem()->KindOf(a.dst);  // a dangling link included
  if (kind.ok() && *kind != FileKind::kFile) {
    ReportError(InvalidArgument(a.dst + " exists and is not a regular file; convert replaces "
                                        "files only"),
                hint::FileExists(a.dst));
    return kExitUsage;
  }
  OutputMode mode;
  std::unique_ptr<VirtualDisk> dst;
  Result<std::unique_ptr<AtomicOutput>> out = StartOutput(a, source, &dst, &mode, kind.ok());
  if (!out.ok()) {
    if (out.status().code() == Code::kInvalidArgument) return UsageError(out.status());
    return ReportError(out.status().WithContext("create " + a.dst),
                       hint::NewFile(out.status(), a.dst, a.src));
  }
  Progress progress("convert", source->size(), a.json);
  Status s = salvage ? SalvageCopy(source, dst.get(), &progress, &lost)
                     : CopyData(source, dst.get(), mode, &progress);
  progress.Finish();
  dst.reset();
  if (s.ok() && CancelRequested()) s = CancelledBySignal();
  if (s.ok()) s = (*out)->Commit();
  if (!s.ok()) {
    out->reset();  // removes the temporary: no DST
    return ReportError(s.WithContext("convert " + a.src + " to " + a.dst),
                       s.code() == Code::kNoSpace ? hint::NewFile(s, a.dst, a.src)
                                                  : hint::OpenDisk(s, a.src, true));
  }
  PrintConverted(a, source->size(), lost);
  return kExitOk;
}

void RegisterConvert(CLI::App& app) {
  auto a = std::make_shared<ConvertArgs>();
  CLI::App* sub = app.add_subcommand(
      "convert", "Copy a disk's content into a new raw file or VHDX image (sparse output)");
  AddJsonFlag(sub, &a->json, "source, destination, format, virtual-size; lost (--salvage)");
  AddFormatOption(sub, &a->src_format);
  AddAllowRootOption(sub, &a->roots);
  AddForceShareFlag(sub, &a->force_share)
      ->description(
          "Open SRC even while another process writes it (its image locks are shared; what is "
          "copied may change meanwhile), as qemu-img convert -U");
  sub->add_option("-O,--output-format", a->out_format,
                  "raw or vhdx (default: vhdx for a .vhdx/.avhdx DST, else raw)")
      ->check(CLI::IsMember({"raw", "vhdx"}));
  sub->add_option("--type", a->type, "VHDX output: fixed or dynamic (default dynamic)")
      ->check(CLI::IsMember({"fixed", "dynamic"}));
  sub->add_option("--block-size", a->block, "VHDX output block size (default: SRC's or 32M)")
      ->check(SizeValidator());
  sub->add_option("-o,--options", a->options,
                  "qemu-img's VHDX options, comma separated: subformat=fixed|dynamic, "
                  "block_size=SIZE, log_size=1M, logical_sector_size=512|4096");
  sub->add_flag("-n,--no-create", a->no_create,
                "DST exists: write SRC's content into it (in place, not atomically), as "
                "qemu-img convert -n");
  AddProgressFlags(sub);
  AddSectorOption(sub, "--logical-sector", &a->logical_sector, "VHDX output: 512 or 4K");
  AddSectorOption(sub, "--physical-sector", &a->physical_sector, "VHDX output: 512 or 4K");
  sub->add_option("-t,--cache", a->cache,
                  "writeback or none (default: the output is flushed, durable when convert "
                  "returns; a raw output is written with O_DIRECT either way) or unsafe (no "
                  "final flush of a raw output, as qemu-img convert's default)")
      ->check(CLI::IsMember({"writeback", "none", "unsafe"}));
  sub->add_flag("--salvage", a->salvage,
                "Copy what can be read of a damaged SRC (repairing a copy of it when it does not "
                "open), zeros for unreadable or corrupt ranges, each reported as lost (qemu-img's "
                "flag); SRC is never written");
  sub->add_option("SRC", a->src, "The source disk")->required();
  sub->add_option("DST", a->dst,
                  "The new file; an existing file is replaced once the copy is complete, as "
                  "qemu-img convert replaces it")
      ->required();
  SetExitStatus(
      sub,
      {"0  done", "1  the operation failed (the error on stderr); DST was not created or replaced",
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
  bool force_share = false;
  bool strict = false;  // -s: a size mismatch is a difference
  bool quiet = false;   // -q: nothing on stdout
};

int CompareError(const Status& status, const std::string& file) {
  ReportDiskError(status, file, true);
  return kExitCompareError;
}

void PrintCompare(const CompareArgs& args, uint64_t size_a, uint64_t size_b,
                  std::optional<uint64_t> mismatch) {
  if (args.quiet) return;
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
  if (size_a != size_b) {
    std::printf(args.strict ? "Strict mode: Image size mismatch!\n"
                            : "Warning: Image size mismatch!\n");
    if (args.strict) return;
  }
  if (mismatch) {
    std::printf("Content mismatch at offset %llu!\n", static_cast<unsigned long long>(*mismatch));
  } else {
    std::printf("Images are identical.\n");
  }
}

int RunCompare(const CompareArgs& args) {
  Result<Format> fa = disk::ParseFormat(args.format_a);
  Result<Format> fb = disk::ParseFormat(args.format_b);
  if (!fa.ok() || !fb.ok()) return UsageError(InvalidArgument("bad format"));
  Result<std::unique_ptr<VirtualDisk>> a = OpenDisk(
      args.a, {.format = *fa, .force_share = args.force_share, .allowed_roots = args.roots});
  if (!a.ok()) return CompareError(a.status(), args.a);
  Result<std::unique_ptr<VirtualDisk>> b = OpenDisk(
      args.b, {.format = *fb, .force_share = args.force_share, .allowed_roots = args.roots});
  if (!b.ok()) return CompareError(b.status(), args.b);
  Progress progress("compare", std::max((*a)->size(), (*b)->size()), args.json);
  disk::CopyOptions copy{.progress = [&](uint64_t done, uint64_t) { progress.Update(done); }};
  Result<std::optional<uint64_t>> m = disk::FirstMismatch(a->get(), b->get(), copy);
  progress.Finish();
  if (!m.ok()) return CompareError(m.status(), args.a);
  PrintCompare(args, (*a)->size(), (*b)->size(), *m);
  const bool sizes_differ = (*a)->size() != (*b)->size();
  return *m || (args.strict && sizes_differ) ? kExitDifferent : kExitOk;
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
  AddForceShareFlag(sub, &a->force_share);
  sub->add_flag("-s,--strict", a->strict,
                "Strict: images of different sizes differ (exit 1), as qemu-img compare -s");
  AddProgressFlags(sub, &a->quiet);
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
