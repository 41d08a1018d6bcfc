// IoQueue backends on one large file: sequential 1 MiB reads and writes at queue depth 4, and
// 4 KiB random reads at depth 1 and 32, each buffered and O_DIRECT.
//
// Names: BM_<Test>/<backend>/<buffered|direct>/qd<N>, e.g. BM_RandRead4K/uring/direct/qd32.
// Each reports bytes/s and an IOPS rate counter. Queues stay full: every completion reaped is
// replaced by a new request at once. Buffered reads measure whatever the page cache holds (fio,
// for one, drops the file's pages before each run), so compare direct numbers across tools.
//
// Environment: HVDISK_BENCH_DIR (default /tmp) holds hvdisk_io_bench.dat, created on first use;
// HVDISK_BENCH_FILE_MB (default 1024) is its size in MiB. bench/compare_fio.sh runs fio on the
// same file with the same parameters.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/offset_stream.h"
#include "platform/aligned_buffer.h"
#include "platform/file.h"
#include "platform/io_queue.h"

namespace hvdisk {
namespace {

constexpr size_t kMiB = 1 << 20;

std::string BenchPath() {
  const char* dir = std::getenv("HVDISK_BENCH_DIR");
  return JoinPath(dir != nullptr && *dir != '\0' ? dir : "/tmp", "hvdisk_io_bench.dat");
}

uint64_t BenchFileBytes() {
  const char* mb = std::getenv("HVDISK_BENCH_FILE_MB");
  uint64_t n = mb != nullptr ? std::strtoull(mb, nullptr, 10) : 0;
  return (n > 0 ? n : 1024) * kMiB;
}

// Creates (or re-creates, when its size is wrong) the bench file, full of non-zero bytes.
Status PrepareBenchFile(const std::string& path, uint64_t bytes) {
  FileSystem* fs = DefaultFileSystem();
  {
    Result<std::unique_ptr<File>> existing = fs->Open(path, OpenOptions::ReadOnly());
    if (existing.ok()) {
      Result<uint64_t> size = (*existing)->Size();
      if (size.ok() && *size == bytes) return Status::Ok();
    }
  }
  std::fprintf(stderr, "creating %s (%llu MiB)\n", path.c_str(),
               static_cast<unsigned long long>(bytes / kMiB));
  ASSIGN_OR_RETURN(auto file, fs->Open(path, OpenOptions::CreateOrTruncate()));
  std::vector<std::byte> chunk(kMiB);
  for (uint64_t off = 0; off < bytes; off += kMiB) {
    for (size_t i = 0; i < chunk.size(); i += 8) {
      const uint64_t v = (off + i) * 0x9E3779B97F4A7C15ull | 1;
      std::memcpy(chunk.data() + i, &v, 8);
    }
    RETURN_IF_ERROR(file->WriteAt(off, chunk));
  }
  return file->Flush();
}

struct IoPattern {
  IoKind kind = IoKind::kRead;
  bool random = false;
  size_t block = kMiB;
  unsigned depth = 1;
};

// One in-flight request per slot; slot i owns buffer i and is its request's user_data.
class Pipeline {
 public:
  Pipeline(const IoPattern& p, File* file, uint64_t file_bytes)
      : p_(p),
        file_(file),
        offsets_(p.random, p.block, file_bytes),
        buffers_(p.depth * p.block),
        requests_(p.depth) {
    std::memset(buffers_.data(), 0x5A, buffers_.size());
  }

  IoRequest Request(uint64_t slot) {
    return {.kind = p_.kind,
            .file = file_,
            .offset = offsets_.Next(),
            .data = buffers_.data() + slot * p_.block,
            .length = p_.block,
            .user_data = slot};
  }
  // Refills the slots of `done`; returns the bytes they had transferred, or an error.
  Result<uint64_t> Replace(std::span<const IoCompletion> done, IoQueue* queue) {
    uint64_t bytes = 0;
    for (size_t i = 0; i < done.size(); ++i) {
      if (!done[i].status.ok()) return done[i].status;
      bytes += done[i].bytes;
      requests_[i] = Request(done[i].user_data);
    }
    RETURN_IF_ERROR(queue->Submit({requests_.data(), done.size()}));
    return bytes;
  }

 private:
  IoPattern p_;
  File* file_;
  OffsetStream offsets_;
  AlignedBuffer buffers_;
  std::vector<IoRequest> requests_;
};

void Drain(IoQueue* queue) {
  std::vector<IoCompletion> done(queue->depth());
  while (queue->pending() > 0) {
    if (!queue->Reap(done, 1).ok()) return;
  }
}

// Keeps the queue full for the benchmark's iterations (one Reap each); counts bytes and ops.
Status RunLoop(benchmark::State& state, IoQueue* queue, Pipeline* pipe, uint64_t* bytes,
               uint64_t* ops) {
  std::vector<IoRequest> first;
  for (unsigned slot = 0; slot < queue->depth(); ++slot) first.push_back(pipe->Request(slot));
  RETURN_IF_ERROR(queue->Submit(first));
  std::vector<IoCompletion> done(queue->depth());
  for (auto _ : state) {
    ASSIGN_OR_RETURN(size_t n, queue->Reap(done, 1));
    ASSIGN_OR_RETURN(uint64_t moved, pipe->Replace({done.data(), n}, queue));
    *bytes += moved;
    *ops += n;
  }
  return Status::Ok();
}

void RunPattern(benchmark::State& state, IoBackend backend, bool direct, IoPattern p) {
  const uint64_t file_bytes = BenchFileBytes();
  static const Status prepared = PrepareBenchFile(BenchPath(), file_bytes);  // once, lazily
  if (!prepared.ok()) return state.SkipWithError(prepared.ToString().c_str());
  OpenOptions opts = p.kind == IoKind::kWrite ? OpenOptions::ReadWrite() : OpenOptions::ReadOnly();
  opts.direct = direct;
  Result<std::unique_ptr<File>> file = DefaultFileSystem()->Open(BenchPath(), opts);
  Result<std::unique_ptr<IoQueue>> queue = CreateIoQueue(backend, p.depth);
  Status s = !file.ok() ? file.status() : queue.status();
  if (!s.ok()) return state.SkipWithError(s.ToString().c_str());

  Pipeline pipe(p, file->get(), file_bytes);
  uint64_t bytes = 0, ops = 0;
  s = RunLoop(state, queue->get(), &pipe, &bytes, &ops);
  Drain(queue->get());
  if (!s.ok()) return state.SkipWithError(s.ToString().c_str());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["IOPS"] =
      benchmark::Counter(static_cast<double>(ops), benchmark::Counter::kIsRate);
}

void RegisterAll() {
  struct Test {
    const char* name;
    IoPattern pattern;
  };
  const Test kTests[] = {
      {"BM_SeqRead", {.kind = IoKind::kRead, .block = kMiB, .depth = 4}},
      {"BM_SeqWrite", {.kind = IoKind::kWrite, .block = kMiB, .depth = 4}},
      {"BM_RandRead4K", {.kind = IoKind::kRead, .random = true, .block = 4096, .depth = 1}},
      {"BM_RandRead4K", {.kind = IoKind::kRead, .random = true, .block = 4096, .depth = 32}},
  };
  for (IoBackend backend : {IoBackend::kIoUring, IoBackend::kLibaio, IoBackend::kSync}) {
    for (bool direct : {false, true}) {
      for (const Test& t : kTests) {
        const std::string name = std::string(t.name) + "/" + std::string(IoBackendName(backend)) +
                                 (direct ? "/direct" : "/buffered") + "/qd" +
                                 std::to_string(t.pattern.depth);
        const IoPattern p = t.pattern;
        benchmark::RegisterBenchmark(
            name.c_str(), [=](benchmark::State& st) { RunPattern(st, backend, direct, p); })
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
}

}  // namespace
}  // namespace hvdisk

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  hvdisk::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
