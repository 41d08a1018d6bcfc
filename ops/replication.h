// The replication side of a replica VM: creating it from a base disk, applying replicated changes
// to its head, suspending and resuming. Taking recovery points (with retention merges) is in
// recovery_point.h.
//
// Every call locks the VM for its whole run (Store::LockAndRead): kInUse (or kTimeout) when it is
// held; kNotFound for an unknown VM; kUnsupported for a VM that is not a replica; kInvalidState
// when the VM's replication state does not allow the call. Multi-step calls are journaled
// (intent_runner.h) and crash-consistent; each states its steps and crash points in
// replication.cc.
//
// Thread safety: calls on different VMs may run concurrently.
#pragma once

#include <optional>
#include <span>
#include <string>

#include "ops/change_set.h"
#include "ops/op_control.h"
#include "ops/store.h"
#include "ops/vm_record.h"

namespace hvdisk::ops {

// The most recovery points a VM keeps: a chain opens at most chain::kDefaultMaxDepth (64) disks,
// and a checkpoint briefly holds base, retention + 1 points and the new head before its retention
// merge.
inline constexpr uint32_t kMaxRetention = 61;

struct CreateVmOptions {
  std::string name;
  std::string base_path;  // a fixed or dynamic VHDX, on the store's FileSystem
  // false: copy the base into the store; true: move it in (rename: same file system only).
  bool adopt = false;
  uint32_t retention = 24;  // 1..kMaxRetention
};

// Creates a replica VM (state 3 Replicating, mode 2 Replica) whose chain is base <- head-0001.
// kInvalidArgument for a name CheckVmName refuses (store_paths.h: empty, not UTF-8, too long,
// control characters) or a retention outside 1..kMaxRetention; kUnsupported for a differencing
// base.
Result<Guid> CreateReplicaVm(Store& store, const CreateVmOptions& options,
                             const OpControl* control = nullptr);

// Writes `changes` into the head and flushes. REQUIRES state 3. kInvalidArgument when an extent
// lies beyond the virtual size. Not journaled: a crash leaves each sector old or new, as Image
// promises; the replication protocol resends what was not acknowledged.
Status ApplyChanges(Store& store, const Guid& vm, std::span<const ChangeExtent> changes);
// ApplyChanges of a change-set file (change_set.h), streamed in constant memory: kCorrupt for a
// file that is not a change set (found on its header, before anything else is read) or is damaged
// (found before anything is written); kInvalidArgument if its virtual size differs or an extent
// lies beyond the disk. The VM's lock is held while the file is read (twice: checked, written).
Status ApplyChangeSetFile(Store& store, const Guid& vm, const std::string& path);

// 3 Replicating -> 7 Suspended, and back.
Status SuspendReplication(Store& store, const Guid& vm);
Status ResumeReplication(Store& store, const Guid& vm);

// A point of `record` by GUID or by name ("rp-0003"); kNotFound when it has none such.
Result<Guid> FindPoint(const VmRecord& record, std::string_view guid_or_name);

// The point `point` of `record`, or its latest point when nullopt; kNotFound when it has none.
Result<RecoveryPoint> ChoosePoint(const VmRecord& record, std::optional<Guid> point);

// SyncDir of the VM's disks/ directory (what makes a created or renamed disk file durable).
Status SyncDisks(Store& store, const Guid& vm);

}  // namespace hvdisk::ops
