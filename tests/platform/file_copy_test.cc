// File::CopyFrom on every file system: PosixFile copies inside the kernel (copy_file_range), the
// others read and write through the seam; all must give the same bytes and errors.
#include <gtest/gtest.h>

#include <string>

#include "platform/crash_file_system.h"
#include "platform/fault_file_system.h"
#include "platform/mem_file_system.h"
#include "platform/posix_file.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using ::hvdisk::testing::PatternBytes;

enum class Kind { kPosix, kMem, kFaultOverPosix };

class FileCopyTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    switch (GetParam()) {
      case Kind::kPosix:
        fs_ = DefaultFileSystem();
        break;
      case Kind::kMem:
        fs_ = &mem_;
        break;
      case Kind::kFaultOverPosix:
        fault_ = std::make_unique<FaultFileSystem>(DefaultFileSystem());
        fs_ = fault_.get();
        break;
    }
  }
  std::string Path(const std::string& name) {
    return GetParam() == Kind::kMem ? "/" + name : dir_.File(name);
  }
  std::unique_ptr<File> Create(const std::string& name) {
    auto r = fs_->Open(Path(name), OpenOptions::CreateOrTruncate());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  std::vector<std::byte> Read(File* f, uint64_t offset, size_t n) {
    std::vector<std::byte> out(n);
    EXPECT_OK(f->ReadExactAt(offset, out, "test"));
    return out;
  }

  testing::TempDir dir_;
  MemFileSystem mem_;
  std::unique_ptr<FaultFileSystem> fault_;
  FileSystem* fs_ = nullptr;
};

TEST_P(FileCopyTest, CopyLandsAtTheTargetOffsetAndExtendsTheFile) {
  auto src = Create("src");
  auto dst = Create("dst");
  const auto data = PatternBytes(3 * 1024 * 1024 + 512, 11);  // more than one internal buffer
  ASSERT_OK(src->WriteAt(0, data));
  ASSERT_OK(dst->WriteAt(0, PatternBytes(4096, 2)));
  ASSERT_OK(dst->CopyFrom(*src, 512, 8192, data.size() - 512));
  ASSERT_OK_AND_ASSIGN(uint64_t size, dst->Size());
  EXPECT_EQ(size, 8192 + data.size() - 512);
  EXPECT_EQ(Read(dst.get(), 0, 4096), PatternBytes(4096, 2));  // before the range: untouched
  EXPECT_EQ(Read(dst.get(), 4096, 4096), std::vector<std::byte>(4096));
  EXPECT_EQ(Read(dst.get(), 8192, data.size() - 512),
            std::vector<std::byte>(data.begin() + 512, data.end()));
}

TEST_P(FileCopyTest, CopyPastTheSourceEndIsCorrupt) {
  auto src = Create("src");
  auto dst = Create("dst");
  ASSERT_OK(src->WriteAt(0, PatternBytes(4096, 1)));
  EXPECT_CODE(dst->CopyFrom(*src, 2048, 0, 4096), Code::kCorrupt);
}

TEST_P(FileCopyTest, StartWritebackIsOnlyAHint) {
  auto f = Create("f");
  ASSERT_OK(f->WriteAt(0, PatternBytes(65536, 4)));
  f->StartWriteback();
  EXPECT_EQ(Read(f.get(), 0, 65536), PatternBytes(65536, 4));
}

INSTANTIATE_TEST_SUITE_P(FileSystems, FileCopyTest,
                         ::testing::Values(Kind::kPosix, Kind::kMem, Kind::kFaultOverPosix),
                         [](const auto& info) {
                           switch (info.param) {
                             case Kind::kPosix:
                               return "Posix";
                             case Kind::kMem:
                               return "Mem";
                             default:
                               return "FaultOverPosix";
                           }
                         });

// Through a fault wrapper the copy is counted as the reads and writes it is, and fails with them.
TEST(FaultFileCopyTest, CopyCountsReadsAndWritesAndFailsWithThem) {
  testing::TempDir dir;
  FaultFileSystem fs(DefaultFileSystem());
  ASSERT_OK_AND_ASSIGN(auto src, fs.Open(dir.File("src"), OpenOptions::CreateOrTruncate()));
  ASSERT_OK_AND_ASSIGN(auto dst, fs.Open(dir.File("dst"), OpenOptions::CreateOrTruncate()));
  ASSERT_OK(src->WriteAt(0, PatternBytes(8192, 3)));
  const uint64_t reads = fs.count(FileOp::kRead), writes = fs.count(FileOp::kWrite);
  ASSERT_OK(dst->CopyFrom(*src, 0, 0, 8192));
  EXPECT_GT(fs.count(FileOp::kRead), reads);
  EXPECT_GT(fs.count(FileOp::kWrite), writes);
  fs.SetRule(FileOp::kWrite, {.nth = 1, .err = ENOSPC});
  EXPECT_CODE(dst->CopyFrom(*src, 0, 8192, 8192), Code::kNoSpace);
}

// A copy is pending data like any write: lost by a crash before the flush, kept after it.
TEST(CrashFileCopyTest, UnflushedCopyIsLostByACrashAndAFlushedOneSurvives) {
  CrashFileSystem fs;
  ASSERT_OK(fs.CreateDir("/d"));
  ASSERT_OK(fs.SyncDir("/"));
  {
    ASSERT_OK_AND_ASSIGN(auto src, fs.Open("/d/src", OpenOptions::CreateOrTruncate()));
    ASSERT_OK_AND_ASSIGN(auto dst, fs.Open("/d/dst", OpenOptions::CreateOrTruncate()));
    ASSERT_OK(src->WriteAt(0, PatternBytes(8192, 6)));
    ASSERT_OK(src->Flush());
    ASSERT_OK(dst->CopyFrom(*src, 0, 0, 4096));
    ASSERT_OK(dst->Flush());
    ASSERT_OK(dst->CopyFrom(*src, 4096, 4096, 4096));
    ASSERT_OK(fs.SyncDir("/d"));
  }
  fs.Crash(1, CrashMode::kDropAll);
  ASSERT_OK_AND_ASSIGN(auto dst, fs.Open("/d/dst", OpenOptions::ReadOnly()));
  ASSERT_OK_AND_ASSIGN(uint64_t size, dst->Size());
  EXPECT_EQ(size, 4096u);
  std::vector<std::byte> got(4096);
  ASSERT_OK(dst->ReadExactAt(0, got, "test"));
  const auto src = PatternBytes(8192, 6);
  EXPECT_EQ(got, std::vector<std::byte>(src.begin(), src.begin() + 4096));
}

}  // namespace
}  // namespace hvdisk
