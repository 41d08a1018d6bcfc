// The crash contract of docs/design.md, proven SQLite-style: each store operation is crashed by
// CrashFileSystem at every mutating operation (write, flush, truncate, allocate, rename, unlink,
// mkdir, rmdir, directory sync, create), with three random seeds, drop-all and keep-all; the store
// is then reopened (recovery runs) and must hold the contract:
//   * each VM record is its before-state or an after-state, never between;
//   * CheckStore finds nothing: no pending intent, no orphan, every named file exists, every
//     chain opens, every VHDX checks clean (no corruption, no leak);
//   * the content digest of every recovery point, of the head and of the failover disk that the
//     after-state still names is the one it had before (and, rolled back, all of them are);
//   * the trash holds only files no record names and no chain needs (every chain still opens and
//     checks clean once it is emptied); after a reclaim the trash is empty.
// The operation runs with synchronous reclamation, so its crash points include the reclaim's
// unlinks; the reopened store reclaims nothing by itself, so the trash is seen as the crash left
// it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>

#include "ops/consumer.h"
#include "ops/failover.h"
#include "ops/recovery.h"
#include "ops/recovery_point.h"
#include "ops/replication.h"
#include "ops/test_failover.h"
#include "ops/trash.h"
#include "ops/vm_admin.h"
#include "platform/crash_file_system.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/store_fixture.h"

namespace hvdisk::ops {
namespace {

using State = ReplicationState;
using testing::StoreState;

struct Scenario {
  const char* name;
  uint32_t retention = 24;
  int points = 1;  // recovery points the VM has before setup
  // Extra setup after the VM exists with `points` points; may set *test_vm.
  std::function<Status(Store&, const Guid& vm, Guid* test_vm)> setup;
  std::function<Status(Store&, const Guid& vm, const Guid& test_vm)> op;
  std::vector<State> after_states;
  // Further checks of a rolled-forward store against the before-state.
  std::function<void(const StoreState& before, const StoreState& after, const Guid& vm)> forward;
  bool removes = false;  // the after-state has no VM at all (vm remove)
};

Status WriteThroughConsumer(Store& store, const Guid& vm) {
  ASSIGN_OR_RETURN(auto a, AttachedDisk::Attach(store, vm));
  auto data = hvdisk::testing::PatternBytes(70000, 77);
  RETURN_IF_ERROR(a->disk()->Write(1500 * 1024, data));
  return a->Detach();
}

std::string Key(const Guid& vm, const std::string& file) { return vm.ToString(false) + "/" + file; }

class StoreCrashTest : public ::testing::TestWithParam<Scenario> {
 protected:
  // Builds the starting store once, in memory.
  void SetUp() override {
    CrashFileSystem fs;
    testing::StoreEnv env(&fs);
    ASSERT_OK_AND_ASSIGN(auto store, env.Create());
    ASSERT_OK_AND_ASSIGN(vm_, env.MakeVm(*store, GetParam().points, GetParam().retention));
    if (GetParam().setup) ASSERT_OK(GetParam().setup(*store, vm_, &test_vm_));
    ASSERT_OK_AND_ASSIGN(before_, testing::CaptureState(*store));
    ASSERT_TRUE(testing::ContractProblems(*store).empty());
    store.reset();
    ASSERT_OK(fs.ExportTo(&image_, "/"));
  }

  // A fresh CrashFileSystem holding the starting store, everything durable.
  std::unique_ptr<CrashFileSystem> Fresh() {
    auto fs = std::make_unique<CrashFileSystem>(4096);
    EXPECT_OK(fs->ImportFrom(&image_, "/"));
    return fs;
  }
  StoreOptions Options(StoreOptions::Reclaim reclaim) const { return {.reclaim = reclaim}; }

  // Runs the operation with a crash point at `point` (0: none); returns the ops it used.
  uint64_t Run(CrashFileSystem* fs, uint64_t point) {
    auto store = Store::Open(fs, "/store", Options(StoreOptions::Reclaim::kSynchronous));
    if (!store.ok()) return 0;
    const uint64_t start = fs->mutating_ops();
    fs->SetCrashPoint(point);
    Status st = GetParam().op(**store, vm_, test_vm_);
    if (point == 0) EXPECT_OK(st);
    return fs->mutating_ops() - start;
  }

  void Verify(CrashFileSystem* fs, const std::string& where) {
    ASSERT_OK_AND_ASSIGN(auto store,
                         Store::Open(fs, "/store", Options(StoreOptions::Reclaim::kExternal)));
    std::vector<std::string> problems = testing::ContractProblems(*store);
    EXPECT_TRUE(problems.empty()) << where << ": " << problems.front();
    problems = TrashProblems(*store);
    EXPECT_TRUE(problems.empty()) << where << ": " << problems.front();
    ASSERT_OK_AND_ASSIGN(StoreState after, testing::CaptureState(*store));
    if (GetParam().removes && after.records.count(vm_) == 0) {  // removed: nothing of it is left
      EXPECT_FALSE(store->fs()->Exists(store->layout().Abs(StoreLayout::VmDirRel(vm_))).value())
          << where;
      ++forward_;
      return;
    }
    bool rolled_back = false;
    problems =
        testing::TransitionProblems(before_, after, vm_, GetParam().after_states, &rolled_back);
    EXPECT_TRUE(problems.empty()) << where << ": " << problems.front();
    if (!rolled_back && GetParam().forward) GetParam().forward(before_, after, vm_);
    if (!rolled_back) ++forward_;
  }

  // Trash entries named like a file a record still names (each scenario has one replica VM, so
  // names are unambiguous); then reclaims, and reports a trash left non-empty or a contract
  // problem once the trash is gone (a chain that needed a trashed file).
  static std::vector<std::string> TrashProblems(Store& store) {
    std::vector<std::string> out;
    Result<std::vector<std::string>> entries = store.fs()->List(store.layout().TrashDir());
    Result<std::vector<VmRecord>> vms = store.ListVms();
    if (!entries.ok() || !vms.ok()) return {"trash or VMs unreadable"};
    for (const VmRecord& r : *vms) {
      Result<std::vector<std::string>> named = ReferencedDisks(store.fs(), store.layout(), r);
      if (!named.ok()) return {named.status().ToString()};
      for (const std::string& e : *entries) {
        const std::string name = e.size() > 37 ? e.substr(37) : e;  // "<op-guid>-<name>"
        if (std::find(named->begin(), named->end(), name) != named->end()) {
          out.push_back("trash/" + e + " is named by VM " + r.name);
        }
      }
    }
    Result<TrashReport> r = store.ReclaimTrash();
    if (!r.ok()) out.push_back("reclaim: " + r.status().ToString());
    entries = store.fs()->List(store.layout().TrashDir());
    if (!entries.ok() || !entries->empty()) out.push_back("trash not empty after a reclaim");
    for (const std::string& p : testing::ContractProblems(store)) out.push_back("reclaimed: " + p);
    return out;
  }

  MemFileSystem image_;
  Guid vm_, test_vm_;
  StoreState before_;
  int forward_ = 0;
};

TEST_P(StoreCrashTest, EveryCrashPointEndsBeforeOrAfter) {
  uint64_t ops = 0;
  {
    auto fs = Fresh();
    ops = Run(fs.get(), 0);
    Verify(fs.get(), "no crash");
  }
  ASSERT_GT(ops, 3u);
  // Default (kept short for the ASan run): one crash at every point, the kind rotating with the
  // point over random seeds 1, 2, 3, drop-all and keep-all. HVDISK_LONG_CRASH=1: all five at
  // every point.
  const bool long_mode = std::getenv("HVDISK_LONG_CRASH") != nullptr;
  const std::pair<uint64_t, CrashMode> kinds[] = {{1, CrashMode::kRandom},
                                                  {0, CrashMode::kDropAll},
                                                  {2, CrashMode::kRandom},
                                                  {0, CrashMode::kKeepAll},
                                                  {3, CrashMode::kRandom}};
  for (uint64_t point = 1; point <= ops; ++point) {
    std::vector<std::pair<uint64_t, CrashMode>> modes;
    for (size_t k = 0; k < std::size(kinds); ++k) {
      if (long_mode || k == point % std::size(kinds)) modes.push_back(kinds[k]);
    }
    for (const auto& [seed, mode] : modes) {
      auto fs = Fresh();
      Run(fs.get(), point);
      fs->Crash(seed, mode);
      Verify(fs.get(), std::string(GetParam().name) + " point " + std::to_string(point) + "/" +
                           std::to_string(ops) + " seed " + std::to_string(seed) + " mode " +
                           std::to_string(static_cast<int>(mode)));
      if (HasFailure()) return;
    }
  }
  EXPECT_GT(forward_, 1) << "some crashes must roll forward";
  std::printf("%s: %llu crash points, %d crashes ended after the operation\n", GetParam().name,
              static_cast<unsigned long long>(ops), forward_ - 1);
}

void CheckpointForward(const StoreState& before, const StoreState& after, const Guid& vm) {
  const VmRecord& b = before.records.at(vm);
  const VmRecord& a = after.records.at(vm);
  ASSERT_FALSE(a.points.empty());
  EXPECT_EQ(after.digests.at(Key(vm, a.points.back().file)), before.digests.at(Key(vm, b.head)));
  EXPECT_EQ(after.digests.at(Key(vm, a.head)), before.digests.at(Key(vm, b.head)));
}

const Scenario kScenarios[] = {
    {.name = "InitiateFailover",
     .op = [](Store& s, const Guid& vm, const Guid&) { return InitiateFailover(s, vm); },
     .after_states = {State::kRecovered}},
    {.name = "RevertFailover",
     .setup =
         [](Store& s, const Guid& vm, Guid*) {
           RETURN_IF_ERROR(InitiateFailover(s, vm));
           return WriteThroughConsumer(s, vm);
         },
     .op = [](Store& s, const Guid& vm, const Guid&) { return RevertFailover(s, vm); },
     .after_states = {State::kReplicating}},
    {.name = "CommitFailover",
     .points = 2,
     .setup =
         [](Store& s, const Guid& vm, Guid*) {
           RETURN_IF_ERROR(InitiateFailover(s, vm, s.GetVm(vm)->points[0].id));
           return WriteThroughConsumer(s, vm);
         },
     .op = [](Store& s, const Guid& vm, const Guid&) { return CommitFailover(s, vm); },
     .after_states = {State::kCommitted}},
    {.name = "TestReplicaSystem",
     .op = [](Store& s, const Guid& vm,
              const Guid&) { return TestReplicaSystem(s, vm, s.GetVm(vm)->points[0].id).status(); },
     .after_states = {State::kReplicating}},
    {.name = "DestroyTestVm",
     .setup =
         [](Store& s, const Guid& vm, Guid* test) {
           ASSIGN_OR_RETURN(*test, TestReplicaSystem(s, vm));
           return WriteThroughConsumer(s, *test);
         },
     .op = [](Store& s, const Guid&, const Guid& test) { return DestroyTestVm(s, test); },
     .after_states = {State::kReplicating}},
    {.name = "RecoveryPoint",
     .op = [](Store& s, const Guid& vm, const Guid&) { return TakeRecoveryPoint(s, vm).status(); },
     .after_states = {State::kReplicating},
     .forward = CheckpointForward},
    {.name = "RecoveryPointWithRetentionMerge",
     .retention = 1,
     .op = [](Store& s, const Guid& vm, const Guid&) { return TakeRecoveryPoint(s, vm).status(); },
     .after_states = {State::kReplicating},
     .forward = CheckpointForward},
    {.name = "SetRetentionMergingTwoPoints",
     .points = 3,
     .op = [](Store& s, const Guid& vm, const Guid&) { return SetRetention(s, vm, 1).status(); },
     .after_states = {State::kReplicating},
     .forward =
         [](const StoreState&, const StoreState& after, const Guid& vm) {
           EXPECT_EQ(after.records.at(vm).points.size(), 1u);
           EXPECT_EQ(after.records.at(vm).retention, 1u);
         }},
    {.name = "RemoveReplica",
     .points = 2,
     .op = [](Store& s, const Guid& vm, const Guid&) { return RemoveReplica(s, vm); },
     .after_states = {},
     .removes = true},
};

INSTANTIATE_TEST_SUITE_P(Operations, StoreCrashTest, ::testing::ValuesIn(kScenarios),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace hvdisk::ops
