// bench: qemu-img bench for hvdisk disks. COUNT requests of BUFSIZE bytes, DEPTH in flight, at
// OFFSET, OFFSET+STEP, ... (wrapping inside the disk), reads or (-w) writes, then a flush.
//
// -i threads: DEPTH worker threads call VirtualDisk::Read/Write concurrently (it is thread-safe).
// -i native (-n, -i io_uring): one thread keeps DEPTH requests in an IoQueue (io_uring, else
// libaio), planned by
//             the disk (VirtualDisk::PlanRead / PlanWrite, through every layer of a chain), as
//             bench/image_bench plans them.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <new>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/size_parse.h"
#include "disk/open.h"
#include "disk/queued_io.h"
#include "platform/aligned_buffer.h"

namespace hvdisk::cli {
namespace {

using disk::VirtualDisk;

struct BenchArgs {
  bool write = false;
  uint64_t count = 75000;
  std::string bufsize = "4K";
  unsigned depth = 64;
  std::string step;
  std::string offset = "0";
  std::string cache = "writeback";
  std::string aio = "threads";
  std::string pattern = "0";
  std::string format;
  std::string file;
  std::vector<std::string> roots;
  uint64_t flush_interval = 0;  // writes between flushes (0: one flush at the end)
  bool json = false;
  bool force_share = false;
  bool native = false;  // -n
  bool quiet = false;
};

struct BenchPlan {
  bool write = false;
  uint64_t count = 0;
  size_t bufsize = 0;
  unsigned depth = 0;
  uint64_t step = 0;
  uint64_t offset = 0;
  uint64_t disk_size = 0;
  uint64_t flush_interval = 0;
  bool final_flush = true;  // not with -t unsafe
  std::byte pattern{0};

  // Request i's offset: OFFSET + i*STEP, wrapped as qemu-img bench wraps it.
  uint64_t OffsetOf(uint64_t i) const {
    uint64_t off = offset + i * step;
    if (off + bufsize <= disk_size) return off;
    return disk_size > bufsize ? off % (disk_size - bufsize) : 0;
  }
};

AlignedBuffer PatternBuffer(const BenchPlan& p) {
  AlignedBuffer buf(p.bufsize);
  std::fill(buf.data(), buf.data() + p.bufsize, p.pattern);
  return buf;
}

// ---- threads -----------------------------------------------------------------------------------

class ThreadBench {
 public:
  ThreadBench(VirtualDisk* disk, const BenchPlan& plan) : disk_(disk), plan_(plan) {}

  Status Run() {
    std::vector<std::thread> threads;
    const uint64_t n = std::min<uint64_t>(plan_.depth, plan_.count);
    try {
      for (uint64_t t = 0; t < n; ++t) threads.emplace_back([this] { Worker(); });
    } catch (const std::exception& e) {
      Fail(IoError(std::string("cannot start a bench thread: ") + e.what()));
    }
    for (std::thread& t : threads) t.join();
    return error_;
  }

 private:
  void Worker() {
    AlignedBuffer buf;
    try {
      buf = PatternBuffer(plan_);
    } catch (const std::bad_alloc&) {
      return Fail(OutOfMemory("bench buffer"));
    }
    const uint64_t every = plan_.flush_interval;
    for (uint64_t i = next_++; i < plan_.count; i = next_++) {
      const uint64_t off = plan_.OffsetOf(i);
      Status s = plan_.write ? disk_->Write(off, buf.span()) : disk_->Read(off, buf.span());
      if (s.ok() && every != 0 && (i + 1) % every == 0) s = disk_->Flush();
      if (!s.ok()) return Fail(s);
    }
  }
  void Fail(const Status& s) {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_.ok()) error_ = s;
    next_ = plan_.count;  // stops the other workers
  }

  VirtualDisk* const disk_;
  const BenchPlan plan_;
  std::atomic<uint64_t> next_{0};
  std::mutex mu_;
  Status error_;  // guarded by mu_
};

// ---- command -----------------------------------------------------------------------------------

Result<BenchPlan> MakePlan(const BenchArgs& a, uint64_t disk_size) {
  BenchPlan p;
  p.write = a.write;
  p.count = a.count;
  p.bufsize = static_cast<size_t>(CheckedSize(a.bufsize));
  p.depth = a.depth;
  p.step = a.step.empty() ? p.bufsize : CheckedSize(a.step);
  p.offset = CheckedSize(a.offset);
  p.disk_size = disk_size;
  p.flush_interval = a.flush_interval;
  p.final_flush = a.cache != "unsafe";
  if (p.flush_interval != 0 && !p.write) {
    return InvalidArgument("--flush-interval is only available in write tests (-w)");
  }
  if (p.flush_interval != 0 && p.flush_interval < p.depth) {
    return InvalidArgument("--flush-interval " + std::to_string(p.flush_interval) +
                           " is smaller than the depth " + std::to_string(p.depth) + " (-d)");
  }
  Result<uint8_t> pattern = ParseByte(a.pattern);
  p.pattern = std::byte{pattern.ok() ? *pattern : uint8_t{0}};
  if (p.bufsize == 0 || p.bufsize > disk_size || p.offset > disk_size - p.bufsize) {
    return InvalidArgument("buffer size " + std::to_string(p.bufsize) + " at offset " +
                           std::to_string(p.offset) + " does not fit the disk (" +
                           std::to_string(disk_size) + " bytes)");
  }
  const bool direct = a.cache == "none";
  if (direct &&
      (p.bufsize % kDirectAlignment || p.step % kDirectAlignment || p.offset % kDirectAlignment)) {
    return InvalidArgument("-t none needs BUFSIZE, STEP and OFFSET multiples of 4096");
  }
  return p;
}

// The queue runs --flush-interval requests at a time, each run drained and flushed.
Status RunNative(VirtualDisk* disk, const BenchPlan& p) {
  const uint64_t run = p.flush_interval != 0 ? p.flush_interval : p.count;
  for (uint64_t first = 0; first < p.count; first += run) {
    disk::QueuedIoPlan q{.write = p.write,
                         .count = std::min(run, p.count - first),
                         .size = p.bufsize,
                         .depth = p.depth,
                         .fill = p.pattern,
                         .offset_of = [&p, first](uint64_t i) { return p.OffsetOf(first + i); }};
    RETURN_IF_ERROR(disk::RunQueued(disk, q));
    if (p.flush_interval != 0 && q.count == run) RETURN_IF_ERROR(disk->Flush());
  }
  return Status::Ok();
}

Status RunPlan(VirtualDisk* disk, const BenchPlan& p, bool native) {
  RETURN_IF_ERROR(native ? RunNative(disk, p) : ThreadBench(disk, p).Run());
  if (p.write && p.final_flush) RETURN_IF_ERROR(disk->Flush());
  return Status::Ok();
}

void PrintPlan(const BenchPlan& p) {
  std::printf(
      "Sending %llu %s requests, %zu bytes each, %u in parallel (starting at offset %llu, "
      "step size %llu)\n",
      static_cast<unsigned long long>(p.count), p.write ? "write" : "read", p.bufsize, p.depth,
      static_cast<unsigned long long>(p.offset), static_cast<unsigned long long>(p.step));
  std::fflush(stdout);
}

void PrintBenchJson(const BenchPlan& p, double seconds) {
  const double s = seconds > 0 ? seconds : 1e-9;
  nlohmann::ordered_json j{{"operation", p.write ? "write" : "read"},
                           {"count", p.count},
                           {"buffer-size", p.bufsize},
                           {"depth", p.depth},
                           {"offset", p.offset},
                           {"step-size", p.step},
                           {"seconds", seconds},
                           {"iops", static_cast<double>(p.count) / s},
                           {"bytes-per-second", static_cast<double>(p.count * p.bufsize) / s}};
  PrintJson(j);
}

int RunBench(const BenchArgs& a) {
  Result<disk::Format> format = disk::ParseFormat(a.format);
  if (!format.ok()) return UsageError(format.status());
  disk::OpenOptions o{.format = *format,
                      .writable = a.write,
                      .direct = a.cache == "none",
                      .force_share = a.force_share,
                      .allowed_roots = a.roots};
  Result<std::unique_ptr<VirtualDisk>> disk = OpenDisk(a.file, o);
  if (!disk.ok()) return ReportDiskError(disk.status(), a.file, true);
  Result<BenchPlan> plan = MakePlan(a, (*disk)->size());
  if (!plan.ok()) return UsageError(plan.status());
  if (!a.json && !a.quiet) PrintPlan(*plan);
  const auto start = std::chrono::steady_clock::now();
  Status s = RunPlan(disk->get(), *plan, a.native || a.aio != "threads");
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  if (s.ok()) s = (*disk)->Close();
  if (!s.ok()) return ReportDiskError(s, a.file, !a.write);
  if (a.json) {
    PrintBenchJson(*plan, elapsed.count());
  } else if (!a.quiet) {
    std::printf("Run completed in %3.3f seconds.\n", elapsed.count());
  }
  return kExitOk;
}

}  // namespace

void RegisterBenchCommand(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* sub = app.add_subcommand("bench", "Run a simple I/O benchmark (as qemu-img bench)");
  sub->add_flag("-w,--write", a->write, "Write instead of read");
  sub->add_option("-c,--count", a->count, "Number of requests (default 75000)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  sub->add_option("-s,--buffer-size", a->bufsize, "Bytes per request (default 4K)")
      ->check(SizeValidator());
  sub->add_option("-d,--depth", a->depth, "Requests in flight (default 64)")
      ->check(CLI::Range(1, 4096));
  sub->add_option("-S,--step-size", a->step, "Offset step (default: the buffer size)")
      ->check(SizeValidator());
  sub->add_option("-o,--offset", a->offset, "First offset (default 0)")->check(SizeValidator());
  sub->add_option("-t,--cache", a->cache,
                  "none (O_DIRECT), writeback (default) or unsafe (no flush at the end)")
      ->check(CLI::IsMember({"none", "writeback", "unsafe"}));
  sub->add_option("-i,--aio", a->aio,
                  "threads (default), native or io_uring (an IoQueue: io_uring, else libaio)")
      ->check(CLI::IsMember({"native", "threads", "io_uring"}));
  sub->add_flag("-n,--native", a->native, "The same as -i native, as qemu-img bench -n");
  sub->add_option("--flush-interval", a->flush_interval,
                  "With -w: flush after every N requests (default: once at the end)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  sub->add_flag("-q,--quiet", a->quiet, "Print nothing (the exit code tells)");
  sub->add_option("--pattern", a->pattern, "Byte written by -w (default 0)")
      ->check(ByteValidator());
  AddJsonFlag(sub, &a->json, "the parameters, seconds, iops, bytes-per-second");
  AddFormatOption(sub, &a->format);
  AddAllowRootOption(sub, &a->roots);
  AddForceShareFlag(sub, &a->force_share)->excludes("-w");
  sub->add_option("FILE", a->file, "The disk")->required();
  SetCommand(sub, [a] { return RunBench(*a); });
}

}  // namespace hvdisk::cli
