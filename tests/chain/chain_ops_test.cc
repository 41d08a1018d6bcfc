// The single-step chain operations (chain/chain_ops.cc). RefreshParentLocator (check -r all): a
// stale relative_path is rewritten to name the parent that another path found, and nothing else
// of the locator changes; a fresh one is left alone; a crash at any I/O point leaves a locator
// that still finds the parent.
#include <gtest/gtest.h>

#include <string>

#include "chain/chain.h"
#include "platform/crash_file_system.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/chain_fixture.h"
#include "tests/testutil/crash_sweep.h"
#include "tests/testutil/testutil.h"
#include "vhdx/parent_locator.h"

namespace hvdisk::chain {
namespace {

using LocatorEntries = std::vector<std::pair<std::string, std::string>>;

LocatorEntries LocatorOf(FileSystem* fs, const std::string& path) {
  auto image = vhdx::Image::Open(fs, path, {.read_only = true});
  EXPECT_TRUE(image.ok()) << image.status().ToString();
  return image.ok() ? (*image)->parent_locator() : LocatorEntries{};
}

// A child of /s/base.vhdx whose relative_path names a file that is gone; its absolute path (a
// drive path, mapped to a candidate beside the child) still finds the parent.
std::string StaleChild(MemFileSystem* fs) {
  auto paths = testing::MakeChain(fs, "/s", 1);
  EXPECT_TRUE(paths.ok()) << paths.status().ToString();
  const std::string child = (*paths)[1];
  vhdx::ParentLocator l{.entries = LocatorOf(fs, child)};
  l.Set(vhdx::kRelativePathKey, ".\\gone.vhdx");
  l.Set(vhdx::kAbsoluteWin32PathKey, "D:\\Hyper-V\\Virtual Hard Disks\\base.vhdx");
  auto image = vhdx::Image::Open(fs, child, {.read_only = false});
  EXPECT_TRUE(image.ok());
  EXPECT_OK((*image)->SetParentLocator(l.entries));
  EXPECT_OK((*image)->Close());
  return child;
}

std::string RelativePath(FileSystem* fs, const std::string& path) {
  vhdx::ParentLocator l{.entries = LocatorOf(fs, path)};
  auto v = l.Get(vhdx::kRelativePathKey);
  return v ? std::string(*v) : "";
}

TEST(LocatorRefresh, AStaleRelativePathIsRewrittenAndTheRestKept) {
  MemFileSystem fs;
  const std::string child = StaleChild(&fs);
  const LocatorEntries before = LocatorOf(&fs, child);
  ASSERT_OK_AND_ASSIGN(std::string action, RefreshParentLocator(&fs, child));
  EXPECT_NE(action.find(".\\gone.vhdx rewritten as .\\base.vhdx"), std::string::npos) << action;
  EXPECT_EQ(RelativePath(&fs, child), ".\\base.vhdx");
  LocatorEntries after = LocatorOf(&fs, child);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    if (after[i].first != "relative_path") {
      EXPECT_EQ(after[i], before[i]) << after[i].first;
    }
  }
  ASSERT_OK_AND_ASSIGN(std::string again, RefreshParentLocator(&fs, child));
  EXPECT_EQ(again, "") << "a fresh locator is left alone";
}

TEST(LocatorRefresh, ACrashAtEveryOperationLeavesALocatorThatFindsTheParent) {
  MemFileSystem src;
  const std::string child = StaleChild(&src);
  uint64_t ops = 0;
  {
    CrashFileSystem fs;
    ASSERT_OK(fs.ImportFrom(&src, "/"));
    const uint64_t start = fs.mutating_ops();
    ASSERT_OK(RefreshParentLocator(&fs, child).status());
    ops = fs.mutating_ops() - start;
  }
  ASSERT_GT(ops, 3u);
  hvdisk::testing::CrashEverywhere(ops, [&](const hvdisk::testing::CrashRun& run) {
    CrashFileSystem fs;
    ASSERT_OK(fs.ImportFrom(&src, "/"));
    fs.SetCrashPoint(run.point);
    (void)RefreshParentLocator(&fs, child);
    fs.Crash(run.seed, run.mode);
    auto chain = Chain::Open(&fs, child, {});
    ASSERT_TRUE(chain.ok()) << run.where << ": " << chain.status().ToString();
    chain->reset();
    ASSERT_OK(RefreshParentLocator(&fs, child).status());
    EXPECT_EQ(RelativePath(&fs, child), ".\\base.vhdx") << run.where;
  });
}

}  // namespace
}  // namespace hvdisk::chain
