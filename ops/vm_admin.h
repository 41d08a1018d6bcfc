// Administering a replica VM's replication: how many recovery points it keeps
// (Set-VMReplication -RecoveryHistory, `hvdisk vm set --retention`) and removing it from the store
// (Remove-VMReplication, `hvdisk vm remove`).
//
// Both lock the VM for their whole run (Store::LockAndRead): kInUse (or kTimeout) when it is held
// (an operation, an attached consumer); kNotFound for an unknown VM; kUnsupported for a test VM.
// Journaled (intent_runner.h) and crash-consistent; the steps and crash points are in
// vm_admin.cc. Files they discard go through the store's trash (trash.h).
//
// Thread safety: calls on different VMs may run concurrently.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/op_control.h"
#include "ops/store.h"
#include "ops/vm_record.h"

namespace hvdisk::ops {

// Sets the VM's retention to `retention` (1..kMaxRetention of replication.h, else
// kInvalidArgument) and merges the oldest points beyond it into the base, as a checkpoint's
// retention merge does; returns the points merged (oldest first; empty when none). Pruning
// REQUIRES state 3 or 7 (kInvalidState while failed over: the failover disk sits on a point);
// kInUse when a test VM pins a point it would merge (destroy it first).
Result<std::vector<RecoveryPoint>> SetRetention(Store& store, const Guid& vm, uint32_t retention,
                                                const OpControl* control = nullptr);

// Removes the replica VM: its record and directory, and every disk of its chain moved into the
// trash. REQUIRES state 3 or 7 (kInvalidState while failed over or committed: a VM runs on its
// disks); kInUse while it has a test VM, or while it is served (CheckNotServed).
Status RemoveReplica(Store& store, const Guid& vm, const OpControl* control = nullptr);

// THE single place where "the VM is served" (an NBD/WS-Man export of its disk) refuses a removal:
// kInUse naming the server when it is. Until the served notion exists it always returns OK.
Status CheckNotServed(Store& store, const VmRecord& record);

}  // namespace hvdisk::ops
