// The replication side: creating replica VMs, applying changes, recovery points and retention,
// suspend and resume (change-set files: change_set_test.cc).
#include "ops/replication.h"

#include <gtest/gtest.h>

#include "ops/recovery_point.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/store_fixture.h"

namespace hvdisk::ops {
namespace {

using testing::ContractProblems;
using testing::DiskDigest;
using testing::StoreEnv;

class ReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK_AND_ASSIGN(store_, env_.Create()); }
  MemFileSystem fs_;
  StoreEnv env_{&fs_};
  std::unique_ptr<Store> store_;
};

TEST_F(ReplicationTest, CreatedVmReplicatesOnBaseAndHead) {
  ASSERT_OK_AND_ASSIGN(Guid vm, env_.MakeVm(*store_, 0));
  ASSERT_OK_AND_ASSIGN(VmRecord r, store_->GetVm(vm));
  EXPECT_EQ(r.state, ReplicationState::kReplicating);
  EXPECT_EQ(r.mode, ReplicationMode::kReplica);
  EXPECT_EQ(r.ChainFiles(), (std::vector<std::string>{"base.vhdx", "head-0001.avhdx"}));
  EXPECT_EQ(r.attached, StoreLayout::DiskRel(vm, "head-0001.avhdx"));
  EXPECT_TRUE(ContractProblems(*store_).empty());
  ASSERT_OK_AND_ASSIGN(Guid found, store_->FindVm("vm1"));
  EXPECT_EQ(found, vm);
  EXPECT_TRUE(fs_.GetFile("/base.vhdx").ok()) << "a copied base stays where it was";
}

TEST_F(ReplicationTest, AdoptedBaseMovesIntoTheStore) {
  ASSERT_OK(testing::MakeBaseDisk(&fs_, "/adopt.vhdx"));
  ASSERT_OK_AND_ASSIGN(std::string before, DiskDigest(&fs_, "/adopt.vhdx"));
  ASSERT_OK_AND_ASSIGN(
      Guid vm, CreateReplicaVm(*store_, {.name = "a", .base_path = "/adopt.vhdx", .adopt = true}));
  EXPECT_CODE(fs_.GetFile("/adopt.vhdx"), Code::kNotFound);
  ASSERT_OK_AND_ASSIGN(std::string after,
                       DiskDigest(&fs_, store_->DiskPath(vm, "head-0001.avhdx")));
  EXPECT_EQ(before, after);
}

TEST_F(ReplicationTest, DifferencingBaseIsUnsupported) {
  ASSERT_OK_AND_ASSIGN(Guid vm, env_.MakeVm(*store_, 0));
  ASSERT_OK_AND_ASSIGN(VmRecord r, store_->GetVm(vm));
  EXPECT_CODE(CreateReplicaVm(*store_, {.name = "d", .base_path = store_->DiskPath(vm, r.head)}),
              Code::kUnsupported);
  EXPECT_CODE(CreateReplicaVm(*store_, {.name = "", .base_path = "/base.vhdx"}),
              Code::kInvalidArgument);
  EXPECT_CODE(CreateReplicaVm(*store_, {.name = "m", .base_path = "/missing.vhdx"}),
              Code::kNotFound);
}

TEST_F(ReplicationTest, RecoveryPointFreezesTheHeadUnderANewHead) {
  ASSERT_OK_AND_ASSIGN(Guid vm, env_.MakeVm(*store_, 0));
  ASSERT_OK_AND_ASSIGN(VmRecord r, store_->GetVm(vm));
  ASSERT_OK_AND_ASSIGN(std::string head, DiskDigest(&fs_, store_->DiskPath(vm, r.head)));
  ASSERT_OK_AND_ASSIGN(RecoveryPoint p,
                       TakeRecoveryPoint(*store_, vm, RecoveryPointType::kApplicationConsistent));
  EXPECT_EQ(p.file, "rp-0001.avhdx");
  EXPECT_EQ(p.type, RecoveryPointType::kApplicationConsistent);
  ASSERT_OK_AND_ASSIGN(r, store_->GetVm(vm));
  EXPECT_EQ(r.ChainFiles(),
            (std::vector<std::string>{"base.vhdx", "rp-0001.avhdx", "head-0002.avhdx"}));
  EXPECT_EQ(DiskDigest(&fs_, store_->DiskPath(vm, "rp-0001.avhdx")).value(), head);
  ASSERT_OK(testing::ApplyPattern(*store_, vm, 0, 4096, 7));
  EXPECT_EQ(DiskDigest(&fs_, store_->DiskPath(vm, "rp-0001.avhdx")).value(), head);
  EXPECT_NE(DiskDigest(&fs_, store_->DiskPath(vm, "head-0002.avhdx")).value(), head);
  ASSERT_OK_AND_ASSIGN(Guid found, FindPoint(r, "rp-0001"));
  EXPECT_EQ(found, p.id);
  EXPECT_CODE(FindPoint(r, "rp-0009"), Code::kNotFound);
  EXPECT_TRUE(ContractProblems(*store_).empty());
}

TEST_F(ReplicationTest, RetentionMergesTheOldestPointIntoTheBase) {
  ASSERT_OK_AND_ASSIGN(Guid vm, env_.MakeVm(*store_, 3, /*retention=*/3));
  ASSERT_OK_AND_ASSIGN(VmRecord r, store_->GetVm(vm));
  ASSERT_EQ(r.points.size(), 3u);
  std::map<std::string, std::string> digests;
  for (const RecoveryPoint& p : r.points) {
    digests[p.file] = DiskDigest(&fs_, store_->DiskPath(vm, p.file)).value();
  }
  ASSERT_OK(TakeRecoveryPoint(*store_, vm).status());
  ASSERT_OK_AND_ASSIGN(r, store_->GetVm(vm));
  ASSERT_EQ(r.points.size(), 3u);
  EXPECT_EQ(r.points.front().file, "rp-0002.avhdx");
  EXPECT_CODE(fs_.GetFile(store_->DiskPath(vm, "rp-0001.avhdx")), Code::kNotFound);
  for (const RecoveryPoint& p : r.points) {
    if (digests.count(p.file)) {
      EXPECT_EQ(DiskDigest(&fs_, store_->DiskPath(vm, p.file)).value(), digests[p.file]) << p.file;
    }
  }
  EXPECT_TRUE(ContractProblems(*store_).empty());
}

TEST_F(ReplicationTest, SuspendedVmRefusesChangesUntilResumed) {
  ASSERT_OK_AND_ASSIGN(Guid vm, env_.MakeVm(*store_, 0));
  ASSERT_OK(SuspendReplication(*store_, vm));
  EXPECT_EQ(store_->GetVm(vm)->state, ReplicationState::kSuspended);
  EXPECT_CODE(testing::ApplyPattern(*store_, vm, 0, 512, 1), Code::kInvalidState);
  EXPECT_CODE(TakeRecoveryPoint(*store_, vm), Code::kInvalidState);
  EXPECT_CODE(SuspendReplication(*store_, vm), Code::kInvalidState);
  ASSERT_OK(ResumeReplication(*store_, vm));
  EXPECT_CODE(ResumeReplication(*store_, vm), Code::kInvalidState);
  ASSERT_OK(testing::ApplyPattern(*store_, vm, 0, 512, 1));
}

TEST_F(ReplicationTest, ChangesBeyondTheDiskAreInvalid) {
  ASSERT_OK_AND_ASSIGN(Guid vm, env_.MakeVm(*store_, 0));
  EXPECT_CODE(testing::ApplyPattern(*store_, vm, testing::kDiskSize - 512, 1024, 1),
              Code::kInvalidArgument);
  EXPECT_CODE(testing::ApplyPattern(*store_, Guid::Random(), 0, 512, 1), Code::kNotFound);
}

}  // namespace
}  // namespace hvdisk::ops
