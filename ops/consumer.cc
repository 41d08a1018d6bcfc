#include "ops/consumer.h"

namespace hvdisk::ops {

Result<std::unique_ptr<AttachedDisk>> AttachedDisk::Attach(Store& store, const Guid& vm) {
  std::unique_ptr<AttachedDisk> a(new AttachedDisk());
  ASSIGN_OR_RETURN(LockedVm v, store.LockAndRead(vm, false));
  const bool runnable = v.record.mode == ReplicationMode::kTestReplica ||
                        v.record.state == ReplicationState::kRecovered ||
                        v.record.state == ReplicationState::kCommitted;
  if (!runnable || v.record.attached.empty()) {
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
