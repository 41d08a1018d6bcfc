// The failover lifecycle driven only through the facade, the way os-win's JobUtils drives
// Hyper-V: call, and on 4096 poll the job every 100 ms until JobState is 7, 8, 9 or 10; a state
// other than 7 or an ErrorCode other than 0 is a failure. The replica and its points are made
// through the store (the facade has no replication-side methods); the VM's writes go through a
// consumer attached to its disk, as a running VM's would.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <thread>

#include "ops/consumer.h"
#include "ops/wmi/replication_service.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/store_fixture.h"
#include "tests/testutil/wmi_fixture.h"

namespace hvdisk::ops::wmi {
namespace {

using testing::PointRef;
using testing::VmRef;

// os-win's check_ret_val: OK for 0, or 4096 and a job that ends 7 with ErrorCode 0.
Status CheckRetVal(ReplicationService& service, const MethodResult& r) {
  if (r.return_value == kCompleted) return Status::Ok();
  if (r.return_value != kJobStarted) {
    return IoError("WMIJobFailed: return value " + std::to_string(r.return_value) + " " + r.error);
  }
  ASSIGN_OR_RETURN(Job job, testing::WaitForJob(service, r.job, std::chrono::milliseconds(100)));
  if (job.state != JobState::kCompleted || job.error_code != 0) {
    return IoError("WMIJobFailed: job state " + std::to_string(static_cast<int>(job.state)) +
                   " error " + std::to_string(job.error_code) + " " + job.error_description);
  }
  return Status::Ok();
}

// The VM runs on its failover disk and writes into it.
Status RunAndWrite(Store& store, const Guid& vm) {
  ASSIGN_OR_RETURN(auto running, AttachedDisk::Attach(store, vm));
  RETURN_IF_ERROR(running->disk()->Write(1 << 20, hvdisk::testing::PatternBytes(65536, 77)));
  return running->Detach();
}

TEST(WmiScenarioTest, FailoverRevertFailoverAgainCommitThroughTheFacade) {
  MemFileSystem fs;
  ops::testing::StoreEnv env(&fs);
  ASSERT_OK_AND_ASSIGN(auto store, env.Create());
  ASSERT_OK_AND_ASSIGN(Guid vm, testing::MakeReplica(*store, "/base.vhdx", 3));
  const VmRecord replica = store->GetVm(vm).value();
  auto digest = [&](const std::string& file) {
    return ops::testing::DiskDigest(&fs, store->DiskPath(vm, file)).value();
  };
  std::map<std::string, std::string> digests;  // every point and the head
  for (const RecoveryPoint& p : replica.points) digests[p.file] = digest(p.file);
  digests[replica.head] = digest(replica.head);
  // The service's own Store reclaims as a library user's does: on its reaper thread.
  StoreOptions background = env.options();
  background.reclaim = StoreOptions::Reclaim::kBackground;
  ReplicationService service(&fs, "/store", {.store = background});

  // Failover to the oldest point, and the VM writes into its failover disk.
  ASSERT_OK(
      CheckRetVal(service, service.InitiateFailover(VmRef(vm), PointRef(replica.points[0].id))));
  const std::string failover = store->GetVm(vm)->failover_disk;
  EXPECT_EQ(digest(failover), digests[replica.points[0].file]);
  ASSERT_OK(RunAndWrite(*store, vm));
  EXPECT_NE(digest(failover), digests[replica.points[0].file]);

  // Revert: the failover disk is discarded and every point and the head read as before.
  ASSERT_OK(CheckRetVal(service, service.RevertFailover(VmRef(vm))));
  EXPECT_EQ(store->GetVm(vm)->state, ReplicationState::kReplicating);
  EXPECT_EQ(store->GetVm(vm)->points, replica.points);
  for (const auto& [file, d] : digests) EXPECT_EQ(digest(file), d) << file;
  EXPECT_FALSE(fs.Exists(store->DiskPath(vm, failover)).value());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!fs.List("/store/trash")->empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(fs.List("/store/trash")->empty()) << "the service's reaper empties the trash";

  // Failover again (latest point), then commit: the failover content stays, replication ends.
  ASSERT_OK(CheckRetVal(service, service.InitiateFailover(VmRef(vm), "")));
  const VmRecord recovered = store->GetVm(vm).value();
  EXPECT_EQ(recovered.failover_point, replica.points.back().id);
  const std::string before_commit = digest(recovered.failover_disk);
  EXPECT_EQ(before_commit, digests[replica.points.back().file]);
  ASSERT_OK(CheckRetVal(service, service.CommitFailover(VmRef(vm))));
  const VmRecord committed = store->GetVm(vm).value();
  EXPECT_EQ(committed.state, ReplicationState::kCommitted);
  EXPECT_TRUE(committed.points.empty());
  EXPECT_EQ(digest(committed.failover_disk), before_commit);
  EXPECT_TRUE(ops::testing::ContractProblems(*store).empty());
  // Nothing left to revert or commit.
  EXPECT_EQ(service.RevertFailover(VmRef(vm)).return_value, kInvalidState);
}

}  // namespace
}  // namespace hvdisk::ops::wmi
