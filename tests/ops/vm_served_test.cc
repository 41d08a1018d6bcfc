// A served VM (ops/vm_served.h): the mark its server holds, what others see of it, and the
// running-VM rules (revert and commit refuse a served VM at once with kInUse).
#include "ops/vm_served.h"

#include <gtest/gtest.h>

#include <chrono>

#include "ops/failover.h"
#include "ops/test_failover.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/store_fixture.h"

namespace hvdisk::ops {
namespace {

class VmServedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, env_.Create());
    ASSERT_OK_AND_ASSIGN(vm_, env_.MakeVm(*store_, 2));
  }
  std::optional<ServedInfo> Served(const Guid& vm) { return IsServed(*store_, vm).value(); }

  MemFileSystem fs_;
  testing::StoreEnv env_{&fs_};
  std::unique_ptr<Store> store_;
  Guid vm_;
};

TEST_F(VmServedTest, AServedVmShowsWhereItIsServedUntilItsServerLetsGo) {
  ASSERT_OK(InitiateFailover(*store_, vm_));
  EXPECT_FALSE(Served(vm_).has_value());
  {
    ASSERT_OK_AND_ASSIGN(auto mark, ServedVm::Mark(*store_, vm_));
    EXPECT_EQ(mark->disk_path(), store_->layout().Abs(mark->record().attached));
    ASSERT_TRUE(Served(vm_).has_value()) << "served before the record is published";
    ASSERT_OK(mark->Publish({.uri = "nbd+unix:///?socket=/s", .pid = 42, .host = "h"}));
    std::optional<ServedInfo> info = Served(vm_);
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->uri, "nbd+unix:///?socket=/s");
    EXPECT_EQ(info->pid, 42);
    EXPECT_EQ(info->host, "h");
    EXPECT_CODE(ServedVm::Mark(*store_, vm_), Code::kInUse) << "one server per VM";
  }
  EXPECT_FALSE(Served(vm_).has_value());
  EXPECT_FALSE(*fs_.Exists(ServedRecordPath(store_->layout(), vm_))) << "the record is removed";
}

TEST_F(VmServedTest, RevertAndCommitOfAServedVmAreInUseAtOnceEvenWithALockDeadline) {
  ASSERT_OK(InitiateFailover(*store_, vm_));
  StoreOptions waiting = env_.options();
  waiting.lock_timeout = std::chrono::milliseconds(3000);
  ASSERT_OK_AND_ASSIGN(auto other, Store::Open(&fs_, "/store", waiting));
  {
    ASSERT_OK_AND_ASSIGN(auto mark, ServedVm::Mark(*store_, vm_));
    ASSERT_OK(mark->Publish({.uri = "nbd://127.0.0.1:10809/", .pid = 7, .host = "h"}));
    const auto start = std::chrono::steady_clock::now();
    Status revert = RevertFailover(*other, vm_);
    EXPECT_CODE(revert, Code::kInUse);
    EXPECT_NE(revert.message().find("nbd://127.0.0.1:10809/"), std::string::npos)
        << revert.ToString();
    EXPECT_CODE(CommitFailover(*other, vm_), Code::kInUse);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2000))
        << "refused at once, not after the lock deadline";
  }
  EXPECT_OK(RevertFailover(*other, vm_));
}

TEST_F(VmServedTest, AReplicatingVmIsNotServed) {
  EXPECT_CODE(ServedVm::Mark(*store_, vm_), Code::kInvalidState);
  EXPECT_FALSE(Served(vm_).has_value());
}

TEST_F(VmServedTest, ATestVmIsServedAndCannotBeDestroyedMeanwhile) {
  ASSERT_OK_AND_ASSIGN(Guid test, TestReplicaSystem(*store_, vm_, std::nullopt));
  {
    ASSERT_OK_AND_ASSIGN(auto mark, ServedVm::Mark(*store_, test));
    EXPECT_EQ(mark->record().id, test);
    EXPECT_CODE(DestroyTestVm(*store_, test), Code::kInUse);
  }
  EXPECT_OK(DestroyTestVm(*store_, test));
}

TEST_F(VmServedTest, ARecordLeftWithoutItsLockIsNoServedMark) {
  ASSERT_OK(InitiateFailover(*store_, vm_));
  ASSERT_OK(fs_.PutFile(ServedRecordPath(store_->layout(), vm_),
                        R"({"uri":"nbd://stale/","pid":1,"host":"h"})"));
  EXPECT_FALSE(Served(vm_).has_value()) << "a killed server's record marks nothing";
  ASSERT_OK_AND_ASSIGN(auto mark, ServedVm::Mark(*store_, vm_));
  ASSERT_OK(mark->Publish({.uri = "nbd://new/", .pid = 2, .host = "h"}));
  EXPECT_EQ(Served(vm_)->uri, "nbd://new/") << "the next server overwrites it";
}

// A killed server (on this host or another on a shared store) leaves its record behind: under
// its lock the next server drops it, so until it publishes nobody reads the old server's host,
// pid and URI as the new one's.
TEST_F(VmServedTest, ANewServerShowsNothingOfAKilledServersRecordBeforeItPublishes) {
  ASSERT_OK(InitiateFailover(*store_, vm_));
  ASSERT_OK(fs_.PutFile(ServedRecordPath(store_->layout(), vm_),
                        R"({"uri":"nbd://stale/","pid":1,"host":"host-b"})"));
  ASSERT_OK_AND_ASSIGN(auto mark, ServedVm::Mark(*store_, vm_));
  std::optional<ServedInfo> info = Served(vm_);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->uri, "");
  EXPECT_EQ(info->pid, 0);
  EXPECT_EQ(info->host, "");
}

TEST_F(VmServedTest, AMalformedRecordOfAServedVmGivesEmptyFields) {
  ASSERT_OK(InitiateFailover(*store_, vm_));
  ASSERT_OK_AND_ASSIGN(auto mark, ServedVm::Mark(*store_, vm_));
  for (const char* text : {"not json", R"({"uri":5,"pid":"x","host":[]})", R"({"pid":-3})", "[]"}) {
    ASSERT_OK(fs_.PutFile(ServedRecordPath(store_->layout(), vm_), text));
    std::optional<ServedInfo> info = Served(vm_);
    ASSERT_TRUE(info.has_value()) << text;
    EXPECT_EQ(info->uri, "") << text;
    EXPECT_EQ(info->pid, 0) << text;
    EXPECT_EQ(info->host, "") << text;
  }
  ASSERT_OK(fs_.PutFile(ServedRecordPath(store_->layout(), vm_), std::string(100 * 1024, ' ')));
  EXPECT_EQ(Served(vm_)->uri, "") << "an oversized record is not read";
}

}  // namespace
}  // namespace hvdisk::ops
