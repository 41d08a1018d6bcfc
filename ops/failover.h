// The failover side of a replica VM, with the state rules of docs/design.md:
//
//   InitiateFailover(vm, point|latest)  3, 7 -> 12 -> 5   a failover-<guid>.avhdx on the point; the
//                                                        VM attached to it; replication paused
//   RevertFailover(vm)                  5, 12 -> 3        the failover disk discarded; the VM back
//                                                        on its head; replication resumed
//   CommitFailover(vm)                  5 -> 6            points up to the chosen one merged into
//                                                        the base, the failover disk reparented
//                                                        onto it, later points and the head deleted
//
// Test VMs made from a point (TestReplicaSystem, DestroyTestVm) are in test_failover.h.
//
// What an operation discards goes to the store's trash and is reclaimed after it (store.h), so
// RevertFailover costs the same for any amount of data in the failover disk.
//
// Errors: kInvalidState for a state the table does not allow; kInUse when the VM is held: an
// attached consumer (a running VM, consumer.h) or another operation; kTimeout when the lock wait
// passes the store's deadline (RevertFailover and CommitFailover on a served VM, vm_served.h, are
// kInUse at once, naming where it is served, whatever the deadline); kNotFound for an unknown VM or
// point, or a replica with no recovery point; kUnsupported for a VM that is not a replica.
// CommitFailover while a test VM pins a point is kInUse. Every call is journaled and
// crash-consistent (steps and crash points in failover.cc).
//
// Thread safety: calls on different VMs may run concurrently.
#pragma once

#include <optional>

#include "ops/op_control.h"
#include "ops/store.h"

namespace hvdisk::ops {

// `point`: a recovery point id; nullopt: the latest point.
Status InitiateFailover(Store& store, const Guid& vm, std::optional<Guid> point = std::nullopt,
                        const OpControl* control = nullptr);
Status RevertFailover(Store& store, const Guid& vm, const OpControl* control = nullptr);
Status CommitFailover(Store& store, const Guid& vm, const OpControl* control = nullptr);

}  // namespace hvdisk::ops
