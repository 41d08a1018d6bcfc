// Locks across hosts: each lock kind of the store (the store lock, a VM's lock, a job's owner
// lock, an image's qemu-style locks, a served VM's mark) taken through host A's CephFS mount
// conflicts with the same lock taken through host B's, and is free for B once A releases it. And
// a file or a VM handed from host to host reads, under its lock, what the other host wrote last:
// a file's size and bytes through a descriptor kept open; a VM's record (a new head after each
// recovery point), the head's headers, BAT and size.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "chain/chain.h"
#include "ops/failover.h"
#include "ops/recovery_point.h"
#include "ops/replication.h"
#include "ops/store.h"
#include "ops/vm_served.h"
#include "ops/wmi/job.h"
#include "platform/file_lock.h"
#include "platform/posix_file.h"
#include "tests/testutil/ceph_cluster.h"
#include "tests/testutil/store_fixture.h"
#include "tests/testutil/testutil.h"
#include "vhdx/image.h"

namespace hvdisk::ops {
namespace {

using hvdisk::testing::CephHost;
using hvdisk::testing::PatternBytes;
using testing::kBlockSize;

class CephLockTest : public hvdisk::testing::CephTest {
 protected:
  // A store on the file system, opened from both hosts, with a VM "vm1" (one point).
  void MakeStore(const std::string& name) {
    ASSERT_OK_AND_ASSIGN(dir_a_, cluster().FreshDir(CephHost::kA, name));
    dir_b_ = cluster().PathOn(CephHost::kB, dir_a_);
    FileSystem* fs = DefaultFileSystem();
    ASSERT_OK(Store::Create(fs, dir_a_ + "/store"));
    ASSERT_OK_AND_ASSIGN(a_, Store::Open(fs, dir_a_ + "/store", Options()));
    ASSERT_OK_AND_ASSIGN(b_, Store::Open(fs, dir_b_ + "/store", Options()));
    ASSERT_OK(testing::MakeBaseDisk(fs, dir_a_ + "/base.vhdx"));
    ASSERT_OK_AND_ASSIGN(
        vm_,
        CreateReplicaVm(*a_, {.name = "vm1", .base_path = dir_a_ + "/base.vhdx", .adopt = true}));
    ASSERT_OK(TakeRecoveryPoint(*a_, vm_).status());
  }
  static StoreOptions Options() { return {.reclaim = StoreOptions::Reclaim::kSynchronous}; }
  Store& On(CephHost h) { return h == CephHost::kA ? *a_ : *b_; }

  std::string dir_a_, dir_b_;
  std::unique_ptr<Store> a_, b_;
  Guid vm_;
};

TEST_F(CephLockTest, TheStoreLockHeldOnHostAKeepsHostBsExclusiveLockOut) {
  ASSERT_NO_FATAL_FAILURE(MakeStore("store-lock"));
  const std::string lock_b = b_->layout().StoreLockPath();
  b_.reset();
  EXPECT_CODE(FileLock::Acquire(DefaultFileSystem(), lock_b, LockMode::kExclusive), Code::kInUse);
  ASSERT_OK_AND_ASSIGN(auto shared, FileLock::Acquire(DefaultFileSystem(), lock_b,
                                                      LockMode::kShared));  // readers share it
  shared.reset();
  a_.reset();
  EXPECT_OK(FileLock::Acquire(DefaultFileSystem(), lock_b, LockMode::kExclusive));
}

TEST_F(CephLockTest, AVmLockedOnHostAIsInUseOnHostBUntilReleased) {
  ASSERT_NO_FATAL_FAILURE(MakeStore("vm-lock"));
  ASSERT_OK_AND_ASSIGN(auto held, a_->LockVm(vm_));
  EXPECT_CODE(b_->LockVm(vm_), Code::kInUse);
  EXPECT_CODE(testing::ApplyPattern(*b_, vm_, 0, 4096, 7), Code::kInUse);
  EXPECT_CODE(TakeRecoveryPoint(*b_, vm_), Code::kInUse);
  held.reset();
  EXPECT_OK(b_->LockVm(vm_));
  EXPECT_OK(testing::ApplyPattern(*b_, vm_, 0, 4096, 7));
}

TEST_F(CephLockTest, AJobOwnedOnHostAIsAliveOnHostBAndLostOnceItsOwnerLockIsFree) {
  ASSERT_OK_AND_ASSIGN(const std::string dir, cluster().FreshDir(CephHost::kA, "job-lock"));
  const std::string dir_b = cluster().PathOn(CephHost::kB, dir);
  ASSERT_OK(DefaultFileSystem()->CreateDir(dir + "/jobs"));
  ASSERT_OK(DefaultFileSystem()->CreateDir(dir + "/locks"));
  wmi::JobStore a(DefaultFileSystem(), dir + "/jobs", dir);
  wmi::JobStore b(DefaultFileSystem(), dir_b + "/jobs", dir_b);
  const wmi::Job job{.id = Guid::Random(), .state = wmi::JobState::kRunning, .owner_pid = 1};
  ASSERT_OK_AND_ASSIGN(auto owner, a.Own(job.id));
  ASSERT_OK(a.Write(job));
  EXPECT_CODE(b.Own(job.id), Code::kInUse);
  ASSERT_OK_AND_ASSIGN(wmi::Job seen, b.Read(job.id));
  EXPECT_EQ(seen.state, wmi::JobState::kRunning);  // its owner lives on host A
  owner.reset();
  ASSERT_OK_AND_ASSIGN(seen, b.Read(job.id));
  EXPECT_EQ(seen.state, wmi::JobState::kException);
  EXPECT_EQ(seen.error_code, wmi::kStatusUnknown);
  ASSERT_OK_AND_ASSIGN(seen, a.Read(job.id));  // host A reads what host B wrote
  EXPECT_EQ(seen.state, wmi::JobState::kException);
}

TEST_F(CephLockTest, AnImageOpenForWritingOnHostAIsInUseOnHostBForReadersAndWriters) {
  ASSERT_OK_AND_ASSIGN(const std::string dir, cluster().FreshDir(CephHost::kA, "image-lock"));
  const std::string path_b = cluster().PathOn(CephHost::kB, dir) + "/disk.vhdx";
  ASSERT_OK(testing::MakeBaseDisk(DefaultFileSystem(), dir + "/disk.vhdx"));
  ASSERT_OK_AND_ASSIGN(auto writer, vhdx::Image::Open(DefaultFileSystem(), dir + "/disk.vhdx",
                                                      {.read_only = false}));
  EXPECT_CODE(vhdx::Image::Open(DefaultFileSystem(), path_b, {.read_only = true}), Code::kInUse);
  EXPECT_CODE(vhdx::Image::Open(DefaultFileSystem(), path_b, {.read_only = false}), Code::kInUse);
  EXPECT_OK(
      vhdx::Image::Open(DefaultFileSystem(), path_b, {.read_only = true, .force_share = true}));
  ASSERT_OK(writer->Write(0, PatternBytes(4096, 3)));
  ASSERT_OK(writer->Close());
  writer.reset();
  ASSERT_OK_AND_ASSIGN(auto reader,
                       vhdx::Image::Open(DefaultFileSystem(), path_b, {.read_only = true}));
  std::vector<std::byte> got(4096);
  ASSERT_OK(reader->Read(0, got));
  EXPECT_EQ(got, PatternBytes(4096, 3));
  EXPECT_CODE(vhdx::Image::Open(DefaultFileSystem(), dir + "/disk.vhdx", {.read_only = false}),
              Code::kInUse);
}

TEST_F(CephLockTest, AVmServedOnHostAIsServedAndInUseOnHostB) {
  ASSERT_NO_FATAL_FAILURE(MakeStore("served"));
  ASSERT_OK(InitiateFailover(*a_, vm_));
  ASSERT_OK_AND_ASSIGN(auto mark, ServedVm::Mark(*a_, vm_));
  ASSERT_OK(mark->Publish({.uri = "nbd+unix:///?socket=/x", .pid = 42, .host = "host-a"}));
  ASSERT_OK_AND_ASSIGN(std::optional<ServedInfo> served, IsServed(*b_, vm_));
  ASSERT_TRUE(served.has_value());
  EXPECT_EQ(served->host, "host-a");
  EXPECT_CODE(RefuseIfServed(*b_, vm_, "revert"), Code::kInUse);
  EXPECT_CODE(ServedVm::Mark(*b_, vm_), Code::kInUse);
  EXPECT_CODE(RevertFailover(*b_, vm_), Code::kInUse);
  mark.reset();
  ASSERT_OK_AND_ASSIGN(served, IsServed(*b_, vm_));
  EXPECT_FALSE(served.has_value());
  EXPECT_OK(ServedVm::Mark(*b_, vm_));
}

// Two hosts take turns, 200 times, on one file each keeps open for the whole run (as a long-lived
// server keeps its descriptors): under the lock, each reads the file's size and the last record
// through its own descriptor, then appends a record of its own and syncs it before releasing.
TEST_F(CephLockTest, TwoHundredFileHandoffsBetweenHostsReadTheSizeAndBytesTheOtherHostWrote) {
  ASSERT_OK_AND_ASSIGN(const std::string dir, cluster().FreshDir(CephHost::kA, "file-handoffs"));
  const std::string path[2] = {dir + "/data", cluster().PathOn(CephHost::kB, dir) + "/data"};
  FileSystem* fs = DefaultFileSystem();
  ASSERT_OK_AND_ASSIGN(auto file_a, fs->Open(path[0], OpenOptions{.write = true, .create = true}));
  ASSERT_OK_AND_ASSIGN(auto file_b, fs->Open(path[1], OpenOptions::ReadWrite()));
  File* file[2] = {file_a.get(), file_b.get()};
  constexpr size_t kRecord = 4096;
  int stale = 0;
  for (int i = 0; i < 200; ++i) {
    const int h = i % 2;
    ASSERT_OK_AND_ASSIGN(auto lock, FileLock::Acquire(fs, path[h] + ".lock", LockMode::kExclusive,
                                                      FileLock::kForever));
    ASSERT_OK_AND_ASSIGN(uint64_t size, file[h]->Size());
    bool fresh = size == i * kRecord;
    if (fresh && i > 0) {
      std::vector<std::byte> last(kRecord);
      ASSERT_OK(file[h]->ReadAt(size - kRecord, last).status());
      fresh = last == PatternBytes(kRecord, i - 1);
    }
    stale += fresh ? 0 : 1;
    ASSERT_OK(file[h]->WriteAt(i * kRecord, PatternBytes(kRecord, i)));
    ASSERT_OK(file[h]->Flush());  // fsync before the lock is released
  }
  EXPECT_EQ(stale, 0) << "of 200 handoffs";
  std::printf("file handoffs: 200, %d stale\n", stale);
}

// The region iteration `i` writes: a 64 KiB run that walks over the 3 blocks of the disk.
uint64_t HandoffOffset(int i) { return (i % 3) * kBlockSize + (i * 69632ull) % (kBlockSize / 2); }
constexpr uint64_t kHandoffBytes = 64 << 10;

// A VM handed from host to host (each handoff a CephFS round of lock, journal scan, record and
// chain opens: ~0.3 s here, so 40 of them), with a recovery point every 10: under the VM's lock
// each host follows the record to the head the other host made and reads what it wrote there.
TEST_F(CephLockTest, VmHandoffsBetweenHostsReadTheRecordAndHeadTheOtherHostWroteUnderTheLock) {
  ASSERT_NO_FATAL_FAILURE(MakeStore("handoffs"));
  int stale = 0, points = 1;
  constexpr int kHandoffs = 40;
  for (int i = 0; i < kHandoffs; ++i) {
    Store& store = On(i % 2 == 0 ? CephHost::kA : CephHost::kB);
    if (i > 0) {  // under the VM's lock: the record, then the head it names, read afresh
      ASSERT_OK_AND_ASSIGN(LockedVm v, store.LockAndRead(vm_, true));
      ASSERT_OK_AND_ASSIGN(auto head,
                           chain::Chain::Open(store.fs(), store.DiskPath(vm_, v.record.head), {}));
      std::vector<std::byte> got(kHandoffBytes);
      ASSERT_OK(head->Read(HandoffOffset(i - 1), got));
      const bool fresh = got == PatternBytes(kHandoffBytes, i - 1) &&
                         static_cast<int>(v.record.points.size()) == points;
      stale += fresh ? 0 : 1;
    }
    ASSERT_OK(testing::ApplyPattern(store, vm_, HandoffOffset(i), kHandoffBytes, i));
    if (i % 10 == 9) {  // a new head: the next host must follow the record to it
      ASSERT_OK(TakeRecoveryPoint(store, vm_).status());
      ++points;
    }
  }
  EXPECT_EQ(stale, 0) << "of " << kHandoffs - 1 << " handoffs";
  std::printf("VM handoffs: %d, %d stale\n", kHandoffs - 1, stale);
}

}  // namespace
}  // namespace hvdisk::ops
