// CompactIo (vhdx/compact_io.h): the pipelined zero scan and copies of compact, over the in-memory
// file system (which enforces O_DIRECT alignment as Linux does) and the fault-injecting one.
#include "vhdx/compact_io.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "platform/fault_file_system.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::vhdx {
namespace {

constexpr char kPath[] = "/c.vhdx";
constexpr uint64_t kMiB = 1 << 20;

// 40 MiB: zeros, except one byte at 17 MiB + 5 and the last MiB all 0x33.
std::string Content() {
  std::string b(40 * kMiB, '\0');
  b[17 * kMiB + 5] = 1;
  std::fill(b.end() - kMiB, b.end(), '\x33');
  return b;
}

struct Opened {
  std::unique_ptr<File> file;
  std::unique_ptr<CompactIo> io;
};

Opened OpenIo(FileSystem* fs) {
  Opened o;
  auto file = fs->Open(kPath, OpenOptions::ReadWrite());
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  o.file = std::move(file).value();
  auto io = CompactIo::Open(fs, kPath, o.file.get());
  EXPECT_TRUE(io.ok()) << io.status().ToString();
  o.io = std::move(io).value();
  return o;
}

TEST(CompactIo, TheScanFindsEachRangesFirstNonZeroByteAcrossPiecesAndPastTheEnd) {
  MemFileSystem fs;
  ASSERT_OK(fs.PutFile(kPath, Content()));
  Opened o = OpenIo(&fs);
  const std::vector<FileRange> ranges = {{0, 16 * kMiB},             // two pieces of zeros
                                         {16 * kMiB, 16 * kMiB},     // non-zero in its 1st piece
                                         {32 * kMiB, 7 * kMiB},      // zeros
                                         {39 * kMiB, kMiB},          // 0x33
                                         {40 * kMiB, 3 * kMiB + 7},  // past the end: zeros
                                         {8 * kMiB, 0}};
  auto zero = o.io->AllZero(ranges);
  ASSERT_TRUE(zero.ok()) << zero.status().ToString();
  EXPECT_EQ(*zero, (std::vector<bool>{true, false, true, false, true, true}));
}

TEST(CompactIo, CopiesLandWholeAndASourceCutShortIsCorrupt) {
  MemFileSystem fs;
  const std::string content = Content();
  ASSERT_OK(fs.PutFile(kPath, content));
  Opened o = OpenIo(&fs);
  // 9 MiB + 512 bytes: pieces of 8 MiB, the last one unaligned (written through the image's File).
  ASSERT_OK(o.io->Copy(
      std::vector<FileMove>{{17 * kMiB, 0, 9 * kMiB + 512}, {39 * kMiB, 10 * kMiB, kMiB}}));
  const std::string after = *fs.GetFile(kPath);
  EXPECT_EQ(after.substr(0, 9 * kMiB + 512), content.substr(17 * kMiB, 9 * kMiB + 512));
  EXPECT_EQ(after.substr(10 * kMiB, kMiB), std::string(kMiB, '\x33'));
  Status cut = o.io->Copy(std::vector<FileMove>{{39 * kMiB, 0, 2 * kMiB}});
  EXPECT_EQ(cut.code(), Code::kCorrupt) << cut.ToString();
}

TEST(CompactIo, AReadErrorInTheMiddleIsReturnedAfterTheRequestsInFlightComplete) {
  MemFileSystem mem;
  ASSERT_OK(mem.PutFile(kPath, Content()));
  FaultFileSystem fs(&mem);
  Opened o = OpenIo(&fs);
  fs.SetRule(FileOp::kRead, {.nth = 3, .err = EIO});
  auto zero = o.io->AllZero(std::vector<FileRange>{{0, 32 * kMiB}, {32 * kMiB, 8 * kMiB}});
  EXPECT_EQ(zero.status().code(), Code::kIoError) << zero.status().ToString();
  fs.SetRule(FileOp::kWrite, {.nth = 2, .err = EIO});
  Status copy = o.io->Copy(std::vector<FileMove>{{0, 0 + 24 * kMiB, 16 * kMiB}});
  EXPECT_EQ(copy.code(), Code::kIoError) << copy.ToString();
  fs.ClearRules();
  auto again = o.io->AllZero(std::vector<FileRange>{{0, 8 * kMiB}});  // usable after an error
  ASSERT_TRUE(again.ok()) << again.status().ToString();
}

}  // namespace
}  // namespace hvdisk::vhdx
