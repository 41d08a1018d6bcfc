// Crash proof for the NBD export (nbd/export.h), the logic behind every nbdkit-hvdisk-plugin.so
// callback: a client's workload of writes (some FUA), zeroes, trims and flushes runs through
// nbd::Export on a CrashFileSystem stopped at every mutating operation, in several crash modes,
// over a raw disk and a depth-3 chain (base <- d1 <- d2). After every crash the disk must reopen
// (a VHDX leaf replays its log), the chain must check free of corruption with its parents'
// files untouched, everything an acknowledged flush or FUA request covered must read back, and
// every sector changed after it must read either as before or as written.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "chain/chain.h"
#include "disk/open.h"
#include "nbd/export.h"
#include "platform/crash_file_system.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/chain_fixture.h"
#include "tests/testutil/crash_sweep.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::nbd {
namespace {

using chain::testing::kBlock;
using chain::testing::kDisk;
using testing::CrashRun;

constexpr uint64_t kSector = 512;

// One NBD request of the workload.
struct Request {
  enum Kind { kWrite, kZero, kTrim, kFlush } kind;
  uint64_t offset = 0;
  uint64_t length = 0;
  bool fua = false;
};

// Disjoint ranges: a partial block over the parents, a FUA write of a whole new block, a zeroed
// block, an unaligned write, a FUA trim, and writes after the last acknowledged flush.
const std::vector<Request>& Workload() {
  static const std::vector<Request> requests = {
      {Request::kWrite, kBlock / 2 + 4096, 8192},
      {Request::kWrite, 4 * kBlock, kBlock, /*fua=*/true},
      {Request::kZero, 2 * kBlock, kBlock},
      {Request::kWrite, 6 * kBlock + 1000, 3000},
      {Request::kFlush},
      {Request::kTrim, 5 * kBlock, kBlock, /*fua=*/true},
      {Request::kWrite, 3 * kBlock + 512, 65536},
      {Request::kWrite, 7 * kBlock, 2 * 4096},
  };
  return requests;
}

bool MakesDurable(const Request& r) { return r.kind == Request::kFlush || r.fua; }

std::vector<std::byte> RequestBytes(const Request& r, size_t index) {
  return r.kind == Request::kWrite ? testing::PatternBytes(r.length, 2000 + index)
                                   : std::vector<std::byte>(r.length);
}

struct Template {
  MemFileSystem fs;
  std::string leaf;
  std::vector<std::string> parents;
  std::vector<std::byte> before;  // the content before the workload
};

const Template& RawTemplate() {
  static Template* t = [] {
    auto* t = new Template;
    t->leaf = "/raw.img";
    t->before = testing::PatternBytes(kDisk, 9);
    (void)t->fs.PutFile(t->leaf,
                        std::string(reinterpret_cast<const char*>(t->before.data()), kDisk));
    return t;
  }();
  return *t;
}

const Template& ChainTemplate() {
  static Template* t = [] {
    auto* t = new Template;
    std::vector<std::string> paths = *chain::testing::MakeChain(&t->fs, "/c", 2);
    t->leaf = paths.back();
    t->parents.assign(paths.begin(), paths.end() - 1);
    auto d = disk::Open(&t->fs, t->leaf, {});
    t->before.resize(kDisk);
    (void)(*d)->Read(0, t->before);
    return t;
  }();
  return *t;
}

Status Send(Export* e, const Request& r, size_t index) {
  switch (r.kind) {
    case Request::kWrite:
      return e->Pwrite(r.offset, RequestBytes(r, index), r.fua);
    case Request::kZero:
      return e->Zero(r.offset, r.length, r.fua);
    case Request::kTrim:
      return e->Trim(r.offset, r.length, r.fua);
    case Request::kFlush:
      return e->Flush();
  }
  return Status::Ok();
}

// Serves the workload until a request fails, as the plugin would (the export opened by
// get_ready, its queues started by after_fork); returns how many requests (from the first) an
// acknowledged flush or FUA request covers.
size_t RunWorkload(FileSystem* fs, const std::string& leaf) {
  auto e = Export::Open(fs, {.file = leaf});
  if (!e.ok()) return 0;
  (*e)->StartIo(IoBackend::kSync);
  size_t durable = 0;
  const std::vector<Request>& requests = Workload();
  for (size_t i = 0; i < requests.size(); ++i) {
    if (!Send(e->get(), requests[i], i).ok()) return durable;
    if (MakesDurable(requests[i])) durable = i + 1;
  }
  return durable;
}

// Every sector of each request reads as sent when an acknowledged flush covered it, else as
// before or as sent.
void ExpectContent(const Template& t, disk::VirtualDisk* d, size_t durable,
                   const std::string& where) {
  std::vector<std::byte> now(kDisk);
  ASSERT_OK(d->Read(0, now));
  const std::vector<Request>& requests = Workload();
  for (size_t i = 0; i < requests.size(); ++i) {
    const Request& r = requests[i];
    if (r.kind == Request::kFlush) continue;
    const std::vector<std::byte> data = RequestBytes(r, i);
    for (uint64_t sec = r.offset / kSector * kSector; sec < r.offset + r.length; sec += kSector) {
      const uint64_t lo = std::max(sec, r.offset),
                     hi = std::min(sec + kSector, r.offset + r.length);
      const bool as_sent =
          std::equal(now.begin() + lo, now.begin() + hi, data.begin() + (lo - r.offset));
      const bool as_before = std::equal(now.begin() + lo, now.begin() + hi, t.before.begin() + lo);
      EXPECT_TRUE(as_sent || (i >= durable && as_before))
          << where << ": request " << i << " sector @" << sec << (i < durable ? " (flushed)" : "");
      if (::testing::Test::HasFailure()) return;
    }
  }
}

void CrashTrial(const Template& t, const CrashRun& run) {
  CrashFileSystem fs;
  ASSERT_OK(fs.ImportFrom(const_cast<MemFileSystem*>(&t.fs), "/"));
  fs.SetCrashPoint(run.point);
  const size_t durable = RunWorkload(&fs, t.leaf);
  fs.Crash(run.seed, run.mode);
  for (const std::string& p : t.parents) {
    EXPECT_EQ(*fs.GetFile(p), *const_cast<MemFileSystem&>(t.fs).GetFile(p)) << run.where << p;
  }
  {  // a writable open replays the leaf's log, as the next server's would
    auto d = disk::Open(&fs, t.leaf, {.writable = true});
    ASSERT_TRUE(d.ok()) << run.where << ": " << d.status().ToString();
    ASSERT_OK((*d)->Close());
  }
  if (!t.parents.empty()) {
    ASSERT_OK_AND_ASSIGN(chain::ChainCheckReport check, chain::CheckChain(&fs, t.leaf));
    EXPECT_FALSE(check.corrupt()) << run.where;
  }
  ASSERT_OK_AND_ASSIGN(auto d, disk::Open(&fs, t.leaf, {}));
  ExpectContent(t, d.get(), durable, run.where);
}

uint64_t CountOps(const Template& t) {
  CrashFileSystem fs;
  EXPECT_OK(fs.ImportFrom(const_cast<MemFileSystem*>(&t.fs), "/"));
  const uint64_t before = fs.mutating_ops();
  EXPECT_EQ(RunWorkload(&fs, t.leaf), 6u) << "the workload runs to its end without a crash";
  return fs.mutating_ops() - before;
}

TEST(NbdExportCrash, AcknowledgedFlushesAndFuaWritesToARawDiskSurviveACrashAtEveryOperation) {
  const Template& t = RawTemplate();
  const uint64_t ops = CountOps(t);
  ASSERT_GE(ops, 7u);
  testing::CrashEverywhere(ops, [&](const CrashRun& run) { CrashTrial(t, run); });
}

TEST(NbdExportCrash, AcknowledgedFlushesAndFuaWritesToADepth3ChainSurviveACrashAtEveryOperation) {
  const Template& t = ChainTemplate();
  const uint64_t ops = CountOps(t);
  ASSERT_GT(ops, 7u);
  testing::CrashEverywhere(ops, [&](const CrashRun& run) { CrashTrial(t, run); });
}

}  // namespace
}  // namespace hvdisk::nbd
