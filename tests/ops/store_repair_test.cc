// The store repair (`store check -r`, ops/store_repair.h): a missing head is re-created on its
// point, a VM whose disk is missing or corrupt is marked Critical with the reason (its files are
// kept), unnamed files are quarantined and leftover intents resolved by the recovery it runs;
// crash-safe at every operation.
#include "ops/store_repair.h"

#include <gtest/gtest.h>

#include <functional>

#include "chain/chain.h"
#include "ops/recovery_point.h"
#include "ops/store_check.h"
#include "platform/crash_file_system.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/crash_sweep.h"
#include "tests/testutil/store_fixture.h"

namespace hvdisk::ops {
namespace {

using hvdisk::testing::CrashRun;

std::string Joined(const std::vector<std::string>& lines) {
  std::string all;
  for (const std::string& l : lines) all += l + "\n";
  return all;
}

bool Exists(FileSystem* fs, const std::string& path) { return fs->KindOf(path).ok(); }

class StoreRepairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, env_.Create());
    ASSERT_OK_AND_ASSIGN(vm_, env_.MakeVm(*store_, 2));
    ASSERT_OK_AND_ASSIGN(rec_, store_->GetVm(vm_));
  }
  std::string Disk(const std::string& name) { return store_->DiskPath(vm_, name); }
  MemFileSystem fs_;
  testing::StoreEnv env_{&fs_};
  std::unique_ptr<Store> store_;
  Guid vm_;
  VmRecord rec_;
};

TEST_F(StoreRepairTest, AMissingHeadIsRecreatedOnItsPointAndTheVmReplicatesAgain) {
  ASSERT_OK(fs_.Unlink(Disk(rec_.head)));
  ASSERT_OK_AND_ASSIGN(StoreRepairReport r, RepairStore(store_.get()));
  EXPECT_NE(Joined(r.actions).find("re-created on " + rec_.points.back().file), std::string::npos)
      << Joined(r.actions);
  EXPECT_TRUE(testing::ContractProblems(*store_).empty())
      << Joined(testing::ContractProblems(*store_));
  ASSERT_OK_AND_ASSIGN(std::string head, testing::DiskDigest(store_->fs(), Disk(rec_.head)));
  ASSERT_OK_AND_ASSIGN(std::string point,
                       testing::DiskDigest(store_->fs(), Disk(rec_.points.back().file)));
  EXPECT_EQ(head, point);  // the head starts from its point
  EXPECT_OK(testing::ApplyPattern(*store_, vm_, 0, 4096, 99));
  EXPECT_OK(TakeRecoveryPoint(*store_, vm_).status());
}

// Breaks the head's parent link: the head is pointed at a copy of its point (same linkage), and
// the copy removed, so the head's locator names no file while the record's parent is there.
void BreakHeadLink(Store* store, const VmRecord& rec) {
  FileSystem* fs = store->fs();
  const std::string point = store->DiskPath(rec.id, rec.points.back().file);
  const std::string copy = store->DiskPath(rec.id, "moved-away.avhdx");
  ASSERT_OK_AND_ASSIGN(auto in, fs->Open(point, OpenOptions::ReadOnly()));
  ASSERT_OK_AND_ASSIGN(uint64_t size, in->Size());
  ASSERT_OK_AND_ASSIGN(auto out, fs->Open(copy, OpenOptions::CreateNew()));
  ASSERT_OK(out->CopyFrom(*in, 0, 0, size));
  ASSERT_OK(out->Flush());
  out.reset();
  in.reset();
  ASSERT_OK(chain::Reparent(fs, store->DiskPath(rec.id, rec.head), copy, false));
  ASSERT_OK(fs->Unlink(copy));
}

TEST_F(StoreRepairTest, AHeadWhoseParentLinkNamesNoFileIsRelinkedToItsPoint) {
  ASSERT_OK_AND_ASSIGN(std::string before, testing::DiskDigest(store_->fs(), Disk(rec_.head)));
  BreakHeadLink(store_.get(), rec_);
  ASSERT_FALSE(testing::ContractProblems(*store_).empty()) << "the link is broken";
  ASSERT_OK_AND_ASSIGN(StoreRepairReport r, RepairStore(store_.get()));
  EXPECT_NE(Joined(r.actions).find("relinked to " + rec_.points.back().file), std::string::npos)
      << Joined(r.actions);
  EXPECT_TRUE(testing::ContractProblems(*store_).empty())
      << Joined(testing::ContractProblems(*store_));
  ASSERT_OK_AND_ASSIGN(std::string after, testing::DiskDigest(store_->fs(), Disk(rec_.head)));
  EXPECT_EQ(before, after);
  ASSERT_OK_AND_ASSIGN(VmRecord now, store_->GetVm(vm_));
  EXPECT_NE(now.health, ReplicationHealth::kCritical);
}

TEST_F(StoreRepairTest, AMissingPointMarksTheVmCriticalWithTheReasonAndKeepsEveryOtherFile) {
  ASSERT_OK(fs_.Unlink(Disk(rec_.points[0].file)));
  ASSERT_OK_AND_ASSIGN(StoreRepairReport r, RepairStore(store_.get()));
  const std::string all = Joined(r.actions);
  EXPECT_NE(all.find("marked Critical: " + StoreLayout::DiskRel(vm_, rec_.points[0].file) +
                     " is missing"),
            std::string::npos)
      << all;
  ASSERT_OK_AND_ASSIGN(VmRecord after, store_->GetVm(vm_));
  EXPECT_EQ(after.health, ReplicationHealth::kCritical);
  for (const std::string& f : {rec_.base, rec_.points[1].file, rec_.head}) {
    EXPECT_TRUE(Exists(&fs_, Disk(f))) << f;
  }
  // A second repair changes nothing more and says so.
  ASSERT_OK_AND_ASSIGN(StoreRepairReport again, RepairStore(store_.get()));
  EXPECT_NE(Joined(again.actions).find("already marked"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(VmRecord twice, store_->GetVm(vm_));
  EXPECT_EQ(twice.generation, after.generation);
}

TEST_F(StoreRepairTest, ACorruptBaseMarksTheVmCriticalAndTheHeadIsNotRecreatedOnIt) {
  ASSERT_OK(fs_.Unlink(Disk(rec_.head)));
  {
    ASSERT_OK_AND_ASSIGN(auto f, fs_.Open(Disk(rec_.base), OpenOptions::ReadWrite()));
    ASSERT_OK(f->WriteAt(64 * 1024, std::vector<std::byte>(128 * 1024, std::byte{0x5A})));
  }
  ASSERT_OK_AND_ASSIGN(StoreRepairReport r, RepairStore(store_.get()));
  const std::string all = Joined(r.actions);
  EXPECT_NE(all.find("not re-created"), std::string::npos) << all;
  EXPECT_NE(all.find("marked Critical"), std::string::npos) << all;
  EXPECT_FALSE(Exists(&fs_, Disk(rec_.head)));
  EXPECT_TRUE(Exists(&fs_, Disk(rec_.base)));
}

TEST_F(StoreRepairTest, AnUnnamedFileIsQuarantinedByTheRepairNotDeleted) {
  ASSERT_OK_AND_ASSIGN(auto f, fs_.Open(Disk("rp-0099.avhdx"), OpenOptions::CreateNew()));
  ASSERT_OK(f->WriteAt(0, hvdisk::testing::PatternBytes(100, 3)));
  f.reset();
  ASSERT_OK_AND_ASSIGN(StoreRepairReport r, RepairStore(store_.get()));
  ASSERT_EQ(r.recovery.quarantined.size(), 1u) << Joined(r.recovery.quarantined);
  EXPECT_TRUE(
      Exists(&fs_, store_->layout().Abs("lost+found/" + LowerGuid(vm_) + "-rp-0099.avhdx")));
}

// The crash sweep: re-creating a missing head, crashed at every operation; the next repair
// finishes it, and the store then keeps its contract (what the crash left is quarantined).
void Trial(CrashFileSystem* image, const CrashRun& run) {
  CrashFileSystem fs(4096);
  ASSERT_OK(fs.ImportFrom(image, "/"));
  testing::StoreEnv env(&fs);
  fs.SetCrashPoint(run.point);
  {
    auto store = env.Open();
    if (store.ok()) (void)RepairStore(store->get());
  }
  fs.Crash(run.seed, run.mode);
  ASSERT_OK_AND_ASSIGN(auto store, env.Open());
  ASSERT_OK(RepairStore(store.get()).status());
  std::vector<std::string> problems;
  for (const std::string& p : testing::ContractProblems(*store)) {
    if (p.rfind("lost+found/", 0) != 0) problems.push_back(p);
  }
  EXPECT_TRUE(problems.empty()) << run.where << ": " << Joined(problems);
}

// Damages a one-point store with `damage`, counts the operations of its repair (whose actions
// must mention `action`), then crashes the repair at every one of them (Trial).
void SweepRepair(const std::function<void(Store*, const VmRecord&)>& damage,
                 const std::string& action) {
  CrashFileSystem image(4096);
  uint64_t ops;
  {
    testing::StoreEnv env(&image);
    ASSERT_OK_AND_ASSIGN(auto store, env.Create());
    ASSERT_OK_AND_ASSIGN(Guid vm, env.MakeVm(*store, 1));
    ASSERT_OK_AND_ASSIGN(VmRecord rec, store->GetVm(vm));
    damage(store.get(), rec);
    store.reset();
    image.SyncAll();
    CrashFileSystem probe(4096);
    ASSERT_OK(probe.ImportFrom(&image, "/"));
    testing::StoreEnv penv(&probe);
    ASSERT_OK_AND_ASSIGN(auto s, penv.Open());
    const uint64_t before = probe.mutating_ops();
    ASSERT_OK_AND_ASSIGN(StoreRepairReport r, RepairStore(s.get()));
    ops = probe.mutating_ops() - before;
    ASSERT_NE(Joined(r.actions).find(action), std::string::npos) << Joined(r.actions);
  }
  ASSERT_GT(ops, 2u);
  hvdisk::testing::CrashEverywhere(ops + 10, [&](const CrashRun& run) { Trial(&image, run); });
}

TEST(StoreRepairCrash, RecreatingAMissingHeadSurvivesACrashAtEveryOperation) {
  SweepRepair(
      [](Store* store, const VmRecord& rec) {
        ASSERT_OK(store->fs()->Unlink(store->DiskPath(rec.id, rec.head)));
      },
      "re-created");
}

TEST(StoreRepairCrash, RelinkingABrokenParentLinkSurvivesACrashAtEveryOperation) {
  SweepRepair(BreakHeadLink, "relinked");
}

}  // namespace
}  // namespace hvdisk::ops
