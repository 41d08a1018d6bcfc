// VhdxDisk through disk::Open: a chain is one disk whose writes, zeroes and planned writes reach
// the leaf only, whose map names the layer of every extent, and whose planned reads and writes
// are batches for an IoQueue across every layer.
#include "disk/vhdx_disk.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "chain/chain.h"
#include "disk/open.h"
#include "platform/io_queue.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/chain_fixture.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::disk {
namespace {

using chain::testing::kBlock;
using chain::testing::kDisk;
using vhdx::Extent;

class VhdxDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(paths_, chain::testing::MakeChain(&fs_, "/c", 2));  // base <- d1 <- d2
    for (const std::string& p : paths_) files_.push_back(*fs_.GetFile(p));
  }
  std::unique_ptr<VirtualDisk> OpenLeaf(bool writable) {
    auto d = Open(&fs_, paths_.back(), {.writable = writable});
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? std::move(d).value() : nullptr;
  }
  std::vector<std::byte> ReadAll(VirtualDisk* d) {
    std::vector<std::byte> all(d->size());
    EXPECT_OK(d->Read(0, all));
    return all;
  }
  // Submits `requests` and waits for every one.
  void RunQueue(std::vector<IoRequest>* requests) {
    ASSERT_OK_AND_ASSIGN(auto queue, CreateIoQueue(IoBackend::kSync, 64));
    ASSERT_OK(RunAll(queue.get(), *requests));
  }

  MemFileSystem fs_;
  std::vector<std::string> paths_;  // base first
  std::vector<std::string> files_;  // their bytes after MakeChain
};

TEST_F(VhdxDiskTest, WritesAndZeroesThroughTheChainReachTheLeafOnlyAndReadBack) {
  auto d = OpenLeaf(true);
  ASSERT_NE(d, nullptr);
  ASSERT_EQ(d->chain()->depth(), 3);
  std::vector<std::byte> expect = ReadAll(d.get());
  const std::vector<std::byte> data = testing::PatternBytes(kBlock + 4096, 9);
  ASSERT_OK(d->Write(kBlock / 2, data));
  std::copy(data.begin(), data.end(), expect.begin() + kBlock / 2);
  ASSERT_OK(d->Zero(3 * kBlock, kBlock));
  std::fill(expect.begin() + 3 * kBlock, expect.begin() + 4 * kBlock, std::byte{0});
  ASSERT_OK(d->Flush());
  EXPECT_EQ(ReadAll(d.get()), expect);
  ASSERT_OK(d->Close());
  d.reset();
  EXPECT_EQ(*fs_.GetFile(paths_[0]), files_[0]) << "the base changed";
  EXPECT_EQ(*fs_.GetFile(paths_[1]), files_[1]) << "the middle layer changed";
  auto reopened = OpenLeaf(false);
  EXPECT_EQ(ReadAll(reopened.get()), expect);
}

TEST_F(VhdxDiskTest, MapNamesTheLayerOfEveryExtentAndCoversTheRangeInOrder) {
  auto d = OpenLeaf(false);
  ASSERT_OK_AND_ASSIGN(std::vector<LayerExtent> map, d->Map(0, kDisk));
  std::vector<bool> seen(3, false);
  uint64_t pos = 0;
  for (const LayerExtent& le : map) {
    EXPECT_EQ(le.extent.virtual_offset, pos);
    EXPECT_NE(le.extent.kind, Extent::Kind::kParent) << "a chain resolves its parents";
    ASSERT_GE(le.layer, 0);
    ASSERT_LT(le.layer, 3);
    if (le.extent.kind == Extent::Kind::kData) seen[static_cast<size_t>(le.layer)] = true;
    pos += le.extent.length;
  }
  EXPECT_EQ(pos, kDisk);
  EXPECT_TRUE(seen[0] && seen[1] && seen[2]) << "every layer holds some of the data";
  // Layer 2's pattern at 2 MiB + 4 KiB (chain_fixture: shift 2 MiB for layer 2, so its first
  // piece covers [2 MiB, 3 MiB)): the leaf decides it.
  ASSERT_OK_AND_ASSIGN(std::vector<LayerExtent> one, d->Map(2 * kBlock, 4096));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].layer, 0);
  EXPECT_EQ(one[0].extent.kind, Extent::Kind::kData);
}

TEST_F(VhdxDiskTest, PlannedReadsAcrossEveryLayerReturnTheChainsContent) {
  auto d = OpenLeaf(false);
  const std::vector<std::byte> expect = ReadAll(d.get());
  std::vector<std::byte> got(kDisk, std::byte{0x77});
  std::vector<IoRequest> requests;
  ASSERT_OK(d->PlanRead(0, got, &requests));
  RunQueue(&requests);
  EXPECT_EQ(got, expect);
}

// Before disk/, a VHDX disk refused PlanWrite (kUnsupported) and `hvdisk bench -w -n native`
// fell back to threads.
TEST_F(VhdxDiskTest, PlannedWritesGoToTheLeafAndAreDurableAfterFlush) {
  auto d = OpenLeaf(true);
  std::vector<std::byte> expect = ReadAll(d.get());
  const std::vector<std::byte> data = testing::PatternBytes(2 * kBlock, 21);
  std::vector<IoRequest> requests;
  ASSERT_OK(d->PlanWrite(4 * kBlock, data, &requests));
  // (A differencing leaf writes the pieces that set sector-bitmap bits at once: none may be
  // queued.)
  for (const IoRequest& r : requests) EXPECT_EQ(r.kind, IoKind::kWrite);
  RunQueue(&requests);
  ASSERT_OK(d->Flush());
  ASSERT_OK(d->Close());
  d.reset();
  std::copy(data.begin(), data.end(), expect.begin() + 4 * kBlock);
  EXPECT_EQ(*fs_.GetFile(paths_[0]), files_[0]);
  EXPECT_EQ(*fs_.GetFile(paths_[1]), files_[1]);
  auto reopened = OpenLeaf(false);
  EXPECT_EQ(ReadAll(reopened.get()), expect);
  ASSERT_OK_AND_ASSIGN(chain::ChainCheckReport check, chain::CheckChain(&fs_, paths_.back()));
  EXPECT_FALSE(check.corrupt());
}

TEST_F(VhdxDiskTest, AnImageAloneMapsItsTransparentRangesAsUnallocatedAndReadsThemAsZeros) {
  ASSERT_OK_AND_ASSIGN(auto image, vhdx::Image::Open(&fs_, paths_.back(), {.read_only = true}));
  std::unique_ptr<VirtualDisk> d = FromImage(std::move(image));
  EXPECT_EQ(d->chain(), nullptr);
  ASSERT_OK_AND_ASSIGN(std::vector<LayerExtent> map, d->Map(0, kDisk));
  bool unallocated = false;
  for (const LayerExtent& le : map) {
    EXPECT_EQ(le.layer, 0);
    if (le.extent.kind != Extent::Kind::kParent) continue;
    unallocated = true;
    std::vector<std::byte> got(std::min<uint64_t>(le.extent.length, 65536), std::byte{1});
    ASSERT_OK(d->Read(le.extent.virtual_offset, got));
    EXPECT_TRUE(std::all_of(got.begin(), got.end(), [](std::byte b) { return b == std::byte{0}; }));
  }
  EXPECT_TRUE(unallocated);
}

}  // namespace
}  // namespace hvdisk::disk
