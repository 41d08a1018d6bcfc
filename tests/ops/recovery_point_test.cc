// Recovery points past the four-digit names and at the chain-depth limit: numbers keep counting
// (rp-9999, rp-10000, ...), chains stay in order, retention is capped where chains stop opening.
#include "ops/recovery_point.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "chain/chain.h"
#include "ops/replication.h"
#include "ops/store_layout.h"
#include "ops/test_failover.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/store_fixture.h"

namespace hvdisk::ops {
namespace {

using testing::ContractProblems;
using testing::DiskDigest;
using ::testing::HasSubstr;

class RecoveryPointTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK_AND_ASSIGN(store_, env_.Create()); }

  // Renumbers the VM's head (no points yet) as head-`number`, as if `number - 1` checkpoints had
  // been taken: the file renamed and the record edited directly.
  void SetCounter(const Guid& vm, uint32_t number) {
    ASSERT_OK_AND_ASSIGN(VmRecord r, store_->GetVm(vm));
    ASSERT_TRUE(r.points.empty());
    const std::string head = HeadName(number);
    ASSERT_OK(fs_.Rename(store_->DiskPath(vm, r.head), store_->DiskPath(vm, head)));
    r.head = head;
    r.attached = StoreLayout::DiskRel(vm, head);
    r.next_number = number + 1;
    ++r.generation;
    ASSERT_OK(WriteVmRecord(&fs_, store_->RecordPath(vm), r));
  }

  MemFileSystem fs_;
  testing::StoreEnv env_{&fs_};
  std::unique_ptr<Store> store_;
};

// Finding: head-10000 became rp-1000 (head.substr(5, 4)), and head-10001 rp-1000 again.
TEST_F(RecoveryPointTest, PointsPastTheTenThousandthKeepTheirNumbersAndTheirOrder) {
  ASSERT_OK_AND_ASSIGN(Guid vm, env_.MakeVm(*store_, 0, /*retention=*/3));
  SetCounter(vm, 9998);
  std::map<std::string, std::string> digests;  // point file -> content frozen
  for (uint32_t i = 0; i < 5; ++i) {
    ASSERT_OK(testing::ApplyPattern(*store_, vm, (i % 3) << 20, 4096, 100 + i));
    ASSERT_OK_AND_ASSIGN(VmRecord before, store_->GetVm(vm));
    ASSERT_OK_AND_ASSIGN(std::string head, DiskDigest(&fs_, store_->DiskPath(vm, before.head)));
    ASSERT_OK_AND_ASSIGN(RecoveryPoint p, TakeRecoveryPoint(*store_, vm));
    EXPECT_EQ(p.number, 9998 + i);
    EXPECT_EQ(p.file, PointFileName(9998 + i));
    digests[p.file] = head;
  }
  ASSERT_OK_AND_ASSIGN(VmRecord r, store_->GetVm(vm));
  EXPECT_EQ(r.ChainFiles(),
            (std::vector<std::string>{"base.vhdx", "rp-10000.avhdx", "rp-10001.avhdx",
                                      "rp-10002.avhdx", "head-10003.avhdx"}));
  EXPECT_EQ(r.points.back().name(), "rp-10002");
  ASSERT_OK_AND_ASSIGN(auto chain, chain::Chain::Open(&fs_, store_->DiskPath(vm, r.head), {}));
  std::vector<std::string> order;
  for (const std::string& path : chain->paths()) order.push_back(BaseName(path));
  EXPECT_EQ(order, (std::vector<std::string>{"head-10003.avhdx", "rp-10002.avhdx", "rp-10001.avhdx",
                                             "rp-10000.avhdx", "base.vhdx"}));
  for (const RecoveryPoint& p : r.points) {
    EXPECT_EQ(DiskDigest(&fs_, store_->DiskPath(vm, p.file)).value(), digests[p.file]) << p.file;
  }
  ASSERT_OK_AND_ASSIGN(Guid found, FindPoint(r, "rp-10001"));
  EXPECT_EQ(found, r.points[1].id);
  EXPECT_CODE(FindPoint(r, "rp-1000"), Code::kNotFound);
  EXPECT_TRUE(ContractProblems(*store_).empty());
}

TEST_F(RecoveryPointTest, AHeadNotNamedHeadNIsRefusedAndNothingIsRenamed) {
  ASSERT_OK_AND_ASSIGN(Guid vm, env_.MakeVm(*store_, 0));
  ASSERT_OK_AND_ASSIGN(VmRecord r, store_->GetVm(vm));
  r.next_number = 1;  // would name the new head head-0001, the current one
  ++r.generation;
  ASSERT_OK(WriteVmRecord(&fs_, store_->RecordPath(vm), r));
  Status st = TakeRecoveryPoint(*store_, vm).status();
  EXPECT_CODE(st, Code::kCorrupt);
  EXPECT_THAT(st.message(), HasSubstr("would reuse head-0001.avhdx"));
  EXPECT_TRUE(fs_.GetFile(store_->DiskPath(vm, "head-0001.avhdx")).ok());
}

// Finding: --retention 100 was accepted, and the 63rd point's chain (65 disks) did not open.
TEST_F(RecoveryPointTest, RetentionIsCappedAtTheChainDepthLimit) {
  ASSERT_OK(testing::MakeBaseDisk(&fs_, "/b.vhdx"));
  for (uint32_t retention : {kMaxRetention + 1, 100u, 0u}) {
    Result<Guid> refused =
        CreateReplicaVm(*store_, {.name = "r", .base_path = "/b.vhdx", .retention = retention});
    EXPECT_CODE(refused, Code::kInvalidArgument) << retention;
    EXPECT_THAT(refused.status().message(), HasSubstr("outside 1..61")) << retention;
  }
  ASSERT_OK_AND_ASSIGN(
      Guid vm,
      CreateReplicaVm(*store_, {.name = "r", .base_path = "/b.vhdx", .retention = kMaxRetention}));
  for (uint32_t i = 0; i < kMaxRetention + 2; ++i) {
    Status st = TakeRecoveryPoint(*store_, vm).status();
    ASSERT_TRUE(st.ok()) << "checkpoint " << i << ": " << st.ToString();
  }
  ASSERT_OK_AND_ASSIGN(VmRecord r, store_->GetVm(vm));
  EXPECT_EQ(r.points.size(), kMaxRetention);
  ASSERT_OK_AND_ASSIGN(auto chain, chain::Chain::Open(&fs_, store_->DiskPath(vm, r.head), {}));
  EXPECT_EQ(chain->depth(), kMaxRetention + 2);
  EXPECT_TRUE(ContractProblems(*store_).empty());
}

// A test VM pinning the oldest point holds its merge off: checkpoints stop, with the reason, at
// the most points a chain allows (not one past, which would leave a chain that does not open), and
// resume once the test VM is gone.
TEST_F(RecoveryPointTest, APinnedPointStopsCheckpointsAtTheChainDepthLimitUntilItsTestVmGoes) {
  ASSERT_OK_AND_ASSIGN(Guid vm, env_.MakeVm(*store_, 1, /*retention=*/1));
  ASSERT_OK_AND_ASSIGN(Guid test_vm, TestReplicaSystem(*store_, vm));
  for (uint32_t i = 1; i < kMaxRetention; ++i) {
    Status st = TakeRecoveryPoint(*store_, vm).status();
    ASSERT_TRUE(st.ok()) << "checkpoint " << i << ": " << st.ToString();
  }
  Status refused = TakeRecoveryPoint(*store_, vm).status();
  EXPECT_CODE(refused, Code::kInvalidState);
  EXPECT_THAT(refused.message(), HasSubstr("destroy its test VM"));
  ASSERT_OK_AND_ASSIGN(VmRecord r, store_->GetVm(vm));
  EXPECT_EQ(r.points.size(), kMaxRetention);
  EXPECT_TRUE(ContractProblems(*store_).empty());
  ASSERT_OK(DestroyTestVm(*store_, test_vm));
  ASSERT_OK(TakeRecoveryPoint(*store_, vm).status());
  ASSERT_OK_AND_ASSIGN(r, store_->GetVm(vm));
  EXPECT_EQ(r.points.size(), kMaxRetention) << "one point taken, the oldest merged";
  EXPECT_TRUE(ContractProblems(*store_).empty());
}

}  // namespace
}  // namespace hvdisk::ops
