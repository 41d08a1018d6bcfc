#include "platform/io_queue.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "platform/aligned_buffer.h"
#include "platform/file.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using ::hvdisk::testing::PatternBytes;
using ::hvdisk::testing::TempDir;

constexpr IoBackend kAllBackends[] = {IoBackend::kIoUring, IoBackend::kLibaio, IoBackend::kSync};

// The backends this build has, best first (a build without liburing or libaio lacks them).
std::vector<IoBackend> BuiltBackends() {
  std::vector<IoBackend> out;
  for (IoBackend b : kAllBackends) {
    if (IoBackendBuilt(b)) out.push_back(b);
  }
  return out;
}
const std::vector<IoBackend> kBackends = BuiltBackends();

std::string BackendParamName(const ::testing::TestParamInfo<IoBackend>& info) {
  return std::string(IoBackendName(info.param));
}

std::unique_ptr<File> OpenOrDie(const std::string& path, OpenOptions opts) {
  Result<std::unique_ptr<File>> f = DefaultFileSystem()->Open(path, opts);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() ? std::move(f).value() : nullptr;
}

std::vector<std::byte> ReadAll(const std::string& path) {
  std::unique_ptr<File> f = OpenOrDie(path, OpenOptions::ReadOnly());
  if (f == nullptr) return {};
  Result<uint64_t> size = f->Size();
  std::vector<std::byte> out(size.ok() ? *size : 0);
  EXPECT_OK(f->ReadExactAt(0, out));
  return out;
}

// Sets an environment variable for the scope, then restores the previous value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// ---- The random workload -------------------------------------------------------------------

struct WorkloadOptions {
  bool direct = false;
  int operations = 10000;
  uint64_t seed = 1;
  unsigned depth = 16;
  uint64_t region = 4 << 20;  // writes stay below; reads may reach past it
};

struct PlannedIo {
  IoRequest req;
  uint64_t expect_bytes = 0;  // reads: what the shadow says is there
};

// Generates batches of non-overlapping requests (in-flight requests are unordered) and keeps a
// shadow of the file that every read is checked against. Same seed, same requests.
class Workload {
 public:
  explicit Workload(const WorkloadOptions& o)
      : o_(o), rng_(o.seed), source_(1 << 20), arena_(64 * 128 * 1024) {
    std::vector<std::byte> bytes = PatternBytes(source_.size(), o.seed);
    std::memcpy(source_.data(), bytes.data(), bytes.size());
  }

  // The next batch, with writes already applied to the shadow.
  std::vector<PlannedIo> NextBatch(File* file) {
    std::vector<PlannedIo> batch;
    const size_t want = 1 + rng_() % 48;
    size_t arena_used = 0;
    for (size_t tries = 0; batch.size() < want && tries < 4 * want; ++tries) {
      PlannedIo io = Plan(file);
      if (io.req.kind != IoKind::kFlush && Overlaps(batch, io.req)) continue;
      if (io.req.kind == IoKind::kRead) {
        io.req.data = arena_.data() + arena_used;
        arena_used += (io.req.length + 4095) / 4096 * 4096;
      }
      io.req.user_data = batch.size();
      batch.push_back(io);
    }
    for (PlannedIo& io : batch) {
      if (io.req.kind == IoKind::kWrite) ApplyWrite(io.req);
    }
    return batch;
  }

  void Verify(const PlannedIo& io, const IoCompletion& c) const {
    ASSERT_TRUE(c.status.ok()) << c.status.ToString();
    if (io.req.kind != IoKind::kRead) return;
    ASSERT_EQ(c.bytes, io.expect_bytes) << "read @" << io.req.offset << " +" << io.req.length;
    ASSERT_EQ(0, std::memcmp(io.req.data, shadow_.data() + io.req.offset, c.bytes))
        << "read @" << io.req.offset << " +" << c.bytes;
  }

  const std::vector<std::byte>& shadow() const { return shadow_; }

 private:
  PlannedIo Plan(File* file) {
    PlannedIo io;
    io.req.file = file;
    const uint64_t roll = rng_() % 1000;
    if (roll < 5) {
      io.req.kind = IoKind::kFlush;
      return io;
    }
    io.req.kind = roll < 550 ? IoKind::kWrite : IoKind::kRead;
    const uint64_t unit = o_.direct ? kDirectAlignment : 1;
    const uint64_t max_units = o_.direct ? 16 : (rng_() % 4 == 0 ? 65536 : 600);
    io.req.length = unit * (1 + rng_() % max_units);
    const uint64_t span = io.req.kind == IoKind::kRead ? o_.region + (64 << 10) : o_.region;
    io.req.offset = (rng_() % ((span - io.req.length) / unit)) * unit;
    if (io.req.kind == IoKind::kWrite) {
      io.req.data = source_.data() + (rng_() % ((source_.size() - io.req.length) / unit)) * unit;
    } else {
      const uint64_t size = shadow_.size();
      io.expect_bytes = io.req.offset >= size ? 0 : std::min(io.req.length, size - io.req.offset);
    }
    return io;
  }

  // Whether r conflicts with a request of the batch: it overlaps a write, or it is a read past
  // end of file while a write extends the file (the read's length would depend on timing).
  bool Overlaps(const std::vector<PlannedIo>& batch, const IoRequest& r) const {
    const uint64_t size = shadow_.size();  // writes of the batch are not applied yet
    return std::any_of(batch.begin(), batch.end(), [&](const PlannedIo& b) {
      if (b.req.kind == IoKind::kFlush ||
          (b.req.kind != IoKind::kWrite && r.kind != IoKind::kWrite)) {
        return false;
      }
      const uint64_t r_end = r.offset + r.length;
      const uint64_t b_end = b.req.offset + b.req.length;
      return (r.offset < b_end && b.req.offset < r_end) || (r_end > size && b_end > size);
    });
  }

  void ApplyWrite(const IoRequest& r) {
    if (r.offset + r.length > shadow_.size()) shadow_.resize(r.offset + r.length);
    std::memcpy(shadow_.data() + r.offset, r.data, r.length);
  }

  WorkloadOptions o_;
  std::mt19937_64 rng_;
  AlignedBuffer source_;  // write payloads are slices of this
  AlignedBuffer arena_;   // read destinations for one batch
  std::vector<std::byte> shadow_;
};

// Runs the workload through `backend` on a new file at `path`; returns the final shadow.
std::vector<std::byte> RunWorkload(IoBackend backend, const std::string& path,
                                   const WorkloadOptions& o) {
  Result<std::unique_ptr<IoQueue>> queue = CreateIoQueue(backend, o.depth);
  EXPECT_TRUE(queue.ok()) << IoBackendName(backend) << ": " << queue.status().ToString();
  if (!queue.ok()) return {};
  EXPECT_EQ((*queue)->backend(), backend);
  OpenOptions opts = OpenOptions::CreateOrTruncate();
  opts.direct = o.direct;
  std::unique_ptr<File> file = OpenOrDie(path, opts);
  if (file == nullptr) return {};
  Workload w(o);
  std::vector<IoCompletion> out(7);  // smaller than most batches: Reap is called repeatedly
  for (int done = 0; done < o.operations && !::testing::Test::HasFatalFailure();) {
    std::vector<PlannedIo> batch = w.NextBatch(file.get());
    std::vector<IoRequest> reqs;
    for (const PlannedIo& io : batch) reqs.push_back(io.req);
    EXPECT_OK((*queue)->Submit(reqs));
    size_t reaped = 0;
    while (reaped < batch.size() && !::testing::Test::HasFatalFailure()) {
      Result<size_t> n = (*queue)->Reap(out, 1 + reaped % 3);
      EXPECT_TRUE(n.ok() && *n > 0) << n.status().ToString();
      if (!n.ok() || *n == 0) return {};
      for (size_t i = 0; i < *n; ++i) w.Verify(batch[out[i].user_data], out[i]);
      reaped += *n;
    }
    EXPECT_EQ((*queue)->pending(), 0u);
    done += static_cast<int>(batch.size());
  }
  return w.shadow();
}

void ExpectBackendsAgree(const WorkloadOptions& o) {
  TempDir dir;
  std::vector<std::byte> first;
  for (IoBackend b : kBackends) {
    SCOPED_TRACE(IoBackendName(b));
    const std::string path = dir.File(std::string(IoBackendName(b)) + ".img");
    std::vector<std::byte> shadow = RunWorkload(b, path, o);
    ASSERT_FALSE(::testing::Test::HasFailure());
    std::vector<std::byte> contents = ReadAll(path);
    ASSERT_EQ(contents.size(), shadow.size());
    ASSERT_TRUE(contents == shadow) << "file differs from the shadow";
    if (first.empty()) first = contents;
    ASSERT_TRUE(contents == first) << "file differs from the uring backend's";
  }
}

TEST(IoQueueTest, BackendsLeaveIdenticalFilesAfterRandomWorkload) {
  ExpectBackendsAgree({.direct = false, .operations = 10000, .seed = 42});
}

TEST(IoQueueTest, BackendsLeaveIdenticalFilesAfterRandomDirectWorkload) {
  ExpectBackendsAgree({.direct = true, .operations = 10000, .seed = 7});
}

// ---- Per-backend scenarios ------------------------------------------------------------------

class IoQueueBackendTest : public ::testing::TestWithParam<IoBackend> {
 protected:
  std::unique_ptr<IoQueue> NewQueue(unsigned depth) {
    Result<std::unique_ptr<IoQueue>> q = CreateIoQueue(GetParam(), depth);
    EXPECT_TRUE(q.ok()) << q.status().ToString();  // a backend the kernel lacks fails here
    return q.ok() ? std::move(q).value() : nullptr;
  }
  // A file of `size` pattern bytes.
  std::string MakeFile(const std::string& name, size_t size) {
    std::string path = dir_.File(name);
    std::unique_ptr<File> f = OpenOrDie(path, OpenOptions::CreateOrTruncate());
    if (f != nullptr) EXPECT_OK(f->WriteAt(0, PatternBytes(size, 3)));
    return path;
  }
  // Submits one request and reaps its completion.
  IoCompletion RunOne(IoQueue* q, const IoRequest& req) {
    EXPECT_OK(q->Submit({&req, 1}));
    IoCompletion c;
    Result<size_t> n = q->Reap({&c, 1}, 1);
    EXPECT_TRUE(n.ok() && *n == 1) << n.status().ToString();
    return c;
  }

  TempDir dir_;
};

INSTANTIATE_TEST_SUITE_P(AllBackends, IoQueueBackendTest, ::testing::ValuesIn(kBackends),
                         BackendParamName);

TEST_P(IoQueueBackendTest, WriteToReadOnlyFileArrivesAsStatusWithPathAndOperation) {
  auto q = NewQueue(4);
  ASSERT_NE(q, nullptr);
  const std::string path = MakeFile("ro.img", 8192);
  std::unique_ptr<File> f = OpenOrDie(path, OpenOptions::ReadOnly());
  ASSERT_NE(f, nullptr);
  std::vector<std::byte> buf(4096);
  IoCompletion c = RunOne(q.get(), {.kind = IoKind::kWrite,
                                    .file = f.get(),
                                    .offset = 0x1000,
                                    .data = buf.data(),
                                    .length = buf.size(),
                                    .user_data = 9});
  EXPECT_EQ(c.user_data, 9u);
  EXPECT_EQ(c.status.code(), Code::kIoError) << c.status.ToString();
  EXPECT_NE(c.status.message().find("write @0x1000"), std::string::npos) << c.status.ToString();
  EXPECT_NE(c.status.message().find(path), std::string::npos) << c.status.ToString();
  EXPECT_NE(c.status.message().find("errno 9"), std::string::npos) << c.status.ToString();
}

TEST_P(IoQueueBackendTest, ReadAtEndOfFileIsShortAndOk) {
  auto q = NewQueue(4);
  ASSERT_NE(q, nullptr);
  const std::string path = MakeFile("short.img", 10000);
  std::unique_ptr<File> f = OpenOrDie(path, OpenOptions::ReadOnly());
  ASSERT_NE(f, nullptr);
  std::vector<std::byte> buf(8192);
  IoCompletion c =
      RunOne(q.get(), {.file = f.get(), .offset = 8192, .data = buf.data(), .length = buf.size()});
  ASSERT_OK(c.status);
  EXPECT_EQ(c.bytes, 10000u - 8192u);
  EXPECT_EQ(0, std::memcmp(buf.data(), PatternBytes(10000, 3).data() + 8192, c.bytes));
  c = RunOne(q.get(), {.file = f.get(), .offset = 20000, .data = buf.data(), .length = 100});
  ASSERT_OK(c.status);
  EXPECT_EQ(c.bytes, 0u);
}

TEST_P(IoQueueBackendTest, DirectReadAtUnalignedEndOfFileIsShortAndOk) {
  auto q = NewQueue(4);
  ASSERT_NE(q, nullptr);
  const std::string path = MakeFile("direct-short.img", 3 * 4096 + 100);
  std::unique_ptr<File> f = OpenOrDie(path, {.direct = true});
  ASSERT_NE(f, nullptr);
  AlignedBuffer buf(4 * 4096);
  IoCompletion c =
      RunOne(q.get(), {.file = f.get(), .offset = 8192, .data = buf.data(), .length = buf.size()});
  ASSERT_OK(c.status);
  EXPECT_EQ(c.bytes, 4096u + 100u);
  EXPECT_EQ(0, std::memcmp(buf.data(), PatternBytes(3 * 4096 + 100, 3).data() + 8192, c.bytes));
}

TEST_P(IoQueueBackendTest, SubmittingMoreThanDepthReapsInternally) {
  auto q = NewQueue(4);
  ASSERT_NE(q, nullptr);
  const std::string path = MakeFile("deep.img", 1 << 20);
  std::unique_ptr<File> f = OpenOrDie(path, OpenOptions::ReadWrite());
  ASSERT_NE(f, nullptr);
  std::vector<std::byte> buf(100 * 512);
  std::vector<IoRequest> reqs;
  for (uint64_t i = 0; i < 100; ++i) {
    reqs.push_back({.file = f.get(),
                    .offset = i * 4096 + 1,
                    .data = buf.data() + i * 512,
                    .length = 512,
                    .user_data = i});
  }
  ASSERT_OK(q->Submit(reqs));
  EXPECT_EQ(q->pending(), 100u);
  std::vector<bool> seen(100);
  std::vector<IoCompletion> out(16);
  while (q->pending() > 0) {
    ASSERT_OK_AND_ASSIGN(size_t n, q->Reap(out, 0));
    if (n == 0) {
      ASSERT_OK_AND_ASSIGN(n, q->Reap(out, 1));
    }
    for (size_t i = 0; i < n; ++i) {
      ASSERT_OK(out[i].status);
      ASSERT_LT(out[i].user_data, 100u);
      EXPECT_FALSE(seen[out[i].user_data]);
      seen[out[i].user_data] = true;
    }
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), true), 100);
  ASSERT_OK_AND_ASSIGN(size_t none, q->Reap(out, 5));  // nothing left: returns at once
  EXPECT_EQ(none, 0u);
  const std::vector<std::byte> pattern = PatternBytes(1 << 20, 3);
  for (size_t i = 0; i < 100; ++i) {
    ASSERT_EQ(0, std::memcmp(buf.data() + i * 512, pattern.data() + i * 4096 + 1, 512)) << i;
  }
}

// RLIMIT_FSIZE makes the kernel stop a write at the limit (short), then refuse the rest (EFBIG).
TEST_P(IoQueueBackendTest, WriteCutShortByKernelIsErrorNotTruncation) {
  auto q = NewQueue(4);
  ASSERT_NE(q, nullptr);
  const std::string path = dir_.File("limit.img");
  std::unique_ptr<File> f = OpenOrDie(path, OpenOptions::CreateOrTruncate());
  ASSERT_NE(f, nullptr);
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  struct sigaction ignore {
  }, old_action{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGXFSZ, &ignore, &old_action), 0);
  rlimit limit = old;
  limit.rlim_cur = 64 << 10;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  std::vector<std::byte> buf(8192);
  IoCompletion c = RunOne(q.get(), {.kind = IoKind::kWrite,
                                    .file = f.get(),
                                    .offset = (64 << 10) - 4096,
                                    .data = buf.data(),
                                    .length = buf.size()});
  setrlimit(RLIMIT_FSIZE, &old);
  sigaction(SIGXFSZ, &old_action, nullptr);
  EXPECT_EQ(c.status.code(), Code::kIoError) << c.status.ToString();
  // The first 4 KiB went in; the error names where the write stopped.
  EXPECT_NE(c.status.message().find("write @0x10000"), std::string::npos) << c.status.ToString();
  EXPECT_NE(c.status.message().find(path), std::string::npos) << c.status.ToString();
  EXPECT_LT(c.bytes, buf.size());
}

TEST_P(IoQueueBackendTest, FilesWithoutNativeHandleRunSynchronously) {
  auto q = NewQueue(2);
  ASSERT_NE(q, nullptr);
  MemFileSystem memfs;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<File> mem, memfs.Open("/m", OpenOptions::CreateNew()));
  ASSERT_EQ(mem->native_handle(), -1);
  const std::string path = MakeFile("mixed.img", 4096);
  std::unique_ptr<File> f = OpenOrDie(path, OpenOptions::ReadWrite());
  ASSERT_NE(f, nullptr);
  std::vector<std::byte> data = PatternBytes(4096, 5);
  std::vector<std::byte> back(4096);
  std::vector<IoRequest> reqs = {
      {.kind = IoKind::kWrite,
       .file = mem.get(),
       .offset = 10,
       .data = data.data(),
       .length = data.size()},
      {.kind = IoKind::kWrite,
       .file = f.get(),
       .offset = 0,
       .data = data.data(),
       .length = data.size()},
      {.kind = IoKind::kFlush, .file = mem.get()},
      {.kind = IoKind::kFlush, .file = f.get()},
  };
  ASSERT_OK(RunAll(q.get(), reqs));
  // Synchronous means done at Submit: the completion is ready before any Reap.
  IoRequest read{.file = mem.get(), .offset = 10, .data = back.data(), .length = 4096};
  ASSERT_OK(q->Submit({&read, 1}));
  EXPECT_EQ(q->pending(), 1u);
  EXPECT_TRUE(back == data);
  IoCompletion c;
  ASSERT_OK_AND_ASSIGN(size_t n, q->Reap({&c, 1}, 0));
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(c.bytes, 4096u);
  EXPECT_TRUE(ReadAll(path) == data);
  // A read-only MemFileSystem handle refuses the write; the error still names path and offset.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<File> ro, memfs.Open("/m", OpenOptions::ReadOnly()));
  c = RunOne(
      q.get(),
      {.kind = IoKind::kWrite, .file = ro.get(), .offset = 0x20, .data = data.data(), .length = 1});
  EXPECT_EQ(c.status.code(), Code::kAccessDenied) << c.status.ToString();
  EXPECT_NE(c.status.message().find("/m"), std::string::npos) << c.status.ToString();
}

TEST_P(IoQueueBackendTest, RunAllReturnsFirstErrorInRequestOrder) {
  auto q = NewQueue(8);
  ASSERT_NE(q, nullptr);
  const std::string path = MakeFile("runall.img", 8192);
  std::unique_ptr<File> ro = OpenOrDie(path, OpenOptions::ReadOnly());
  ASSERT_NE(ro, nullptr);
  std::vector<std::byte> buf(3 * 4096);
  std::vector<IoRequest> reqs = {
      {.file = ro.get(), .offset = 0, .data = buf.data(), .length = 4096},
      {.kind = IoKind::kWrite,
       .file = ro.get(),
       .offset = 0x2000,
       .data = buf.data() + 4096,
       .length = 4096},
      {.kind = IoKind::kWrite,
       .file = ro.get(),
       .offset = 0x3000,
       .data = buf.data() + 8192,
       .length = 4096},
  };
  Status s = RunAll(q.get(), reqs);
  EXPECT_NE(s.message().find("write @0x2000"), std::string::npos) << s.ToString();
  EXPECT_EQ(q->pending(), 0u);
  EXPECT_CODE(RunAll(q.get(), std::vector<IoRequest>{{.file = nullptr, .length = 1}}),
              Code::kInvalidArgument);
}

// ---- Selection ------------------------------------------------------------------------------

TEST(IoQueueTest, EnvironmentOverridesAutoButNotAnExplicitBackend) {
  for (IoBackend b : kBackends) {
    ScopedEnv env("HVDISK_IO_BACKEND", std::string(IoBackendName(b)).c_str());
    ASSERT_OK_AND_ASSIGN(auto q, CreateIoQueue(IoBackend::kAuto, 8));
    EXPECT_EQ(q->backend(), b);
    ASSERT_OK_AND_ASSIGN(auto explicit_q, CreateIoQueue(IoBackend::kSync, 8));
    EXPECT_EQ(explicit_q->backend(), IoBackend::kSync);
  }
  {
    ScopedEnv env("HVDISK_IO_BACKEND", "floppy");
    EXPECT_CODE(CreateIoQueue(IoBackend::kAuto, 8), Code::kInvalidArgument);
  }
  ScopedEnv env("HVDISK_IO_BACKEND", "");
  ASSERT_OK_AND_ASSIGN(auto q, CreateIoQueue(IoBackend::kAuto, 8));
  EXPECT_EQ(q->backend(), kBackends.front());  // this machine has io_uring
}

TEST(IoQueueTest, ABackendThisBuildLacksIsRefusedAsUnsupportedNamingIt) {
  for (IoBackend b : kAllBackends) {
    if (IoBackendBuilt(b)) continue;
    Result<std::unique_ptr<IoQueue>> q = CreateIoQueue(b, 8);
    EXPECT_CODE(q, Code::kUnsupported);
    EXPECT_NE(q.status().message().find(b == IoBackend::kIoUring ? "io_uring" : "libaio"),
              std::string::npos)
        << q.status().ToString();
  }
  EXPECT_TRUE(IoBackendBuilt(IoBackend::kSync));
  EXPECT_TRUE(IoBackendBuilt(IoBackend::kAuto));
}

#ifdef HVDISK_TEST_EXPECTS_ALL_BACKENDS
TEST(IoQueueTest, EveryBackendIsBuiltWhenTheBuildRequiresThem) {
  EXPECT_TRUE(IoBackendBuilt(IoBackend::kIoUring));
  EXPECT_TRUE(IoBackendBuilt(IoBackend::kLibaio));
}
#endif

TEST(IoQueueTest, BackendNamesRoundTripAndBadDepthIsRejected) {
  for (IoBackend b :
       {IoBackend::kAuto, IoBackend::kIoUring, IoBackend::kLibaio, IoBackend::kSync}) {
    ASSERT_OK_AND_ASSIGN(IoBackend parsed, ParseIoBackend(IoBackendName(b)));
    EXPECT_EQ(parsed, b);
  }
  ASSERT_OK_AND_ASSIGN(IoBackend uring, ParseIoBackend("io_uring"));
  EXPECT_EQ(uring, IoBackend::kIoUring);
  ASSERT_OK_AND_ASSIGN(IoBackend aio, ParseIoBackend("libaio"));
  EXPECT_EQ(aio, IoBackend::kLibaio);
  EXPECT_CODE(ParseIoBackend("posix"), Code::kInvalidArgument);
  for (IoBackend b : kBackends) {
    EXPECT_CODE(CreateIoQueue(b, 0), Code::kInvalidArgument);
    EXPECT_CODE(CreateIoQueue(b, 4097), Code::kInvalidArgument);
  }
}

}  // namespace
}  // namespace hvdisk
