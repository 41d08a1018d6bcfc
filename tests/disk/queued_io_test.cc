// RunQueued: writes planned by a chain's leaf (Image::PlanWrite) and reads planned through every
// layer, kept deep in an IoQueue, land and read back as the synchronous path would.
#include "disk/queued_io.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "disk/open.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/chain_fixture.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::disk {
namespace {

using chain::testing::kBlock;
using chain::testing::kDisk;

TEST(QueuedIo, PlannedWritesOnAChainLandInTheLeafAndPlannedReadsSeeThem) {
  MemFileSystem fs;
  ASSERT_OK_AND_ASSIGN(auto paths, chain::testing::MakeChain(&fs, "/c", 2));
  const std::string base = *fs.GetFile(paths[0]);
  ASSERT_OK_AND_ASSIGN(auto d, Open(&fs, paths.back(), {.writable = true}));
  std::vector<std::byte> expect(kDisk);
  ASSERT_OK(d->Read(0, expect));
  // 64 KiB writes every 320 KiB, 8 in flight: new blocks, blocks of the parents, partial blocks.
  const uint64_t step = 5 * 65536, count = kDisk / step;
  QueuedIoPlan w{.write = true,
                 .count = count,
                 .size = 65536,
                 .depth = 8,
                 .fill = std::byte{0xA5},
                 .offset_of = [&](uint64_t i) { return i * step; }};
  ASSERT_OK(RunQueued(d.get(), w));
  ASSERT_OK(d->Flush());
  for (uint64_t i = 0; i < count; ++i) {
    std::fill_n(expect.begin() + i * step, 65536, std::byte{0xA5});
  }
  std::vector<std::byte> got(kDisk);
  ASSERT_OK(d->Read(0, got));
  EXPECT_TRUE(got == expect);
  QueuedIoPlan r{.count = kDisk / kBlock, .size = kBlock, .depth = 4, .offset_of = [](uint64_t i) {
                   return i * kBlock;
                 }};
  ASSERT_OK(RunQueued(d.get(), r));
  ASSERT_OK(d->Close());
  EXPECT_EQ(*fs.GetFile(paths[0]), base) << "the base is read-only";
  ASSERT_OK_AND_ASSIGN(chain::ChainCheckReport check, chain::CheckChain(&fs, paths.back()));
  EXPECT_FALSE(check.corrupt());
}

}  // namespace
}  // namespace hvdisk::disk
