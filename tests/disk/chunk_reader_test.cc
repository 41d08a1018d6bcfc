// ChunkReader: chunks arrive in order with the disk's content while many reads are in flight, and
// a read error in the middle reaches the consumer after the chunks before it.
#include "disk/chunk_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "disk/open.h"
#include "platform/fault_file_system.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/testutil.h"
#include "vhdx/image.h"

namespace hvdisk::disk {
namespace {

constexpr size_t kMiB = 1 << 20;
constexpr size_t kDiskSize = 48 * kMiB;
constexpr size_t kChunk = 2 * kMiB;

class ChunkReaderTest : public ::testing::Test {
 protected:
  // A dynamic VHDX with 1 MiB blocks: every other MiB holds data in its second half only.
  void SetUp() override {
    content_.resize(kDiskSize);
    vhdx::CreateOptions o{.virtual_size = kDiskSize, .block_size = kMiB};
    ASSERT_TRUE(vhdx::Image::Create(&fault_, "d.vhdx", o).ok());
    auto image = vhdx::Image::Open(&fault_, "d.vhdx", {.read_only = false});
    ASSERT_TRUE(image.ok());
    disk_ = FromImage(std::move(image).value());
    for (size_t mib = 0; mib < kDiskSize / kMiB; mib += 2) {
      std::vector<std::byte> p = testing::PatternBytes(kMiB / 2, mib + 1);
      std::copy(p.begin(), p.end(), content_.begin() + mib * kMiB + kMiB / 2);
      ASSERT_TRUE(disk_->Write(mib * kMiB + kMiB / 2, p).ok());
    }
  }

  // Reads chunks until the end or an error, checking that they follow each other from 0 and
  // hold the content; returns how far they got and *status the outcome.
  uint64_t ReadAll(ChunkReader* reader, Status* status) {
    uint64_t pos = 0;
    for (;;) {
      Chunk chunk;
      Result<bool> more = reader->Next(&chunk);
      *status = more.status();
      if (!more.ok() || !*more) return pos;
      EXPECT_EQ(chunk.offset, pos);
      std::vector<std::byte> got(chunk.length);
      if (!chunk.zero) std::copy(chunk.data, chunk.data + chunk.length, got.begin());
      EXPECT_TRUE(std::equal(got.begin(), got.end(), content_.begin() + pos)) << pos;
      reader->Release(chunk);
      pos += chunk.length;
    }
  }

  MemFileSystem mem_;
  FaultFileSystem fault_{&mem_};
  std::unique_ptr<VirtualDisk> disk_;
  std::vector<std::byte> content_;
};

TEST_F(ChunkReaderTest, ManyChunksArriveInOrderWithTheContent) {
  ChunkReader reader(disk_.get(), 0, kDiskSize, kChunk, 3);
  ASSERT_TRUE(reader.Start().ok());
  Status status;
  EXPECT_EQ(ReadAll(&reader, &status), kDiskSize);
  EXPECT_TRUE(status.ok()) << status.ToString();
}

TEST_F(ChunkReaderTest, AReadErrorMidwaySurfacesAfterTheChunksBeforeIt) {
  fault_.SetRule(FileOp::kRead, {.nth = 10, .persistent = true});
  ChunkReader reader(disk_.get(), 0, kDiskSize, kChunk, 3);
  ASSERT_TRUE(reader.Start().ok());
  Status status;
  const uint64_t reached = ReadAll(&reader, &status);
  EXPECT_EQ(status.code(), Code::kIoError) << status.ToString();
  EXPECT_GT(reached, 0u);
  EXPECT_LT(reached, kDiskSize);
}

TEST_F(ChunkReaderTest, AConsumerThatStopsEarlyEndsTheReader) {
  ChunkReader reader(disk_.get(), 0, kDiskSize, kChunk, 2);
  ASSERT_TRUE(reader.Start().ok());
  Chunk chunk;
  ASSERT_TRUE(reader.Next(&chunk).ok());
  // The destructor stops the thread while it waits for the slot this chunk holds.
}

// An empty disk of 128 GiB arrives as 128 zero runs (one map lookup covers at most 1 GiB), more
// than the 64 chunks the reader queues ahead. Runs in a child process with an alarm, so that a
// reader and a consumer waiting for each other fail the test instead of hanging it.
TEST(ChunkReaderZeroRuns, MoreZeroRunsThanTheReadyQueueHoldsAllArriveAndTheReaderEnds) {
  constexpr uint64_t kSize = 128ull << 30;
  MemFileSystem mem;
  ASSERT_TRUE(vhdx::Image::Create(&mem, "e.vhdx", {.virtual_size = kSize}).ok());
  auto image = vhdx::Image::Open(&mem, "e.vhdx", {.read_only = true});
  ASSERT_TRUE(image.ok());
  std::unique_ptr<VirtualDisk> disk = FromImage(std::move(image).value());
  auto read_all = [&]() -> int {
    ChunkReader reader(disk.get(), 0, kSize, 8 * kMiB, 4);
    if (!reader.Start().ok()) return 2;
    // A consumer busy with its first chunk lets the reader fill its queue with zero runs.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    uint64_t pos = 0, zero_runs = 0;
    for (Chunk chunk;;) {
      Result<bool> more = reader.Next(&chunk);
      if (!more.ok()) return 3;
      if (!*more) break;
      if (chunk.offset != pos || !chunk.zero) return 4;
      reader.Release(chunk);
      pos += chunk.length;
      ++zero_runs;
    }
    return pos == kSize && zero_runs > 64 ? 0 : 5;
  };
  EXPECT_EXIT(
      {
        alarm(60);
        std::_Exit(read_all());
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace hvdisk::disk
