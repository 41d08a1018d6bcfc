#include "ops/wmi/replication_service.h"

#include "ops/failover.h"
#include "ops/replication.h"
#include "ops/test_failover.h"
#include "ops/wmi/cim_reference.h"
#include "ops/wmi/wql.h"

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

Result<Guid> ReplicationService::FindComputerSystem(Store* store,
                                                    std::string_view computer_system) {
  ASSIGN_OR_RETURN(ComputerSystemKey key, ParseComputerSystemKey(computer_system));
  if (key.id) return *key.id;
  ASSIGN_OR_RETURN(std::vector<VmRecord> vms, store->ListVms());
  std::vector<Guid> found;
  for (const VmRecord& r : vms) {
    if (r.name == key.element_name) found.push_back(r.id);
  }
  if (found.size() > 1) {
    return InvalidArgument("several VMs are named '" + key.element_name +
                           "'; name the VM by its GUID (Name=\"<guid>\")");
  }
  if (found.empty()) return NotFound("no VM is named '" + key.element_name + "'");
  return found[0];
}

Result<VmRecord> ReplicationService::ResolveVm(Store* store, std::string_view computer_system) {
  Result<Guid> vm = FindComputerSystem(store, computer_system);
  Result<VmRecord> record = vm.ok() ? store->GetVm(*vm) : Result<VmRecord>(vm.status());
  if (!record.ok() && record.status().code() == Code::kNotFound) {
    return InvalidArgument("ComputerSystem " + std::string(computer_system) +
                           " names no VM of this store");
  }
  return record;
}

Result<std::vector<CimInstance>> ReplicationService::EnumerateInstances(
    std::string_view class_name) {
  std::optional<std::string_view> cls = CanonicalClass(class_name);
  if (!cls) {
    return InvalidArgument("class " + std::string(class_name) + " is not one hvdisk serves");
  }
  ASSIGN_OR_RETURN(Store * store, OpenStore());
  std::vector<CimInstance> out;
  if (*cls == kReplicationServiceClass)
    return std::vector<CimInstance>{ReplicationServiceInstance()};
  if (*cls == kConcreteJobClass) {
    ASSIGN_OR_RETURN(std::vector<Job> list, jobs().List());
    const int64_t now = NowMs();
    for (const Job& j : list) out.push_back(JobInstance(j, now));
    return out;
  }
  ASSIGN_OR_RETURN(std::vector<VmRecord> vms, store->ListVms());
  for (const VmRecord& vm : vms) {
    if (*cls == kComputerSystemClass) out.push_back(ComputerSystemInstance(vm));
    if (vm.mode != ReplicationMode::kReplica) continue;
    if (*cls == kReplicationSettingDataClass) out.push_back(ReplicationSettingDataInstance(vm));
    if (*cls != kSettingDataClass) continue;
    for (const RecoveryPoint& p : vm.points) out.push_back(RecoveryPointInstance(vm, p));
  }
  return out;
}

Result<std::vector<CimInstance>> ReplicationService::ExecQuery(std::string_view wql) {
  ASSIGN_OR_RETURN(WqlQuery query, ParseWql(wql));
  if (CanonicalClass(query.class_name)) {
    RETURN_IF_ERROR(CheckWqlProperties(query, SchemaInstance(query.class_name)));
  }
  ASSIGN_OR_RETURN(std::vector<CimInstance> all, EnumerateInstances(query.class_name));
  std::vector<CimInstance> out;
  for (CimInstance& i : all) {
    if (WqlMatches(query, i)) out.push_back(std::move(i));
  }
  return out;
}

Result<CimInstance> ReplicationService::FindPointInstance(Store* store, std::string_view path) {
  ASSIGN_OR_RETURN(std::optional<Guid> point, ParseSnapshotRef(path));
  if (!point) return InvalidArgument("a recovery point reference is needed");
  ASSIGN_OR_RETURN(std::vector<VmRecord> vms, store->ListVms());
  for (const VmRecord& vm : vms) {
    if (const RecoveryPoint* p = vm.FindPoint(*point)) return RecoveryPointInstance(vm, *p);
  }
  return NotFound("no recovery point " + point->ToString(false) + " in this store");
}

Result<CimInstance> ReplicationService::GetInstance(std::string_view path) {
  ASSIGN_OR_RETURN(CimPath parsed, ParseCimPath(path));
  std::optional<std::string_view> cls = CanonicalClass(parsed.class_name);
  if (!cls) return InvalidArgument("class " + parsed.class_name + " is not one hvdisk serves");
  if (*cls == kReplicationServiceClass) {
    RETURN_IF_ERROR(CheckReplicationServicePath(path, parsed));
    return ReplicationServiceInstance();
  }
  ASSIGN_OR_RETURN(Store * store, OpenStore());
  if (*cls == kConcreteJobClass) {
    ASSIGN_OR_RETURN(Job job, GetJob(path));
    return JobInstance(job, NowMs());
  }
  if (*cls == kSettingDataClass) return FindPointInstance(store, path);
  Guid vm;
  if (*cls == kReplicationSettingDataClass) {
    ASSIGN_OR_RETURN(vm, ParseReplicationSettingDataRef(path));
  } else {
    ASSIGN_OR_RETURN(vm, FindComputerSystem(store, path));
  }
  ASSIGN_OR_RETURN(VmRecord record, store->InspectVm(vm));
  if (*cls == kComputerSystemClass) return ComputerSystemInstance(record);
  if (record.mode != ReplicationMode::kReplica) {
    return NotFound("VM " + record.name + " is not a replica: it has no replication settings");
  }
  return ReplicationSettingDataInstance(record);
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
