// Concurrent I/O on disjoint ranges: threads writing, reading, trimming and flushing at once,
// including ranges that share a block (the allocation path races), must leave every range with
// its own thread's bytes. Runs on the POSIX file system (real pwrite/pread races) and in memory.
#include <gtest/gtest.h>

#include <thread>

#include "platform/mem_file_system.h"
#include "tests/testutil/testutil.h"
#include "vhdx/image.h"

namespace hvdisk::vhdx {
namespace {

constexpr int kThreads = 8;
constexpr uint64_t kBlock = 1 * kMiB;
constexpr uint64_t kDisk = 32 * kMiB;
// Each thread owns every kThreads-th 64 KiB slice: neighbours share every block.
constexpr uint64_t kSlice = 64 * 1024;

void Worker(Image* image, int id, std::vector<std::byte>* expect, Status* result) {
  for (uint64_t off = static_cast<uint64_t>(id) * kSlice; off < kDisk; off += kThreads * kSlice) {
    auto data = testing::PatternBytes(kSlice, off);
    Status st = image->Write(off, data);
    if (st.ok() && (off / kSlice) % 5 == 0) st = image->Flush();
    std::vector<std::byte> back(kSlice);
    if (st.ok()) st = image->Read(off, back);
    if (st.ok() && back != data) st = Corrupt("read back differs @" + std::to_string(off));
    if (!st.ok()) {
      *result = st;
      return;
    }
    std::copy(data.begin(), data.end(), expect->begin() + static_cast<ptrdiff_t>(off));
  }
}

void RunConcurrentWriters(FileSystem* fs, const std::string& path) {
  ASSERT_OK(Image::Create(fs, path, {.virtual_size = kDisk, .block_size = kBlock}));
  ASSERT_OK_AND_ASSIGN(auto image, Image::Open(fs, path, {.read_only = false}));
  std::vector<std::byte> expect(kDisk);
  std::vector<Status> results(kThreads, Status::Ok());
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back(Worker, image.get(), i, &expect, &results[i]);
  }
  for (auto& t : threads) t.join();
  for (const Status& st : results) ASSERT_OK(st);
  ASSERT_OK(image->Close());
  ASSERT_OK_AND_ASSIGN(auto reopened, Image::Open(fs, path, {}));
  std::vector<std::byte> got(kDisk);
  ASSERT_OK(reopened->Read(0, got));
  EXPECT_TRUE(got == expect);
  ASSERT_OK_AND_ASSIGN(CheckReport check, Image::Check(fs, path));
  EXPECT_TRUE(check.corruptions.empty() && check.leaks.empty());
  EXPECT_EQ(check.allocated_blocks, kDisk / kBlock);
}

TEST(ImageConcurrencyTest, ThreadsWritingInterleavedSlicesOfSharedBlocksKeepTheirBytes) {
  testing::TempDir dir;
  RunConcurrentWriters(DefaultFileSystem(), dir.File("c.vhdx"));
}

TEST(ImageConcurrencyTest, SameInMemory) {
  MemFileSystem fs;
  RunConcurrentWriters(&fs, "/c.vhdx");
}

TEST(ImageConcurrencyTest, ReadersRunAlongsideATrimmingWriter) {
  MemFileSystem fs;
  ASSERT_OK(Image::Create(&fs, "/t.vhdx", {.virtual_size = kDisk, .block_size = kBlock}));
  ASSERT_OK_AND_ASSIGN(auto image, Image::Open(&fs, "/t.vhdx", {.read_only = false}));
  auto first = testing::PatternBytes(kDisk / 2, 7);
  ASSERT_OK(image->Write(0, first));
  Status reader = Status::Ok();
  std::thread t([&] {
    std::vector<std::byte> buf(kBlock);
    for (int round = 0; round < 20 && reader.ok(); ++round) {
      for (uint64_t off = 0; off < kDisk / 2 && reader.ok(); off += kBlock) {
        reader = image->Read(off, buf);
        if (reader.ok() && !std::equal(buf.begin(), buf.end(), first.begin() + off)) {
          reader = Corrupt("reader saw a torn block @" + std::to_string(off));
        }
      }
    }
  });
  for (uint64_t off = kDisk / 2; off < kDisk; off += kBlock) {
    ASSERT_OK(image->Write(off, testing::PatternBytes(kBlock, off)));
    ASSERT_OK(image->Trim(off, kBlock));
    ASSERT_OK(image->Flush());
  }
  t.join();
  ASSERT_OK(reader);
  ASSERT_OK(image->Close());
}

}  // namespace
}  // namespace hvdisk::vhdx
