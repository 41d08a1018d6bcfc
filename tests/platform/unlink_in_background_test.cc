// FileSystem::UnlinkInBackground: the name goes at once, the space is freed by another process.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "platform/fault_file_system.h"
#include "platform/mem_file_system.h"
#include "platform/posix_file.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using ::hvdisk::testing::PatternBytes;

std::string MakeFile(const testing::TempDir& dir, const std::string& name, uint64_t size) {
  PosixFileSystem fs;
  auto f = fs.Open(dir.File(name), OpenOptions::CreateOrTruncate());
  EXPECT_TRUE(f.ok());
  EXPECT_TRUE((*f)->Allocate(0, size).ok());
  EXPECT_TRUE((*f)->WriteAt(0, PatternBytes(4096, 9)).ok());
  return dir.File(name);
}

TEST(UnlinkInBackgroundTest, NameIsGoneAtOnceAndNoDescriptorStaysInThisProcess) {
  testing::TempDir dir;
  PosixFileSystem fs;
  const std::string path = MakeFile(dir, "big", 64 << 20);
  ASSERT_OK(fs.UnlinkInBackground(path));
  ASSERT_OK_AND_ASSIGN(bool exists, fs.Exists(path));
  EXPECT_FALSE(exists);
  for (int pid : testing::ProcessesHoldingUnlinked(path))
    EXPECT_NE(pid, getpid()) << "this process keeps the file";
  EXPECT_TRUE(testing::UnlinkedFileReleased(path))
      << "the detached process never let go of " << path;
  ASSERT_OK(fs.SyncDir(dir.path()));
}

// A reader that still has the file open keeps its data until it closes it, as with unlink.
TEST(UnlinkInBackgroundTest, OpenReaderKeepsReadingTheData) {
  testing::TempDir dir;
  PosixFileSystem fs;
  const std::string path = MakeFile(dir, "f", 1 << 20);
  ASSERT_OK_AND_ASSIGN(auto reader, fs.Open(path, OpenOptions::ReadOnly()));
  ASSERT_OK(fs.UnlinkInBackground(path));
  std::vector<std::byte> got(4096);
  ASSERT_OK(reader->ReadExactAt(0, got));
  EXPECT_EQ(got, PatternBytes(4096, 9));
  reader.reset();
  EXPECT_TRUE(testing::UnlinkedFileReleased(path));
}

TEST(UnlinkInBackgroundTest, MissingFileIsNotFound) {
  testing::TempDir dir;
  PosixFileSystem fs;
  EXPECT_CODE(fs.UnlinkInBackground(dir.File("none")), Code::kNotFound);
}

// A symlink is unlinked itself (as unlink does); its target stays.
TEST(UnlinkInBackgroundTest, SymlinkIsRemovedAndItsTargetKept) {
  testing::TempDir dir;
  PosixFileSystem fs;
  const std::string target = MakeFile(dir, "target", 1 << 20);
  ASSERT_EQ(symlink(target.c_str(), dir.File("link").c_str()), 0);
  ASSERT_OK(fs.UnlinkInBackground(dir.File("link")));
  ASSERT_OK_AND_ASSIGN(bool link, fs.Exists(dir.File("link")));
  ASSERT_OK_AND_ASSIGN(bool kept, fs.Exists(target));
  EXPECT_FALSE(link);
  EXPECT_TRUE(kept);
}

// Wrappers and the in-memory file system unlink inline: a fault wrapper counts and fails it as
// the unlink it is.
TEST(UnlinkInBackgroundTest, ThroughAFaultWrapperItIsAnUnlink) {
  testing::TempDir dir;
  FaultFileSystem fs(DefaultFileSystem());
  const std::string path = MakeFile(dir, "f", 1 << 20);
  fs.SetRule(FileOp::kUnlink, {.nth = 1, .err = EIO});
  EXPECT_CODE(fs.UnlinkInBackground(path), Code::kIoError);
  ASSERT_OK_AND_ASSIGN(bool kept, fs.Exists(path));
  EXPECT_TRUE(kept);
  fs.ClearRules();
  ASSERT_OK(fs.UnlinkInBackground(path));
  EXPECT_GE(fs.count(FileOp::kUnlink), 1u);
  ASSERT_OK_AND_ASSIGN(bool exists, fs.Exists(path));
  EXPECT_FALSE(exists);
}

TEST(UnlinkInBackgroundTest, MemFileSystemUnlinksInline) {
  MemFileSystem fs;
  ASSERT_OK(fs.Open("/f", OpenOptions::CreateOrTruncate()).status());
  ASSERT_OK(fs.UnlinkInBackground("/f"));
  ASSERT_OK_AND_ASSIGN(bool exists, fs.Exists("/f"));
  EXPECT_FALSE(exists);
}

}  // namespace
}  // namespace hvdisk
