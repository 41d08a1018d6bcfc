// Crash proof for the copier: a depth-3 chain copied into an empty dynamic VHDX and into an empty
// raw file (both made durable beforehand) on a CrashFileSystem stopped at every mutating
// operation, in several crash modes. After every crash the source's files are untouched, the
// destination reopens (a VHDX replays its log) and checks free of corruption, every sector of it
// reads either as zeros (not yet copied) or as the source's, and a copy whose final flush
// completed reads as the source entirely.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "disk/copier.h"
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

struct Template {
  MemFileSystem fs;
  std::vector<std::string> sources;  // base first
  std::vector<std::byte> content;    // the chain's view
};

const Template& GetTemplate() {
  static Template* t = [] {
    auto* t = new Template;
    t->sources = *chain::testing::MakeChain(&t->fs, "/c", 2);
    auto d = Open(&t->fs, t->sources.back(), {});
    t->content.resize(kDisk);
    (void)(*d)->Read(0, t->content);
    (void)vhdx::Image::Create(&t->fs, "/out.vhdx", {.virtual_size = kDisk, .block_size = kBlock});
    (void)CreateRaw(&t->fs, "/out.img", kDisk);
    return t;
  }();
  return *t;
}

// Copies the chain into `dst`; true when the copy (its final flush included) completed.
bool Copy(FileSystem* fs, const std::string& dst) {
  auto src = Open(fs, GetTemplate().sources.back(), {});
  if (!src.ok()) return false;
  auto out = Open(fs, dst, {.writable = true});
  if (!out.ok()) return false;
  CopyOptions o{.chunk_size = 2 * kBlock, .read_ahead = 3};
  if (!Copier(src->get(), o).CopyTo(out->get(), {.sparse_granularity = 64 << 10}).ok()) {
    return false;
  }
  (void)(*out)->Close();
  return true;
}

void ExpectCopyOrZeros(VirtualDisk* d, bool complete, const std::string& where) {
  const Template& t = GetTemplate();
  std::vector<std::byte> now(kDisk);
  ASSERT_OK(d->Read(0, now));
  if (complete) {
    EXPECT_TRUE(now == t.content) << where << ": a completed copy differs from its source";
    return;
  }
  for (uint64_t sec = 0; sec < kDisk; sec += kSector) {
    std::span<const std::byte> got(now.data() + sec, kSector);
    const bool copied = std::equal(got.begin(), got.end(), t.content.begin() + sec);
    ASSERT_TRUE(copied || IsAllZero(got)) << where << ": sector @" << sec << " is neither";
  }
}

void CrashTrial(const std::string& dst, const CrashRun& run) {
  const Template& t = GetTemplate();
  CrashFileSystem fs;
  ASSERT_OK(fs.ImportFrom(const_cast<MemFileSystem*>(&t.fs), "/"));
  fs.SetCrashPoint(run.point);
  const bool complete = Copy(&fs, dst);
  fs.Crash(run.seed, run.mode);
  for (const std::string& p : t.sources) {
    EXPECT_EQ(*fs.GetFile(p), *const_cast<MemFileSystem&>(t.fs).GetFile(p)) << run.where << p;
  }
  {
    auto d = Open(&fs, dst, {.writable = true});
    ASSERT_TRUE(d.ok()) << run.where << ": " << d.status().ToString();
    ASSERT_OK((*d)->Close());
  }
  if (HasVhdxExtension(dst)) {
    ASSERT_OK_AND_ASSIGN(vhdx::CheckReport check, vhdx::Image::Check(&fs, dst));
    EXPECT_TRUE(check.corruptions.empty()) << run.where << ": " << check.corruptions.front();
  }
  ASSERT_OK_AND_ASSIGN(auto d, Open(&fs, dst, {}));
  ExpectCopyOrZeros(d.get(), complete, run.where);
}

void CrashEverywhere(const std::string& dst) {
  CrashFileSystem fs;
  ASSERT_OK(fs.ImportFrom(const_cast<MemFileSystem*>(&GetTemplate().fs), "/"));
  const uint64_t before = fs.mutating_ops();
  ASSERT_TRUE(Copy(&fs, dst));
  const uint64_t ops = fs.mutating_ops() - before;
  ASSERT_GT(ops, 3u);
  testing::CrashEverywhere(ops, [&](const CrashRun& run) { CrashTrial(dst, run); });
}

TEST(CopierCrash, ACopyIntoADynamicVhdxSurvivesACrashAtEveryOperation) {
  CrashEverywhere("/out.vhdx");
}

TEST(CopierCrash, ACopyIntoARawFileSurvivesACrashAtEveryOperation) { CrashEverywhere("/out.img"); }

}  // namespace
}  // namespace hvdisk::disk
