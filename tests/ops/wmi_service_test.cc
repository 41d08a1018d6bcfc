// Msvm_ReplicationService through the facade: every return value of docs/design.md's table that an
// in-process cause can provoke (the cross-process ones are in wmi_process_test.cc), and jobs:
// acceptance, mid-job failures (injected with FaultFileSystem while a GateFileSystem holds the
// job), cancellation and retention.
#include <gtest/gtest.h>

#include <thread>

#include "ops/consumer.h"
#include "ops/wmi/cim_reference.h"
#include "ops/wmi/replication_service.h"
#include "platform/fault_file_system.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/store_fixture.h"
#include "tests/testutil/wmi_fixture.h"

namespace hvdisk::ops::wmi {
namespace {

using testing::GateFileSystem;
using testing::PointRef;
using testing::VmRef;
using State = ReplicationState;

class WmiServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, env_.Create());
    ASSERT_OK_AND_ASSIGN(vm_, testing::MakeReplica(*store_, "/base.vhdx", 3));
    service_ = NewService();
  }
  std::unique_ptr<ReplicationService> NewService(ServiceOptions options = {}) {
    options.jobs_fs = &mem_;  // job records stay out of the faults aimed at the engine
    return std::make_unique<ReplicationService>(&gate_, "/store", options);
  }
  VmRecord Record(const Guid& vm) { return store_->GetVm(vm).value(); }
  // The os-win way: 4096, then poll until the job ends.
  Job Finish(const MethodResult& r) {
    EXPECT_EQ(r.return_value, kJobStarted) << r.error;
    Result<Job> job = testing::WaitForJob(*service_, r.job);
    EXPECT_TRUE(job.ok()) << job.status().ToString();
    return job.ok() ? *job : Job{};
  }
  // Holds the next initiate at its failover disk, injects `err` there, and returns the job.
  Job InitiateWithFaultMidJob(int err) {
    gate_.Arm("failover-");
    MethodResult r = service_->InitiateFailover(VmRef(vm_), "");
    EXPECT_EQ(r.return_value, kJobStarted) << r.error;
    gate_.WaitUntilHeld();
    EXPECT_EQ(service_->GetJob(r.job)->state, JobState::kRunning);
    fault_.SetRule(FileOp::kOpen, {.nth = 1, .err = err});
    gate_.Release();
    Job job = Finish(r);
    fault_.ClearRules();
    return job;
  }

  MemFileSystem mem_;
  FaultFileSystem fault_{&mem_};
  GateFileSystem gate_{&fault_};
  ops::testing::StoreEnv env_{&mem_};
  std::unique_ptr<Store> store_;
  Guid vm_;
  std::unique_ptr<ReplicationService> service_;
};

TEST_F(WmiServiceTest, ReplicationStateChangeCompletesAtOnce_0) {
  MethodResult r = service_->RequestReplicationStateChange(VmRef(vm_), 7);
  EXPECT_EQ(r.return_value, kCompleted) << r.error;
  EXPECT_TRUE(r.job.empty());
  EXPECT_EQ(Record(vm_).state, State::kSuspended);
  EXPECT_EQ(service_->RequestReplicationStateChange(VmRef(vm_), 3).return_value, kCompleted);
  EXPECT_EQ(Record(vm_).state, State::kReplicating);
}

TEST_F(WmiServiceTest, AcceptedFailoverReturnsJobThatCompletes_4096) {
  const VmRecord before = Record(vm_);
  MethodResult r = service_->InitiateFailover(VmRef(vm_), PointRef(before.points[0].id));
  Job job = Finish(r);
  EXPECT_EQ(job.state, JobState::kCompleted);
  EXPECT_EQ(job.error_code, 0u);
  EXPECT_EQ(job.percent, 100);
  EXPECT_EQ(job.type, JobType::kInitiateFailover);
  EXPECT_EQ(job.vm, vm_);
  EXPECT_GT(job.started_ms, 0);
  EXPECT_GE(job.finished_ms, job.started_ms);
  EXPECT_EQ(ParseJobRef(r.job).value(), job.id);
  EXPECT_EQ(Record(vm_).state, State::kRecovered);
  EXPECT_EQ(Record(vm_).failover_point, before.points[0].id);
}

// EIO is fencing on a store (ops/fencing_file_system.h): an I/O error of another errno.
TEST_F(WmiServiceTest, IoErrorMidJobEndsTheJobInException_32768) {
  Job job = InitiateWithFaultMidJob(EREMOTEIO);
  EXPECT_EQ(job.state, JobState::kException);
  EXPECT_EQ(job.error_code, kFailed);
  EXPECT_NE(job.error_description.find("I/O error"), std::string::npos) << job.error_description;
  EXPECT_EQ(Record(vm_).state, State::kReplicating);  // rolled back
  EXPECT_TRUE(ops::testing::ContractProblems(*store_).empty());
}

// A store that fails with EIO lost its hold on the store: the job stops without rolling back
// (another host recovers), as 32777 System is not available, or as lost (32771) to readers once
// nothing of this host can write its record.
TEST_F(WmiServiceTest, FencedMidJobEndsTheJobWithoutRollingBack_32777) {
  Job job = InitiateWithFaultMidJob(EIO);
  EXPECT_EQ(job.state, JobState::kException);
  EXPECT_TRUE(job.error_code == kSystemNotAvailable || job.error_code == kStatusUnknown)
      << job.error_code << " " << job.error_description;
}

TEST_F(WmiServiceTest, AllocationFailureMidJob_32778) {
  Job job = InitiateWithFaultMidJob(ENOMEM);
  EXPECT_EQ(job.state, JobState::kException);
  EXPECT_EQ(job.error_code, kOutOfMemory);
  EXPECT_EQ(Record(vm_).state, State::kReplicating);
}

TEST_F(WmiServiceTest, PermissionDeniedMidJob_32769) {
  Job job = InitiateWithFaultMidJob(EACCES);
  EXPECT_EQ(job.state, JobState::kException);
  EXPECT_EQ(job.error_code, kAccessDenied);
}

TEST_F(WmiServiceTest, RevertOnATestVmIsNotSupported_32770) {
  MethodResult r = service_->TestReplicaSystem(VmRef(vm_), "");
  Job job = Finish(r);
  ASSERT_EQ(job.state, JobState::kCompleted) << job.error_description;
  ASSERT_FALSE(job.resulting_system.IsZero());
  // ResultingSystem came back with 4096 already, naming the VM the job made.
  EXPECT_EQ(r.resulting_system, ops::wmi::ComputerSystemPath(job.resulting_system));
  const std::string test_vm = VmRef(job.resulting_system);
  EXPECT_EQ(Record(job.resulting_system).mode, ReplicationMode::kTestReplica);
  MethodResult revert = service_->RevertFailover(test_vm);
  EXPECT_EQ(revert.return_value, kNotSupported) << revert.error;
  EXPECT_TRUE(revert.job.empty());
  EXPECT_EQ(service_->DestroySystem(VmRef(vm_)).return_value, kNotSupported);
  EXPECT_EQ(service_->DestroySystem(test_vm).return_value, kCompleted);
  EXPECT_TRUE(Record(vm_).test_vm.IsZero());
}

TEST_F(WmiServiceTest, LockHeldPastTheDeadline_32772) {
  service_ = NewService({.store = {.lock_timeout = std::chrono::milliseconds(100)}});
  ASSERT_EQ(Finish(service_->InitiateFailover(VmRef(vm_), "")).state, JobState::kCompleted);
  ASSERT_OK_AND_ASSIGN(auto running, AttachedDisk::Attach(*store_, vm_));
  const auto start = std::chrono::steady_clock::now();
  MethodResult r = service_->RevertFailover(VmRef(vm_));
  EXPECT_EQ(r.return_value, kTimeout) << r.error;
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
  ASSERT_OK(running->Detach());
  EXPECT_EQ(Finish(service_->RevertFailover(VmRef(vm_))).state, JobState::kCompleted);
}

TEST_F(WmiServiceTest, MalformedUnknownOrForeignArgumentsAreInvalid_32773) {
  ASSERT_OK_AND_ASSIGN(Guid other, testing::MakeReplica(*store_, "/other.vhdx", 1, "vm2", 7));
  const Guid foreign = Record(other).points[0].id;
  for (const MethodResult& r : {
           service_->InitiateFailover("Msvm_ComputerSystem.Name=\"nope\"", ""),
           service_->InitiateFailover("", ""),
           service_->InitiateFailover(VmRef(Guid::Random()), ""),
           service_->InitiateFailover(VmRef(vm_), PointRef(foreign)),
           service_->TestReplicaSystem(VmRef(vm_), PointRef(Guid::Random())),
           service_->RequestReplicationStateChange(VmRef(vm_), 42),
           service_->DestroySystem(VmRef(Guid::Random())),
       }) {
    EXPECT_EQ(r.return_value, kInvalidParameter) << r.error;
    EXPECT_TRUE(r.job.empty());
  }
  EXPECT_EQ(Record(vm_).state, State::kReplicating);
}

TEST_F(WmiServiceTest, OperationsRefusedInTheVmsState_32775) {
  EXPECT_EQ(service_->RevertFailover(VmRef(vm_)).return_value, kInvalidState);
  EXPECT_EQ(service_->CommitFailover(VmRef(vm_)).return_value, kInvalidState);
  EXPECT_EQ(service_->RequestReplicationStateChange(VmRef(vm_), 4).return_value, kInvalidState);
  ASSERT_EQ(Finish(service_->InitiateFailover(VmRef(vm_), "")).state, JobState::kCompleted);
  MethodResult again = service_->InitiateFailover(VmRef(vm_), "");
  EXPECT_EQ(again.return_value, kInvalidState) << again.error;
  EXPECT_TRUE(again.job.empty());
  EXPECT_EQ(service_->RequestReplicationStateChange(VmRef(vm_), 7).return_value, kInvalidState);
}

TEST_F(WmiServiceTest, ReferenceOfTheWrongClass_32776) {
  const Guid point = Record(vm_).points[0].id;
  EXPECT_EQ(service_->InitiateFailover(PointRef(point), "").return_value, kIncorrectDataType);
  EXPECT_EQ(service_->InitiateFailover(VmRef(vm_), VmRef(vm_)).return_value, kIncorrectDataType);
  EXPECT_EQ(service_->RevertFailover("Msvm_ConcreteJob.InstanceID=\"x\"").return_value,
            kIncorrectDataType);
}

TEST_F(WmiServiceTest, StoreMissingOrNotAStore_32777) {
  ReplicationService missing(&mem_, "/nowhere", {.store = env_.options()});
  MethodResult r = missing.InitiateFailover(VmRef(vm_), "");
  EXPECT_EQ(r.return_value, kSystemNotAvailable) << r.error;
  EXPECT_EQ(missing.RequestReplicationStateChange(VmRef(vm_), 7).return_value, kSystemNotAvailable);
  EXPECT_CODE(missing.ListJobs(), Code::kUnavailable);
  ASSERT_OK(mem_.CreateDir("/plain"));
  ReplicationService plain(&mem_, "/plain", {.store = env_.options()});
  EXPECT_EQ(plain.RevertFailover(VmRef(vm_)).return_value, kSystemNotAvailable);
}

// Commit checks the failover disk's chain before it journals anything: a disk removed behind the
// engine's back is 32779 at once, with no job, and the VM stays 5 Recovered with a clean store.
TEST_F(WmiServiceTest, FailoverDiskRemovedBehindTheEnginesBack_32779) {
  ASSERT_EQ(Finish(service_->InitiateFailover(VmRef(vm_), "")).state, JobState::kCompleted);
  ASSERT_OK(mem_.Unlink(store_->DiskPath(vm_, Record(vm_).failover_disk)));
  MethodResult r = service_->CommitFailover(VmRef(vm_));
  EXPECT_EQ(r.return_value, kFileNotFound) << r.error;
  EXPECT_TRUE(r.job.empty());
  EXPECT_EQ(Record(vm_).state, ReplicationState::kRecovered);
  // Revert needs no failover disk (it discards it) and brings the VM back.
  EXPECT_EQ(Finish(service_->RevertFailover(VmRef(vm_))).state, JobState::kCompleted);
  EXPECT_EQ(Record(vm_).state, ReplicationState::kReplicating);
}

TEST_F(WmiServiceTest, KillCancelsARunningJobWhichRollsBack) {
  const VmRecord before = Record(vm_);
  gate_.Arm("failover-");
  MethodResult r = service_->InitiateFailover(VmRef(vm_), "");
  ASSERT_EQ(r.return_value, kJobStarted) << r.error;
  gate_.WaitUntilHeld();
  EXPECT_TRUE(service_->GetJob(r.job)->cancellable);
  EXPECT_EQ(service_->RequestJobStateChange(r.job, 4), kJobRequestNotSupported);
  EXPECT_EQ(service_->RequestJobStateChange(r.job, kRequestKill), kJobRequestTransitionStarted);
  gate_.Release();
  Job job = Finish(r);
  EXPECT_EQ(job.state, JobState::kKilled);
  EXPECT_FALSE(job.cancellable);
  EXPECT_EQ(job.error_code, kInvalidState);  // as before kCancelled existed
  EXPECT_TRUE(job.error_description.starts_with("cancelled: ")) << job.error_description;
  VmRecord after = Record(vm_);
  EXPECT_EQ(after.state, State::kReplicating);
  EXPECT_EQ(after.points, before.points);
  EXPECT_TRUE(after.failover_disk.empty());
  EXPECT_TRUE(ops::testing::ContractProblems(*store_).empty());
  EXPECT_EQ(service_->RequestJobStateChange(r.job, kRequestKill), kJobRequestInvalidTransition);
  EXPECT_EQ(service_->RequestJobStateChange(JobPath(Guid::Random()), kRequestKill),
            kJobRequestInvalidParameter);
}

TEST_F(WmiServiceTest, JobsAreSharedThroughTheStoreAndPrunedAfterRetention) {
  service_ = NewService({.job_retention = std::chrono::milliseconds(200)});
  MethodResult r = service_->InitiateFailover(VmRef(vm_), "");
  Job job = Finish(r);
  ReplicationService other(&mem_, "/store", {.store = env_.options()});
  ASSERT_OK_AND_ASSIGN(Job seen, other.GetJob(r.job));
  EXPECT_EQ(seen, job);
  ASSERT_OK_AND_ASSIGN(std::vector<Job> jobs, service_->ListJobs());
  EXPECT_EQ(jobs.size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_OK_AND_ASSIGN(jobs, service_->ListJobs());
  EXPECT_TRUE(jobs.empty());
  EXPECT_CODE(service_->GetJob(r.job), Code::kNotFound);
}

}  // namespace
}  // namespace hvdisk::ops::wmi
