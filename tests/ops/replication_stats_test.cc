// Issue 18, part 3: the replication statistics of a replica (Measure-VMReplication): recorded per
// cycle, replaced atomically, checked field by field on load, and the health they give over time.
#include "ops/replication_stats.h"

#include <gtest/gtest.h>

#include "ops/store_check.h"
#include "ops/vm_admin.h"
#include "platform/crash_file_system.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/crash_sweep.h"
#include "tests/testutil/store_fixture.h"

namespace hvdisk::ops {
namespace {

using namespace std::chrono_literals;
using testing::ContractProblems;

constexpr int64_t kT0 = 1'800'000'000'000;  // a fixed clock: every test gives its own times

ReplicationCycle Ok(uint64_t bytes, std::string source = "/src.vhdx") {
  return {.source = std::move(source), .bytes = bytes, .duration = 250ms, .succeeded = true};
}
ReplicationCycle Failed(std::string error) {
  return {.source = "nbd://primary/disk", .bitmap = "b1", .succeeded = false, .error = error};
}

class ReplicationStatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, env_.Create());
    ASSERT_OK_AND_ASSIGN(vm_, env_.MakeVm(*store_, 0));
  }
  ReplicationReport At(int64_t now) { return MeasureReplication(*store_, vm_, now).value(); }
  std::string StatsPath() { return store_->layout().Abs(ReplicationStatsRel(vm_)); }
  MemFileSystem fs_;
  testing::StoreEnv env_{&fs_};
  std::unique_ptr<Store> store_;
  Guid vm_;
};

TEST_F(ReplicationStatsTest, AVmNeverReplicatedHasEmptyStatsAndIsNormal) {
  ReplicationReport r = At(kT0);
  EXPECT_EQ(r.stats, ReplicationStats{});
  EXPECT_EQ(r.health, ReplicationHealth::kOk);
  EXPECT_EQ(ReplicationHealthName(r.health), "Normal");
}

TEST_F(ReplicationStatsTest, CyclesAddUpToTotalsAverageAndTheLastCyclesFigures) {
  ASSERT_OK(RecordReplicationCycle(*store_, vm_, Ok(1000), kT0));
  ASSERT_OK(RecordReplicationCycle(*store_, vm_, Ok(3000, "nbd://p/x"), kT0 + 60'000));
  ReplicationStats s = At(kT0 + 61'000).stats;
  EXPECT_EQ(s.cycles, 2u);
  EXPECT_EQ(s.total_bytes, 4000u);
  EXPECT_EQ(s.AverageBytes(), 2000u);
  EXPECT_EQ(s.last_bytes, 3000u);
  EXPECT_EQ(s.last_duration_ms, 250);
  EXPECT_EQ(s.last_ms, kT0 + 60'000);
  EXPECT_EQ(s.last_success_ms, kT0 + 60'000);
  EXPECT_EQ(s.first_ms, kT0);
  EXPECT_EQ(s.source, "nbd://p/x");
  EXPECT_TRUE(ContractProblems(*store_).empty()) << ContractProblems(*store_).front();
}

TEST_F(ReplicationStatsTest, HealthGoesNormalWarningCriticalAndBackAsTheClockAndCyclesSay) {
  ASSERT_OK(RecordReplicationCycle(*store_, vm_, Ok(10), kT0));
  EXPECT_EQ(At(kT0 + 299'000).health, ReplicationHealth::kOk);
  ReplicationReport late = At(kT0 + 301'000);  // the default interval: 5 minutes
  EXPECT_EQ(late.health, ReplicationHealth::kWarning);
  EXPECT_NE(late.health_reason.find("within the replication interval (300 s)"), std::string::npos);
  ASSERT_OK(RecordReplicationCycle(*store_, vm_, Failed("source went away"), kT0 + 10'000));
  EXPECT_EQ(At(kT0 + 11'000).health, ReplicationHealth::kOk);  // one failure, inside the interval
  ASSERT_OK(RecordReplicationCycle(*store_, vm_, Failed("source went away"), kT0 + 20'000));
  ReplicationReport critical = At(kT0 + 21'000);
  EXPECT_EQ(critical.health, ReplicationHealth::kCritical);
  EXPECT_NE(critical.health_reason.find("source went away"), std::string::npos);
  EXPECT_EQ(critical.stats.consecutive_failures, 2u);
  EXPECT_EQ(critical.stats.total_bytes, 10u);
  ASSERT_OK(RecordReplicationCycle(*store_, vm_, Ok(5), kT0 + 30'000));
  EXPECT_EQ(At(kT0 + 31'000).health, ReplicationHealth::kOk);
}

TEST_F(ReplicationStatsTest, TheIntervalSetOnTheVmDecidesWhenItTurnsWarning) {
  ASSERT_OK(SetReplicationInterval(*store_, vm_, 30s));
  ASSERT_OK(RecordReplicationCycle(*store_, vm_, Ok(10), kT0));
  EXPECT_EQ(At(kT0 + 29'000).health, ReplicationHealth::kOk);
  EXPECT_EQ(At(kT0 + 31'000).health, ReplicationHealth::kWarning);
  EXPECT_EQ(At(kT0).stats.interval_s, 30);
  EXPECT_CODE(SetReplicationInterval(*store_, vm_, 0s), Code::kInvalidArgument);
  EXPECT_CODE(SetReplicationInterval(*store_, vm_, 86401s), Code::kInvalidArgument);
}

TEST_F(ReplicationStatsTest, AFailedFirstCycleTurnsWarningOnceTheIntervalPassesWithoutSuccess) {
  ASSERT_OK(RecordReplicationCycle(*store_, vm_, Failed("refused"), kT0));
  EXPECT_EQ(At(kT0 + 1000).health, ReplicationHealth::kOk);
  EXPECT_EQ(At(kT0 + 301'000).health, ReplicationHealth::kWarning);
}

TEST_F(ReplicationStatsTest, AnUnknownVmIsNotFoundAndAReadOnlyStoreRecordsNothing) {
  EXPECT_CODE(RecordReplicationCycle(*store_, Guid::Random(), Ok(1), kT0), Code::kNotFound);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> ro, Store::Open(&fs_, "/store", {.read_only = true}));
  EXPECT_CODE(RecordReplicationCycle(*ro, vm_, Ok(1), kT0), Code::kAccessDenied);
  EXPECT_OK(MeasureReplication(*ro, vm_, kT0).status());
}

// Each field of a planted record is checked: a bad one is kCorrupt naming it, `store check`
// reports it, and the next cycle starts the statistics afresh.
TEST_F(ReplicationStatsTest, AnUntrustedRecordIsCheckedFieldByField) {
  ASSERT_OK(RecordReplicationCycle(*store_, vm_, Ok(10), kT0));
  const std::string good = ReadWholeFile(&fs_, StatsPath()).value();
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"\"cycles\": 1", "\"cycles\": -1"},
      {"\"failed_cycles\": 0", "\"failed_cycles\": 2"},
      {"\"last_ms\": 1800000000000", "\"last_ms\": 1"},
      {"\"consecutive_failures\": 0", "\"consecutive_failures\": 1"},
      {"\"interval_s\": 0", "\"interval_s\": 99999999"},
      {"\"last_succeeded\": true", "\"last_succeeded\": \"yes\""},
      {"\"version\": 1", "\"version\": 2"},
      {"\"source\": \"/src.vhdx\"", "\"source\": \"" + std::string(5000, 'x') + "\""},
      {"\"vm\": \"", "\"vm\": \"0"},
  };
  for (const auto& [from, to] : bad) {
    std::string text = good;
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    ASSERT_OK(WriteFileAtomically(&fs_, StatsPath(), std::as_bytes(std::span(text))));
    EXPECT_CODE(LoadReplicationStats(*store_, vm_), Code::kCorrupt) << to.substr(0, 40);
    ASSERT_OK_AND_ASSIGN(StoreCheckReport rep, CheckStore(store_.get()));
    EXPECT_FALSE(rep.problems.empty()) << to.substr(0, 40);
  }
  const std::string huge(70000, '{');
  ASSERT_OK(WriteFileAtomically(&fs_, StatsPath(), std::as_bytes(std::span(huge))));
  EXPECT_CODE(LoadReplicationStats(*store_, vm_), Code::kCorrupt);
  ASSERT_OK(RecordReplicationCycle(*store_, vm_, Ok(7), kT0 + 1));
  EXPECT_EQ(LoadReplicationStats(*store_, vm_).value().cycles, 1u);
}

TEST_F(ReplicationStatsTest, TheRecordIsKeptByRecoveryAndRemovedWithTheVm) {
  ASSERT_OK(RecordReplicationCycle(*store_, vm_, Ok(10), kT0));
  store_.reset();
  ASSERT_OK_AND_ASSIGN(store_, env_.Open());
  EXPECT_TRUE(store_->open_recovery().quarantined.empty());
  EXPECT_EQ(LoadReplicationStats(*store_, vm_).value().cycles, 1u);
  ASSERT_OK(RemoveReplica(*store_, vm_));
  EXPECT_FALSE(fs_.Exists(StatsPath()).value());
  EXPECT_TRUE(ContractProblems(*store_).empty()) << ContractProblems(*store_).front();
}

// A crash at every write, flush and rename of a recording leaves the old statistics or the new
// ones, never a mix, and nothing recovery or `store check` objects to.
TEST(ReplicationStatsCrash, ACrashAtEveryStepOfARecordingLeavesTheOldOrTheNewStats) {
  struct World {
    CrashFileSystem fs;
    testing::StoreEnv env{&fs};
    std::unique_ptr<Store> store;
    Guid vm;
  };
  auto setup = [](World& w) {
    w.store = w.env.Create().value();
    w.vm = w.env.MakeVm(*w.store, 0).value();
    ASSERT_OK(RecordReplicationCycle(*w.store, w.vm, Ok(10), kT0));
    w.fs.SyncAll();
  };
  uint64_t ops = 0;
  {
    World w;
    setup(w);
    const uint64_t before = w.fs.mutating_ops();
    ASSERT_OK(RecordReplicationCycle(*w.store, w.vm, Ok(20), kT0 + 1000));
    ops = w.fs.mutating_ops() - before;
  }
  ASSERT_GE(ops, 4u);  // write, flush, rename, sync at least
  hvdisk::testing::CrashEverywhere(ops, [&](const hvdisk::testing::CrashRun& run) {
    World w;
    setup(w);
    w.fs.SetCrashPoint(run.point);
    (void)RecordReplicationCycle(*w.store, w.vm, Ok(20), kT0 + 1000);
    w.store.reset();
    w.fs.Crash(run.seed, run.mode);
    ASSERT_OK_AND_ASSIGN(w.store, w.env.Open());
    ASSERT_OK_AND_ASSIGN(ReplicationStats s, LoadReplicationStats(*w.store, w.vm));
    EXPECT_TRUE(s.cycles == 1 || s.cycles == 2) << run.where;
    EXPECT_EQ(s.total_bytes, s.cycles == 1 ? 10u : 30u) << run.where;
    std::vector<std::string> problems = ContractProblems(*w.store);
    EXPECT_TRUE(problems.empty()) << run.where << ": " << problems.front();
  });
}

}  // namespace
}  // namespace hvdisk::ops
