// The store itself: opening, recovery of orphans and temporaries, locks (in use, deadlines),
// parallel operations on different VMs, racing operations on one VM, I/O errors rolling back.
#include "ops/store.h"

#include <gtest/gtest.h>

#include <thread>

#include "ops/failover.h"
#include "ops/journal.h"
#include "ops/recovery_point.h"
#include "ops/replication.h"
#include "platform/fault_file_system.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/store_fixture.h"

namespace hvdisk::ops {
namespace {

using testing::ContractProblems;

class StoreTest : public ::testing::Test {
 protected:
  MemFileSystem fs_;
  testing::StoreEnv env_{&fs_};
};

TEST_F(StoreTest, OpeningSomethingElseIsNotFound) {
  EXPECT_CODE(Store::Open(&fs_, "/nothing", env_.options()), Code::kNotFound);
  ASSERT_OK(fs_.CreateDir("/plain"));
  EXPECT_CODE(Store::Open(&fs_, "/plain", env_.options()), Code::kNotFound);
}

TEST_F(StoreTest, EmptyStoreListsNothingAndChecksClean) {
  ASSERT_OK_AND_ASSIGN(auto store, env_.Create());
  EXPECT_TRUE(store->ListVms()->empty());
  EXPECT_CODE(store->FindVm("nobody"), Code::kNotFound);
  EXPECT_CODE(store->GetVm(Guid::Random()), Code::kNotFound);
  EXPECT_TRUE(ContractProblems(*store).empty());
}

// Temporaries are ours and go; an unnamed disk is quarantined, never deleted; a VM directory
// whose record is missing is kept as it is and reported Critical.
TEST_F(StoreTest, RecoveryRemovesTemporariesQuarantinesOrphansAndKeepsARecordlessVm) {
  ASSERT_OK_AND_ASSIGN(auto store, env_.Create());
  ASSERT_OK_AND_ASSIGN(Guid vm, env_.MakeVm(*store, 1));
  const Guid stray = Guid::Random();
  const std::string stray_vm = StoreLayout::VmDirRel(stray);
  ASSERT_OK(fs_.PutFile("/store/" + StoreLayout::DiskRel(vm, "rp-0099.avhdx"), "x"));
  ASSERT_OK(fs_.PutFile("/store/" + StoreLayout::VmRecordRel(vm) + ".tmp", "{"));
  ASSERT_OK(fs_.PutFile("/store/" + stray_vm + "/disks/head-0001.avhdx", "x"));
  ASSERT_OK(fs_.PutFile("/store/journal/0.json.tmp", "{"));
  EXPECT_EQ(ContractProblems(*store).size(), 4u);
  store.reset();
  ASSERT_OK_AND_ASSIGN(store, env_.Open());
  const RecoveryReport& rep = store->open_recovery();
  auto has = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  const std::string quarantined = "lost+found/" + LowerGuid(vm) + "-rp-0099.avhdx";
  EXPECT_TRUE(
      has(rep.quarantined, StoreLayout::DiskRel(vm, "rp-0099.avhdx") + " -> " + quarantined));
  EXPECT_EQ(*fs_.GetFile("/store/" + quarantined), "x");
  EXPECT_TRUE(has(rep.removed, StoreLayout::VmRecordRel(vm) + ".tmp"));
  EXPECT_TRUE(has(rep.removed, "journal/0.json.tmp"));
  EXPECT_EQ(*fs_.GetFile("/store/" + stray_vm + "/disks/head-0001.avhdx"), "x");
  EXPECT_EQ(ContractProblems(*store).size(), 2u);  // lost+found/..., the recordless VM
  ASSERT_OK_AND_ASSIGN(std::vector<VmRecord> vms, store->ListVms());
  ASSERT_EQ(vms.size(), 2u);
  const VmRecord& critical = vms[0].id == stray ? vms[0] : vms[1];
  EXPECT_EQ(critical.health, ReplicationHealth::kCritical);
  ASSERT_FALSE(critical.problems.empty());
  EXPECT_NE(critical.problems[0].find("no VM record"), std::string::npos) << critical.problems[0];
}

TEST_F(StoreTest, HeldVmIsInUseAndADeadlineTimesOut) {
  ASSERT_OK_AND_ASSIGN(auto store, env_.Create());
  ASSERT_OK_AND_ASSIGN(Guid vm, env_.MakeVm(*store, 1));
  ASSERT_OK_AND_ASSIGN(auto held, store->LockVm(vm));
  EXPECT_CODE(InitiateFailover(*store, vm), Code::kInUse);
  EXPECT_CODE(TakeRecoveryPoint(*store, vm), Code::kInUse);
  StoreOptions waiting = env_.options();
  waiting.lock_timeout = std::chrono::milliseconds(50);
  ASSERT_OK_AND_ASSIGN(auto patient, Store::Open(&fs_, "/store", waiting));
  EXPECT_CODE(InitiateFailover(*patient, vm), Code::kTimeout);
  EXPECT_TRUE(patient->open_recovery().busy.empty());  // it needs no recovery: not even tried
  held.reset();
  ASSERT_OK(InitiateFailover(*patient, vm));
}

TEST_F(StoreTest, OperationsOnDifferentVmsRunInParallel) {
  ASSERT_OK_AND_ASSIGN(auto store, env_.Create());
  std::vector<Guid> vms;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(testing::MakeBaseDisk(&fs_, "/b" + std::to_string(i) + ".vhdx", i));
    ASSERT_OK_AND_ASSIGN(
        Guid vm, CreateReplicaVm(*store, {.name = "p" + std::to_string(i),
                                          .base_path = "/b" + std::to_string(i) + ".vhdx"}));
    vms.push_back(vm);
  }
  std::vector<Status> results(vms.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < vms.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 3 && results[i].ok(); ++round) {
        results[i] = testing::ApplyPattern(*store, vms[i], 4096 * round, 4096, round);
        if (results[i].ok()) results[i] = TakeRecoveryPoint(*store, vms[i]).status();
      }
      if (results[i].ok()) results[i] = InitiateFailover(*store, vms[i]);
      if (results[i].ok()) results[i] = RevertFailover(*store, vms[i]);
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& st : results) EXPECT_OK(st);
  for (const Guid& vm : vms) EXPECT_EQ(store->GetVm(vm)->points.size(), 3u);
  EXPECT_TRUE(ContractProblems(*store).empty());
}

TEST_F(StoreTest, RacingRevertsEndWithOneSuccess) {
  ASSERT_OK_AND_ASSIGN(auto store, env_.Create());
  ASSERT_OK_AND_ASSIGN(Guid vm, env_.MakeVm(*store, 1));
  for (int round = 0; round < 5; ++round) {
    ASSERT_OK(InitiateFailover(*store, vm));
    Status a, b;
    std::thread ta([&] { a = RevertFailover(*store, vm); });
    std::thread tb([&] { b = RevertFailover(*store, vm); });
    ta.join();
    tb.join();
    EXPECT_NE(a.ok(), b.ok()) << a.ToString() << " / " << b.ToString();
    const Status& loser = a.ok() ? b : a;
    EXPECT_TRUE(loser.code() == Code::kInUse || loser.code() == Code::kInvalidState)
        << loser.ToString();
  }
}

TEST_F(StoreTest, IoErrorBeforeTheCommitPointRollsBack) {
  {
    ASSERT_OK_AND_ASSIGN(auto store, env_.Create());
    ASSERT_OK(env_.MakeVm(*store, 2).status());
  }
  FaultFileSystem faulty(&fs_);
  ASSERT_OK_AND_ASSIGN(auto store, Store::Open(&faulty, "/store", env_.options()));
  ASSERT_OK_AND_ASSIGN(Guid vm, store->FindVm("vm1"));
  ASSERT_OK_AND_ASSIGN(VmRecord before, store->GetVm(vm));
  for (uint64_t nth = 1; nth <= 12; ++nth) {
    // EIO is fencing (fencing_test.cc): an I/O error of another errno rolls back.
    faulty.SetRule(FileOp::kWrite, {.nth = nth, .err = EREMOTEIO});
    Status st = InitiateFailover(*store, vm);
    faulty.ClearRules();
    if (st.ok()) {
      ASSERT_OK(RevertFailover(*store, vm));
      continue;
    }
    EXPECT_EQ(st.code(), Code::kIoError) << st.ToString();
    ASSERT_OK_AND_ASSIGN(VmRecord after, store->GetVm(vm));
    EXPECT_EQ(after, before) << "write " << nth;
    auto problems = ContractProblems(*store);
    EXPECT_TRUE(problems.empty()) << "write " << nth << ": " << problems[0];
  }
}

}  // namespace
}  // namespace hvdisk::ops
