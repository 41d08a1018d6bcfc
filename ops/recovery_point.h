// Taking a recovery point of a replica VM: freezing its head, and the retention merge.
//
// Locks the VM for the whole run (Store::LockAndRead): kInUse (or kTimeout) when it is held;
// kNotFound for an unknown VM; kUnsupported for a VM that is not a replica; kInvalidState when the
// VM's replication state does not allow it. Journaled (intent_runner.h) and crash-consistent; the
// steps and crash points are in recovery_point.cc.
//
// Thread safety: calls on different VMs may run concurrently.
#pragma once

#include "ops/op_control.h"
#include "ops/store.h"
#include "ops/vm_record.h"

namespace hvdisk::ops {

// Freezes the head as rp-NNNN and creates a new head on top; when the points then exceed the
// retention (at most kMaxRetention of replication.h, whatever the record says), merges the oldest
// point into the base (unless a test VM pins it). REQUIRES state 3. kInvalidState when the chain
// would grow past kMaxRetention points (a pinning test VM holds the merge off: destroy it first).
Result<RecoveryPoint> TakeRecoveryPoint(Store& store, const Guid& vm,
                                        RecoveryPointType type = RecoveryPointType::kStandard,
                                        const OpControl* control = nullptr);

}  // namespace hvdisk::ops
