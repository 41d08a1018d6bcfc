// Image::Resize: growing every disk type (the BAT relocated when it must be), shrinking only with
// nothing past the new end, and a crash at every I/O of either leaving the old or the new size
// with the content intact.
#include <gtest/gtest.h>

#include "platform/crash_file_system.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/crash_sweep.h"
#include "tests/testutil/testutil.h"
#include "vhdx/image.h"

namespace hvdisk::vhdx {
namespace {

using testing::CrashRun;
using testing::PatternBytes;

const std::string kPath = "/d.vhdx";

std::vector<std::byte> ReadRange(Image* img, uint64_t off, uint64_t len) {
  std::vector<std::byte> out(len);
  EXPECT_OK(img->Read(off, out));
  return out;
}

void ExpectClean(FileSystem* fs, const std::string& where = "") {
  ASSERT_OK_AND_ASSIGN(CheckReport rep, Image::Check(fs, kPath));
  EXPECT_TRUE(rep.corruptions.empty()) << where << ": " << rep.corruptions[0];
  EXPECT_TRUE(rep.leaks.empty()) << where << ": " << rep.leaks[0];
}

uint64_t FileSizeOf(FileSystem* fs) {
  auto f = fs->Open(kPath, {});
  if (!f.ok()) return 0;
  auto size = (*f)->Size();
  return size.ok() ? *size : 0;
}

// A disk of `size` with a pattern in its first MiB and in the MiB at 5 MiB, closed.
void MakeDisk(FileSystem* fs, DiskType type, uint64_t size, uint32_t block = kMiB) {
  ASSERT_OK(Image::Create(fs, kPath, {.type = type, .virtual_size = size, .block_size = block}));
  ASSERT_OK_AND_ASSIGN(auto img, Image::Open(fs, kPath, {.read_only = false}));
  ASSERT_OK(img->Write(0, PatternBytes(kMiB, 1)));
  ASSERT_OK(img->Write(5 * kMiB, PatternBytes(kMiB, 2)));
  ASSERT_OK(img->Close());
}

TEST(ImageResize, AFixedDiskGrowsWithItsNewBlocksAllocatedAndReadingZeros) {
  MemFileSystem fs;
  MakeDisk(&fs, DiskType::kFixed, 8 * kMiB);
  {
    ASSERT_OK_AND_ASSIGN(auto img, Image::Open(&fs, kPath, {.read_only = false}));
    ASSERT_OK(img->Resize(20 * kMiB));
    ASSERT_OK(img->Close());
  }
  ASSERT_OK_AND_ASSIGN(auto ro, Image::Open(&fs, kPath, {}));
  EXPECT_EQ(ro->virtual_size(), 20 * kMiB);
  EXPECT_EQ(ro->allocated_blocks(), 20u);
  EXPECT_EQ(ReadRange(ro.get(), 5 * kMiB, kMiB), PatternBytes(kMiB, 2));
  EXPECT_EQ(ReadRange(ro.get(), 8 * kMiB, 12 * kMiB), std::vector<std::byte>(12 * kMiB));
  ExpectClean(&fs);
}

TEST(ImageResize, GrowingPastAnOddOldEndShowsZerosWhereTheCutBlockHeldBytes) {
  MemFileSystem fs;
  ASSERT_OK(Image::Create(&fs, kPath, {.virtual_size = 3 * kMiB / 2, .block_size = kMiB}));
  {
    ASSERT_OK_AND_ASSIGN(auto img, Image::Open(&fs, kPath, {.read_only = false}));
    ASSERT_OK(img->Write(kMiB, PatternBytes(kMiB / 2, 3)));
    ASSERT_OK(img->Close());
  }
  // Bytes past the virtual end inside the last block (as another writer may leave them).
  {
    ASSERT_OK_AND_ASSIGN(auto ro, Image::Open(&fs, kPath, {}));
    ASSERT_OK_AND_ASSIGN(auto map, ro->Map(kMiB, kMiB / 2));
    ASSERT_OK(ro->Close());
    ASSERT_OK_AND_ASSIGN(auto f, fs.Open(kPath, OpenOptions::ReadWrite()));
    ASSERT_OK(f->WriteAt(map[0].file_offset + kMiB / 2, PatternBytes(kMiB / 2, 9)));
  }
  ASSERT_OK_AND_ASSIGN(auto img, Image::Open(&fs, kPath, {.read_only = false}));
  ASSERT_OK(img->Resize(4 * kMiB));
  EXPECT_EQ(ReadRange(img.get(), kMiB, kMiB / 2), PatternBytes(kMiB / 2, 3));
  EXPECT_EQ(ReadRange(img.get(), 3 * kMiB / 2, kMiB / 2), std::vector<std::byte>(kMiB / 2));
}

TEST(ImageResize, ShrinkingIsRefusedWithoutTheFlagAndNamesTheFirstDataPastTheNewEnd) {
  MemFileSystem fs;
  MakeDisk(&fs, DiskType::kDynamic, 16 * kMiB);
  ASSERT_OK_AND_ASSIGN(auto img, Image::Open(&fs, kPath, {.read_only = false}));
  EXPECT_CODE(img->Resize(8 * kMiB), Code::kInvalidArgument);
  Status st = img->Resize(4 * kMiB, /*allow_shrink=*/true);
  EXPECT_CODE(st, Code::kInvalidArgument);
  EXPECT_NE(st.message().find("0x500000"), std::string::npos) << st.ToString();
  EXPECT_EQ(img->virtual_size(), 16 * kMiB);
  EXPECT_EQ(ReadRange(img.get(), 5 * kMiB, kMiB), PatternBytes(kMiB, 2));
}

TEST(ImageResize, ADynamicDiskShrinksPastItsEmptyTailAndTheFileGivesTheSpaceBack) {
  MemFileSystem fs;
  MakeDisk(&fs, DiskType::kDynamic, 64 * kMiB);
  ASSERT_OK_AND_ASSIGN(auto img, Image::Open(&fs, kPath, {.read_only = false}));
  ASSERT_OK(img->Write(40 * kMiB, PatternBytes(kMiB, 4)));
  ASSERT_OK(img->Trim(40 * kMiB, kMiB));
  ASSERT_OK(img->Resize(6 * kMiB, true));
  ASSERT_OK(img->Close());
  ASSERT_OK_AND_ASSIGN(auto ro, Image::Open(&fs, kPath, {}));
  EXPECT_EQ(ro->virtual_size(), 6 * kMiB);
  EXPECT_EQ(ReadRange(ro.get(), 5 * kMiB, kMiB), PatternBytes(kMiB, 2));
  ExpectClean(&fs);
}

TEST(ImageResize, AFixedDiskShrinksOnlyWhereItsBytesAreZeroAndItsFileShrinks) {
  MemFileSystem fs;
  MakeDisk(&fs, DiskType::kFixed, 16 * kMiB);
  const uint64_t before = FileSizeOf(&fs);
  ASSERT_OK_AND_ASSIGN(auto img, Image::Open(&fs, kPath, {.read_only = false}));
  Status st = img->Resize(5 * kMiB + 4096, true);
  EXPECT_CODE(st, Code::kInvalidArgument);
  EXPECT_NE(st.message().find("0x501000"), std::string::npos) << st.ToString();
  ASSERT_OK(img->Resize(6 * kMiB, true));
  ASSERT_OK(img->Close());
  EXPECT_EQ(FileSizeOf(&fs), before - 10 * kMiB);
  ExpectClean(&fs);
}

TEST(ImageResize, ADifferencingDiskShrinksAndGrowsThroughItsSectorBitmaps) {
  MemFileSystem fs;
  ASSERT_OK(Image::Create(
      &fs, kPath,
      {.type = DiskType::kDifferencing,
       .virtual_size = 16 * kMiB,
       .block_size = kMiB,
       .parent_locator = {{"parent_linkage", "{00000000-0000-0000-0000-000000000001}"},
                          {"relative_path", ".\\p.vhdx"}}}));
  ASSERT_OK_AND_ASSIGN(auto img, Image::Open(&fs, kPath, {.read_only = false}));
  ASSERT_OK(img->Write(kMiB + 512, PatternBytes(512, 5)));
  EXPECT_CODE(img->Resize(kMiB + 512, true), Code::kInvalidArgument);
  ASSERT_OK(img->Resize(kMiB + 1024, true));
  ASSERT_OK(img->Resize(32 * kMiB));
  EXPECT_EQ(ReadRange(img.get(), kMiB + 512, 512), PatternBytes(512, 5));
  ASSERT_OK(img->Close());
  ExpectClean(&fs);
}

// The crash sweep: `resize` runs on a CrashFileSystem that stops at each mutating operation.
struct ResizeCase {
  DiskType type;
  uint64_t from, to;
};

void Workload(FileSystem* fs, const ResizeCase& c) {
  auto img = Image::Open(fs, kPath, {.read_only = false});
  if (!img.ok()) return;
  if (!(*img)->Resize(c.to, true).ok()) return;
  (void)(*img)->Close();
}

void Setup(CrashFileSystem* fs, const ResizeCase& c) {
  MakeDisk(fs, c.type, c.from);
  fs->SyncAll();
}

void Trial(const ResizeCase& c, const CrashRun& run) {
  CrashFileSystem fs;
  Setup(&fs, c);
  fs.SetCrashPoint(run.point);
  Workload(&fs, c);
  fs.Crash(run.seed, run.mode);
  ASSERT_OK_AND_ASSIGN(auto img, Image::Open(&fs, kPath, {.read_only = false}));
  const uint64_t size = img->virtual_size();
  EXPECT_TRUE(size == c.from || size == c.to) << run.where << ": size " << size;
  EXPECT_EQ(ReadRange(img.get(), 0, kMiB), PatternBytes(kMiB, 1)) << run.where;
  EXPECT_EQ(ReadRange(img.get(), 5 * kMiB, kMiB), PatternBytes(kMiB, 2)) << run.where;
  if (size > 6 * kMiB) {
    EXPECT_EQ(ReadRange(img.get(), size - kMiB, kMiB), std::vector<std::byte>(kMiB)) << run.where;
  }
  ASSERT_OK(img->Close());
  ExpectClean(&fs, run.where);
}

void SweepResize(const ResizeCase& c) {
  uint64_t ops;
  {
    CrashFileSystem fs;
    Setup(&fs, c);
    const uint64_t before = fs.mutating_ops();
    Workload(&fs, c);
    ops = fs.mutating_ops() - before;
    ASSERT_OK_AND_ASSIGN(auto img, Image::Open(&fs, kPath, {}));
    ASSERT_EQ(img->virtual_size(), c.to);
  }
  ASSERT_GT(ops, 3u);
  testing::CrashEverywhere(ops, [&](const CrashRun& run) { Trial(c, run); });
}

TEST(ImageResizeCrash, GrowingADynamicDiskPastItsBatRegionSurvivesACrashAtEveryOperation) {
  SweepResize({DiskType::kDynamic, 16 * kMiB, 200 * kGiB});
}

TEST(ImageResizeCrash, GrowingAFixedDiskSurvivesACrashAtEveryOperation) {
  SweepResize({DiskType::kFixed, 8 * kMiB, 24 * kMiB});
}

TEST(ImageResizeCrash, ShrinkingAFixedDiskSurvivesACrashAtEveryOperation) {
  SweepResize({DiskType::kFixed, 24 * kMiB, 7 * kMiB});
}

}  // namespace
}  // namespace hvdisk::vhdx
