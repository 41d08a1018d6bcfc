#include "ops/wmi/replication_service.h"

#include "ops/failover.h"
#include "ops/replication.h"
#include "ops/test_failover.h"
#include "ops/wmi/cim_reference.h"

namespace hvdisk::ops::wmi {
namespace {

// A store that cannot be opened is "not available" (missing, not a store, broken); a held store
// lock keeps its own meaning (32774 / 32772), and so does a permission refused (32769).
Status StoreUnavailable(const std::string& dir, const Status& st) {
  if (st.code() == Code::kInUse || st.code() == Code::kTimeout || st.code() == Code::kOutOfMemory ||
      st.code() == Code::kAccessDenied) {
    return st;
  }
  return Unavailable("replica store " + dir + " is not available: " + st.ToString());
}

// Msvm_ComputerSystem.RequestReplicationStateChange values the documentation lists.
bool IsDocumentedReplicationState(uint16_t state) {
  return state == 1 || state == 2 || state == 3 || state == 4 || state == 7 || state == 9;
}

}  // namespace

MethodResult ResultOf(const Status& status) {
  MethodResult r;
  r.return_value = ReturnValueFor(status.code());
  if (!status.ok()) r.error = status.ToString();
  return r;
}

ReplicationService::ReplicationService(FileSystem* fs, std::string store_dir,
                                       ServiceOptions options)
    : fs_(fs), dir_(std::move(store_dir)), options_(std::move(options)) {}

ReplicationService::~ReplicationService() {
  std::lock_guard<std::mutex> guard(mu_);
  for (auto& [id, runner] : running_) runner->Join();
}

Result<Store*> ReplicationService::OpenStore() {
  std::lock_guard<std::mutex> guard(mu_);
  if (store_ != nullptr) return store_.get();
  Result<std::unique_ptr<Store>> store = Store::Open(fs_, dir_, options_.store);
  if (!store.ok()) return StoreUnavailable(dir_, store.status());
  store_ = std::move(store).value();
  FileSystem* jobs_fs = options_.jobs_fs != nullptr ? options_.jobs_fs : store_->fs();
  jobs_ = std::make_unique<JobStore>(jobs_fs, store_->layout().JobsDir(), store_->layout().root,
                                     options_.job_retention);
  return store_.get();
}

JobStore& ReplicationService::jobs() { return *jobs_; }

Result<VmRecord> ReplicationService::ResolveVm(Store* store, std::string_view computer_system) {
  ASSIGN_OR_RETURN(Guid vm, ParseComputerSystemRef(computer_system));
  Result<VmRecord> record = store->GetVm(vm);
  if (!record.ok() && record.status().code() == Code::kNotFound) {
    return InvalidArgument("ComputerSystem " + std::string(computer_system) +
                           " names no VM of this store");
  }
  return record;
}

void ReplicationService::ReapFinished() {
  std::lock_guard<std::mutex> guard(mu_);
  for (auto it = running_.begin(); it != running_.end();) {
    if (it->second->finished()) {
      it->second->Join();
      it = running_.erase(it);
    } else {
      ++it;
    }
  }
}

MethodResult ReplicationService::StartJob(JobType type, const VmRecord& vm, bool cancellable,
                                          JobRunner::Operation op) {
  ReapFinished();
  (void)jobs().Prune();  // keeps jobs/ to the last 5 minutes; a failure only delays it
  Job job{.id = Guid::Random(),
          .type = type,
          .submitted_ms = NowMs(),
          .cancellable = cancellable,
          .vm = vm.id};
  auto runner = std::make_unique<JobRunner>(&jobs(), job, std::move(op));
  Status accepted = runner->Start();
  if (!accepted.ok()) return ResultOf(accepted);  // refused: no job (the runner joins)
  MethodResult r{.return_value = kJobStarted, .job = JobPath(job.id)};
  Job now = runner->Snapshot();
  if (!now.resulting_system.IsZero()) r.resulting_system = ComputerSystemPath(now.resulting_system);
  std::lock_guard<std::mutex> guard(mu_);
  running_[job.id] = std::move(runner);
  return r;
}

// The four failover-side methods: resolve the references, then run the engine call as a job.
// Cancellable: InitiateFailover and TestReplicaSystem report progress before their commit point;
// RevertFailover and CommitFailover first report after it, when nothing can be cancelled.
MethodResult ReplicationService::RunFailoverMethod(JobType type, std::string_view computer_system,
                                                   std::string_view snapshot_setting_data) {
  Result<Store*> store = OpenStore();
  if (!store.ok()) return ResultOf(store.status());
  Result<VmRecord> vm = ResolveVm(*store, computer_system);
  if (!vm.ok()) return ResultOf(vm.status());
  Result<std::optional<Guid>> point = ParseSnapshotRef(snapshot_setting_data);
  if (!point.ok()) return ResultOf(point.status());
  if (*point && vm->FindPoint(**point) == nullptr) {
    return ResultOf(InvalidArgument("SnapshotSettingData " + std::string(snapshot_setting_data) +
                                    " is not a recovery point of VM " + vm->name));
  }
  Store& s = **store;
  const Guid id = vm->id;
  const std::optional<Guid> p = *point;
  auto status_op = [](Status st) -> Result<Guid> {
    if (!st.ok()) return st;
    return Guid();
  };
  switch (type) {
    case JobType::kInitiateFailover:
      return StartJob(type, *vm, true, [&s, id, p, status_op](const OpControl& c) {
        return status_op(ops::InitiateFailover(s, id, p, &c));
      });
    case JobType::kRevertFailover:
      return StartJob(type, *vm, false, [&s, id, status_op](const OpControl& c) {
        return status_op(ops::RevertFailover(s, id, &c));
      });
    case JobType::kCommitFailover:
      return StartJob(type, *vm, false, [&s, id, status_op](const OpControl& c) {
        return status_op(ops::CommitFailover(s, id, &c));
      });
    case JobType::kInitiateTestReplica: {
      // The test VM is named up front, so ResultingSystem comes back with 4096.
      const Guid test_id = Guid::Random();
      MethodResult r = StartJob(type, *vm, true, [&s, id, p, test_id](const OpControl& c) {
        return ops::TestReplicaSystem(s, id, p, &c, test_id);
      });
      if (r.return_value == kJobStarted) r.resulting_system = ComputerSystemPath(test_id);
      return r;
    }
  }
  return ResultOf(InvalidArgument("unknown job type"));
}

MethodResult ReplicationService::InitiateFailover(std::string_view computer_system,
                                                  std::string_view snapshot_setting_data) {
  return RunFailoverMethod(JobType::kInitiateFailover, computer_system, snapshot_setting_data);
}

MethodResult ReplicationService::RevertFailover(std::string_view computer_system) {
  return RunFailoverMethod(JobType::kRevertFailover, computer_system, "");
}

MethodResult ReplicationService::CommitFailover(std::string_view computer_system) {
  return RunFailoverMethod(JobType::kCommitFailover, computer_system, "");
}

MethodResult ReplicationService::TestReplicaSystem(std::string_view computer_system,
                                                   std::string_view snapshot_setting_data) {
  return RunFailoverMethod(JobType::kInitiateTestReplica, computer_system, snapshot_setting_data);
}

MethodResult ReplicationService::RequestReplicationStateChange(std::string_view computer_system,
                                                               uint16_t requested_state) {
  Result<Store*> store = OpenStore();
  if (!store.ok()) return ResultOf(store.status());
  Result<VmRecord> vm = ResolveVm(*store, computer_system);
  if (!vm.ok()) return ResultOf(vm.status());
  if (requested_state == 3) return ResultOf(ResumeReplication(**store, vm->id));
  if (requested_state == 7) return ResultOf(SuspendReplication(**store, vm->id));
  const std::string value = std::to_string(requested_state);
  if (IsDocumentedReplicationState(requested_state)) {
    return ResultOf(InvalidState("RequestedState " + value + " is not supported for replica VM " +
                                 vm->name + " (3 resume and 7 suspend are)"));
  }
  return ResultOf(InvalidArgument("RequestedState " + value + " is not a replication state"));
}

MethodResult ReplicationService::DestroySystem(std::string_view affected_system) {
  Result<Store*> store = OpenStore();
  if (!store.ok()) return ResultOf(store.status());
  Result<VmRecord> vm = ResolveVm(*store, affected_system);
  if (!vm.ok()) return ResultOf(vm.status());
  return ResultOf(DestroyTestVm(**store, vm->id));
}

Result<Job> ReplicationService::GetJob(std::string_view job) {
  ASSIGN_OR_RETURN(Guid id, ParseJobRef(job));
  ASSIGN_OR_RETURN(Store * store, OpenStore());
  (void)store;
  return jobs().Read(id);
}

Result<std::vector<Job>> ReplicationService::ListJobs() {
  ASSIGN_OR_RETURN(Store * store, OpenStore());
  (void)store;
  return jobs().List();
}

uint32_t ReplicationService::RequestJobStateChange(std::string_view job, uint16_t requested_state) {
  Result<Job> found = GetJob(job);
  if (!found.ok()) return kJobRequestInvalidParameter;
  if (requested_state != kRequestKill) return kJobRequestNotSupported;
  std::lock_guard<std::mutex> guard(mu_);
  auto it = running_.find(found->id);
  if (it == running_.end()) {
    return IsFinished(found->state) ? kJobRequestInvalidTransition : kJobRequestNotSupported;
  }
  return it->second->Cancel() ? kJobRequestTransitionStarted : kJobRequestInvalidTransition;
}

}  // namespace hvdisk::ops::wmi
