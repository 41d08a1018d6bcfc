// bench: qemu-img bench for hvdisk disks. COUNT requests of BUFSIZE bytes, DEPTH in flight, at
// OFFSET, OFFSET+STEP, ... (wrapping inside the disk), reads or (-w) writes, then a flush.
//
// -n threads: DEPTH worker threads call Disk::Read/Write concurrently (Image is thread-safe).
// -n native:  one thread keeps DEPTH requests in an IoQueue (io_uring, else libaio); reads are
//             planned with Image::PlanRead. VHDX writes cannot be planned, so they use threads.
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
#include "cli/disk_source.h"
#include "cli/size_parse.h"
#include "platform/aligned_buffer.h"
#include "platform/io_queue.h"

namespace hvdisk::cli {
namespace {

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
  bool json = false;
  bool force_share = false;
};

struct BenchPlan {
  bool write = false;
  uint64_t count = 0;
  size_t bufsize = 0;
  unsigned depth = 0;
  uint64_t step = 0;
  uint64_t offset = 0;
  uint64_t disk_size = 0;
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
  ThreadBench(Disk* disk, const BenchPlan& plan) : disk_(disk), plan_(plan) {}

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
    for (uint64_t i = next_++; i < plan_.count; i = next_++) {
      const uint64_t off = plan_.OffsetOf(i);
      Status s = plan_.write ? disk_->Write(off, buf.span()) : disk_->Read(off, buf.span());
      if (!s.ok()) return Fail(s);
    }
  }
  void Fail(const Status& s) {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_.ok()) error_ = s;
    next_ = plan_.count;  // stops the other workers
  }

  Disk* const disk_;
  const BenchPlan plan_;
  std::atomic<uint64_t> next_{0};
  std::mutex mu_;
  Status error_;  // guarded by mu_
};

// ---- native ------------------------------------------------------------------------------------

class QueueBench {
 public:
  QueueBench(Disk* disk, const BenchPlan& plan) : disk_(disk), plan_(plan) {}

  Status Run() {
    for (unsigned s = 0; s < plan_.depth; ++s) buffers_.push_back(PatternBuffer(plan_));
    ASSIGN_OR_RETURN(queue_, CreateIoQueue(IoBackend::kAuto, plan_.depth));
    Status s = Loop();
    std::vector<IoCompletion> drain(plan_.depth);
    while (queue_->pending() > 0) {  // after an error: no buffer may be freed while in flight
      if (!queue_->Reap(drain, 1).ok()) break;
    }
    return s;
  }

 private:
  Status Loop() {
    outstanding_.assign(plan_.depth, 0);
    for (size_t s = 0; s < buffers_.size(); ++s) RETURN_IF_ERROR(Issue(s));
    std::vector<IoCompletion> done(plan_.depth);
    while (completed_ < plan_.count) {
      ASSIGN_OR_RETURN(size_t n, queue_->Reap(done, 1));
      for (size_t k = 0; k < n; ++k) {
        RETURN_IF_ERROR(done[k].status);
        const size_t slot = static_cast<size_t>(done[k].user_data);
        if (--outstanding_[slot] > 0) continue;
        ++completed_;
        RETURN_IF_ERROR(Issue(slot));
      }
    }
    return Status::Ok();
  }

  // Starts the next request on `slot`; requests that need no I/O (zero ranges) complete at once.
  Status Issue(size_t slot) {
    while (issued_ < plan_.count) {
      const uint64_t off = plan_.OffsetOf(issued_++);
      requests_.clear();
      std::span<std::byte> buf = buffers_[slot].span();
      RETURN_IF_ERROR(plan_.write ? disk_->PlanWrite(off, buf, &requests_)
                                  : disk_->PlanRead(off, buf, &requests_));
      if (requests_.empty()) {
        ++completed_;
        continue;
      }
      for (IoRequest& r : requests_) r.user_data = slot;
      outstanding_[slot] = requests_.size();
      return queue_->Submit(requests_);
    }
    return Status::Ok();
  }

  Disk* const disk_;
  const BenchPlan plan_;
  std::vector<AlignedBuffer> buffers_;
  std::unique_ptr<IoQueue> queue_;  // destroyed before the buffers it may still reference
  std::vector<size_t> outstanding_;
  std::vector<IoRequest> requests_;
  uint64_t issued_ = 0;
  uint64_t completed_ = 0;
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

Status RunPlan(Disk* disk, const BenchPlan& p, bool native) {
  const bool queue = native && !(p.write && disk->image() != nullptr);
  RETURN_IF_ERROR(queue ? QueueBench(disk, p).Run() : ThreadBench(disk, p).Run());
  if (p.write) RETURN_IF_ERROR(disk->Flush());
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
  Result<DiskFormat> format = ParseFormat(a.format);
  if (!format.ok()) return UsageError(format.status());
  DiskOpenOptions o{.format = *format,
                    .writable = a.write,
                    .direct = a.cache == "none",
                    .force_share = a.force_share,
                    .allowed_roots = a.roots};
  Result<std::unique_ptr<Disk>> disk = Disk::Open(a.file, o);
  if (!disk.ok()) return ReportError(disk.status());
  Result<BenchPlan> plan = MakePlan(a, (*disk)->size());
  if (!plan.ok()) return UsageError(plan.status());
  if (!a.json) PrintPlan(*plan);
  const auto start = std::chrono::steady_clock::now();
  Status s = RunPlan(disk->get(), *plan, a.aio == "native");
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  if (s.ok()) s = (*disk)->Close();
  if (!s.ok()) return ReportError(s);
  if (a.json) {
    PrintBenchJson(*plan, elapsed.count());
  } else {
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
      ->check(CLI::PositiveNumber);
  sub->add_option("-s,--buffer-size", a->bufsize, "Bytes per request (default 4K)")
      ->check(SizeValidator());
  sub->add_option("-d,--depth", a->depth, "Requests in flight (default 64)")
      ->check(CLI::Range(1, 4096));
  sub->add_option("-S,--step-size", a->step, "Offset step (default: the buffer size)")
      ->check(SizeValidator());
  sub->add_option("-o,--offset", a->offset, "First offset (default 0)")->check(SizeValidator());
  sub->add_option("-t,--cache", a->cache, "none (O_DIRECT) or writeback (default)")
      ->check(CLI::IsMember({"none", "writeback"}));
  sub->add_option("-n,--aio", a->aio, "threads (default) or native (io_uring/libaio)")
      ->check(CLI::IsMember({"native", "threads"}));
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
