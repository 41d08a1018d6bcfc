// Crash proof for writes through VirtualDisk: a workload of writes, zeroes and flushes through a
// raw disk and through a depth-3 chain (base <- d1 <- d2) runs on a CrashFileSystem stopped at
// every mutating operation, in several crash modes. After every crash the disk must reopen (a
// VHDX leaf replays its log), the chain must check free of corruption with its parents' files
// untouched, every write and zero a completed Flush covered must read back, and every sector
// changed after the last completed Flush must read either as before or as written.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "chain/chain.h"
#include "disk/open.h"
#include "platform/crash_file_system.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/chain_fixture.h"
#include "tests/testutil/crash_sweep.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::disk {
namespace {

using chain::testing::kBlock;
using chain::testing::kDisk;
using testing::CrashRun;

constexpr uint64_t kSector = 512;

// One step of the workload: a write of `length` pattern bytes, a zero, or a flush.
struct Step {
  enum Kind { kWrite, kZero, kFlush } kind;
  uint64_t offset = 0;
  uint64_t length = 0;
};

// Disjoint ranges: a partial block over the parents, a whole new block, a zeroed block, an
// unaligned write, and writes after the last flush.
const std::vector<Step>& Workload() {
  static const std::vector<Step> steps = {
      {Step::kWrite, kBlock / 2 + 4096, 8192},
      {Step::kWrite, 4 * kBlock, kBlock},
      {Step::kFlush},
      {Step::kZero, 2 * kBlock, kBlock},
      {Step::kWrite, 6 * kBlock + 1000, 3000},
      {Step::kFlush},
      {Step::kWrite, 3 * kBlock + 512, 65536},
      {Step::kWrite, 7 * kBlock, 2 * 4096},
  };
  return steps;
}

std::vector<std::byte> StepBytes(const Step& s, size_t index) {
  return s.kind == Step::kZero ? std::vector<std::byte>(s.length)
                               : testing::PatternBytes(s.length, 1000 + index);
}

// The files of the disk under test, built once; every run starts from a durable copy.
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
    t->before = testing::PatternBytes(kDisk, 7);
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
    auto d = Open(&t->fs, t->leaf, {});
    t->before.resize(kDisk);
    (void)(*d)->Read(0, t->before);
    return t;
  }();
  return *t;
}

// Runs the workload until a step fails; returns how many steps (from the first) a completed Flush
// covers.
size_t RunWorkload(FileSystem* fs, const std::string& leaf) {
  auto d = Open(fs, leaf, {.writable = true});
  if (!d.ok()) return 0;
  size_t durable = 0;
  const std::vector<Step>& steps = Workload();
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    Status st = s.kind == Step::kFlush  ? (*d)->Flush()
                : s.kind == Step::kZero ? (*d)->Zero(s.offset, s.length)
                                        : (*d)->Write(s.offset, StepBytes(s, i));
    if (!st.ok()) return durable;
    if (s.kind == Step::kFlush) durable = i + 1;
  }
  return durable;
}

// Every sector of each step reads as written when a flush covered the step, else as before or
// as written.
void ExpectContent(const Template& t, VirtualDisk* d, size_t durable, const std::string& where) {
  std::vector<std::byte> now(kDisk);
  ASSERT_OK(d->Read(0, now));
  const std::vector<Step>& steps = Workload();
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    if (s.kind == Step::kFlush) continue;
    const std::vector<std::byte> data = StepBytes(s, i);
    for (uint64_t sec = s.offset / kSector * kSector; sec < s.offset + s.length; sec += kSector) {
      const uint64_t lo = std::max(sec, s.offset),
                     hi = std::min(sec + kSector, s.offset + s.length);
      const bool as_written =
          std::equal(now.begin() + lo, now.begin() + hi, data.begin() + (lo - s.offset));
      const bool as_before = std::equal(now.begin() + lo, now.begin() + hi, t.before.begin() + lo);
      EXPECT_TRUE(as_written || (i >= durable && as_before))
          << where << ": step " << i << " sector @" << sec << (i < durable ? " (flushed)" : "");
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
  {  // a writable open replays the leaf's log, as the next user's would
    auto d = Open(&fs, t.leaf, {.writable = true});
    ASSERT_TRUE(d.ok()) << run.where << ": " << d.status().ToString();
    ASSERT_OK((*d)->Close());
  }
  if (!t.parents.empty()) {
    ASSERT_OK_AND_ASSIGN(chain::ChainCheckReport check, chain::CheckChain(&fs, t.leaf));
    EXPECT_FALSE(check.corrupt()) << run.where;
  }
  ASSERT_OK_AND_ASSIGN(auto d, Open(&fs, t.leaf, {}));
  ExpectContent(t, d.get(), durable, run.where);
}

uint64_t CountOps(const Template& t) {
  CrashFileSystem fs;
  EXPECT_OK(fs.ImportFrom(const_cast<MemFileSystem*>(&t.fs), "/"));
  const uint64_t before = fs.mutating_ops();
  EXPECT_EQ(RunWorkload(&fs, t.leaf), 6u) << "the workload runs to its end without a crash";
  return fs.mutating_ops() - before;
}

TEST(VirtualDiskCrash, WritesThroughARawDiskSurviveACrashAtEveryOperation) {
  const Template& t = RawTemplate();
  const uint64_t ops = CountOps(t);
  ASSERT_GE(ops, 7u);
  testing::CrashEverywhere(ops, [&](const CrashRun& run) { CrashTrial(t, run); });
}

TEST(VirtualDiskCrash, WritesThroughADepth3ChainSurviveACrashAtEveryOperation) {
  const Template& t = ChainTemplate();
  const uint64_t ops = CountOps(t);
  ASSERT_GT(ops, 7u);
  testing::CrashEverywhere(ops, [&](const CrashRun& run) { CrashTrial(t, run); });
}

}  // namespace
}  // namespace hvdisk::disk
