// A replication cycle: the changes of a source (disk/replication_source.h: an NBD export, with or
// without a dirty bitmap, or a local raw/VHDX/.avhdx file) applied to a replica VM's head, then,
// when asked, a recovery point.
//
//   full sync   (no bitmap): every range the source holds as data is written; every range it
//               holds as zeros becomes zeros on the head (left alone where the head already
//               reads zeros, trimmed elsewhere), so a sparse source moves only its data;
//   incremental (a bitmap): only the extents the dirty bitmap marks;
//   a delta     (a differencing .avhdx): only its present blocks and sectors.
//
// Crash consistency: the head is the only file written; it is a VHDX image, so a crash leaves
// each sector old or new and its metadata consistent (the log). The VM's record and its points
// are not touched until the checkpoint, which runs only after every change was applied and
// flushed, and is itself journaled (recovery_point.h). So a cycle killed at any point leaves the
// VM in Replicating with its points unchanged, and the next cycle from the same source state (the
// same bitmap, not yet cleared on the primary) applies every change again and completes it.
//
// Every cycle, succeeded or failed (after the VM was found), is recorded with
// RecordReplicationCycle (replication_stats.h).
//
// Locks the VM for the apply (Store::LockAndRead): kInUse when it is held; kNotFound for an
// unknown VM; kInvalidState unless it is Replicating. kInvalidArgument, with nothing applied, for
// a source whose virtual size differs from the replica's. A source that fails mid-cycle
// (kUnavailable, kIoError, kTimeout) leaves the head partly updated, as a crash would.
//
// Thread safety: calls on different VMs may run concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "disk/replication_source.h"
#include "ops/op_control.h"
#include "ops/store.h"
#include "ops/vm_record.h"

namespace hvdisk::ops {

inline constexpr unsigned kDefaultReplicateDepth = 16;          // reads in flight
inline constexpr uint64_t kDefaultReplicateRequest = 1u << 20;  // bytes per read

struct ReplicateOptions {
  std::string from;    // an NBD URI, or a path on the store's FileSystem
  std::string bitmap;  // NBD only: the dirty bitmap whose extents are the changes
  bool checkpoint = false;
  RecoveryPointType type = RecoveryPointType::kStandard;
  unsigned depth = kDefaultReplicateDepth;                       // 1..1024
  uint64_t request = kDefaultReplicateRequest;                   // 4 KiB..disk::kMaxSourceRead
  std::function<void(uint64_t walked, uint64_t size)> progress;  // bytes of the source walked
};

struct ReplicateReport {
  std::string source;
  std::string bitmap;
  uint64_t size = 0;        // the source's (and replica's) virtual size
  uint64_t bytes = 0;       // data read from the source and applied
  uint64_t zero_bytes = 0;  // zero ranges applied (trimmed, or already zero on the head)
  uint64_t extents = 0;     // changed extents (data or zero) the source named
  std::chrono::milliseconds duration{0};
  std::optional<RecoveryPoint> point;  // with checkpoint
};

// Opens options.from (disk::OpenSource) and runs ReplicateFrom on it.
Result<ReplicateReport> Replicate(Store& store, const Guid& vm, const ReplicateOptions& options,
                                  const OpControl* control = nullptr);

// One cycle from an opened source (options.from and .bitmap are only recorded). Cancellation
// (control) is checked between reads: kCancelled leaves the head as a failed cycle does.
Result<ReplicateReport> ReplicateFrom(Store& store, const Guid& vm, disk::ReplicationSource& source,
                                      const ReplicateOptions& options,
                                      const OpControl* control = nullptr);

}  // namespace hvdisk::ops
