// Issue 21, item 3: setting a replica's retention (its merge of the points beyond it) and removing
// a replica (Remove-VMReplication), with the states and holders that refuse each.
#include "ops/vm_admin.h"

#include <gtest/gtest.h>

#include "ops/failover.h"
#include "ops/replication.h"
#include "ops/test_failover.h"
#include "ops/trash.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/store_fixture.h"

namespace hvdisk::ops {
namespace {

using testing::ContractProblems;
using testing::DiskDigest;

class VmAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, env_.Create());
    ASSERT_OK_AND_ASSIGN(vm_, env_.MakeVm(*store_, 3));
  }
  VmRecord Record() { return store_->GetVm(vm_).value(); }
  std::string Digest(const std::string& file) {
    return DiskDigest(&fs_, store_->DiskPath(vm_, file)).value();
  }
  MemFileSystem fs_;
  testing::StoreEnv env_{&fs_};
  std::unique_ptr<Store> store_;
  Guid vm_;
};

TEST_F(VmAdminTest, LoweringTheRetentionMergesTheOldestPointsAndKeepsEveryKeptPointsContent) {
  const VmRecord before = Record();
  const std::string kept = before.points.back().file;
  const std::string kept_digest = Digest(kept), head_digest = Digest(before.head);
  ASSERT_OK_AND_ASSIGN(std::vector<RecoveryPoint> merged, SetRetention(*store_, vm_, 1));
  ASSERT_EQ(merged.size(), 2u);
  EXPECT_EQ(merged[0].id, before.points[0].id);
  EXPECT_EQ(merged[1].id, before.points[1].id);
  const VmRecord after = Record();
  EXPECT_EQ(after.retention, 1u);
  ASSERT_EQ(after.points.size(), 1u);
  EXPECT_EQ(after.points[0].file, kept);
  EXPECT_EQ(Digest(kept), kept_digest);
  EXPECT_EQ(Digest(after.head), head_digest);
  EXPECT_FALSE(fs_.Exists(store_->DiskPath(vm_, merged[0].file)).value());
  EXPECT_TRUE(ContractProblems(*store_).empty()) << ContractProblems(*store_).front();
}

TEST_F(VmAdminTest, RaisingTheRetentionMergesNothing) {
  ASSERT_OK_AND_ASSIGN(std::vector<RecoveryPoint> merged, SetRetention(*store_, vm_, 40));
  EXPECT_TRUE(merged.empty());
  EXPECT_EQ(Record().retention, 40u);
  EXPECT_EQ(Record().points.size(), 3u);
}

TEST_F(VmAdminTest, ARetentionOutsideItsRangeIsRefused) {
  EXPECT_EQ(SetRetention(*store_, vm_, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(SetRetention(*store_, vm_, kMaxRetention + 1).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Record().retention, 24u);
}

TEST_F(VmAdminTest, PruningWhileFailedOverIsRefusedAndATestVmPinningAMergedPointHoldsItOff) {
  ASSERT_OK(InitiateFailover(*store_, vm_, Record().points[0].id));
  EXPECT_EQ(SetRetention(*store_, vm_, 1).status().code(), Code::kInvalidState);
  EXPECT_OK(SetRetention(*store_, vm_, 5).status());  // nothing to merge: allowed
  ASSERT_OK(RevertFailover(*store_, vm_));
  ASSERT_OK_AND_ASSIGN(Guid test, TestReplicaSystem(*store_, vm_, Record().points[0].id));
  EXPECT_EQ(SetRetention(*store_, vm_, 1).status().code(), Code::kInUse);
  EXPECT_EQ(Record().points.size(), 3u);
  ASSERT_OK(DestroyTestVm(*store_, test));
  EXPECT_OK(SetRetention(*store_, vm_, 1).status());
}

TEST_F(VmAdminTest, RemovingAReplicaTrashesItsDisksAndLeavesAStoreThatChecksClean) {
  const VmRecord before = Record();
  ASSERT_OK(RemoveReplica(*store_, vm_));
  EXPECT_EQ(store_->GetVm(vm_).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->FindVm("vm1").status().code(), Code::kNotFound);
  EXPECT_FALSE(fs_.Exists(store_->layout().Abs(StoreLayout::VmDirRel(vm_))).value());
  EXPECT_TRUE(ContractProblems(*store_).empty()) << ContractProblems(*store_).front();
  EXPECT_EQ(store_->ListVms().value().size(), 0u);
}

TEST_F(VmAdminTest, RemovingIsRefusedWhileFailedOverOrWithATestVm) {
  ASSERT_OK(InitiateFailover(*store_, vm_));
  EXPECT_EQ(RemoveReplica(*store_, vm_).code(), Code::kInvalidState);
  ASSERT_OK(RevertFailover(*store_, vm_));
  ASSERT_OK_AND_ASSIGN(Guid test, TestReplicaSystem(*store_, vm_));
  EXPECT_EQ(RemoveReplica(*store_, vm_).code(), Code::kInUse);
  EXPECT_EQ(RemoveReplica(*store_, test).code(), Code::kUnsupported);
  ASSERT_OK(DestroyTestVm(*store_, test));
  EXPECT_OK(RemoveReplica(*store_, vm_));
}

}  // namespace
}  // namespace hvdisk::ops
