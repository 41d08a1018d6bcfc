// Replication statistics of a replica VM, as Hyper-V's Measure-VMReplication reports them: when it
// last replicated, what the last cycle moved and how long it took, how many cycles it has had and
// their average size, where they come from (the source URI and dirty bitmap), and the replication
// health derived from them (docs/store-layout.md, "Replication statistics").
//
// Every cycle (a `vm apply` of a change set, a `vm replicate` from a source) is recorded, whether
// it succeeded or failed, in STORE/vms/<vm-guid>/replication.json. The record is replaced
// atomically through the FileSystem seam (write replication.json.tmp, flush, rename, sync the
// directory): after a crash it holds the old or the new statistics, never a mix; a leftover
// replication.json.tmp is removed by recovery as every temporary is. The record is untrusted
// input on load: at most kMaxStatsBytes, every field checked (types, ranges, the counts
// consistent with each other, text lengths), kCorrupt naming the field otherwise.
//
// Health (ReplicationHealth's numbers):
//   Critical  the last two or more cycles failed in a row;
//   Warning   no cycle succeeded within the replication interval (measured from the last success,
//             or from the first recorded cycle when none succeeded);
//   Ok        ("Normal") otherwise, and when no cycle was recorded yet.
// The interval is the record's own `interval_s` (set with `hvdisk vm set --interval`,
// SetReplicationInterval), kDefaultReplicationInterval when it was never set.
//
// Locking: the read-modify-write of a record holds kStatsSlot of the VM's lock file exclusively
// (a short wait, never the VM's lock), so callers may record a cycle while holding the VM (slot 0)
// or after releasing it, and two recorders never lose a cycle. Loading takes no lock (atomic
// replacement), so read-only stores (`vm show`, `vm stats`) read it too.
//
// Thread safety: functions over a thread-safe Store/FileSystem.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "ops/store.h"
#include "ops/store_layout.h"
#include "ops/vm_record.h"
#include "platform/file.h"
#include "platform/guid.h"
#include "platform/status.h"

namespace hvdisk::ops {

// Byte of locks/<vm-guid>.lock held while a statistics record is rewritten.
inline constexpr uint32_t kStatsSlot = 3;
// The interval a VM without `interval_s` is held to (Hyper-V's default frequency, 5 minutes).
inline constexpr std::chrono::seconds kDefaultReplicationInterval{300};
// `vm set --interval`: 1 second to 1 day.
inline constexpr std::chrono::seconds kMaxReplicationInterval{86400};
// Caps on what a record may hold.
inline constexpr uint64_t kMaxStatsBytes = 64u << 10;
inline constexpr size_t kMaxStatsText = 4096;  // source, bitmap, error (longer ones are cut)

// One replication cycle, as its runner reports it.
struct ReplicationCycle {
  std::string source;  // URI or path the cycle read ("nbd://host/export", "/x/changes.hvdkchg")
  std::string bitmap;  // dirty bitmap name; empty for a full sync or a file
  uint64_t bytes = 0;  // bytes of changed data applied
  std::chrono::milliseconds duration{0};
  bool succeeded = false;
  std::string error;  // why it failed (empty when it succeeded)
};

// What replication.json holds (all times in milliseconds since the Unix epoch, UTC; 0: never).
struct ReplicationStats {
  uint64_t cycles = 0;         // every recorded cycle, failed ones included
  uint64_t failed_cycles = 0;  // of those, the failed ones
  uint64_t total_bytes = 0;    // bytes applied by the succeeded cycles
  int64_t first_ms = 0;        // end of the first recorded cycle
  int64_t last_ms = 0;         // end of the last cycle (LastReplicationTime)
  uint64_t last_bytes = 0;
  int64_t last_duration_ms = 0;
  bool last_succeeded = false;
  std::string last_error;
  int64_t last_success_ms = 0;  // end of the last succeeded cycle
  uint32_t consecutive_failures = 0;
  std::string source;  // of the last cycle
  std::string bitmap;
  int64_t interval_s = 0;  // 0: kDefaultReplicationInterval

  // total_bytes over the succeeded cycles (0 when none).
  uint64_t AverageBytes() const;
  std::chrono::seconds Interval() const;
  bool operator==(const ReplicationStats&) const = default;
};

// The statistics with the health they give at `now_ms`.
struct ReplicationReport {
  ReplicationStats stats;
  ReplicationHealth health = ReplicationHealth::kOk;
  std::string health_reason;  // empty when Ok
};

// "Normal", "Warning", "Critical" (Measure-VMReplication's words for kOk, kWarning, kCritical).
std::string_view ReplicationHealthName(ReplicationHealth health);
// The health of `stats` at `now_ms` (see the file comment), with the reason when not Ok.
ReplicationReport AssessReplication(const ReplicationStats& stats, int64_t now_ms);

// JSON text of a record, and its checked decoding (kCorrupt "<where>: <field> ...").
std::string EncodeReplicationStats(const Guid& vm, const ReplicationStats& stats);
Result<ReplicationStats> DecodeReplicationStats(std::string_view text, const Guid& vm,
                                                std::string_view where);

// "vms/<guid>/replication.json".
std::string ReplicationStatsRel(const Guid& vm);
inline constexpr std::string_view kReplicationStatsName = "replication.json";

// The VM's statistics: empty ones (never replicated) when it has no record; kCorrupt when the
// record is a link, not a regular file, too large or malformed.
Result<ReplicationStats> LoadReplicationStats(FileSystem* fs, const StoreLayout& layout,
                                              const Guid& vm);
Result<ReplicationStats> LoadReplicationStats(Store& store, const Guid& vm);
// LoadReplicationStats and AssessReplication at `now_ms` (NowMs() by default).
Result<ReplicationReport> MeasureReplication(Store& store, const Guid& vm, int64_t now_ms = 0);

// Adds `cycle`, ended at `now_ms` (NowMs() when 0), to the VM's statistics and replaces the record
// atomically. kNotFound for an unknown VM; kAccessDenied on a read-only store. A damaged record is
// not trusted: it is started afresh (the damage is what `store check` reports until then).
// Steps and crash points: 1. kStatsSlot taken; 2. the record read; 3. replication.json.tmp
// written and flushed; 4. renamed over replication.json (the commit point); 5. vms/<vm>/ synced.
Status RecordReplicationCycle(Store& store, const Guid& vm, const ReplicationCycle& cycle);
Status RecordReplicationCycle(Store& store, const Guid& vm, const ReplicationCycle& cycle,
                              int64_t now_ms);

// Sets the interval the health is measured against (1 s .. kMaxReplicationInterval, else
// kInvalidArgument); the statistics are kept.
Status SetReplicationInterval(Store& store, const Guid& vm, std::chrono::seconds interval);

}  // namespace hvdisk::ops
