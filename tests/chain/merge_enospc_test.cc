// A merge that runs out of space (issue 15, finding 1): in the fault file system's ENOSPC mode
// (the nth fallocate, or the nth write past the end of a file, and every later one failing), two
// levels merged into the base with a dependent either complete or fail with kNoSpace; either way
// the dependent's chain opens, checks clean and shows the same content, a failed merge leaves the
// target's size as it was (its copy discarded), and a rerun with space completes the merge.
#include <gtest/gtest.h>

#include "chain/chain.h"
#include "platform/fault_file_system.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/chain_fixture.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::chain {
namespace {

void RunMergeEnospcMode(FileOp op) {
  bool completed = false;
  for (uint64_t n = 1; !completed && n < 200; ++n) {
    const std::string where = std::string(FileOpName(op)) + " " + std::to_string(n);
    MemFileSystem mem;
    FaultFileSystem fault(&mem);
    ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fault, "/s", 3));
    ASSERT_OK_AND_ASSIGN(std::string before, testing::ChainDigest(&fault, paths[3]));
    ASSERT_OK_AND_ASSIGN(auto base, fault.Open(paths[0], {}));
    ASSERT_OK_AND_ASSIGN(uint64_t base_size, base->Size());
    const MergeOptions options{.into = paths[0], .dependents = {paths[3]}};
    fault.SetRule(
        op, {.nth = n, .err = ENOSPC, .persistent = true, .extending_only = op == FileOp::kWrite});
    Result<MergeResult> r = Merge(&fault, paths[2], options);
    completed = fault.injected(op) == 0;
    fault.ClearRules();
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kNoSpace) << where << ": " << r.status().ToString();
      ASSERT_OK_AND_ASSIGN(uint64_t size, base->Size());
      EXPECT_EQ(size, base_size) << where << ": the target kept space of a failed copy";
    }
    ASSERT_OK_AND_ASSIGN(ChainCheckReport check, CheckChain(&fault, paths[3]));
    EXPECT_FALSE(check.corrupt()) << where;
    EXPECT_FALSE(check.leaks()) << where;
    EXPECT_EQ(*testing::ChainDigest(&fault, paths[3]), before) << where;
    if (!r.ok()) ASSERT_OK(Merge(&fault, paths[2], options).status());
    ASSERT_OK_AND_ASSIGN(auto merged, Chain::Open(&fault, paths[3], {}));
    EXPECT_EQ(merged->paths(), (std::vector<std::string>{paths[3], paths[0]})) << where;
    merged.reset();
    EXPECT_EQ(*testing::ChainDigest(&fault, paths[3]), before) << where << ", rerun";
  }
  EXPECT_TRUE(completed);
}

TEST(MergeEnospcMode, EachFallocateFailingLeavesTheChainCleanAndARerunCompletesTheMerge) {
  RunMergeEnospcMode(FileOp::kAllocate);
}
TEST(MergeEnospcMode, EachExtendingWriteFailingLeavesTheChainCleanAndARerunCompletesTheMerge) {
  RunMergeEnospcMode(FileOp::kWrite);
}

// A merge stopped among its reparents (a crash, here a failed dispose after them) and rerun on a
// full disk: the dependent already reads the target, so the failure must not say the merge may be
// given up (the store would roll back into a chain that no longer matches its record: issue 15,
// crash in reparent then kNoSpace). The rerun reports relinking, and completes once space is back.
TEST(MergeEnospcMode, ARerunAfterTheReparentsBeganThatFindsNoSpaceSaysItIsRelinking) {
  MemFileSystem mem;
  FaultFileSystem fault(&mem);
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fault, "/s", 3));
  ASSERT_OK_AND_ASSIGN(std::string before, testing::ChainDigest(&fault, paths[3]));
  MergeOptions options{.into = paths[0], .dependents = {paths[3]}};
  options.dispose = [](const std::vector<std::string>&) { return IoError("stopped"); };
  ASSERT_EQ(Merge(&fault, paths[2], options).status().code(), Code::kIoError);  // reparented
  options.dispose = nullptr;
  bool relinking = false;
  options.relinking = &relinking;
  fault.SetRule(FileOp::kWrite, {.nth = 1, .err = ENOSPC, .persistent = true});
  EXPECT_CODE(Merge(&fault, paths[2], options), Code::kNoSpace);
  EXPECT_TRUE(relinking) << "a rerun past its first reparent may not be given up";
  fault.ClearRules();
  ASSERT_OK(Merge(&fault, paths[2], options).status());
  EXPECT_EQ(*testing::ChainDigest(&fault, paths[3]), before);
}

}  // namespace
}  // namespace hvdisk::chain
