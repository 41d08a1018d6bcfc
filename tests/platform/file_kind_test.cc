// FileSystem::KindOf (an lstat: a symbolic link is reported, never followed) and
// OpenOptions::no_follow, in every file system of the seam.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "platform/crash_file_system.h"
#include "platform/fault_file_system.h"
#include "platform/mem_file_system.h"
#include "platform/posix_file.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

TEST(FileKindTest, PosixReportsASymlinkAsItselfAndNoFollowRefusesToOpenIt) {
  testing::TempDir dir;
  PosixFileSystem fs;
  ASSERT_OK(fs.Open(dir.File("file"), OpenOptions::CreateNew()).status());
  ASSERT_OK(fs.CreateDir(dir.File("dir")));
  ASSERT_EQ(::symlink(dir.File("file").c_str(), dir.File("link").c_str()), 0);
  ASSERT_EQ(::symlink(dir.File("dir").c_str(), dir.File("dirlink").c_str()), 0);
  EXPECT_EQ(*fs.KindOf(dir.File("file")), FileKind::kFile);
  EXPECT_EQ(*fs.KindOf(dir.File("dir")), FileKind::kDirectory);
  EXPECT_EQ(*fs.KindOf(dir.File("link")), FileKind::kSymlink);
  EXPECT_EQ(*fs.KindOf(dir.File("dirlink")), FileKind::kSymlink);
  EXPECT_EQ(*fs.KindOf("/dev/null"), FileKind::kOther);
  EXPECT_CODE(fs.KindOf(dir.File("missing")), Code::kNotFound);
  OpenOptions no_follow = OpenOptions::ReadOnly();
  no_follow.no_follow = true;
  EXPECT_OK(fs.Open(dir.File("file"), no_follow).status());
  EXPECT_CODE(fs.Open(dir.File("link"), no_follow), Code::kWrongType);
  EXPECT_OK(fs.Open(dir.File("link"), OpenOptions::ReadOnly()).status());  // followed by default
}

TEST(FileKindTest, InMemoryFileSystemsHaveFilesAndDirectoriesAndWrappersForward) {
  MemFileSystem mem;
  CrashFileSystem crash;
  FaultFileSystem fault(&mem);
  for (FileSystem* fs : {static_cast<FileSystem*>(&mem), static_cast<FileSystem*>(&crash)}) {
    ASSERT_OK(fs->CreateDir("/d"));
    ASSERT_OK(fs->Open("/d/f", OpenOptions::CreateNew()).status());
    EXPECT_EQ(*fs->KindOf("/d"), FileKind::kDirectory);
    EXPECT_EQ(*fs->KindOf("/d/f"), FileKind::kFile);
    EXPECT_CODE(fs->KindOf("/d/missing"), Code::kNotFound);
  }
  EXPECT_EQ(*fault.KindOf("/d/f"), FileKind::kFile);
}

}  // namespace
}  // namespace hvdisk
