#include "chain/parent_path.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "platform/posix_file.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::chain {
namespace {

using Paths = std::vector<std::string>;
const std::byte kX[1] = {std::byte{1}};

TEST(ParentPathCandidatesTest, DotBackslashNameIsBesideTheChild) {
  EXPECT_EQ(ParentPathCandidates("/s/vm", ".\\base.vhdx"), Paths({"/s/vm/base.vhdx"}));
  EXPECT_EQ(ParentPathCandidates("/s/vm", "base.vhdx"), Paths({"/s/vm/base.vhdx"}));
}

TEST(ParentPathCandidatesTest, DotDotFormClimbsThenFallsBackToTheChildDirectory) {
  EXPECT_EQ(ParentPathCandidates("/s/vm/snap", "..\\disks\\base.vhdx"),
            Paths({"/s/vm/snap/../disks/base.vhdx", "/s/vm/snap/base.vhdx"}));
}

TEST(ParentPathCandidatesTest, DrivePathsMapToRootThenBesideTheChild) {
  EXPECT_EQ(ParentPathCandidates("/s/vm", "C:\\Hyper-V\\base.vhdx"),
            Paths({"/Hyper-V/base.vhdx", "/s/vm/base.vhdx"}));
  EXPECT_EQ(ParentPathCandidates("/s/vm", "\\\\?\\D:\\x\\base.vhdx"),
            Paths({"/x/base.vhdx", "/s/vm/base.vhdx"}));
}

TEST(ParentPathCandidatesTest, VolumeAndUncPathsKeepOnlyTheLastComponent) {
  EXPECT_EQ(
      ParentPathCandidates("/s", "\\\\?\\Volume{26a21bda-a627-11d7-9931-806e6f6e6963}\\b.vhdx"),
      Paths({"/s/b.vhdx"}));
  EXPECT_EQ(ParentPathCandidates("/s", "\\\\server\\share\\b.vhdx"), Paths({"/s/b.vhdx"}));
}

TEST(ParentPathCandidatesTest, UnusableValuesGiveNoCandidate) {
  EXPECT_TRUE(ParentPathCandidates("/s", "").empty());
  EXPECT_TRUE(ParentPathCandidates("/s", "..").empty());
  EXPECT_TRUE(ParentPathCandidates("/s", "a\\.").empty());
  EXPECT_TRUE(ParentPathCandidates("/s", std::string("a\0b", 3)).empty());
}

TEST(WindowsPathTest, RelativeFormsAreWhatHyperVWrites) {
  EXPECT_EQ(WindowsRelativePath("/s/vm", "/s/vm/base.vhdx"), ".\\base.vhdx");
  EXPECT_EQ(WindowsRelativePath("/s/vm/snap", "/s/vm/base.vhdx"), "..\\base.vhdx");
  EXPECT_EQ(WindowsRelativePath("/s/a", "/s/b/base.vhdx"), "..\\b\\base.vhdx");
  EXPECT_EQ(WindowsAbsolutePath("/s/vm/base.vhdx"), "C:\\s\\vm\\base.vhdx");
}

class ConfineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(fs_->CreateDir(dir_.File("root")));
    ASSERT_OK(fs_->CreateDir(dir_.File("outside")));
    ASSERT_OK(WriteFileAtomically(fs_, dir_.File("root/in.vhdx"), kX));
    ASSERT_OK(WriteFileAtomically(fs_, dir_.File("outside/out.vhdx"), kX));
  }
  FileSystem* fs_ = DefaultFileSystem();
  testing::TempDir dir_;
};

TEST_F(ConfineTest, PathInsideARootIsAccepted) {
  ASSERT_OK_AND_ASSIGN(std::string real,
                       Confine(fs_, dir_.File("root/in.vhdx"), {dir_.File("root")}));
  EXPECT_EQ(real, *fs_->RealPath(dir_.File("root/in.vhdx")));
}

TEST_F(ConfineTest, DotDotEscapeIsRefused) {
  EXPECT_CODE(Confine(fs_, dir_.File("root/../outside/out.vhdx"), {dir_.File("root")}),
              Code::kAccessDenied);
}

TEST_F(ConfineTest, SymlinkLeavingTheRootIsRefused) {
  ASSERT_EQ(symlink(dir_.File("outside/out.vhdx").c_str(), dir_.File("root/link.vhdx").c_str()), 0);
  EXPECT_CODE(Confine(fs_, dir_.File("root/link.vhdx"), {dir_.File("root")}), Code::kAccessDenied);
}

TEST_F(ConfineTest, SiblingWithTheRootAsPrefixIsRefused) {
  ASSERT_OK(fs_->CreateDir(dir_.File("rootx")));
  ASSERT_OK(WriteFileAtomically(fs_, dir_.File("rootx/a.vhdx"), kX));
  EXPECT_CODE(Confine(fs_, dir_.File("rootx/a.vhdx"), {dir_.File("root")}), Code::kAccessDenied);
}

}  // namespace
}  // namespace hvdisk::chain
