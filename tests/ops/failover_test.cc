// The failover side: the state rules of docs/design.md, what each operation leaves on disk, and the
// running-VM rules (an attached consumer holds the VM).
#include "ops/failover.h"

#include <gtest/gtest.h>

#include "ops/consumer.h"
#include "ops/recovery_point.h"
#include "ops/replication.h"
#include "ops/test_failover.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/store_fixture.h"

namespace hvdisk::ops {
namespace {

using State = ReplicationState;
using testing::ContractProblems;
using testing::DiskDigest;

class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, env_.Create());
    ASSERT_OK_AND_ASSIGN(vm_, env_.MakeVm(*store_, 3));
  }
  VmRecord Record(const Guid& vm) { return store_->GetVm(vm).value(); }
  std::string Digest(const std::string& file) {
    return DiskDigest(&fs_, store_->DiskPath(vm_, file)).value();
  }
  // Attaches a consumer and writes a pattern through it.
  void RunAndWrite(const Guid& vm) {
    ASSERT_OK_AND_ASSIGN(auto a, AttachedDisk::Attach(*store_, vm));
    auto data = hvdisk::testing::PatternBytes(65536, 42);
    ASSERT_OK(a->disk()->Write(512 * 1024, data));
    ASSERT_OK(a->Detach());
  }
  MemFileSystem fs_;
  testing::StoreEnv env_{&fs_};
  std::unique_ptr<Store> store_;
  Guid vm_;
};

TEST_F(FailoverTest, FailoverToLatestPointAttachesAFailoverDisk) {
  VmRecord before = Record(vm_);
  ASSERT_OK(InitiateFailover(*store_, vm_));
  VmRecord r = Record(vm_);
  EXPECT_EQ(r.state, State::kRecovered);
  EXPECT_EQ(r.failover_point, before.points.back().id);
  EXPECT_EQ(r.attached, StoreLayout::DiskRel(vm_, r.failover_disk));
  EXPECT_EQ(Digest(r.failover_disk), Digest(before.points.back().file));
  EXPECT_TRUE(ContractProblems(*store_).empty());
}

TEST_F(FailoverTest, FailoverToAnOlderPointShowsItsContent) {
  VmRecord before = Record(vm_);
  ASSERT_OK(InitiateFailover(*store_, vm_, before.points[0].id));
  VmRecord r = Record(vm_);
  EXPECT_EQ(Digest(r.failover_disk), Digest(before.points[0].file));
  EXPECT_NE(Digest(r.failover_disk), Digest(before.points[2].file));
}

TEST_F(FailoverTest, RevertDiscardsTheFailoverDiskAndResumesReplication) {
  VmRecord before = Record(vm_);
  const std::string head = Digest(before.head);
  ASSERT_OK(InitiateFailover(*store_, vm_));
  RunAndWrite(vm_);
  const std::string disk = Record(vm_).failover_disk;
  ASSERT_OK(RevertFailover(*store_, vm_));
  VmRecord r = Record(vm_);
  EXPECT_EQ(r.state, State::kReplicating);
  EXPECT_TRUE(r.failover_disk.empty());
  EXPECT_EQ(r.attached, before.attached);
  EXPECT_EQ(r.points, before.points);
  EXPECT_CODE(fs_.GetFile(store_->DiskPath(vm_, disk)), Code::kNotFound);
  EXPECT_EQ(Digest(r.head), head);
  EXPECT_TRUE(ContractProblems(*store_).empty());
  ASSERT_OK(InitiateFailover(*store_, vm_));  // failover can be initiated again
}

TEST_F(FailoverTest, CommitMergesThePointsAndKeepsTheFailoverContent) {
  VmRecord before = Record(vm_);
  ASSERT_OK(InitiateFailover(*store_, vm_, before.points[1].id));
  RunAndWrite(vm_);
  VmRecord failed = Record(vm_);
  const std::string content = Digest(failed.failover_disk);
  ASSERT_OK(CommitFailover(*store_, vm_));
  VmRecord r = Record(vm_);
  EXPECT_EQ(r.state, State::kCommitted);
  EXPECT_TRUE(r.points.empty());
  EXPECT_TRUE(r.head.empty());
  EXPECT_EQ(Digest(r.failover_disk), content);
  ASSERT_OK_AND_ASSIGN(auto files, fs_.List(store_->DisksDir(vm_)));
  EXPECT_EQ(files, (std::vector<std::string>{"base.vhdx", r.failover_disk}));
  EXPECT_TRUE(ContractProblems(*store_).empty());
  RunAndWrite(vm_);  // a committed VM runs on its failover disk
}

TEST_F(FailoverTest, StateRulesRefuseWithInvalidState) {
  EXPECT_CODE(RevertFailover(*store_, vm_), Code::kInvalidState);
  EXPECT_CODE(CommitFailover(*store_, vm_), Code::kInvalidState);
  ASSERT_OK(InitiateFailover(*store_, vm_));
  EXPECT_CODE(InitiateFailover(*store_, vm_), Code::kInvalidState);
  EXPECT_CODE(TestReplicaSystem(*store_, vm_), Code::kInvalidState);
  EXPECT_CODE(TakeRecoveryPoint(*store_, vm_), Code::kInvalidState);
  EXPECT_CODE(testing::ApplyPattern(*store_, vm_, 0, 512, 1), Code::kInvalidState);
  ASSERT_OK(CommitFailover(*store_, vm_));
  EXPECT_CODE(RevertFailover(*store_, vm_), Code::kInvalidState);
  EXPECT_CODE(CommitFailover(*store_, vm_), Code::kInvalidState);
  EXPECT_CODE(InitiateFailover(*store_, vm_), Code::kInvalidState);
}

TEST_F(FailoverTest, SuspendedVmCanFailOverAndRevertsToReplicating) {
  ASSERT_OK(SuspendReplication(*store_, vm_));
  ASSERT_OK(InitiateFailover(*store_, vm_));
  ASSERT_OK(RevertFailover(*store_, vm_));
  EXPECT_EQ(Record(vm_).state, State::kReplicating);
}

TEST_F(FailoverTest, UnknownVmOrPointIsNotFound) {
  EXPECT_CODE(InitiateFailover(*store_, Guid::Random()), Code::kNotFound);
  EXPECT_CODE(InitiateFailover(*store_, vm_, Guid::Random()), Code::kNotFound);
  EXPECT_CODE(TestReplicaSystem(*store_, vm_, Guid::Random()), Code::kNotFound);
  ASSERT_OK(testing::MakeBaseDisk(&fs_, "/b2.vhdx"));
  ASSERT_OK_AND_ASSIGN(Guid bare, CreateReplicaVm(*store_, {.name = "b", .base_path = "/b2.vhdx"}));
  EXPECT_CODE(InitiateFailover(*store_, bare), Code::kNotFound) << "no recovery point yet";
}

TEST_F(FailoverTest, RunningVmIsInUse) {
  ASSERT_OK(InitiateFailover(*store_, vm_));
  ASSERT_OK_AND_ASSIGN(auto running, AttachedDisk::Attach(*store_, vm_));
  EXPECT_CODE(RevertFailover(*store_, vm_), Code::kInUse);
  EXPECT_CODE(CommitFailover(*store_, vm_), Code::kInUse);
  EXPECT_CODE(AttachedDisk::Attach(*store_, vm_), Code::kInUse);
  ASSERT_OK(running->Detach());
  ASSERT_OK(RevertFailover(*store_, vm_));
}

TEST_F(FailoverTest, ReplicatingVmCannotRun) {
  EXPECT_CODE(AttachedDisk::Attach(*store_, vm_), Code::kInvalidState);
}

TEST_F(FailoverTest, TestVmRunsOnItsOwnDiskAndPinsItsPoint) {
  VmRecord before = Record(vm_);
  ASSERT_OK_AND_ASSIGN(Guid test, TestReplicaSystem(*store_, vm_, before.points[0].id));
  VmRecord t = Record(test);
  EXPECT_EQ(t.mode, ReplicationMode::kTestReplica);
  EXPECT_EQ(t.source_vm, vm_);
  EXPECT_EQ(Record(vm_).test_vm, test);
  EXPECT_EQ(Record(vm_).state, State::kReplicating);
  EXPECT_EQ(Digest(t.test_disk), Digest(before.points[0].file));
  RunAndWrite(test);
  EXPECT_CODE(TestReplicaSystem(*store_, vm_), Code::kInvalidState) << "one test VM per replica";
  EXPECT_CODE(InitiateFailover(*store_, test), Code::kUnsupported);
  // Replication goes on; retention skips the pinned point.
  ASSERT_OK(store_->GetVm(vm_).status());
  EXPECT_TRUE(ContractProblems(*store_).empty());
  ASSERT_OK(InitiateFailover(*store_, vm_));
  EXPECT_CODE(CommitFailover(*store_, vm_), Code::kInUse) << "the test VM pins a point";
  ASSERT_OK(RevertFailover(*store_, vm_));
  ASSERT_OK_AND_ASSIGN(auto running, AttachedDisk::Attach(*store_, test));
  EXPECT_CODE(DestroyTestVm(*store_, test), Code::kInUse);
  ASSERT_OK(running->Detach());
  EXPECT_CODE(DestroyTestVm(*store_, vm_), Code::kUnsupported);
  ASSERT_OK(DestroyTestVm(*store_, test));
  EXPECT_CODE(store_->GetVm(test), Code::kNotFound);
  EXPECT_TRUE(Record(vm_).test_vm.IsZero());
  EXPECT_TRUE(ContractProblems(*store_).empty());
}

TEST_F(FailoverTest, RetentionSkipsAPointPinnedByATestVm) {
  VmRecord r = Record(vm_);
  r.retention = 3;  // exactly the current count: the next point exceeds it
  r.generation++;
  ASSERT_OK(WriteVmRecord(&fs_, store_->RecordPath(vm_), r));
  ASSERT_OK_AND_ASSIGN(Guid test, TestReplicaSystem(*store_, vm_, r.points[0].id));
  ASSERT_OK(TakeRecoveryPoint(*store_, vm_).status());
  EXPECT_EQ(Record(vm_).points.size(), 4u);
  ASSERT_OK(DestroyTestVm(*store_, test));
  ASSERT_OK(TakeRecoveryPoint(*store_, vm_).status());
  EXPECT_EQ(Record(vm_).points.size(), 4u) << "one merged, one added";
  EXPECT_TRUE(ContractProblems(*store_).empty());
}

TEST_F(FailoverTest, ProgressIsReportedAndCancelRollsBack) {
  std::vector<int> seen;
  std::atomic<bool> cancel{false};
  OpControl control{.progress = [&](int p) { seen.push_back(p); }, .cancel = &cancel};
  ASSERT_OK(InitiateFailover(*store_, vm_, std::nullopt, &control));
  EXPECT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), 100);
  ASSERT_OK(RevertFailover(*store_, vm_));
  VmRecord before = Record(vm_);
  cancel = true;
  Status st = InitiateFailover(*store_, vm_, std::nullopt, &control);
  EXPECT_CODE(st, Code::kCancelled);
  EXPECT_EQ(Record(vm_), before);
  EXPECT_TRUE(ContractProblems(*store_).empty());
}

}  // namespace
}  // namespace hvdisk::ops
