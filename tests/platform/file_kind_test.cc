// FileSystem::KindOf (an lstat: a symbolic link is reported, never followed),
// OpenOptions::no_follow and the confinement of OpenOptions::beneath, RenameBeneath and
// UnlinkBeneath (no link below the directory followed, even one swapped in after a check), in
// every file system of the seam.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "platform/crash_file_system.h"
#include "platform/fault_file_system.h"
#include "platform/mem_file_system.h"
#include "platform/posix_file.h"
#include "tests/testutil/cli_runner.h"
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

// root/ (reached through root-link too) holds sub/file, a link sublink -> outside/ and a link
// filelink -> outside/file; outside/file holds "outside".
class BeneathTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    posix_beneath::use_openat2 = GetParam();
    namespace stdfs = std::filesystem;
    stdfs::create_directories(dir_.File("root/sub"));
    stdfs::create_directories(dir_.File("outside"));
    testing::WriteBinaryFile(dir_.File("root/sub/file"), testing::PatternBytes(16, 1));
    testing::WriteBinaryFile(outside_file_, testing::PatternBytes(16, 2));
    stdfs::create_directory_symlink(dir_.File("outside"), dir_.File("root/sublink"));
    stdfs::create_symlink(outside_file_, dir_.File("root/filelink"));
    stdfs::create_directory_symlink(root_, dir_.File("root-link"));
  }
  void TearDown() override { posix_beneath::use_openat2 = true; }
  OpenOptions Beneath(OpenOptions o, const std::string& dir) {
    o.beneath = dir;
    return o;
  }
  bool OutsideIntact() {
    return std::filesystem::is_regular_file(outside_file_) &&
           testing::ReadBinaryFile(outside_file_) == testing::PatternBytes(16, 2) &&
           std::filesystem::exists(dir_.File("outside/new")) == false;
  }

  testing::TempDir dir_;
  const std::string root_ = dir_.File("root");
  const std::string outside_file_ = dir_.File("outside/file");
  PosixFileSystem fs_;
};

TEST_P(BeneathTest, PosixOpenBeneathFollowsNoLinkBelowTheDirectoryButReachesItThroughOne) {
  const OpenOptions ro = Beneath(OpenOptions::ReadOnly(), root_);
  EXPECT_OK(fs_.Open(root_ + "/sub/file", ro).status());
  EXPECT_OK(fs_.Open(dir_.File("root-link/sub/file"),
                     Beneath(OpenOptions::ReadOnly(), dir_.File("root-link")))
                .status());
  EXPECT_CODE(fs_.Open(root_ + "/sublink/file", ro), Code::kWrongType);
  EXPECT_CODE(fs_.Open(root_ + "/filelink", ro), Code::kWrongType);
  EXPECT_CODE(fs_.Open(root_ + "/sublink/new", Beneath(OpenOptions::CreateNew(), root_)),
              Code::kWrongType);
  EXPECT_CODE(fs_.Open(root_ + "/filelink", Beneath(OpenOptions::CreateOrTruncate(), root_)),
              Code::kWrongType);
  EXPECT_CODE(fs_.Open(root_ + "/sub/../sublink/file", ro), Code::kInvalidArgument);
  EXPECT_CODE(fs_.Open(outside_file_, ro), Code::kInvalidArgument);
  EXPECT_TRUE(OutsideIntact());
}

TEST_P(BeneathTest, PosixRenameAndUnlinkBeneathFollowNoLinkInAParentAndMoveLinksThemselves) {
  EXPECT_CODE(fs_.UnlinkBeneath(root_, root_ + "/sublink/file"), Code::kWrongType);
  EXPECT_CODE(fs_.RenameBeneath(root_, root_ + "/sublink/file", root_ + "/sub/taken"),
              Code::kWrongType);
  EXPECT_CODE(fs_.RenameBeneath(root_, root_ + "/sub/file", root_ + "/sublink/new"),
              Code::kWrongType);
  EXPECT_CODE(fs_.UnlinkBeneath(root_, outside_file_), Code::kInvalidArgument);
  EXPECT_TRUE(OutsideIntact());
  ASSERT_OK(fs_.RenameBeneath(root_, root_ + "/sub/file", root_ + "/sub/moved"));
  EXPECT_TRUE(std::filesystem::exists(root_ + "/sub/moved"));
  ASSERT_OK(fs_.UnlinkBeneath(root_, root_ + "/filelink"));  // the link goes, not its target
  EXPECT_TRUE(OutsideIntact());
  ASSERT_OK(fs_.UnlinkBeneath(root_, root_ + "/sub/moved"));
  EXPECT_FALSE(std::filesystem::exists(root_ + "/sub/moved"));
}

INSTANTIATE_TEST_SUITE_P(Openat2AndComponentWalk, BeneathTest, ::testing::Bool());

TEST(FileKindTest, InMemoryFileSystemsConfineByThePathsFormAndFaultCountsConfinedCalls) {
  MemFileSystem mem;
  CrashFileSystem crash;
  FaultFileSystem fault(&mem);
  for (FileSystem* fs : {static_cast<FileSystem*>(&mem), static_cast<FileSystem*>(&crash),
                         static_cast<FileSystem*>(&fault)}) {
    SCOPED_TRACE(fs == &crash ? "crash" : fs == &fault ? "fault" : "mem");
    ASSERT_OK(fs->CreateDir("/d"));
    ASSERT_OK(fs->CreateDir("/d/s"));
    OpenOptions o = OpenOptions::CreateOrTruncate();
    o.beneath = "/d";
    ASSERT_OK(fs->Open("/d/s/f", o).status());
    EXPECT_CODE(fs->Open("/d/s/../../x", o), Code::kInvalidArgument);
    EXPECT_CODE(fs->Open("/x", o), Code::kInvalidArgument);
    EXPECT_CODE(fs->RenameBeneath("/d", "/d/s/f", "/elsewhere"), Code::kInvalidArgument);
    ASSERT_OK(fs->RenameBeneath("/d", "/d/s/f", "/d/s/g"));
    EXPECT_CODE(fs->UnlinkBeneath("/d", "/d/../d/s/g"), Code::kInvalidArgument);
    ASSERT_OK(fs->UnlinkBeneath("/d", "/d/s/g"));
    EXPECT_CODE(fs->KindOf("/d/s/g"), Code::kNotFound);
  }
  EXPECT_EQ(fault.count(FileOp::kRename), 2u);
  EXPECT_EQ(fault.count(FileOp::kUnlink), 2u);
}

TEST(FileKindTest, PathBeneathTakesPlainComponentsOnly) {
  EXPECT_EQ(*PathBeneath("/a/b", "/a/b/c/d"), "c/d");
  EXPECT_EQ(*PathBeneath("/a/b/", "/a/b/c"), "c");
  EXPECT_EQ(*PathBeneath("/", "/c"), "c");
  EXPECT_EQ(*PathBeneath("rel", "rel/c"), "c");
  for (const char* bad : {"/a/b", "/a/bc", "/a/b/", "/a/b//c", "/a/b/./c", "/a/b/c/..", "/x"}) {
    EXPECT_CODE(PathBeneath("/a/b", bad), Code::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace hvdisk
