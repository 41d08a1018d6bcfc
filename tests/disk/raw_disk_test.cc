// RawDisk: a file's holes map as zeros and its data as data at the same offsets, planned reads
// and writes are single requests on the file, and Zero makes a range read as zeros.
#include "disk/raw_disk.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "disk/open.h"
#include "platform/io_queue.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::disk {
namespace {

constexpr uint64_t kMiB = 1 << 20;

TEST(RawDisk, HolesMapAsZerosAndWrittenRangesAsDataAtTheirOwnOffsets) {
  testing::TempDir dir;
  FileSystem* fs = DefaultFileSystem();
  ASSERT_OK_AND_ASSIGN(auto d, CreateRaw(fs, dir.File("sparse.img"), 8 * kMiB));
  ASSERT_OK(d->Write(3 * kMiB, testing::PatternBytes(kMiB, 3)));
  ASSERT_OK(d->Flush());
  ASSERT_OK_AND_ASSIGN(std::vector<LayerExtent> map, d->Map(0, 8 * kMiB));
  uint64_t pos = 0, data = 0;
  for (const LayerExtent& le : map) {
    EXPECT_EQ(le.layer, 0);
    EXPECT_EQ(le.extent.virtual_offset, pos);
    if (le.extent.kind == vhdx::Extent::Kind::kData) {
      EXPECT_EQ(le.extent.file_offset, le.extent.virtual_offset);
      EXPECT_LE(le.extent.virtual_offset, 3 * kMiB);
      EXPECT_GE(le.extent.virtual_offset + le.extent.length, 4 * kMiB);
      data += le.extent.length;
    }
    pos += le.extent.length;
  }
  EXPECT_EQ(pos, 8 * kMiB);
  EXPECT_GE(data, kMiB);
  EXPECT_LT(data, 8 * kMiB) << "the holes are not reported as data";
  ASSERT_OK_AND_ASSIGN(uint64_t zero, KnownZeroPrefix(d.get(), 0, 8 * kMiB));
  EXPECT_GT(zero, 0u);
  EXPECT_LE(zero, 3 * kMiB);
}

TEST(RawDisk, PlannedWritesAndReadsAreRequestsOnTheFileAndZeroClearsARange) {
  testing::TempDir dir;
  FileSystem* fs = DefaultFileSystem();
  ASSERT_OK_AND_ASSIGN(auto d, CreateRaw(fs, dir.File("d.img"), 4 * kMiB));
  const std::vector<std::byte> data = testing::PatternBytes(2 * kMiB, 5);
  std::vector<IoRequest> requests;
  ASSERT_OK(d->PlanWrite(kMiB, data, &requests));
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].kind, IoKind::kWrite);
  ASSERT_OK_AND_ASSIGN(auto queue, CreateIoQueue(IoBackend::kAuto, 8));
  ASSERT_OK(RunAll(queue.get(), requests));
  ASSERT_OK(d->Zero(kMiB + 4096, 8192));
  std::vector<std::byte> expect = data;
  std::fill(expect.begin() + 4096, expect.begin() + 4096 + 8192, std::byte{0});
  std::vector<std::byte> got(2 * kMiB);
  requests.clear();
  ASSERT_OK(d->PlanRead(kMiB, got, &requests));
  ASSERT_OK(RunAll(queue.get(), requests));
  EXPECT_EQ(got, expect);
}

}  // namespace
}  // namespace hvdisk::disk
