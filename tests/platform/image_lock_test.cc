// LockImage: qemu's image-lock scheme (platform/image_lock.h) on the in-memory file system and
// on real files, where the bytes it locks are those qemu 7.2 locks (tests/interop/qemu_lock_test
// runs it against qemu-img and qemu-io themselves).
#include "platform/image_lock.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "platform/mem_file_system.h"
#include "platform/posix_file.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

class ImageLockTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK(fs_.PutFile("/disk.img", "data")); }
  std::unique_ptr<File> Open(ImageAccess access) {
    return fs_
        .Open("/disk.img",
              access == ImageAccess::kWrite ? OpenOptions::ReadWrite() : OpenOptions::ReadOnly())
        .value();
  }
  MemFileSystem fs_;
};

TEST_F(ImageLockTest, TwoWritersExcludeEachOther) {
  auto a = Open(ImageAccess::kWrite), b = Open(ImageAccess::kWrite);
  ASSERT_OK(LockImage(*a, ImageAccess::kWrite));
  Status st = LockImage(*b, ImageAccess::kWrite);
  EXPECT_CODE(st, Code::kInUse);
  EXPECT_NE(st.message().find("/disk.img is in use by another process"), std::string::npos)
      << st.message();
  a.reset();
  EXPECT_OK(LockImage(*b, ImageAccess::kWrite));  // the failed attempt left nothing behind
}

TEST_F(ImageLockTest, ReadersShareAndAWriterExcludesThemAndTheyItWithTheHintToForceShare) {
  auto r1 = Open(ImageAccess::kRead), r2 = Open(ImageAccess::kRead);
  ASSERT_OK(LockImage(*r1, ImageAccess::kRead));
  ASSERT_OK(LockImage(*r2, ImageAccess::kRead));
  auto w = Open(ImageAccess::kWrite);
  EXPECT_CODE(LockImage(*w, ImageAccess::kWrite), Code::kInUse);
  r1.reset();
  r2.reset();
  ASSERT_OK(LockImage(*w, ImageAccess::kWrite));
  auto r3 = Open(ImageAccess::kRead);
  Status st = LockImage(*r3, ImageAccess::kRead);
  EXPECT_CODE(st, Code::kInUse);
  EXPECT_NE(st.message().find("it holds a \"write\" lock"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("-U/--force-share"), std::string::npos) << st.message();
}

TEST_F(ImageLockTest, AForceSharedReaderOpensBesideAWriterAndKeepsNoWriterOut) {
  auto w = Open(ImageAccess::kWrite);
  ASSERT_OK(LockImage(*w, ImageAccess::kWrite));
  auto shared = Open(ImageAccess::kRead);
  EXPECT_OK(LockImage(*shared, ImageAccess::kRead, /*force_share=*/true));
  w.reset();
  auto w2 = Open(ImageAccess::kWrite);
  EXPECT_OK(LockImage(*w2, ImageAccess::kWrite));
  EXPECT_CODE(LockImage(*Open(ImageAccess::kWrite), ImageAccess::kWrite, true),
              Code::kInvalidArgument);
}

TEST_F(ImageLockTest, UnlockImageLetsTheNextOpenerIn) {
  auto a = Open(ImageAccess::kWrite), b = Open(ImageAccess::kWrite);
  ASSERT_OK(LockImage(*a, ImageAccess::kWrite));
  UnlockImage(*a);
  EXPECT_OK(LockImage(*b, ImageAccess::kWrite));
}

// The bytes another process sees locked (F_OFD_GETLK from another open file description), as
// qemu 7.2 locks them for a vhdx image (/proc/locks of qemu-io and qemu-io -r; -r -U).
std::vector<uint64_t> LockedBytes(const std::string& path) {
  auto probe = DefaultFileSystem()->Open(path, OpenOptions::ReadOnly()).value();
  std::vector<uint64_t> out;
  for (uint64_t b = 100; b < 210; ++b) {
    Result<std::optional<RangeLock>> r = probe->TestLock(b, 1, LockMode::kExclusive);
    if (r.ok() && r->has_value()) out.push_back(b);
  }
  return out;
}

TEST(ImageLockBytesTest, TheBytesLockedAreQemusForEachAccess) {
  testing::TempDir dir;
  const std::string path = dir.File("disk.img");
  FileSystem* fs = DefaultFileSystem();
  ASSERT_OK(fs->Open(path, OpenOptions::CreateNew()).status());
  {
    auto f = fs->Open(path, OpenOptions::ReadWrite()).value();
    ASSERT_OK(LockImage(*f, ImageAccess::kWrite));
    EXPECT_EQ(LockedBytes(path), (std::vector<uint64_t>{100, 101, 103, 201, 203}));
  }
  {
    auto f = fs->Open(path, OpenOptions::ReadOnly()).value();
    ASSERT_OK(LockImage(*f, ImageAccess::kRead));
    EXPECT_EQ(LockedBytes(path), (std::vector<uint64_t>{100, 201, 203}));
  }
  {
    auto f = fs->Open(path, OpenOptions::ReadOnly()).value();
    ASSERT_OK(LockImage(*f, ImageAccess::kRead, /*force_share=*/true));
    EXPECT_EQ(LockedBytes(path), (std::vector<uint64_t>{100}));
  }
  EXPECT_TRUE(LockedBytes(path).empty()) << "closing the file released them";
}

}  // namespace
}  // namespace hvdisk
