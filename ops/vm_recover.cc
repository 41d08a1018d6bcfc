#include "ops/vm_recover.h"

#include "ops/epoch.h"
#include "ops/host_id.h"
#include "ops/vm_served.h"

namespace hvdisk::ops {

Result<VmRecoverReport> RecoverVm(Store& store, const Guid& vm) {
  RETURN_IF_ERROR(RefuseIfServed(store, vm, "recover"));
  VmRecoverReport report;
  ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock, store.LockVm(vm, &report.recovery));
  ASSIGN_OR_RETURN(VmRecord record, store.GetVm(vm));
  report.previous_owner = record.owner_host;
  const std::string me = HostId();
  if (!record.owner_host.empty() && record.owner_host != me) {
    ASSIGN_OR_RETURN(uint64_t epoch, NextEpoch(store.fs(), store.layout(), record.epoch));
    record.epoch = epoch;
    record.owner_host = me;
    ++record.generation;
    RETURN_IF_ERROR(WriteVmRecord(store.fs(), store.RecordPath(vm), record));
    report.taken_over = true;
  }
  report.owner = record.owner_host;
  report.epoch = record.epoch;
  return report;
}

}  // namespace hvdisk::ops
