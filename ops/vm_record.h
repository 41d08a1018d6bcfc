// VmRecord: what the store knows about one VM (vms/<vm-guid>/vm.json), with the WMI numbering of
// Msvm_ComputerSystem's replication properties.
//
// A replica VM's disk is the chain base <- points[0] <- ... <- points.back() <- head, every file
// in vms/<vm-guid>/disks/. After a failover the VM is attached to failover_disk (on the point
// failover_point) instead of the head. A test VM (mode 3) has its own record whose test_disk lives
// in its source VM's disks/ directory, on the point its source pins (test_point).
//
// Records are values; ReadVmRecord/WriteVmRecord go through the FileSystem seam, and a write
// replaces the file atomically (WriteFileAtomically: after a crash, the old or the new record).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "platform/file.h"
#include "platform/guid.h"
#include "platform/status.h"

namespace hvdisk::ops {

// Msvm_ComputerSystem.ReplicationState (the values this store uses).
enum class ReplicationState : uint16_t {
  kDisabled = 0,
  kReplicating = 3,
  kRecovered = 5,
  kCommitted = 6,
  kSuspended = 7,
  kFailoverInProgress = 12,
};
// ReplicationMode: 0 None, 1 Primary, 2 Replica, 3 Test Replica.
enum class ReplicationMode : uint16_t { kNone = 0, kPrimary = 1, kReplica = 2, kTestReplica = 3 };
// ReplicationHealth: 0 N/A, 1 Ok, 2 Warning, 3 Critical.
enum class ReplicationHealth : uint16_t {
  kNotApplicable = 0,
  kOk = 1,
  kWarning = 2,
  kCritical = 3
};
// LastReplicationType / recovery snapshot types: 1 Regular, 2 Application consistent, 3 Planned.
enum class RecoveryPointType : uint16_t { kStandard = 1, kApplicationConsistent = 2, kPlanned = 3 };

// "Replicating", "Recovered", ... (the WMI names); "Unknown" for other values.
std::string_view StateName(ReplicationState state);
std::string_view ModeName(ReplicationMode mode);
std::string_view HealthName(ReplicationHealth health);
std::string_view PointTypeName(RecoveryPointType type);
// Accepts "Standard", "ApplicationConsistent", "Planned" (any case) or 1..3.
Result<RecoveryPointType> ParsePointType(std::string_view text);

struct RecoveryPoint {
  Guid id;
  uint32_t number = 0;  // NNNN of rp-NNNN.avhdx
  std::string file;     // "rp-0003.avhdx", in the VM's disks/ directory
  int64_t time_ms = 0;  // creation, milliseconds since the Unix epoch (UTC)
  RecoveryPointType type = RecoveryPointType::kStandard;
  // "rp-0003": the name a point is given by on the command line.
  std::string name() const;
  bool operator==(const RecoveryPoint&) const = default;
};

struct VmRecord {
  Guid id;
  std::string name;
  ReplicationState state = ReplicationState::kReplicating;
  ReplicationMode mode = ReplicationMode::kReplica;
  ReplicationHealth health = ReplicationHealth::kOk;
  // Bumped by every write through the store; the journal compares it to tell before from after.
  uint64_t generation = 0;
  uint32_t retention = 24;            // recovery points kept; older ones are merged into the base
  uint32_t next_number = 1;           // the next NNNN for a head or a point
  std::string base;                   // "base.vhdx" (replicas); empty for test VMs
  std::vector<RecoveryPoint> points;  // oldest first
  std::string head;                   // "head-0004.avhdx"; empty once committed
  std::string failover_disk;          // "failover-<guid>.avhdx" while 5 Recovered / 6 Committed
  Guid failover_point;                // the point failover_disk sits on (zero when none)
  Guid test_vm;                       // the test VM pinning test_point (zero when none)
  Guid test_point;
  Guid source_vm;         // test VMs: the replica they were made from
  std::string test_disk;  // test VMs: "test-<guid>.avhdx" in the source's disks/ directory
  std::string attached;   // the disk the VM runs on, relative to the store root
  // The store epoch of the holder that wrote the record (ops/epoch.h); 0 in older records.
  uint64_t epoch = 0;
  // The host (ops/host_id.h) that failed the VM over or made the test VM, and runs it; empty
  // when no host owns it (a replicating replica, an older record). Another host is refused the
  // VM (kInUse) until it takes it over (vm recover, ops/vm_recover.h).
  std::string owner_host;
  // Not stored: why the store reports the VM Critical (vm_health.h); empty when nothing is wrong.
  std::vector<std::string> problems;

  // The point with this id, or null.
  const RecoveryPoint* FindPoint(const Guid& point) const;
  // Disk file names of the replica chain, base first (base, points, head; empty names skipped).
  std::vector<std::string> ChainFiles() const;
  bool operator==(const VmRecord&) const = default;
};

// JSON text of a record (stable field names; see vm_record.cc).
std::string EncodeVmRecord(const VmRecord& record);
// kCorrupt when the text is not a well-formed record.
Result<VmRecord> DecodeVmRecord(std::string_view text, std::string_view where);

// Reads `path`; kNotFound when missing, kCorrupt when malformed (store_paths.h's rules included).
// The store reads its records through ReadVmRecordOf (store_files.h), which also refuses links,
// non-files and a record carrying another VM's id.
Result<VmRecord> ReadVmRecord(FileSystem* fs, const std::string& path);
// Replaces `path` atomically with `record` (exactly as given: callers bump the generation).
Status WriteVmRecord(FileSystem* fs, const std::string& path, const VmRecord& record);

// WriteFileAtomically, removing its temporary (path + ".tmp") when it fails.
Status WriteAtomicallyOrClean(FileSystem* fs, const std::string& path,
                              std::span<const std::byte> data);

// Milliseconds since the Unix epoch, now.
int64_t NowMs();

}  // namespace hvdisk::ops
