// File::Lock / Unlock / TestLock (byte-range OFD locks) in every file system of the seam: the
// POSIX file system (the kernel's F_OFD_SETLK / F_OFD_GETLK) and the in-memory and crash file
// systems that model them run the same scenarios and must agree; a crash drops every lock.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "platform/crash_file_system.h"
#include "platform/fault_file_system.h"
#include "platform/mem_file_system.h"
#include "platform/posix_file.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

enum class Kind { kPosix, kMem, kCrash, kFault };

class FileRangeLockTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    switch (GetParam()) {
      case Kind::kPosix:
        fs_ = DefaultFileSystem();
        path_ = dir_.File("f");
        break;
      case Kind::kMem:
        fs_ = &mem_;
        break;
      case Kind::kCrash:
        fs_ = &crash_;
        break;
      case Kind::kFault:
        fs_ = &fault_;
        break;
    }
    ASSERT_OK(fs_->Open(path_, OpenOptions::CreateNew()).status());
  }
  std::unique_ptr<File> Open(bool write = true) {
    return fs_->Open(path_, write ? OpenOptions::ReadWrite() : OpenOptions::ReadOnly()).value();
  }

  testing::TempDir dir_;
  MemFileSystem mem_;
  CrashFileSystem crash_;
  MemFileSystem faulted_;
  FaultFileSystem fault_{&faulted_};
  FileSystem* fs_ = nullptr;
  std::string path_ = "/f";
};

TEST_P(FileRangeLockTest, SharedLocksOfTwoOpensCoexistAndKeepAnExclusiveOut) {
  auto a = Open(), b = Open(), c = Open();
  ASSERT_OK(a->Lock(100, 1, LockMode::kShared));
  ASSERT_OK(b->Lock(100, 1, LockMode::kShared));
  EXPECT_CODE(c->Lock(100, 1, LockMode::kExclusive), Code::kInUse);
  EXPECT_CODE(c->Lock(99, 4, LockMode::kExclusive), Code::kInUse) << "overlapping ranges";
  EXPECT_OK(c->Lock(101, 1, LockMode::kExclusive));  // other bytes are other locks
  EXPECT_CODE(a->Lock(101, 1, LockMode::kShared), Code::kInUse);
}

TEST_P(FileRangeLockTest, TwoOpensOfOneFileInOneProcessExcludeEachOtherAsTwoProcessesWould) {
  auto a = Open(), b = Open();
  ASSERT_OK(a->Lock(0, 1, LockMode::kExclusive));
  EXPECT_CODE(b->Lock(0, 1, LockMode::kShared), Code::kInUse);
  EXPECT_OK(a->Lock(0, 1, LockMode::kExclusive));  // its own lock is no conflict
  EXPECT_OK(a->Lock(0, 1, LockMode::kShared));     // converted
  EXPECT_OK(b->Lock(0, 1, LockMode::kShared));
}

TEST_P(FileRangeLockTest, TestLockSeesTheOtherOpensLocksNeverItsOwn) {
  auto a = Open(), b = Open();
  ASSERT_OK(a->Lock(200, 2, LockMode::kShared));
  ASSERT_OK_AND_ASSIGN(std::optional<RangeLock> own, a->TestLock(200, 1, LockMode::kExclusive));
  EXPECT_FALSE(own.has_value());
  ASSERT_OK_AND_ASSIGN(std::optional<RangeLock> seen, b->TestLock(201, 1, LockMode::kExclusive));
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->mode, LockMode::kShared);
  EXPECT_EQ(seen->start, 200u);
  EXPECT_EQ(seen->length, 2u);
  ASSERT_OK_AND_ASSIGN(seen, b->TestLock(200, 1, LockMode::kShared));
  EXPECT_FALSE(seen.has_value()) << "a shared lock does not conflict with a shared one";
  ASSERT_OK(a->Lock(300, 1, LockMode::kExclusive));
  ASSERT_OK_AND_ASSIGN(seen, b->TestLock(300, 1, LockMode::kShared));
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->mode, LockMode::kExclusive);
}

TEST_P(FileRangeLockTest, UnlockingPartOfARangeKeepsTheRest) {
  auto a = Open(), b = Open();
  ASSERT_OK(a->Lock(10, 10, LockMode::kExclusive));
  ASSERT_OK(a->Unlock(12, 3));
  EXPECT_OK(b->Lock(12, 3, LockMode::kExclusive));
  EXPECT_CODE(b->Lock(11, 1, LockMode::kShared), Code::kInUse);
  EXPECT_CODE(b->Lock(15, 1, LockMode::kShared), Code::kInUse);
  EXPECT_OK(a->Unlock(0, 100));  // unlocking what is not held is no error
  EXPECT_OK(b->Lock(10, 10, LockMode::kExclusive));
}

TEST_P(FileRangeLockTest, DestroyingTheFileReleasesItsLocks) {
  auto a = Open(), b = Open();
  ASSERT_OK(a->Lock(0, 1, LockMode::kExclusive));
  EXPECT_CODE(b->Lock(0, 1, LockMode::kShared), Code::kInUse);
  a.reset();
  EXPECT_OK(b->Lock(0, 1, LockMode::kExclusive));
}

TEST_P(FileRangeLockTest, AnExclusiveLockNeedsAFileOpenedForWriting) {
  auto ro = Open(/*write=*/false);
  EXPECT_CODE(ro->Lock(0, 1, LockMode::kExclusive), Code::kIoError);  // EBADF
  EXPECT_OK(ro->Lock(0, 1, LockMode::kShared));
  auto rw = Open();
  ASSERT_OK_AND_ASSIGN(std::optional<RangeLock> seen, rw->TestLock(0, 1, LockMode::kExclusive));
  EXPECT_TRUE(seen.has_value());
}

INSTANTIATE_TEST_SUITE_P(EveryFileSystem, FileRangeLockTest,
                         ::testing::Values(Kind::kPosix, Kind::kMem, Kind::kCrash, Kind::kFault),
                         [](const ::testing::TestParamInfo<Kind>& info) {
                           switch (info.param) {
                             case Kind::kPosix:
                               return "Posix";
                             case Kind::kMem:
                               return "Mem";
                             case Kind::kCrash:
                               return "Crash";
                             default:
                               return "Fault";
                           }
                         });

TEST(FileRangeLockCrashTest, ACrashDropsEveryLockAsTheDeathOfItsHolderWould) {
  CrashFileSystem fs;
  ASSERT_OK(fs.Open("/f", OpenOptions::CreateNew()).status());
  fs.SyncAll();
  auto holder = fs.Open("/f", OpenOptions::ReadWrite()).value();
  ASSERT_OK(holder->Lock(0, 1, LockMode::kExclusive));
  const uint64_t ops = fs.mutating_ops();
  auto other = fs.Open("/f", OpenOptions::ReadWrite()).value();
  EXPECT_CODE(other->Lock(0, 1, LockMode::kShared), Code::kInUse);
  EXPECT_EQ(fs.mutating_ops(), ops) << "locks are not mutating ops";
  fs.Crash(1, CrashMode::kDropAll);
  auto after = fs.Open("/f", OpenOptions::ReadWrite()).value();
  EXPECT_OK(after->Lock(0, 1, LockMode::kExclusive));
  EXPECT_CODE(holder->Lock(0, 1, LockMode::kExclusive), Code::kIoError) << "a lost handle";
  holder.reset();  // the dead holder's File goes: the new holder keeps its lock
  auto third = fs.Open("/f", OpenOptions::ReadWrite()).value();
  EXPECT_CODE(third->Lock(0, 1, LockMode::kShared), Code::kInUse);
}

TEST(FileRangeLockCrashTest, LockingFailsOnceTheCrashPointIsReached) {
  CrashFileSystem fs;
  auto f = fs.Open("/f", OpenOptions::CreateNew()).value();
  fs.SetCrashPoint(1);
  EXPECT_CODE(f->WriteAt(0, std::as_bytes(std::span("x", 1))), Code::kIoError);
  EXPECT_CODE(f->Lock(0, 1, LockMode::kShared), Code::kIoError);
}

}  // namespace
}  // namespace hvdisk
