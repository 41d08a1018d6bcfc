#include <gtest/gtest.h>

#include "chain/chain.h"
#include "platform/fault_file_system.h"
#include "platform/mem_file_system.h"
#include "platform/posix_file.h"
#include "tests/testutil/chain_fixture.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::chain {
namespace {

class MergeTest : public ::testing::Test {
 protected:
  MemFileSystem fs_;
};

TEST_F(MergeTest, LeafMergedIntoItsParentLeavesTheParentWithTheLeafsContent) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 2));
  ASSERT_OK_AND_ASSIGN(std::string before, testing::ChainDigest(&fs_, paths[2]));
  ASSERT_OK_AND_ASSIGN(MergeResult r, Merge(&fs_, paths[2], {}));
  EXPECT_EQ(r.target, paths[1]);
  EXPECT_EQ(r.removed, std::vector<std::string>{paths[2]});
  EXPECT_GT(r.bytes_copied, 0u);
  EXPECT_FALSE(*fs_.Exists(paths[2]));
  EXPECT_EQ(*testing::ChainDigest(&fs_, paths[1]), before);
  ASSERT_OK_AND_ASSIGN(ChainCheckReport check, CheckChain(&fs_, paths[1]));
  EXPECT_FALSE(check.corrupt());
  EXPECT_FALSE(check.leaks());
}

TEST_F(MergeTest, TwoLevelsMergedIntoTheBaseReparentTheDependent) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 3));
  ASSERT_OK_AND_ASSIGN(std::string before, testing::ChainDigest(&fs_, paths[3]));
  ASSERT_OK_AND_ASSIGN(MergeResult r,
                       Merge(&fs_, paths[2], {.into = paths[0], .dependents = {paths[3]}}));
  EXPECT_EQ(r.removed, (std::vector<std::string>{paths[2], paths[1]}));
  ASSERT_OK_AND_ASSIGN(auto chain, Chain::Open(&fs_, paths[3], {}));
  EXPECT_EQ(chain->paths(), (std::vector<std::string>{paths[3], paths[0]}));
  chain.reset();
  EXPECT_EQ(*testing::ChainDigest(&fs_, paths[3]), before);
  ASSERT_OK_AND_ASSIGN(ChainCheckReport check, CheckChain(&fs_, paths[3]));
  EXPECT_FALSE(check.corrupt());
  EXPECT_FALSE(check.leaks());
}

TEST_F(MergeTest, MergeIntoADifferencingAncestorKeepsItsOwnParent) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 3));
  ASSERT_OK_AND_ASSIGN(std::string before, testing::ChainDigest(&fs_, paths[3]));
  ASSERT_OK(Merge(&fs_, paths[3], {.into = paths[1]}));
  EXPECT_EQ(*testing::ChainDigest(&fs_, paths[1]), before);
  ASSERT_OK_AND_ASSIGN(auto chain, Chain::Open(&fs_, paths[1], {}));
  EXPECT_EQ(chain->depth(), 2);
}

// The copy walks the children's allocation map, not the virtual size: merging an empty child into
// an empty 64 TiB base is a handful of map lookups per GiB (it stepped once per 8 MiB copy chunk,
// 8 Mi steps, 1.5 s, where 1 GiB took 0.02 s). The progress callback marks each step.
TEST_F(MergeTest, AnEmptyChildMergesIntoAnEmpty64TiBBaseInStepsOfTheMapNotOfTheCopyChunk) {
  constexpr uint64_t kSize = uint64_t{64} << 40;
  ASSERT_OK(fs_.CreateDir("/s"));
  ASSERT_OK(vhdx::Image::Create(&fs_, "/s/base.vhdx", {.virtual_size = kSize}));
  ASSERT_OK(CreateChild(&fs_, "/s/base.vhdx", "/s/d1.avhdx"));
  uint64_t steps = 0, last = 0;
  MergeOptions options{.progress = [&](uint64_t done, uint64_t) {
    ++steps;
    last = done;
  }};
  ASSERT_OK_AND_ASSIGN(MergeResult r, Merge(&fs_, "/s/d1.avhdx", options));
  EXPECT_EQ(r.bytes_copied, 0u);
  EXPECT_EQ(last, kSize);
  EXPECT_LE(steps, kSize / vhdx::kGiB);
  ASSERT_OK_AND_ASSIGN(auto base, vhdx::Image::Open(&fs_, "/s/base.vhdx", {}));
  ASSERT_OK_AND_ASSIGN(std::vector<vhdx::Extent> map, base->Map(0, kSize));
  ASSERT_EQ(map.size(), 1u);
  EXPECT_EQ(map[0].kind, vhdx::Extent::Kind::kZero) << "nothing was allocated in the base";
}

// The reads of merging an empty child into an empty base of `size` (FaultFileSystem counts them).
uint64_t ReadsToMergeAnEmptyChild(uint64_t size, uint32_t block_size) {
  MemFileSystem mem;
  FaultFileSystem counting(&mem);
  EXPECT_OK(counting.CreateDir("/s"));
  EXPECT_OK(vhdx::Image::Create(&counting, "/s/base.vhdx",
                                {.virtual_size = size, .block_size = block_size}));
  EXPECT_OK(CreateChild(&counting, "/s/base.vhdx", "/s/d1.avhdx"));
  const uint64_t before = counting.count(FileOp::kRead);
  EXPECT_OK(Merge(&counting, "/s/d1.avhdx", {}).status());
  return counting.count(FileOp::kRead) - before;
}

// Cost proportional to data, not size (issue 15, Deliver 5): merging an empty child into an empty
// 64 TiB base reads what it reads at 1 GiB, give or take a few metadata reads. The opens'
// validation and the map step over the BAT's hole unread (they read every page of the BAT at
// every open, and every page again while mapping: thousands of reads at 64 TiB).
TEST(MergeCost, AnEmptyChildMergedIntoAnEmpty64TiBBaseReadsAboutWhatItReadsAt1GiB) {
  for (uint32_t block : {uint32_t{1} << 20, uint32_t{32} << 20}) {
    const uint64_t small = ReadsToMergeAnEmptyChild(vhdx::kGiB, block);
    const uint64_t big = ReadsToMergeAnEmptyChild(uint64_t{64} << 40, block);
    EXPECT_LE(big, small + 8) << "block size " << block << ": " << small << " reads at 1 GiB";
  }
}

// A caller may move merged files aside instead of unlinking them (the store's trash).
TEST_F(MergeTest, DisposeHookTakesTheMergedFilesInsteadOfUnlink) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 3));
  ASSERT_OK_AND_ASSIGN(std::string before, testing::ChainDigest(&fs_, paths[3]));
  ASSERT_OK(fs_.CreateDir("/trash"));
  std::vector<std::string> disposed;
  MergeOptions o{.into = paths[0], .dependents = {paths[3]}};
  o.dispose = [&](const std::vector<std::string>& merged) {
    for (const std::string& path : merged) {
      disposed.push_back(path);
      RETURN_IF_ERROR(fs_.Rename(path, "/trash/" + BaseName(path)));
    }
    return Status::Ok();
  };
  ASSERT_OK_AND_ASSIGN(MergeResult r, Merge(&fs_, paths[2], o));
  EXPECT_EQ(disposed, (std::vector<std::string>{paths[2], paths[1]}));
  EXPECT_EQ(r.removed, disposed);
  EXPECT_TRUE(*fs_.Exists("/trash/" + BaseName(paths[1])));
  EXPECT_FALSE(*fs_.Exists(paths[1]));
  EXPECT_EQ(*testing::ChainDigest(&fs_, paths[3]), before);
}

// On real files the merged child's space is freed by a detached process; its name is gone and
// the parent reads as the chain did when Merge returns.
TEST(MergeOnFilesTest, FreeingInBackgroundLeavesNoMergedFileAndNoHolder) {
  ::hvdisk::testing::TempDir dir;
  PosixFileSystem fs;
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs, dir.path(), 2));
  ASSERT_OK_AND_ASSIGN(std::string before, testing::ChainDigest(&fs, paths[2]));
  ASSERT_OK_AND_ASSIGN(MergeResult r, Merge(&fs, paths[2], {.free_in_background = true}));
  EXPECT_EQ(r.removed, std::vector<std::string>{paths[2]});
  EXPECT_FALSE(*fs.Exists(paths[2]));
  EXPECT_EQ(*testing::ChainDigest(&fs, paths[1]), before);
  EXPECT_TRUE(::hvdisk::testing::UnlinkedFileReleased(paths[2]));
}

TEST_F(MergeTest, TargetThatIsNotAnAncestorIsRefused) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 2));
  EXPECT_CODE(Merge(&fs_, paths[1], {.into = paths[2]}), Code::kInvalidArgument);
  EXPECT_CODE(Merge(&fs_, paths[0], {}), Code::kInvalidArgument);
  EXPECT_TRUE(*fs_.Exists(paths[1]));
}

}  // namespace
}  // namespace hvdisk::chain
