// Image::Compact: all-zero blocks freed (with the zero scan), trimmed holes closed by moving the
// blocks above them down, the file truncated; the content unchanged; crash-safe at every I/O.
#include <gtest/gtest.h>

#include "platform/crash_file_system.h"
#include "platform/digest.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/crash_sweep.h"
#include "tests/testutil/testutil.h"
#include "vhdx/image.h"

namespace hvdisk::vhdx {
namespace {

using testing::CrashRun;
using testing::PatternBytes;

const std::string kPath = "/d.vhdx";
constexpr uint64_t kSize = 24 * kMiB;

std::vector<std::byte> ReadAll(FileSystem* fs) {
  auto img = Image::Open(fs, kPath, {});
  EXPECT_TRUE(img.ok()) << img.status().ToString();
  if (!img.ok()) return {};
  std::vector<std::byte> out((*img)->virtual_size());
  EXPECT_OK((*img)->Read(0, out));
  return out;
}

uint64_t FileSizeOf(FileSystem* fs) {
  auto f = fs->Open(kPath, {});
  if (!f.ok()) return 0;
  auto size = (*f)->Size();
  return size.ok() ? *size : 0;
}

void ExpectClean(FileSystem* fs, const std::string& where = "") {
  ASSERT_OK_AND_ASSIGN(CheckReport rep, Image::Check(fs, kPath));
  EXPECT_TRUE(rep.corruptions.empty()) << where << ": " << rep.corruptions[0];
  EXPECT_TRUE(rep.leaks.empty()) << where << ": " << rep.leaks[0];
}

// 1 MiB blocks: data in blocks 0, 2, 4, ..., 14; zeros written into 1, 3, 5; 6 and 10 trimmed
// after being written (holes in the middle of the file).
void MakeDisk(FileSystem* fs, DiskType type = DiskType::kDynamic) {
  CreateOptions o{.type = type, .virtual_size = kSize, .block_size = kMiB};
  if (type == DiskType::kDifferencing) {
    o.parent_locator = {{"parent_linkage", "{00000000-0000-0000-0000-000000000001}"},
                        {"relative_path", ".\\p.vhdx"}};
  }
  ASSERT_OK(Image::Create(fs, kPath, o));
  ASSERT_OK_AND_ASSIGN(auto img, Image::Open(fs, kPath, {.read_only = false}));
  for (uint64_t b = 0; b < 16; b += 2) ASSERT_OK(img->Write(b * kMiB, PatternBytes(kMiB, b + 1)));
  for (uint64_t b : {1, 3, 5}) ASSERT_OK(img->Write(b * kMiB, std::vector<std::byte>(kMiB)));
  ASSERT_OK(img->Write(20 * kMiB + 4096, PatternBytes(512, 77)));  // partial in a child
  ASSERT_OK(img->Flush());
  for (uint64_t b : {6, 10}) ASSERT_OK(img->Trim(b * kMiB, kMiB));
  ASSERT_OK(img->Close());
}

TEST(ImageCompact, TrimmedHolesCloseAndTheFileShrinksByThemWithTheContentUnchanged) {
  MemFileSystem fs;
  MakeDisk(&fs);
  const auto before = ReadAll(&fs);
  const uint64_t size_before = FileSizeOf(&fs);
  ASSERT_OK_AND_ASSIGN(auto img, Image::Open(&fs, kPath, {.read_only = false}));
  const Guid data_guid = img->data_write_guid();
  ASSERT_OK_AND_ASSIGN(CompactReport r, img->Compact());
  EXPECT_EQ(r.blocks_trimmed, 0u);
  EXPECT_GT(r.blocks_moved, 0u);
  EXPECT_EQ(img->data_write_guid(), data_guid);  // children stay linked
  ASSERT_OK(img->Close());
  EXPECT_EQ(ReadAll(&fs), before);
  EXPECT_LE(FileSizeOf(&fs), size_before - 2 * kMiB * 9 / 10);
  EXPECT_EQ(r.file_size_after, FileSizeOf(&fs));
  ExpectClean(&fs);
}

TEST(ImageCompact, TheZeroScanFreesAllZeroBlocksToo) {
  MemFileSystem fs;
  MakeDisk(&fs);
  const auto before = ReadAll(&fs);
  const uint64_t size_before = FileSizeOf(&fs);
  ASSERT_OK_AND_ASSIGN(auto img, Image::Open(&fs, kPath, {.read_only = false}));
  const uint64_t allocated = img->allocated_blocks();
  ASSERT_OK_AND_ASSIGN(CompactReport r, img->Compact({.zero_scan = true}));
  EXPECT_EQ(r.blocks_trimmed, 3u);
  EXPECT_EQ(img->allocated_blocks(), allocated - 3);
  ASSERT_OK(img->Close());
  EXPECT_EQ(ReadAll(&fs), before);
  EXPECT_LE(FileSizeOf(&fs), size_before - 5 * kMiB * 9 / 10);  // 2 trimmed + 3 zero blocks
  ExpectClean(&fs);
}

TEST(ImageCompact, ADifferencingLeafKeepsItsZeroBlocksHidingTheParentAndItsPartialBlock) {
  MemFileSystem fs;
  MakeDisk(&fs, DiskType::kDifferencing);
  ASSERT_OK_AND_ASSIGN(auto img, Image::Open(&fs, kPath, {.read_only = false}));
  ASSERT_OK(img->Compact({.zero_scan = true}));
  ASSERT_OK_AND_ASSIGN(auto map, img->Map(0, kSize));
  ASSERT_OK(img->Close());
  for (const Extent& e : map) {
    const bool zero_block = e.virtual_offset < 6 * kMiB && (e.virtual_offset / kMiB) % 2 == 1;
    if (zero_block) {
      EXPECT_EQ(e.kind, Extent::Kind::kZero) << e.virtual_offset;  // not kParent
    }
  }
  ASSERT_OK_AND_ASSIGN(auto ro, Image::Open(&fs, kPath, {}));
  std::vector<std::byte> got(512);
  ASSERT_OK(ro->Read(20 * kMiB + 4096, got));
  EXPECT_EQ(got, PatternBytes(512, 77));
  ExpectClean(&fs);
}

TEST(ImageCompact, AFixedDiskIsRefused) {
  MemFileSystem fs;
  ASSERT_OK(Image::Create(&fs, kPath, {.type = DiskType::kFixed, .virtual_size = 4 * kMiB}));
  ASSERT_OK_AND_ASSIGN(auto img, Image::Open(&fs, kPath, {.read_only = false}));
  EXPECT_CODE(img->Compact().status(), Code::kUnsupported);
}

void Workload(FileSystem* fs) {
  auto img = Image::Open(fs, kPath, {.read_only = false});
  if (!img.ok()) return;
  if (!(*img)->Compact({.zero_scan = true}).ok()) return;
  (void)(*img)->Close();
}

void Trial(DiskType type, const std::vector<std::byte>& content, const CrashRun& run) {
  CrashFileSystem fs;
  MakeDisk(&fs, type);
  fs.SyncAll();
  fs.SetCrashPoint(run.point);
  Workload(&fs);
  fs.Crash(run.seed, run.mode);
  {
    ASSERT_OK_AND_ASSIGN(auto img, Image::Open(&fs, kPath, {.read_only = false}));
    ASSERT_OK(img->Close());
  }
  EXPECT_EQ(Xxh3_64(ReadAll(&fs)), Xxh3_64(content)) << run.where;
  ExpectClean(&fs, run.where);
}

void Sweep(DiskType type) {
  uint64_t ops;
  std::vector<std::byte> content;
  {
    CrashFileSystem fs;
    MakeDisk(&fs, type);
    fs.SyncAll();
    content = ReadAll(&fs);
    const uint64_t before = fs.mutating_ops();
    Workload(&fs);
    ops = fs.mutating_ops() - before;
  }
  ASSERT_GT(ops, 5u);
  testing::CrashEverywhere(ops, [&](const CrashRun& run) { Trial(type, content, run); });
}

TEST(ImageCompactCrash, ADynamicDiskSurvivesACrashAtEveryOperation) { Sweep(DiskType::kDynamic); }

TEST(ImageCompactCrash, ADifferencingDiskSurvivesACrashAtEveryOperation) {
  Sweep(DiskType::kDifferencing);
}

}  // namespace
}  // namespace hvdisk::vhdx
