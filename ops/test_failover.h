// Test failover of a replica VM (docs/design.md, "States and operations"):
//
//   TestReplicaSystem(vm, point|latest) 3, 7 (unchanged)  a test VM (mode 3) with test-<guid>.avhdx
//                                                        on the point, pinned until it is destroyed
//   DestroyTestVm(test vm)                                the test VM and its disk removed
//
// Errors: kInvalidState for a state the table does not allow, and for a second test VM; kInUse
// when the VM (or the test VM to destroy) is held: an attached consumer (consumer.h) or another
// operation; kTimeout when the lock wait passes the store's deadline; kNotFound for an unknown VM
// or point, or a replica with no recovery point; kUnsupported for a VM that is not a replica (or,
// for DestroyTestVm, not a test VM). Every call is journaled and crash-consistent (steps and crash
// points in test_failover.cc).
//
// Thread safety: calls on different VMs may run concurrently.
#pragma once

#include <optional>

#include "ops/op_control.h"
#include "ops/store.h"

namespace hvdisk::ops {

// `point`: a recovery point id; nullopt: the latest point. Returns the test VM's id: `test_vm_id`
// when not zero (a caller that must name the test VM before the work ends, as WMI's
// ResultingSystem does), else a random one.
Result<Guid> TestReplicaSystem(Store& store, const Guid& vm,
                               std::optional<Guid> point = std::nullopt,
                               const OpControl* control = nullptr, const Guid& test_vm_id = Guid());
Status DestroyTestVm(Store& store, const Guid& test_vm, const OpControl* control = nullptr);

}  // namespace hvdisk::ops
