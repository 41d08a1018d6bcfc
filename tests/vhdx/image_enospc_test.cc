// Disk full is an ordinary error for one image (issue 15, finding 1): space is reserved before a
// BAT entry names it, a failed reservation changes nothing, and the reservation step adapts to
// the free space. On a small tmpfs the test mounts, and in the ENOSPC mode of the fault file
// system (every fallocate, or every write past the end of the file, failing from the nth on).
#include <gtest/gtest.h>

#include <algorithm>

#include "platform/fault_file_system.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/testutil.h"
#include "tests/testutil/tmpfs.h"
#include "vhdx/image.h"

namespace hvdisk::vhdx {
namespace {

using testing::PatternBytes;

std::vector<std::byte> ReadAll(FileSystem* fs, const std::string& path) {
  auto image = Image::Open(fs, path, {});
  EXPECT_TRUE(image.ok()) << image.status().ToString();
  if (!image.ok()) return {};
  std::vector<std::byte> out((*image)->virtual_size());
  EXPECT_OK((*image)->Read(0, out));
  return out;
}

void ExpectClean(FileSystem* fs, const std::string& path, const std::string& where) {
  auto rep = Image::Check(fs, path);
  ASSERT_TRUE(rep.ok()) << where << ": " << rep.status().ToString();
  EXPECT_TRUE(rep->corruptions.empty()) << where << ": " << rep->corruptions[0];
  EXPECT_TRUE(rep->leaks.empty()) << where << ": " << rep->leaks[0];
}

TEST(DiskFull, AOneMiBWriteOnATwelveMiBTmpfsSucceedsAndTheImageChecksClean) {
  testing::SmallTmpfs tmpfs(12 * kMiB);
  ASSERT_OK(tmpfs.status());
  FileSystem* fs = DefaultFileSystem();
  const std::string path = tmpfs.File("w.vhdx");
  ASSERT_OK(Image::Create(fs, path, {.virtual_size = 32 * kMiB, .block_size = kMiB}));
  const std::vector<std::byte> data(kMiB, std::byte{0xaa});
  {
    ASSERT_OK_AND_ASSIGN(auto image, Image::Open(fs, path, {.read_only = false}));
    ASSERT_OK(image->Write(0, data));  // 8 MiB free: never refused for a 64 MiB step
    ASSERT_OK(image->Close());
  }
  ExpectClean(fs, path, "after the write");
  EXPECT_TRUE(std::equal(data.begin(), data.end(), ReadAll(fs, path).begin()));
}

// At each free-space level: three one-block writes; each either lands or fails with kNoSpace
// leaving the image as it was (openable, clean, every block old or new); with the space freed,
// the same writes succeed.
TEST(DiskFull, WritesAtEachFreeSpaceLevelLandOrFailCleanlyAndSucceedOnceSpaceIsFreed) {
  testing::SmallTmpfs tmpfs(32 * kMiB);
  ASSERT_OK(tmpfs.status());
  FileSystem* fs = DefaultFileSystem();
  const uint64_t kLevels[] = {0,        16 * 1024, 512 * 1024, kMiB,     kMiB + 512 * 1024,
                              2 * kMiB, 3 * kMiB,  5 * kMiB,   20 * kMiB};
  const std::vector<std::byte> data = PatternBytes(3 * kMiB, 7);
  for (uint64_t level : kLevels) {
    const std::string where = "free " + std::to_string(level);
    const std::string path = tmpfs.File("d.vhdx");
    ASSERT_OK(tmpfs.FreeFiller());
    (void)fs->Unlink(path);
    ASSERT_OK(Image::Create(fs, path, {.virtual_size = 32 * kMiB, .block_size = kMiB}));
    ASSERT_OK(tmpfs.LeaveFree(level));
    size_t landed = 0;
    Status closed;
    {
      ASSERT_OK_AND_ASSIGN(auto image, Image::Open(fs, path, {.read_only = false}));
      for (; landed < 3; ++landed) {
        Status st = image->Write(landed * kMiB, std::span(data).subspan(landed * kMiB, kMiB));
        if (!st.ok()) {
          EXPECT_EQ(st.code(), Code::kNoSpace) << where << ": " << st.ToString();
          break;
        }
      }
      closed = image->Close();
    }
    if (level >= 5 * kMiB) {
      EXPECT_TRUE(landed == 3 && closed.ok()) << where;
    }
    {  // a writable open trims what a failed close left past the last object
      ASSERT_OK_AND_ASSIGN(auto image, Image::Open(fs, path, {.read_only = false}));
      ASSERT_OK(image->Close());
    }
    ExpectClean(fs, path, where);
    std::vector<std::byte> got = ReadAll(fs, path);
    for (size_t b = 0; b < 3; ++b) {
      auto block = std::span(got).subspan(b * kMiB, kMiB);
      bool is_new = std::equal(block.begin(), block.end(), data.begin() + b * kMiB);
      bool is_zero =
          std::all_of(block.begin(), block.end(), [](auto x) { return x == std::byte{0}; });
      EXPECT_TRUE(is_new || is_zero) << where << ": block " << b;
      if (closed.ok()) {
        EXPECT_EQ(is_new, b < landed) << where << ": block " << b;
      }
    }
    ASSERT_OK(tmpfs.FreeFiller());
    {
      ASSERT_OK_AND_ASSIGN(auto image, Image::Open(fs, path, {.read_only = false}));
      ASSERT_OK(image->Write(0, data));
      ASSERT_OK(image->Close());
    }
    ExpectClean(fs, path, where + ", space freed");
    got = ReadAll(fs, path);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), got.begin())) << where;
  }
}

TEST(DiskFull, AFixedCreateThatFindsNoSpaceRemovesItsFileSoThatARetrySucceeds) {
  testing::SmallTmpfs tmpfs(16 * kMiB);
  ASSERT_OK(tmpfs.status());
  FileSystem* fs = DefaultFileSystem();
  const std::string path = tmpfs.File("f.vhdx");
  const CreateOptions fixed{
      .type = DiskType::kFixed, .virtual_size = 64 * kMiB, .block_size = kMiB};
  EXPECT_CODE(Image::Create(fs, path, fixed), Code::kNoSpace);
  ASSERT_OK_AND_ASSIGN(bool exists, fs->Exists(path));
  EXPECT_FALSE(exists);
  EXPECT_GT(tmpfs.FreeBytes(), 15 * kMiB);  // nothing of the partial file is left
  CreateOptions small = fixed;
  small.virtual_size = 8 * kMiB;
  ASSERT_OK(Image::Create(fs, path, small));
  ExpectClean(fs, path, "retry");
}

// The ENOSPC mode: the workload below, with the nth fallocate (or the nth write past the end of
// the file) and every later one failing with ENOSPC, for every n until one run completes.
struct Workload {
  std::vector<std::byte> data = PatternBytes(4 * kMiB, 3);
  // Runs until the first failure; *flushed: the bytes of data a completed Flush made durable.
  Status Run(Image* image, uint64_t* flushed) const {
    RETURN_IF_ERROR(image->Write(0, std::span(data).first(kMiB)));  // a whole block
    RETURN_IF_ERROR(image->Write(kMiB, std::span(data).subspan(kMiB, 4096)));
    RETURN_IF_ERROR(image->Flush());
    *flushed = kMiB + 4096;
    RETURN_IF_ERROR(image->Write(kMiB + 4096, std::span(data).subspan(kMiB + 4096)));  // the rest
    RETURN_IF_ERROR(image->Close());
    *flushed = data.size();
    return Status::Ok();
  }
};

void RunEnospcMode(FileOp op, bool differencing) {
  const Workload w;
  const std::string path = "/d.vhdx";
  bool completed = false;
  for (uint64_t n = 1; !completed && n < 200; ++n) {
    const std::string where = std::string(FileOpName(op)) + " " + std::to_string(n);
    MemFileSystem mem;
    FaultFileSystem fault(&mem);
    CreateOptions o{.virtual_size = 8 * kMiB, .block_size = kMiB};
    if (differencing) {
      o.type = DiskType::kDifferencing;
      o.parent_locator = {{"parent_linkage", Guid::Random().ToString()},
                          {"relative_path", ".\\p.vhdx"}};
    }
    ASSERT_OK(Image::Create(&fault, path, o));
    uint64_t flushed = 0;
    {
      ASSERT_OK_AND_ASSIGN(auto image, Image::Open(&fault, path, {.read_only = false}));
      fault.SetRule(
          op,
          {.nth = n, .err = ENOSPC, .persistent = true, .extending_only = op == FileOp::kWrite});
      Status st = w.Run(image.get(), &flushed);
      completed = fault.injected(op) == 0;
      if (!st.ok()) {
        EXPECT_EQ(st.code(), Code::kNoSpace) << where << ": " << st.ToString();
      }
    }  // the destructor's close may fail too
    fault.ClearRules();
    {
      auto image = Image::Open(&fault, path, {.read_only = false});
      ASSERT_TRUE(image.ok()) << where << ": " << image.status().ToString();
      ASSERT_OK((*image)->Close());
    }
    ExpectClean(&fault, path, where);
    std::vector<std::byte> got = ReadAll(&fault, path);
    for (uint64_t off = 0; off < w.data.size(); off += 4096) {
      auto s = std::span(got).subspan(off, 4096);
      bool is_new = std::equal(s.begin(), s.end(), w.data.begin() + off);
      bool is_zero = std::all_of(s.begin(), s.end(), [](auto x) { return x == std::byte{0}; });
      ASSERT_TRUE(off < flushed ? is_new : is_new || is_zero) << where << ": @" << off;
    }
    {
      ASSERT_OK_AND_ASSIGN(auto image, Image::Open(&fault, path, {.read_only = false}));
      ASSERT_OK(w.Run(image.get(), &flushed));  // with space: the workload succeeds
    }
    ExpectClean(&fault, path, where + ", rerun");
    got = ReadAll(&fault, path);
    ASSERT_TRUE(std::equal(w.data.begin(), w.data.end(), got.begin())) << where;
  }
  EXPECT_TRUE(completed);
}

TEST(ImageEnospcMode, EachFallocateFailingLeavesADynamicImageOpenableCleanAndUnchanged) {
  RunEnospcMode(FileOp::kAllocate, false);
}
TEST(ImageEnospcMode, EachExtendingWriteFailingLeavesADynamicImageOpenableCleanAndUnchanged) {
  RunEnospcMode(FileOp::kWrite, false);
}
TEST(ImageEnospcMode, EachFallocateFailingLeavesADifferencingImageOpenableCleanAndUnchanged) {
  RunEnospcMode(FileOp::kAllocate, true);
}

// Resize past the BAT region writes a new BAT at the end of the file: on a full disk it fails
// with kNoSpace and the image keeps its size, checks clean and has no leak, whether the disk is
// full for the new BAT's reservation (the first fallocate) or for its write into the reserved
// space (the first write: the reservation must be given back, or it stays as a leak past the
// last object).
TEST(ImageEnospcMode, AResizeThatFindsNoSpaceForItsNewBatLeavesTheImageAsItWas) {
  for (const FileOp op : {FileOp::kAllocate, FileOp::kWrite}) {
    const std::string where(FileOpName(op));
    MemFileSystem mem;
    FaultFileSystem fault(&mem);
    ASSERT_OK(Image::Create(&fault, "/r.vhdx", {.virtual_size = kGiB, .block_size = 32 * kMiB}));
    {
      ASSERT_OK_AND_ASSIGN(auto image, Image::Open(&fault, "/r.vhdx", {.read_only = false}));
      fault.SetRule(op, {.nth = 1, .err = ENOSPC, .persistent = op == FileOp::kAllocate});
      EXPECT_CODE(image->Resize(kMaxVirtualDiskSize), Code::kNoSpace) << where;
      EXPECT_GE(fault.injected(op), 1u) << where << ": the failure was not reached";
      fault.ClearRules();
      ASSERT_OK(image->Close());
    }
    ExpectClean(&fault, "/r.vhdx", where);
    ASSERT_OK_AND_ASSIGN(auto image, Image::Open(&fault, "/r.vhdx", {}));
    EXPECT_EQ(image->virtual_size(), kGiB) << where;
  }
}

}  // namespace
}  // namespace hvdisk::vhdx
