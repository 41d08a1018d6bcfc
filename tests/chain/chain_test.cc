#include "chain/chain.h"

#include <gtest/gtest.h>

#include <set>

#include "chain/linkage.h"
#include "platform/io_queue.h"
#include "platform/mem_file_system.h"
#include "platform/posix_file.h"
#include "tests/testutil/chain_fixture.h"
#include "tests/testutil/testutil.h"
#include "vhdx/parent_locator.h"

namespace hvdisk::chain {
namespace {

using testing::kBlock;
using testing::kDisk;
using vhdx::Image;

// The content the chain must show, built by applying each layer's writes to a flat buffer.
class ChainTest : public ::testing::Test {
 protected:
  std::vector<std::byte> ReadAll(const std::string& leaf) {
    auto chain = Chain::Open(&fs_, leaf, {});
    EXPECT_TRUE(chain.ok()) << chain.status().ToString();
    std::vector<std::byte> all(kDisk);
    if (chain.ok()) EXPECT_OK((*chain)->Read(0, all));
    return all;
  }
  // The same layers applied to one flat dynamic image: the reference content.
  std::vector<std::byte> Flattened(int children) {
    EXPECT_OK(Image::Create(&fs_, "/flat.vhdx", {.virtual_size = kDisk, .block_size = kBlock}));
    auto flat = Image::Open(&fs_, "/flat.vhdx", {.read_only = false});
    for (int i = 0; i <= children; ++i) EXPECT_OK(testing::WriteLayer(flat->get(), i));
    std::vector<std::byte> all(kDisk);
    EXPECT_OK((*flat)->Read(0, all));
    return all;
  }
  void Rewrite(const std::string& path, const LocatorEntries& entries) {
    auto image = Image::Open(&fs_, path, {.read_only = false});
    ASSERT_OK(image);
    ASSERT_OK((*image)->SetParentLocator(entries));
    ASSERT_OK((*image)->Close());
  }
  LocatorEntries LocatorOf(const std::string& path) {
    auto image = Image::Open(&fs_, path, {.read_only = true});
    EXPECT_OK(image);
    return image.ok() ? (*image)->parent_locator() : LocatorEntries{};
  }
  MemFileSystem fs_;
};

TEST_F(ChainTest, ReadsThroughEveryLayerAsOneFlatDisk) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 4));
  EXPECT_TRUE(ReadAll(paths.back()) == Flattened(4));
  ASSERT_OK_AND_ASSIGN(auto chain, Chain::Open(&fs_, paths.back(), {}));
  EXPECT_EQ(chain->depth(), 5);
  EXPECT_EQ(chain->paths().back(), "/s/base.vhdx");
}

TEST_F(ChainTest, PlannedReadIsOneBatchAcrossEveryLayer) {
  ::hvdisk::testing::TempDir dir;  // real files: the IoQueue backends need file descriptors
  FileSystem* fs = DefaultFileSystem();
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(fs, dir.File("s"), 4));
  ASSERT_OK_AND_ASSIGN(auto chain, Chain::Open(fs, paths.back(), {}));
  std::vector<std::byte> planned(kDisk), direct(kDisk);
  std::vector<IoRequest> requests;
  ASSERT_OK(chain->PlanRead(0, planned, &requests));
  std::set<File*> files;
  for (const IoRequest& r : requests) files.insert(r.file);
  EXPECT_EQ(files.size(), 5u) << "requests for the leaf, every middle layer and the base";
  ASSERT_OK_AND_ASSIGN(auto queue, CreateIoQueue(IoBackend::kAuto, 32));
  ASSERT_OK(RunAll(queue.get(), requests));
  ASSERT_OK(chain->Read(0, direct));
  EXPECT_TRUE(planned == direct);
}

TEST_F(ChainTest, ChildCopiesTheParentsIdentityAndWritesAWindowsLocator) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 1));
  ASSERT_OK_AND_ASSIGN(auto base, Image::Open(&fs_, paths[0], {}));
  ASSERT_OK_AND_ASSIGN(auto child, Image::Open(&fs_, paths[1], {}));
  EXPECT_EQ(child->virtual_disk_id(), base->virtual_disk_id());
  EXPECT_EQ(child->logical_sector_size(), base->logical_sector_size());
  EXPECT_EQ(child->physical_sector_size(), base->physical_sector_size());
  vhdx::ParentLocator loc{.entries = child->parent_locator()};
  EXPECT_EQ(loc.ParentLinkage(), base->data_write_guid());
  EXPECT_EQ(*loc.Get(vhdx::kRelativePathKey), ".\\base.vhdx");
  EXPECT_EQ(*loc.Get(vhdx::kAbsoluteWin32PathKey), "C:\\s\\base.vhdx");
}

TEST_F(ChainTest, LeafWritesNeverTouchTheParent) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 1));
  ASSERT_OK_AND_ASSIGN(std::string base_before, testing::ChainDigest(&fs_, paths[0]));
  ASSERT_OK_AND_ASSIGN(auto chain, Chain::Open(&fs_, paths[1], {.writable_leaf = true}));
  auto data = ::hvdisk::testing::PatternBytes(3000, 9);
  ASSERT_OK(chain->Write(kBlock + 100, data));  // partial sectors: read-modify-write via parent
  ASSERT_OK(chain->Trim(4 * kBlock, kBlock, /*make_transparent=*/true));
  ASSERT_OK(chain->Close());
  EXPECT_EQ(*testing::ChainDigest(&fs_, paths[0]), base_before);
  std::vector<std::byte> all = ReadAll(paths[1]);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), all.begin() + kBlock + 100));
  std::vector<std::byte> base_all(kDisk);
  ASSERT_OK_AND_ASSIGN(auto base, Image::Open(&fs_, paths[0], {}));
  ASSERT_OK(base->Read(0, base_all));
  EXPECT_TRUE(
      std::equal(all.begin() + 4 * kBlock, all.begin() + 5 * kBlock, base_all.begin() + 4 * kBlock))
      << "a transparent trim shows the parent again";
}

TEST_F(ChainTest, PartialTransparentTrimUncoversTheParentSectorBySector) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 1));
  std::vector<std::byte> parent = ReadAll(paths[0]), before = ReadAll(paths[1]);
  auto mine = ::hvdisk::testing::PatternBytes(2 * kBlock, 77);
  {
    ASSERT_OK_AND_ASSIGN(auto chain, Chain::Open(&fs_, paths[1], {.writable_leaf = true}));
    ASSERT_OK(chain->Write(2 * kBlock, std::span(mine).first(kBlock)));  // FULLY_PRESENT
    ASSERT_OK(chain->Write(3 * kBlock + 4096, std::span(mine).subspan(kBlock + 4096, 8192)));
    // Unaligned edges: only the whole sectors inside the range are uncovered.
    ASSERT_OK(chain->Trim(2 * kBlock + 1000, 3000, /*make_transparent=*/true));
    ASSERT_OK(chain->Trim(3 * kBlock + 4096, 4096, /*make_transparent=*/true));
    ASSERT_OK(chain->Close());
  }
  std::vector<std::byte> want = before;
  std::copy(mine.begin(), mine.begin() + kBlock, want.begin() + 2 * kBlock);
  std::copy(parent.begin() + 2 * kBlock + 1024, parent.begin() + 2 * kBlock + 3584,
            want.begin() + 2 * kBlock + 1024);
  std::copy(parent.begin() + 3 * kBlock + 4096, parent.begin() + 3 * kBlock + 8192,
            want.begin() + 3 * kBlock + 4096);
  std::copy(mine.begin() + kBlock + 8192, mine.begin() + kBlock + 12288,
            want.begin() + 3 * kBlock + 8192);
  EXPECT_TRUE(ReadAll(paths[1]) == want);
  ASSERT_OK_AND_ASSIGN(ChainCheckReport check, CheckChain(&fs_, paths[1]));
  EXPECT_FALSE(check.corrupt());
  EXPECT_FALSE(check.leaks());
}

TEST_F(ChainTest, ParentFoundThroughTheAbsolutePathWhenTheRelativeOneIsStale) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 1));
  LocatorEntries loc = LocatorOf(paths[1]);
  vhdx::ParentLocator l{.entries = loc};
  l.Set(vhdx::kRelativePathKey, ".\\gone.vhdx");
  l.Set(vhdx::kAbsoluteWin32PathKey, "D:\\Hyper-V\\Virtual Hard Disks\\base.vhdx");
  Rewrite(paths[1], l.entries);
  EXPECT_OK(Chain::Open(&fs_, paths[1], {}));
}

TEST_F(ChainTest, MissingParentIsNotFoundNamingThePathsTried) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 1));
  ASSERT_OK(fs_.Rename(paths[0], "/s/moved.vhdx"));
  auto chain = Chain::Open(&fs_, paths[1], {});
  EXPECT_CODE(chain, Code::kNotFound);
  EXPECT_NE(chain.status().message().find("/s/base.vhdx"), std::string::npos);
}

TEST_F(ChainTest, LinkageMismatchIsCorruptUnlessIgnored) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 1));
  {
    ASSERT_OK_AND_ASSIGN(auto base, Image::Open(&fs_, paths[0], {.read_only = false}));
    ASSERT_OK(base->Write(0, ::hvdisk::testing::PatternBytes(512, 1)));  // new DataWriteGuid
    ASSERT_OK(base->Close());
  }
  EXPECT_CODE(Chain::Open(&fs_, paths[1], {}), Code::kCorrupt);
  EXPECT_OK(Chain::Open(&fs_, paths[1], {.ignore_linkage = true}));
}

TEST_F(ChainTest, ZeroedLinkage2IsAcceptedAndAMatchingOneLinks) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 1));
  Rewrite(paths[1], WithLinkage2(LocatorOf(paths[1]), Guid()));
  EXPECT_OK(Chain::Open(&fs_, paths[1], {}));
  ASSERT_OK_AND_ASSIGN(auto base, Image::Open(&fs_, paths[0], {}));
  vhdx::ParentLocator l{.entries = WithLinkage2(LocatorOf(paths[1]), base->data_write_guid())};
  l.Set(vhdx::kParentLinkageKey, vhdx::ParentLocator::LinkageString(Guid::Random()));
  Rewrite(paths[1], l.entries);
  EXPECT_OK(Chain::Open(&fs_, paths[1], {}));
}

TEST_F(ChainTest, SizeMismatchIsCorrupt) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 1));
  ASSERT_OK(
      Image::Create(&fs_, "/s/other.vhdx", {.virtual_size = 2 * kDisk, .block_size = kBlock}));
  EXPECT_CODE(Reparent(&fs_, paths[1], "/s/other.vhdx", /*ignore_id_mismatch=*/true),
              Code::kCorrupt);
  ASSERT_OK_AND_ASSIGN(auto other, Image::Open(&fs_, "/s/other.vhdx", {}));
  Rewrite(paths[1], LocatorFor("/s", "/s/other.vhdx", other->data_write_guid()));
  EXPECT_CODE(Chain::Open(&fs_, paths[1], {}), Code::kCorrupt);
}

TEST_F(ChainTest, CycleIsDetected) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 2));
  // d1's parent becomes d2, whose parent is d1.
  ASSERT_OK_AND_ASSIGN(auto d2, Image::Open(&fs_, paths[2], {}));
  Rewrite(paths[1], LocatorFor("/s", paths[2], d2->data_write_guid()));
  auto chain = Chain::Open(&fs_, paths[2], {});
  EXPECT_CODE(chain, Code::kCorrupt);
  EXPECT_NE(chain.status().message().find("cycle"), std::string::npos) << chain.status().ToString();
}

TEST_F(ChainTest, ChainDeeperThanTheCapIsRefused) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 4));
  EXPECT_CODE(Chain::Open(&fs_, paths.back(), {.max_depth = 4}), Code::kCorrupt);
  EXPECT_OK(Chain::Open(&fs_, paths.back(), {.max_depth = 5}));
}

TEST_F(ChainTest, ParentOutsideTheAllowedRootsIsRefused) {
  ASSERT_OK(fs_.CreateDir("/elsewhere"));
  ASSERT_OK(
      Image::Create(&fs_, "/elsewhere/base.vhdx", {.virtual_size = kDisk, .block_size = kBlock}));
  ASSERT_OK(fs_.CreateDir("/s"));
  ASSERT_OK(CreateChild(&fs_, "/elsewhere/base.vhdx", "/s/child.avhdx"));
  EXPECT_CODE(Chain::Open(&fs_, "/s/child.avhdx", {}), Code::kAccessDenied);
  EXPECT_OK(Chain::Open(&fs_, "/s/child.avhdx", {.allowed_roots = {"/s", "/elsewhere"}}));
}

TEST_F(ChainTest, ReparentOntoACopyKeepsTheContent) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 2));
  ASSERT_OK_AND_ASSIGN(std::string before, testing::ChainDigest(&fs_, paths[2]));
  ASSERT_OK_AND_ASSIGN(std::string bytes, fs_.GetFile(paths[1]));
  ASSERT_OK(fs_.PutFile("/s/sub/copy.avhdx", bytes));
  ASSERT_OK(Reparent(&fs_, paths[2], "/s/sub/copy.avhdx", false));
  ASSERT_OK(fs_.Unlink(paths[1]));
  EXPECT_EQ(*testing::ChainDigest(&fs_, paths[2]), before);
  EXPECT_EQ(*vhdx::ParentLocator{.entries = LocatorOf(paths[2])}.Get(vhdx::kRelativePathKey),
            ".\\sub\\copy.avhdx");
}

TEST_F(ChainTest, ReparentOntoAnUnrelatedDiskNeedsIgnoreIdMismatch) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 1));
  ASSERT_OK(Image::Create(&fs_, "/s/other.vhdx", {.virtual_size = kDisk, .block_size = kBlock}));
  EXPECT_CODE(Reparent(&fs_, paths[1], "/s/other.vhdx", false), Code::kCorrupt);
  EXPECT_OK(Reparent(&fs_, paths[1], "/s/other.vhdx", true));
  EXPECT_OK(Chain::Open(&fs_, paths[1], {}));
}

TEST_F(ChainTest, ReparentOntoADescendantIsRefusedEvenIgnoringIds) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 3));
  ASSERT_OK_AND_ASSIGN(std::string before, testing::ChainDigest(&fs_, paths[3]));
  EXPECT_CODE(Reparent(&fs_, paths[1], paths[3], true), Code::kInvalidArgument);
  EXPECT_EQ(*testing::ChainDigest(&fs_, paths[3]), before);
}

TEST_F(ChainTest, CheckChainReportsABrokenLink) {
  ASSERT_OK_AND_ASSIGN(auto paths, testing::MakeChain(&fs_, "/s", 2));
  ASSERT_OK_AND_ASSIGN(ChainCheckReport ok, CheckChain(&fs_, paths[2]));
  EXPECT_FALSE(ok.corrupt());
  EXPECT_EQ(ok.paths.size(), 3u);
  ASSERT_OK(fs_.Unlink(paths[0]));
  ASSERT_OK_AND_ASSIGN(ChainCheckReport broken, CheckChain(&fs_, paths[2]));
  EXPECT_TRUE(broken.corrupt());
}

}  // namespace
}  // namespace hvdisk::chain
