// ReplicationService: the WMI-style facade of a replica store, answering as Hyper-V's
// Msvm_ReplicationService (and the few Msvm_ComputerSystem, Msvm_VirtualSystemManagementService
// and Msvm_ConcreteJob methods its clients need) does: CIM references in, uint32 return values
// and job references out (docs/design.md, "Errors").
//
// The facade decides nothing about replicas: it parses references (cim_reference.h), resolves
// them against the store (an unknown VM, or a point that is not one of the VM's, is 32773), calls
// the store (ops/failover.h, ops/replication.h) and maps the outcome (return_codes.h).
//   - Refused preconditions (state, lock, mode, ...) return their value at once, with no job.
//   - InitiateFailover, RevertFailover, CommitFailover and TestReplicaSystem, once accepted,
//     return 4096 and a job run on a worker thread (job_runner.h); RequestReplicationStateChange
//     and DestroySystem complete at once (0).
//   - A store that cannot be opened (missing, not a store, broken) is 32777 for every call, one
//     the caller may not open (permissions) 32769; the service retries opening it on each call.
//   - A caller who may read the store but not write it (another user's store, a read-only mount)
//     gets jobs and records, and 32769 Access Denied for every method that changes a VM.
//
// Instances (cim_instance.h) are read from the store's records at each call: enumeration by class,
// a WQL query (wql.h), or the instance a CIM path names. A VM reference may name the VM by GUID
// (Name=, documented) or by name (ElementName=, hvdisk's extension; an ambiguous name is 32773).
//
// Thread safety: every method may be called from any thread. The destructor waits for the jobs
// this service started. The FileSystems must outlive the service.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ops/store.h"
#include "ops/wmi/cim_instance.h"
#include "ops/wmi/job.h"
#include "ops/wmi/job_runner.h"

namespace hvdisk::ops::wmi {

struct ServiceOptions {
  // Lock directory and lock deadline (32772 past it); reclaim: the Store's reaper thread by
  // default, so a job ends without waiting for what it discarded to be freed.
  StoreOptions store;
  std::chrono::milliseconds job_retention = JobStore::kDefaultRetention;
  // Where job records are written; null: the store's FileSystem. (Fault-injection tests keep job
  // records out of the faults they aim at the engine.)
  FileSystem* jobs_fs = nullptr;
};

// A method's outcome as Invoke-CimMethod shows it.
struct MethodResult {
  uint32_t return_value = 0;     // ReturnValue
  std::string job;               // Job [out]: a Msvm_ConcreteJob path with 4096, else empty
  std::string resulting_system;  // TestReplicaSystem's ResultingSystem [out], once known
  std::string error;             // why, for return values other than 0 and 4096 (not WMI's)
};

class ReplicationService {
 public:
  ReplicationService(FileSystem* fs, std::string store_dir, ServiceOptions options = {});
  ~ReplicationService();
  ReplicationService(const ReplicationService&) = delete;
  ReplicationService& operator=(const ReplicationService&) = delete;

  // Msvm_ReplicationService. `snapshot_setting_data` empty: the latest recovery point.
  MethodResult InitiateFailover(std::string_view computer_system,
                                std::string_view snapshot_setting_data);
  MethodResult RevertFailover(std::string_view computer_system);
  MethodResult CommitFailover(std::string_view computer_system);
  MethodResult TestReplicaSystem(std::string_view computer_system,
                                 std::string_view snapshot_setting_data);
  // Msvm_ComputerSystem.RequestReplicationStateChange: 3 resume, 7 suspend (1, 2, 4, 9 are
  // documented but not for a replica: 32775; any other value: 32773).
  MethodResult RequestReplicationStateChange(std::string_view computer_system,
                                             uint16_t requested_state);
  // Msvm_VirtualSystemManagementService.DestroySystem of a test VM (any other VM: 32770).
  MethodResult DestroySystem(std::string_view affected_system);

  // Every instance of a served class (cim_instance.h), in a stable order; kInvalidArgument for a
  // class hvdisk does not serve.
  Result<std::vector<CimInstance>> EnumerateInstances(std::string_view class_name);
  // The instances a WQL query (wql.h) selects; kInvalidArgument for a query outside the subset,
  // an unknown class or property.
  Result<std::vector<CimInstance>> ExecQuery(std::string_view wql);
  // The instance a CIM path names; kNotFound when there is none (an unknown VM, point or job),
  // kInvalidArgument or kWrongType for a malformed path or one of another class (cim_reference.h).
  Result<CimInstance> GetInstance(std::string_view path);

  // Msvm_ConcreteJob, by reference or bare GUID; jobs of every process on the store.
  Result<Job> GetJob(std::string_view job);
  Result<std::vector<Job>> ListJobs();
  // RequestStateChange(5 Kill) of a cancellable job this service runs: 4096 (it rolls back and
  // ends 9 Killed, unless it already passed its commit point and ends 7); 4097 for a finished or
  // not cancellable job; 1 for a job of another process or another RequestedState; 5 for an
  // unknown job.
  uint32_t RequestJobStateChange(std::string_view job, uint16_t requested_state);

 private:
  Result<Store*> OpenStore();
  JobStore& jobs();
  // The VM a Msvm_ComputerSystem path names (by Name or ElementName); kNotFound if none.
  Result<Guid> FindComputerSystem(Store* store, std::string_view computer_system);
  // The VM of `computer_system`, with its record; 32773 for an unknown VM.
  Result<VmRecord> ResolveVm(Store* store, std::string_view computer_system);
  Result<CimInstance> FindPointInstance(Store* store, std::string_view path);
  MethodResult StartJob(JobType type, const VmRecord& vm, bool cancellable,
                        JobRunner::Operation op);
  MethodResult RunFailoverMethod(JobType type, std::string_view computer_system,
                                 std::string_view snapshot_setting_data);
  void ReapFinished();

  FileSystem* fs_;
  std::string dir_;
  ServiceOptions options_;
  std::mutex mu_;
  std::unique_ptr<Store> store_;                        // GUARDED_BY(mu_); null until opened
  std::unique_ptr<JobStore> jobs_;                      // set with store_
  std::map<Guid, std::unique_ptr<JobRunner>> running_;  // GUARDED_BY(mu_)
};

// The MethodResult of a status: 0 for OK, else the mapped value with the status as `error`.
MethodResult ResultOf(const Status& status);

}  // namespace hvdisk::ops::wmi
