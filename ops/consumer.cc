#include "ops/consumer.h"

namespace hvdisk::ops {

bool CanRun(const VmRecord& record) {
  const bool runnable = record.mode == ReplicationMode::kTestReplica ||
                        record.state == ReplicationState::kRecovered ||
                        record.state == ReplicationState::kCommitted;
  return runnable && !record.attached.empty();
}

Result<std::unique_ptr<AttachedDisk>> AttachedDisk::Attach(Store& store, const Guid& vm) {
  std::unique_ptr<AttachedDisk> a(new AttachedDisk());
  ASSIGN_OR_RETURN(LockedVm v, store.LockAndRead(vm, false));
  if (!CanRun(v.record)) {
    return InvalidState("VM " + v.record.name + " cannot run in state " +
                        std::string(StateName(v.record.state)));
  }
  ASSIGN_OR_RETURN(a->disk_, chain::Chain::Open(store.fs(), store.layout().Abs(v.record.attached),
                                                {.writable_leaf = true}));
  a->lock_ = std::move(v.lock);
  a->record_ = std::move(v.record);
  return a;
}

AttachedDisk::~AttachedDisk() { (void)Detach(); }

Status AttachedDisk::Detach() {
  Status st;
  if (disk_) {
    st = disk_->Flush();
    Status closed = disk_->Close();
    if (st.ok()) st = closed;
    disk_.reset();
  }
  lock_.reset();
  return st;
}

}  // namespace hvdisk::ops
