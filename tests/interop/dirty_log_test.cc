// Dirty logs against an independent replayer: qemu clears its log after every update, so the
// dirty images are ours (writes flushed through the log, then the image abandoned as a killed
// process would leave it). `qemu-img check -r all` must replay each to the content our replay
// gives, read-only (in memory) and read-write (on disk) alike. Fails when qemu-img is missing.
#include <gtest/gtest.h>

#include <fstream>

#include "platform/image_lock.h"
#include "platform/posix_file.h"
#include "tests/testutil/testutil.h"
#include "vhdx/image.h"

namespace hvdisk::vhdx {
namespace {

std::vector<std::byte> ReadAll(const std::string& path, bool read_only) {
  auto img = Image::Open(DefaultFileSystem(), path, {.read_only = read_only});
  EXPECT_TRUE(img.ok()) << img.status().ToString();
  if (!img.ok()) return {};
  std::vector<std::byte> out((*img)->virtual_size());
  EXPECT_OK((*img)->Read(0, out));
  return out;
}

std::vector<std::byte> ReadRaw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), {});
  std::vector<std::byte> out(c.size());
  std::memcpy(out.data(), c.data(), c.size());
  return out;
}

// Writes `flushes` batches, each flushed (one log entry each), then abandons the image.
void MakeDirty(const std::string& path, int flushes, uint64_t block) {
  ASSERT_OK(
      Image::Create(DefaultFileSystem(), path,
                    {.virtual_size = 256 * kMiB, .block_size = static_cast<uint32_t>(block)}));
  auto img = Image::Open(DefaultFileSystem(), path, {.read_only = false});
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  for (int i = 0; i < flushes; ++i) {
    uint64_t off = (static_cast<uint64_t>(i) * 7919 * 4096) % (256 * kMiB - 8192);
    ASSERT_OK((*img)->Write(off, testing::PatternBytes(8192, i + 1)));
    ASSERT_OK((*img)->Flush());
  }
  ASSERT_FALSE((*img)->log_guid().IsZero());
  UnlockImage(*(*img)->file());  // its image locks went with the "killed process"
  (void)img->release();          // abandoned with LogGuid set, as a killed process leaves it
}

void ExpectQemuReplaysLikeUs(int flushes, uint64_t block) {
  testing::TempDir dir;
  std::string ours = dir.File("ours.vhdx"), theirs = dir.File("theirs.vhdx");
  MakeDirty(ours, flushes, block);
  std::string out;
  ASSERT_EQ(testing::RunCommand("cp " + ours + " " + theirs, &out), 0) << out;
  std::vector<std::byte> in_memory = ReadAll(ours, /*read_only=*/true);
  ASSERT_EQ(testing::RunCommand("qemu-img check -r all -f vhdx " + theirs, &out), 0)
      << "qemu-img (Debian package qemu-utils) must replay our log: " << out;
  ASSERT_EQ(testing::RunCommand(
                "qemu-img convert -f vhdx -O raw " + theirs + " " + dir.File("theirs.raw"), &out),
            0)
      << out;
  std::vector<std::byte> on_disk = ReadAll(ours, /*read_only=*/false);
  EXPECT_TRUE(in_memory == on_disk) << "read-only and read-write replays differ";
  EXPECT_TRUE(ReadRaw(dir.File("theirs.raw")) == on_disk) << "qemu's replay differs from ours";
}

TEST(DirtyLogInteropTest, SingleEntryReplaysLikeQemu) { ExpectQemuReplaysLikeUs(1, kMiB); }

TEST(DirtyLogInteropTest, SequenceWrappedPastTheLogEndReplaysLikeQemu) {
  // Each flush writes one entry of 2-3 sectors: 200 of them wrap the 256-sector log.
  ExpectQemuReplaysLikeUs(200, kMiB);
}

TEST(DirtyLogInteropTest, LargeBlocksReplayLikeQemu) { ExpectQemuReplaysLikeUs(20, 32 * kMiB); }

}  // namespace
}  // namespace hvdisk::vhdx
