// Issue 20, part 3 (which host runs which VM) on the in-memory file system: a failed-over VM
// records its owning host, another host is refused it (kInUse naming the owner) until it takes
// the VM over with RecoverVm, which is itself refused while anyone holds the VM; jobs record
// their owner's host, and a job of another host that still holds its lock is not lost.
#include "ops/vm_recover.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "ops/failover.h"
#include "ops/host_id.h"
#include "ops/test_failover.h"
#include "ops/wmi/job.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/store_fixture.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::ops {
namespace {

using State = ReplicationState;

// Runs the test as `host` (HVDISK_HOST_ID), restoring the environment after.
class AsHost {
 public:
  explicit AsHost(const char* host) { setenv(kHostIdEnv, host, 1); }
  ~AsHost() { unsetenv(kHostIdEnv); }
};

class VmRecoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, env_.Create());
    ASSERT_OK_AND_ASSIGN(vm_, env_.MakeVm(*store_, 1));
  }
  MemFileSystem fs_;
  testing::StoreEnv env_{&fs_};
  std::unique_ptr<Store> store_;
  Guid vm_;
};

TEST_F(VmRecoverTest, AFailedOverVmIsOwnedByItsHostAndRefusedToAnotherUntilRecovered) {
  {
    AsHost a("host-a");
    ASSERT_OK(InitiateFailover(*store_, vm_));
    ASSERT_OK_AND_ASSIGN(VmRecord r, store_->GetVm(vm_));
    EXPECT_EQ(r.owner_host, "host-a");
  }
  AsHost b("host-b");
  Status refused = RevertFailover(*store_, vm_);
  EXPECT_CODE(refused, Code::kInUse);
  EXPECT_NE(refused.message().find("host-a"), std::string::npos) << refused.message();
  EXPECT_NE(refused.message().find("recover"), std::string::npos) << refused.message();
  EXPECT_CODE(CommitFailover(*store_, vm_), Code::kInUse);
  ASSERT_OK_AND_ASSIGN(VmRecoverReport rep, RecoverVm(*store_, vm_));
  EXPECT_TRUE(rep.taken_over);
  EXPECT_EQ(rep.previous_owner, "host-a");
  EXPECT_EQ(rep.owner, "host-b");
  EXPECT_GE(rep.epoch, 1u);
  ASSERT_OK(RevertFailover(*store_, vm_));
  ASSERT_OK_AND_ASSIGN(VmRecord r, store_->GetVm(vm_));
  EXPECT_EQ(r.state, State::kReplicating);
  EXPECT_EQ(r.owner_host, "") << "a replicating replica is owned by no host";
}

TEST_F(VmRecoverTest, RecoverIsRefusedWhileTheOwnerStillHoldsTheVm) {
  {
    AsHost a("host-a");
    ASSERT_OK(InitiateFailover(*store_, vm_));
  }
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<FileLock> held, store_->LockVm(vm_));  // A runs it
  AsHost b("host-b");
  EXPECT_CODE(RecoverVm(*store_, vm_).status(), Code::kInUse);
  held.reset();
  ASSERT_OK_AND_ASSIGN(VmRecoverReport rep, RecoverVm(*store_, vm_));
  EXPECT_TRUE(rep.taken_over);
}

TEST_F(VmRecoverTest, RecoveringAnUnownedVmWithNothingLeftOverChangesNothing) {
  ASSERT_OK_AND_ASSIGN(VmRecord before, store_->GetVm(vm_));
  ASSERT_OK_AND_ASSIGN(VmRecoverReport rep, RecoverVm(*store_, vm_));
  EXPECT_FALSE(rep.taken_over);
  EXPECT_TRUE(rep.recovery.rolled_back.empty());
  ASSERT_OK_AND_ASSIGN(VmRecord after, store_->GetVm(vm_));
  EXPECT_EQ(after, before);
}

TEST_F(VmRecoverTest, ATestVmIsOwnedByTheHostThatMadeIt) {
  Guid test;
  {
    AsHost a("host-a");
    ASSERT_OK_AND_ASSIGN(test, TestReplicaSystem(*store_, vm_, std::nullopt));
  }
  AsHost b("host-b");
  EXPECT_CODE(DestroyTestVm(*store_, test), Code::kInUse);
}

TEST(HostId, TheEnvironmentNamesTheHostAndIsSanitized) {
  {
    AsHost a("host a\x01\xff");
    EXPECT_EQ(HostId(), "host_a__");
  }
  EXPECT_FALSE(HostId().empty());
  EXPECT_EQ(SanitizeHostId(std::string(300, 'x')).size(), 255u);
}

TEST(JobOwner, AJobRecordsItsOwnersHostAndOlderRecordsReadWithoutOne) {
  wmi::Job job{.id = Guid::Random(), .owner_pid = 4242, .owner_host = "host-b"};
  ASSERT_OK_AND_ASSIGN(wmi::Job back, wmi::DecodeJob(wmi::EncodeJob(job), "job"));
  EXPECT_EQ(back.owner_host, "host-b");
  std::string old = wmi::EncodeJob(job);
  const size_t at = old.find(",\n  \"owner_host\"");
  ASSERT_NE(at, std::string::npos);
  old = old.substr(0, at) + "\n}\n";
  ASSERT_OK_AND_ASSIGN(wmi::Job older, wmi::DecodeJob(old, "job"));
  EXPECT_EQ(older.owner_host, "");
}

// Another host's job (a pid that is not ours) is alive while its owner lock is held, and lost
// (10 / 32771, naming its host) once the lock is gone with its host.
TEST(JobOwner, AnotherHostsJobIsLostOnlyWhenItsOwnerLockIsGone) {
  MemFileSystem fs;
  ASSERT_OK(memfs::MakeDirs(&fs, "/s/jobs"));
  ASSERT_OK(memfs::MakeDirs(&fs, "/s/locks"));
  wmi::JobStore jobs(&fs, "/s/jobs", "/s");
  const Guid id = Guid::Random();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<FileLock> owner, jobs.Own(id));
  ASSERT_OK(jobs.Write({.id = id,
                        .state = wmi::JobState::kRunning,
                        .submitted_ms = NowMs(),
                        .owner_pid = 999999,  // not a pid of this host
                        .owner_host = "host-a"}));
  ASSERT_OK_AND_ASSIGN(wmi::Job alive, jobs.Read(id));
  EXPECT_EQ(alive.state, wmi::JobState::kRunning);
  owner.reset();  // host A died: its lock went with it
  ASSERT_OK_AND_ASSIGN(wmi::Job lost, jobs.Read(id));
  EXPECT_EQ(lost.state, wmi::JobState::kException);
  EXPECT_EQ(lost.error_code, wmi::kStatusUnknown);
  EXPECT_NE(lost.error_description.find("host-a"), std::string::npos) << lost.error_description;
}

}  // namespace
}  // namespace hvdisk::ops
