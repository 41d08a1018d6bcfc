// Copier: a copy holds the source's content and only its data (sparse), progress climbs to the
// size, a check that fails ends the run with its status, and the digest is the content digest.
#include "disk/copier.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "disk/open.h"
#include "platform/content_digest.h"
#include "platform/fault_file_system.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/chain_fixture.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::disk {
namespace {

using chain::testing::kBlock;
using chain::testing::kDisk;

class CopierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(paths_, chain::testing::MakeChain(&fs_, "/c", 2));
    ASSERT_OK_AND_ASSIGN(src_, Open(&fs_, paths_.back(), {}));
    content_.resize(kDisk);
    ASSERT_OK(src_->Read(0, content_));
  }
  std::vector<std::byte> ReadAll(VirtualDisk* d) {
    std::vector<std::byte> all(d->size());
    EXPECT_OK(d->Read(0, all));
    return all;
  }

  MemFileSystem fs_;
  std::vector<std::string> paths_;
  std::unique_ptr<VirtualDisk> src_;
  std::vector<std::byte> content_;
};

TEST_F(CopierTest, AChainCopiedIntoANewDynamicImageHoldsItsContentAndOnlyItsDataBlocks) {
  ASSERT_OK_AND_ASSIGN(
      auto dst, CreateVhdx(&fs_, "/out.vhdx", {.virtual_size = kDisk, .block_size = kBlock}));
  std::vector<uint64_t> seen;
  CopyOptions o{
      .chunk_size = 2 * kBlock, .read_ahead = 3, .progress = [&](uint64_t done, uint64_t total) {
        EXPECT_EQ(total, kDisk);
        seen.push_back(done);
      }};
  ASSERT_OK(Copier(src_.get(), o).CopyTo(dst.get(), {.sparse_granularity = kBlock}));
  EXPECT_EQ(ReadAll(dst.get()), content_);
  ASSERT_FALSE(seen.empty());
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(seen.back(), kDisk);
  // Blocks of all zeros in the source are not allocated in the copy.
  uint64_t data_blocks = 0;
  for (uint64_t b = 0; b < kDisk / kBlock; ++b) {
    std::span<const std::byte> block(content_.data() + b * kBlock, kBlock);
    if (!IsAllZero(block)) ++data_blocks;
  }
  EXPECT_EQ(dst->image()->allocated_blocks(), data_blocks);
  ASSERT_OK(dst->Close());
}

TEST_F(CopierTest, ACheckThatFailsEndsTheCopyWithItsStatus) {
  ASSERT_OK_AND_ASSIGN(auto dst, CreateRaw(&fs_, "/out.img", kDisk));
  int chunks = 0;
  CopyOptions o{.chunk_size = kBlock, .check = [&]() -> Status {
                  return ++chunks > 3 ? Status(Code::kUnavailable, "stop") : Status::Ok();
                }};
  Status s = Copier(src_.get(), o).CopyTo(dst.get());
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_EQ(chunks, 4);
}

TEST_F(CopierTest, ADestinationSmallerThanTheSourceIsRefusedBeforeAnyWrite) {
  ASSERT_OK_AND_ASSIGN(auto dst, CreateRaw(&fs_, "/small.img", kDisk / 2));
  EXPECT_CODE(Copier(src_.get()).CopyTo(dst.get()), Code::kInvalidArgument);
}

TEST_F(CopierTest, TheDigestIsTheContentDigestOfTheWholeDisk) {
  ASSERT_OK_AND_ASSIGN(Hash128 digest, Copier(src_.get(), {.chunk_size = 3 * kBlock}).Digest());
  EXPECT_EQ(digest, ContentDigestOf(content_));
}

TEST_F(CopierTest, AReadErrorEndsTheCopyWithIt) {
  FaultFileSystem fault(&fs_);
  ASSERT_OK_AND_ASSIGN(auto src, Open(&fault, paths_.back(), {}));
  ASSERT_OK_AND_ASSIGN(auto dst, CreateRaw(&fs_, "/out.img", kDisk));
  fault.SetRule(FileOp::kRead, {.nth = 3, .persistent = true});
  EXPECT_CODE(Copier(src.get(), {.chunk_size = kBlock}).CopyTo(dst.get()), Code::kIoError);
}

}  // namespace
}  // namespace hvdisk::disk
