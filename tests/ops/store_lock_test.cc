// The store's locks against real processes and real file systems: operations racing on one VM,
// a worker undisturbed by other processes opening the store, a read-only store (a tmpfs the test
// remounts read-only) and a store of another user (the hvdisk binary run as nobody); and on the
// crash file system, which models them (a crash releases them).
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "ops/change_set.h"
#include "ops/recovery_point.h"
#include "ops/replication.h"
#include "ops/store.h"
#include "platform/crash_file_system.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/store_fixture.h"

namespace hvdisk::ops {
namespace {

using hvdisk::testing::Hvdisk;
using hvdisk::testing::Q;
using std::chrono::milliseconds;

// A store with `vms` replica VMs (retention 3) in `dir` on the real file system.
std::vector<Guid> MakeStore(const std::string& dir, int vms) {
  std::vector<Guid> out;
  FileSystem* fs = DefaultFileSystem();
  EXPECT_OK(Store::Create(fs, dir));
  auto store = Store::Open(fs, dir);
  EXPECT_OK(store.status());
  if (!store.ok()) return out;
  for (int i = 0; i < vms; ++i) {
    const std::string base = dir + "-base" + std::to_string(i) + ".vhdx";
    EXPECT_OK(testing::MakeBaseDisk(fs, base, i + 1));
    auto vm = CreateReplicaVm(
        **store,
        {.name = "vm" + std::to_string(i), .base_path = base, .adopt = true, .retention = 3});
    EXPECT_OK(vm.status());
    if (vm.ok()) out.push_back(*vm);
  }
  return out;
}

// A change-set file of one 64 KiB extent at `offset`.
std::string WriteChangeSet(const std::string& path, uint64_t offset, uint64_t seed) {
  std::vector<std::byte> data = hvdisk::testing::PatternBytes(64 << 10, seed);
  ChangeExtent e{.offset = offset, .data = data};
  const std::string bytes = EncodeChangeSet(std::span(&e, 1), testing::kDiskSize);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

class StoreLockTest : public ::testing::Test {
 protected:
  hvdisk::testing::TempDir tmp_;
  std::string dir_ = tmp_.File("store");
};

// Finding 10: `vm apply` opened the head before taking the VM lock (514 of 4,179 failed, kCorrupt
// or kNotFound, racing `checkpoint`). Two Stores (as two processes): the applier with kTry, whose
// only failure allowed is a clean kInUse refusal; the checkpoints wait for the lock, and all pass.
TEST_F(StoreLockTest, ApplyRacingCheckpointOnOneVmFailsOnlyAsInUse) {
  std::vector<Guid> vms = MakeStore(dir_, 1);
  ASSERT_EQ(vms.size(), 1u);
  const std::string change = WriteChangeSet(tmp_.File("c.chg"), 1 << 20, 7);
  std::atomic<bool> done{false};
  std::atomic<int> applied{0};
  std::vector<std::string> failures;
  std::mutex mu;
  auto fail = [&](const Status& st) {
    std::lock_guard<std::mutex> guard(mu);
    failures.push_back(st.ToString());
  };
  std::thread applier([&] {
    auto store = Store::Open(DefaultFileSystem(), dir_);
    if (!store.ok()) return fail(store.status());
    while (!done.load()) {
      Status st = ApplyChangeSetFile(**store, vms[0], change);
      if (st.ok()) applied++;
      if (!st.ok() && st.code() != Code::kInUse) fail(st);
      std::this_thread::sleep_for(milliseconds(1));  // lets the checkpoints in (kTry is unfair)
    }
  });
  int points = 0;
  {
    const StoreOptions waiting{.lock_timeout = milliseconds(60000)};
    ASSERT_OK_AND_ASSIGN(auto store, Store::Open(DefaultFileSystem(), dir_, waiting));
    for (int i = 0; i < 40; ++i) {
      Status st = TakeRecoveryPoint(*store, vms[0]).status();
      if (st.ok()) ++points;
      if (!st.ok()) fail(st);
      std::this_thread::sleep_for(milliseconds(1));  // and the applier between them
    }
  }
  // The applier may have lost every race to the waiting checkpoints on a loaded machine: give it
  // the VM alone for a while (bounded), so that the interleaving below is proven to have happened.
  for (int i = 0; i < 30000 && applied.load() == 0; ++i)
    std::this_thread::sleep_for(milliseconds(1));
  done.store(true);
  applier.join();
  EXPECT_TRUE(failures.empty()) << failures.size() << " failures, first: " << failures.front();
  EXPECT_EQ(points, 40);
  EXPECT_GT(applied.load(), 0);
  ASSERT_OK_AND_ASSIGN(auto store, Store::Open(DefaultFileSystem(), dir_));
  EXPECT_TRUE(testing::ContractProblems(*store).empty());
}

// Finding 10: every store open locked every VM for recovery, so a worker on VM A got kInUse (840
// of 3,648) while other processes ran `vm show`, `vm list` and operations on VM B. Here: the
// hvdisk binary in a loop, and a thread opening its own Store over and over (as a process would).
TEST_F(StoreLockTest, WorkerOnOneVmIsNeverInUseWhileOthersOpenTheStoreAndUseAnotherVm) {
  std::vector<Guid> vms = MakeStore(dir_, 2);
  ASSERT_EQ(vms.size(), 2u);
  std::atomic<bool> done{false};
  std::atomic<int> commands{0}, opens{0};
  std::thread cli([&] {
    const std::string vm = " " + vms[1].ToString(false);
    const std::string s = "vm --store " + Q(dir_) + " ";
    for (int i = 0; !done.load(); ++i) {
      const char* cmd = i % 3 == 0 ? "show" : i % 3 == 1 ? "list" : "checkpoint";
      (void)Hvdisk(s + cmd + (i % 3 == 1 ? "" : vm));
      commands++;
    }
  });
  std::thread opener([&] {
    for (int i = 0; !done.load(); ++i) {
      auto store = Store::Open(DefaultFileSystem(), dir_);
      if (store.ok() && i % 10 == 9) (void)TakeRecoveryPoint(**store, vms[1]);
      opens++;
    }
  });
  std::vector<std::string> failures;
  {
    ASSERT_OK_AND_ASSIGN(auto store, Store::Open(DefaultFileSystem(), dir_));  // kTry
    for (int i = 0; i < 60 || commands.load() < 10; ++i) {
      Status st = testing::ApplyPattern(*store, vms[0], (i % 3) << 20, 4096, i);
      if (st.ok()) st = TakeRecoveryPoint(*store, vms[0]).status();
      if (!st.ok()) failures.push_back(st.ToString());
    }
  }
  done.store(true);
  cli.join();
  opener.join();
  EXPECT_GE(opens.load(), 100);
  EXPECT_TRUE(failures.empty()) << failures.size() << " failures, first: " << failures.front();
}

// Finding 10: an operation that meets a recovery waits for it instead of failing, even with kTry.
TEST_F(StoreLockTest, OperationArrivingDuringARecoveryWaitsForIt) {
  std::vector<Guid> vms = MakeStore(dir_, 1);
  ASSERT_EQ(vms.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto store, Store::Open(DefaultFileSystem(), dir_));
  const std::string lock_path = store->layout().VmLockPath(vms[0]);
  auto slot = FileLock::Acquire(DefaultFileSystem(), lock_path, LockMode::kExclusive,
                                FileLock::kTry, kRecoverySlot);
  ASSERT_OK(slot.status());
  auto vm_lock = FileLock::Acquire(DefaultFileSystem(), lock_path, LockMode::kExclusive);
  ASSERT_OK(vm_lock.status());
  std::thread recovery_ends([&] {
    std::this_thread::sleep_for(milliseconds(300));
    vm_lock->reset();
    slot->reset();
  });
  auto start = std::chrono::steady_clock::now();
  EXPECT_OK(TakeRecoveryPoint(*store, vms[0]).status());
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(250));
  recovery_ends.join();
  // Held by anything else, kTry still fails at once.
  ASSERT_OK_AND_ASSIGN(auto held, store->LockVm(vms[0]));
  EXPECT_CODE(TakeRecoveryPoint(*store, vms[0]), Code::kInUse);
}

// Finding 10: Open takes no VM lock when no VM needs recovery, and reports a held VM that needs
// it as busy.
TEST_F(StoreLockTest, OpenLocksOnlyTheVmsThatNeedRecovery) {
  std::vector<Guid> vms = MakeStore(dir_, 2);
  ASSERT_EQ(vms.size(), 2u);
  ASSERT_OK_AND_ASSIGN(auto store, Store::Open(DefaultFileSystem(), dir_));
  ASSERT_OK_AND_ASSIGN(auto held_a, store->LockVm(vms[0]));
  ASSERT_OK_AND_ASSIGN(auto held_b, store->LockVm(vms[1]));
  ASSERT_OK_AND_ASSIGN(auto other, Store::Open(DefaultFileSystem(), dir_));
  EXPECT_TRUE(other->open_recovery().busy.empty());
  const std::string stray = store->layout().Abs(StoreLayout::VmRecordRel(vms[1]) + ".tmp");
  std::ofstream(stray) << "{";
  ASSERT_OK_AND_ASSIGN(auto third, Store::Open(DefaultFileSystem(), dir_));
  EXPECT_EQ(third->open_recovery().busy, std::vector<Guid>{vms[1]});
  held_b.reset();
  ASSERT_OK_AND_ASSIGN(RecoveryReport rep, third->Recover());
  EXPECT_EQ(rep.removed, std::vector<std::string>{StoreLayout::VmRecordRel(vms[1]) + ".tmp"});
}

// A small tmpfs mounted over a directory of the test (unmounted at the end).
class TmpfsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(mount("tmpfs", mnt_.path().c_str(), "tmpfs", 0, "size=32m"), 0)
        << "mount tmpfs: " << std::strerror(errno);
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) umount2(mnt_.path().c_str(), MNT_DETACH);
  }
  // Retries while a detached reclaim of the CLI may still hold a file (EBUSY).
  void RemountReadOnly() {
    int rc = -1;
    for (int i = 0; i < 100 && rc != 0; ++i) {
      rc = mount(nullptr, mnt_.path().c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr);
      if (rc != 0) std::this_thread::sleep_for(milliseconds(50));
    }
    ASSERT_EQ(rc, 0) << "remount read-only: " << std::strerror(errno);
  }
  std::string Vm(const std::string& args) { return "vm --store " + Q(dir_) + " " + args; }

  hvdisk::testing::TempDir mnt_;
  std::string dir_ = mnt_.File("store");
  bool mounted_ = false;
};

// Finding 9: on a read-only file system even `vm list` failed (store.lock opened read-write).
TEST_F(TmpfsStoreTest, ReadOnlyStoreServesReadOnlyCommandsAndRefusesChangesAsAccessDenied) {
  std::vector<Guid> vms = MakeStore(dir_, 1);
  ASSERT_EQ(vms.size(), 1u);
  const std::string vm = vms[0].ToString(false);
  std::string out;
  ASSERT_EQ(Hvdisk(Vm("checkpoint " + vm), &out), 0) << out;
  ASSERT_EQ(Hvdisk("wmi --store " + Q(dir_) +
                       " invoke Msvm_ReplicationService.InitiateFailover "
                       "ComputerSystem='Msvm_ComputerSystem.Name=\"" +
                       vm + "\"' --wait --json",
                   &out, false),
            0)
      << out;
  const size_t at = out.find("\"InstanceID\": \"");
  ASSERT_NE(at, std::string::npos) << out;
  const std::string job = out.substr(at + 15, 36);
  RemountReadOnly();
  EXPECT_EQ(Hvdisk(Vm("list"), &out), 0) << out;
  EXPECT_NE(out.find("vm0"), std::string::npos) << out;
  EXPECT_EQ(Hvdisk(Vm("show " + vm), &out), 0) << out;
  EXPECT_EQ(Hvdisk("store check " + Q(dir_), &out), 0) << out;
  EXPECT_EQ(Hvdisk("wmi --store " + Q(dir_) + " job " + job, &out), 0) << out;
  EXPECT_NE(out.find("JobState"), std::string::npos) << out;
  EXPECT_EQ(Hvdisk(Vm("revert " + vm), &out), 1) << out;
  EXPECT_NE(out.find("access denied"), std::string::npos) << out;
  EXPECT_NE(out.find("owner"), std::string::npos) << out;
  EXPECT_EQ(out.find("dmesg"), std::string::npos) << out;
}

// Finding 9: a read-only store that needs recovery: read-only commands report it, do not fail.
TEST_F(TmpfsStoreTest, ReadOnlyStoreThatNeedsRecoveryIsReportedNotFailed) {
  std::vector<Guid> vms = MakeStore(dir_, 1);
  ASSERT_EQ(vms.size(), 1u);
  const std::string stray = dir_ + "/" + StoreLayout::VmRecordRel(vms[0]) + ".tmp";
  std::ofstream(stray) << "{";
  RemountReadOnly();
  std::string out;
  EXPECT_EQ(Hvdisk(Vm("list"), &out), 0) << out;
  EXPECT_EQ(Hvdisk(Vm("show vm0"), &out), 0) << out;
  EXPECT_EQ(Hvdisk("store recover " + Q(dir_), &out), 0) << out;
  EXPECT_NE(out.find("not writable"), std::string::npos) << out;
  EXPECT_EQ(Hvdisk("store check " + Q(dir_), &out), 2) << out;  // the stray, listed
  EXPECT_NE(out.find("vm.json.tmp"), std::string::npos) << out;
}

// Finding 9: a non-root user on a root-owned store got kIoError with the dmesg hint, and WMI 32777.
TEST_F(StoreLockTest, AnotherUsersStoreReadsAndRefusesChangesAsAccessDenied) {
  ASSERT_EQ(getuid(), 0u) << "the test runs as root to make a store nobody may only read";
  ASSERT_EQ(chmod(tmp_.path().c_str(), 0755), 0);
  std::vector<Guid> vms = MakeStore(dir_, 1);
  ASSERT_EQ(vms.size(), 1u);
  const std::string vm = vms[0].ToString(false);
  const std::string as_nobody =
      "setpriv --reuid=65534 --regid=65534 --clear-groups " + hvdisk::testing::HvdiskPath() + " ";
  auto run = [&](const std::string& args, std::string* out) {
    return hvdisk::testing::RunCommand(as_nobody + args, out);
  };
  std::string out;
  EXPECT_EQ(run("vm --store " + Q(dir_) + " list", &out), 0) << out;
  EXPECT_EQ(run("vm --store " + Q(dir_) + " show " + vm, &out), 0) << out;
  EXPECT_EQ(run("vm --store " + Q(dir_) + " checkpoint " + vm, &out), 1) << out;
  EXPECT_NE(out.find("access denied"), std::string::npos) << out;
  EXPECT_NE(out.find("owner"), std::string::npos) << out;
  EXPECT_EQ(out.find("dmesg"), std::string::npos) << out;
  EXPECT_EQ(run("wmi --store " + Q(dir_) +
                    " invoke Msvm_ReplicationService.InitiateFailover "
                    "ComputerSystem='Msvm_ComputerSystem.Name=\"" +
                    vm + "\"'",
                &out),
            1)
      << out;
  EXPECT_NE(out.find("32769"), std::string::npos) << out;
  EXPECT_EQ(run("store check " + Q(dir_), &out), 0) << out;
  // A new VM's lock file cannot be made in root's locks/: kAccessDenied, not kNotFound.
  ASSERT_OK(testing::MakeBaseDisk(DefaultFileSystem(), tmp_.File("other.vhdx")));
  ASSERT_EQ(chmod(tmp_.File("other.vhdx").c_str(), 0644), 0);
  EXPECT_EQ(
      run("vm --store " + Q(dir_) + " create other --base " + Q(tmp_.File("other.vhdx")), &out), 1)
      << out;
  EXPECT_NE(out.find("access denied"), std::string::npos) << out;
}

// Issue 16 item 4: the lock files lived on the real file system whatever the store's was (tests
// gave a real lock_dir), so the in-memory and crash suites never saw them. Now they are the
// store's files: two Stores on one CrashFileSystem exclude each other, and a crash, as the death
// of the holder, releases the VM.
TEST(StoreLockCrashTest, VmLocksAreTheStoresFilesAndACrashReleasesThem) {
  CrashFileSystem fs;
  testing::StoreEnv env(&fs);
  ASSERT_OK_AND_ASSIGN(auto store, env.Create());
  ASSERT_OK_AND_ASSIGN(Guid vm, env.MakeVm(*store, 0));
  ASSERT_OK_AND_ASSIGN(auto held, store->LockVm(vm));
  EXPECT_EQ(*fs.KindOf(store->layout().VmLockPath(vm)), FileKind::kFile);
  EXPECT_EQ(store->layout().VmLockPath(vm).rfind("/store/locks/", 0), 0u);
  ASSERT_OK_AND_ASSIGN(auto other, env.Open());
  EXPECT_CODE(other->LockVm(vm), Code::kInUse);
  fs.Crash(1, CrashMode::kDropAll);
  ASSERT_OK_AND_ASSIGN(auto after, env.Open());
  EXPECT_OK(after->LockVm(vm).status());
  held.reset();  // the dead holder's lock goes with its handle: nothing of it remained
  other.reset();
  store.reset();
}

}  // namespace
}  // namespace hvdisk::ops
