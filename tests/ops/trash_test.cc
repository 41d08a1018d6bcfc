// The store's trash: operations move what they discard into it, the Store reclaims it (reaper
// thread, synchronously, or not at all), reclaims race and crash safely, and an older store
// without a trash still opens.
#include "ops/trash.h"

#include <gtest/gtest.h>

#include <thread>

#include "ops/failover.h"
#include "ops/recovery_point.h"
#include "ops/replication.h"
#include "ops/store_check.h"
#include "ops/test_failover.h"
#include "platform/crash_file_system.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/store_fixture.h"

namespace hvdisk::ops {
namespace {

using Reclaim = StoreOptions::Reclaim;
using testing::ContractProblems;

class TrashTest : public ::testing::Test {
 protected:
  // A store with one VM ("vm1", one point) whose Store reclaims as `reclaim` says.
  void Make(Reclaim reclaim, uint32_t retention = 24) {
    ASSERT_OK(Store::Create(&fs_, "/store", env_.options()));
    ASSERT_OK_AND_ASSIGN(store_, OpenAs(reclaim));
    ASSERT_OK_AND_ASSIGN(vm_, env_.MakeVm(*store_, 1, retention));
  }
  Result<std::unique_ptr<Store>> OpenAs(Reclaim reclaim) {
    StoreOptions o = env_.options();
    o.reclaim = reclaim;
    return Store::Open(&fs_, "/store", o);
  }
  std::vector<std::string> Trash() { return fs_.List("/store/trash").value(); }
  bool InDisks(const std::string& name) { return fs_.Exists(store_->DiskPath(vm_, name)).value(); }

  MemFileSystem fs_;
  testing::StoreEnv env_{&fs_};
  std::unique_ptr<Store> store_;
  Guid vm_;
};

TEST_F(TrashTest, RevertMovesFailoverDiskToTrashAndReclaimEmptiesIt) {
  Make(Reclaim::kExternal);
  ASSERT_OK(InitiateFailover(*store_, vm_));
  const std::string disk = store_->GetVm(vm_)->failover_disk;
  ASSERT_OK(RevertFailover(*store_, vm_));
  EXPECT_FALSE(InDisks(disk));
  ASSERT_EQ(Trash().size(), 1u);
  EXPECT_EQ(Trash()[0].substr(37), disk);  // "<op-guid>-<name>"
  ASSERT_OK_AND_ASSIGN(StoreCheckReport check, CheckStore(store_.get()));
  EXPECT_TRUE(check.ok()) << check.problems.front();
  EXPECT_EQ(check.trash.files, 1);
  EXPECT_GT(check.trash.bytes, 0u);
  ASSERT_OK_AND_ASSIGN(TrashReport reclaimed, store_->ReclaimTrash());
  EXPECT_EQ(reclaimed.files, 1);
  EXPECT_EQ(reclaimed.bytes, check.trash.bytes);
  EXPECT_TRUE(Trash().empty());
  EXPECT_TRUE(ContractProblems(*store_).empty());
}

TEST_F(TrashTest, BackgroundReaperEmptiesTheTrashAfterRevert) {
  Make(Reclaim::kBackground);
  ASSERT_OK(InitiateFailover(*store_, vm_));
  ASSERT_OK(RevertFailover(*store_, vm_));
  store_->WaitForReclaim();
  EXPECT_TRUE(Trash().empty());
  EXPECT_EQ(store_->GetVm(vm_)->state, ReplicationState::kReplicating);
}

TEST_F(TrashTest, CommitTrashesMergedPointsAndHeadAndSynchronousReclaimEmptiesIt) {
  Make(Reclaim::kSynchronous);
  ASSERT_OK(InitiateFailover(*store_, vm_));
  const VmRecord before = store_->GetVm(vm_).value();
  ASSERT_OK(CommitFailover(*store_, vm_));
  EXPECT_TRUE(Trash().empty());
  EXPECT_FALSE(InDisks(before.points[0].file));
  EXPECT_FALSE(InDisks(before.head));
  EXPECT_TRUE(ContractProblems(*store_).empty());
}

TEST_F(TrashTest, RetentionMergeAndTestVmDestroyUseTheTrash) {
  Make(Reclaim::kExternal, /*retention=*/1);
  const std::string oldest = store_->GetVm(vm_)->points[0].file;
  ASSERT_OK(TakeRecoveryPoint(*store_, vm_).status());
  EXPECT_FALSE(InDisks(oldest));
  ASSERT_EQ(Trash().size(), 1u);
  EXPECT_EQ(Trash()[0].substr(37), oldest);
  ASSERT_OK_AND_ASSIGN(Guid test, TestReplicaSystem(*store_, vm_));
  const std::string test_disk = store_->GetVm(test)->test_disk;
  ASSERT_OK(DestroyTestVm(*store_, test));
  EXPECT_FALSE(InDisks(test_disk));
  EXPECT_EQ(Trash().size(), 3u);  // + the test disk and the test VM's vm.json
  EXPECT_TRUE(ContractProblems(*store_).empty());
  ASSERT_OK_AND_ASSIGN(TrashReport reclaimed, store_->ReclaimTrash());
  EXPECT_EQ(reclaimed.files, 3);
  EXPECT_TRUE(Trash().empty());
}

TEST_F(TrashTest, OpeningAStoreWithoutTrashCreatesIt) {
  Make(Reclaim::kExternal);
  store_.reset();
  ASSERT_OK(fs_.RemoveDir("/store/trash"));
  ASSERT_OK_AND_ASSIGN(store_, OpenAs(Reclaim::kExternal));
  EXPECT_TRUE(fs_.IsDirectory("/store/trash").value());
  ASSERT_OK(InitiateFailover(*store_, vm_));
  ASSERT_OK(RevertFailover(*store_, vm_));
  EXPECT_EQ(Trash().size(), 1u);
}

TEST_F(TrashTest, OpenHandsLeftoverTrashToTheReaperButNotWhenExternal) {
  Make(Reclaim::kExternal);
  store_.reset();
  ASSERT_OK(fs_.PutFile("/store/trash/left-by-a-crash", std::string(5000, 'x')));
  ASSERT_OK_AND_ASSIGN(store_, OpenAs(Reclaim::kExternal));
  EXPECT_EQ(Trash().size(), 1u);
  store_.reset();
  ASSERT_OK_AND_ASSIGN(store_, OpenAs(Reclaim::kBackground));
  store_->WaitForReclaim();
  EXPECT_TRUE(Trash().empty());
}

TEST_F(TrashTest, RedoingAMoveSkipsWhatIsAlreadyInTheTrash) {
  Make(Reclaim::kExternal);
  const StoreLayout& layout = store_->layout();
  const std::string head = StoreLayout::DiskRel(vm_, store_->GetVm(vm_)->head);
  ASSERT_OK(fs_.PutFile(layout.Abs(head + ".x"), "x"));
  const Guid op = Guid::Random();
  ASSERT_OK(MoveToTrash(&fs_, layout, op, {head + ".x"}));
  ASSERT_OK(MoveToTrash(&fs_, layout, op, {head + ".x"}));
  EXPECT_EQ(Trash(), std::vector<std::string>{TrashName(op, head + ".x")});
}

TEST_F(TrashTest, ConcurrentReclaimsTogetherRemoveEveryEntryOnce) {
  Make(Reclaim::kExternal);
  for (int i = 0; i < 200; ++i) {
    ASSERT_OK(fs_.PutFile("/store/trash/e" + std::to_string(i), "12345"));
  }
  Result<TrashReport> a = TrashReport{}, b = TrashReport{};
  std::thread t([&] { a = ReclaimTrash(&fs_, store_->layout()); });
  b = ReclaimTrash(&fs_, store_->layout());
  t.join();
  ASSERT_OK(a.status());
  ASSERT_OK(b.status());
  EXPECT_EQ(a->files + b->files, 200);
  EXPECT_EQ(a->bytes + b->bytes, 1000u);
  EXPECT_TRUE(Trash().empty());
}

TEST_F(TrashTest, ReclaimStopsBetweenEntriesWhenAsked) {
  Make(Reclaim::kExternal);
  ASSERT_OK(fs_.PutFile("/store/trash/a", "1"));
  std::atomic<bool> stop{true};
  ASSERT_OK_AND_ASSIGN(TrashReport r, ReclaimTrash(&fs_, store_->layout(), &stop));
  EXPECT_EQ(r.files, 0);
  EXPECT_EQ(Trash().size(), 1u);
}

TEST_F(TrashTest, ReclaimStoreTrashRefusesADirectoryThatIsNoStore) {
  ASSERT_OK(fs_.CreateDir("/plain"));
  EXPECT_CODE(ReclaimStoreTrash(&fs_, "/plain"), Code::kNotFound);
}

// A crash at every mutating operation of a reclaim (and every kind of crash) leaves a trash that
// holds a subset of its entries, which a second reclaim empties.
TEST(TrashCrashTest, CrashDuringReclaimLeavesATrashTheNextReclaimEmpties) {
  const StoreLayout layout{"/store"};
  MemFileSystem image;
  for (const char* d : {"/store", "/store/journal", "/store/vms", "/store/trash"}) {
    ASSERT_OK(image.CreateDir(d));
  }
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK(image.PutFile("/store/trash/e" + std::to_string(i), std::string(3000, 'y')));
  }
  const uint64_t ops = 4 + 1;  // four unlinks and a directory sync
  for (uint64_t point = 1; point <= ops; ++point) {
    for (auto [seed, mode] : {std::pair<uint64_t, CrashMode>{1, CrashMode::kRandom},
                              {0, CrashMode::kDropAll},
                              {0, CrashMode::kKeepAll}}) {
      CrashFileSystem fs(4096);
      ASSERT_OK(fs.ImportFrom(&image, "/"));
      fs.SetCrashPoint(point);
      EXPECT_FALSE(ReclaimTrash(&fs, layout).ok());
      fs.Crash(seed, mode);
      ASSERT_OK_AND_ASSIGN(std::vector<std::string> left, fs.List("/store/trash"));
      EXPECT_LE(left.size(), 4u);
      ASSERT_OK_AND_ASSIGN(TrashReport r, ReclaimStoreTrash(&fs, "/store"));
      EXPECT_EQ(static_cast<size_t>(r.files), left.size());
      EXPECT_TRUE(fs.List("/store/trash")->empty()) << "point " << point;
    }
  }
}

}  // namespace
}  // namespace hvdisk::ops
