// AttachedDisk: a consumer (a running VM) attached to a VM's disk.
//
// Attaching takes the VM's lock exclusively (so the VM counts as running: InitiateFailover,
// RevertFailover, CommitFailover and DestroyTestVm on it fail with kInUse) and opens the attached
// disk's chain with a writable leaf. Only a VM that can run may be attached: a failed-over VM
// (5 Recovered, 6 Committed) or a test VM; a replicating replica is kInvalidState.
//
// Thread safety: as chain::Chain for the disk; one thread owns the object.
#pragma once

#include <memory>

#include "chain/chain.h"
#include "ops/store.h"

namespace hvdisk::ops {

// Whether the VM can run (be attached, or served): a failed-over VM (5 Recovered, 6 Committed)
// or a test VM, with a disk to run on.
bool CanRun(const VmRecord& record);

class AttachedDisk {
 public:
  // kInUse (or kTimeout) when the VM is held, kNotFound for an unknown VM.
  static Result<std::unique_ptr<AttachedDisk>> Attach(Store& store, const Guid& vm);
  ~AttachedDisk();  // detaches (errors ignored; call Detach to see them)

  chain::Chain* disk() const { return disk_.get(); }
  const VmRecord& record() const { return record_; }
  // Flushes and closes the disk, then releases the VM.
  Status Detach();

 private:
  AttachedDisk() = default;
  std::unique_ptr<FileLock> lock_;
  VmRecord record_;
  std::unique_ptr<chain::Chain> disk_;
};

}  // namespace hvdisk::ops
