#include "ops/replicate.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "disk/open.h"
#include "disk/virtual_disk.h"
#include "ops/recovery_point.h"
#include "ops/replication_stats.h"

namespace hvdisk::ops {
namespace {

using Clock = std::chrono::steady_clock;

// The state of one cycle's apply, under the VM's lock.
struct Cycle {
  disk::ReplicationSource& source;
  disk::VirtualDisk& head;
  const ReplicateOptions& options;
  const OpControl* control;
  ReplicateReport& report;
};

bool AllZero(std::span<const std::byte> data) {
  return std::all_of(data.begin(), data.end(), [](std::byte b) { return b == std::byte{0}; });
}

// Makes [offset, +length) of the head read as zeros, trimming only what does not already.
Status ApplyZero(Cycle& c, uint64_t offset, uint64_t length) {
  ASSIGN_OR_RETURN(std::vector<disk::LayerExtent> map, c.head.Map(offset, length));
  for (const disk::LayerExtent& le : map) {
    if (le.extent.kind != vhdx::Extent::Kind::kData) continue;
    RETURN_IF_ERROR(c.head.Trim(le.extent.virtual_offset, le.extent.length));
  }
  c.report.zero_bytes += length;
  return Status::Ok();
}

Status CheckCancel(const Cycle& c) {
  if (c.control && c.control->cancelled()) {
    return Cancelled("replication cycle stopped on request; the next cycle applies it again");
  }
  return Status::Ok();
}

// Applies one window of changes: zero extents at once, data extents read in requests of at most
// options.request bytes, `depth` in flight, each written to the head as it arrives (a request that
// reads as zeros is applied as zeros).
Status ApplyWindow(Cycle& c, const disk::SourceWindow& w) {
  std::vector<disk::SourceRange> reads;
  for (const disk::SourceExtent& e : w.extents) {
    ++c.report.extents;
    if (e.zero) {
      RETURN_IF_ERROR(ApplyZero(c, e.offset, e.length));
      continue;
    }
    for (uint64_t off = e.offset; off < e.offset + e.length; off += c.options.request) {
      reads.push_back({off, std::min(c.options.request, e.offset + e.length - off)});
    }
  }
  return c.source.Read(reads, c.options.depth,
                       [&c](uint64_t offset, std::span<const std::byte> data) -> Status {
                         RETURN_IF_ERROR(CheckCancel(c));
                         c.report.bytes += data.size();
                         if (c.options.progress) {
                           c.options.progress(offset + data.size(), c.report.size);
                         }
                         // Counted as data moved, applied as zeros.
                         if (AllZero(data)) return ApplyZero(c, offset, data.size());
                         return c.head.Write(offset, data);
                       });
}

// Steps (crash points anywhere: only the head is written, see replicate.h):
//   1. the VM locked, its state checked, its head opened for writing
//   2. the source's size compared with the head's (kInvalidArgument: nothing written)
//   3. window by window: the source's changes asked, checked, applied to the head
//   4. the head flushed and closed (its log drained): every change is durable
Status ApplyAll(Store& store, const Guid& vm, disk::ReplicationSource& source,
                const ReplicateOptions& o, const OpControl* control, ReplicateReport& report) {
  ASSIGN_OR_RETURN(LockedVm v, store.LockAndRead(vm, true));
  RETURN_IF_ERROR(ExpectState(v.record, {ReplicationState::kReplicating}, "replicating"));
  ASSIGN_OR_RETURN(auto head, disk::Open(store.fs(), store.DiskPath(vm, v.record.head),
                                         {.format = disk::Format::kVhdx, .writable = true}));
  report.size = head->size();
  if (source.size() != head->size()) {
    return InvalidArgument(source.name() + " is " + std::to_string(source.size()) +
                           " bytes; the replica " + v.record.name + " is " +
                           std::to_string(head->size()) + " bytes: nothing was applied");
  }
  Cycle c{source, *head, o, control, report};
  for (uint64_t pos = 0; pos < report.size;) {
    RETURN_IF_ERROR(CheckCancel(c));
    ASSIGN_OR_RETURN(disk::SourceWindow w, source.Changes(pos, report.size - pos));
    RETURN_IF_ERROR(disk::CheckWindow(w, pos, report.size - pos, source.name()));
    RETURN_IF_ERROR(ApplyWindow(c, w));
    pos = w.end;
    if (o.progress) o.progress(pos, report.size);
  }
  RETURN_IF_ERROR(head->Flush());
  return head->Close();
}

Status CheckOptions(const ReplicateOptions& o) {
  if (o.depth == 0 || o.depth > 1024) {
    return InvalidArgument("depth " + std::to_string(o.depth) + " is outside 1..1024");
  }
  if (o.request < 4096 || o.request > disk::kMaxSourceRead) {
    return InvalidArgument("request size " + std::to_string(o.request) + " is outside 4096.." +
                           std::to_string(disk::kMaxSourceRead));
  }
  return Status::Ok();
}

}  // namespace

// Steps: the cycle applied (ApplyAll; the VM's lock released at its end), then with checkpoint a
// recovery point (TakeRecoveryPoint: journaled, its own crash points), then the cycle recorded.
Result<ReplicateReport> ReplicateFrom(Store& store, const Guid& vm, disk::ReplicationSource& source,
                                      const ReplicateOptions& o, const OpControl* control) {
  RETURN_IF_ERROR(CheckOptions(o));
  const Clock::time_point start = Clock::now();
  ReplicateReport report{.source = o.from.empty() ? source.name() : o.from, .bitmap = o.bitmap};
  Status st = ApplyAll(store, vm, source, o, control, report);
  if (st.ok() && o.checkpoint) {
    Result<RecoveryPoint> point = TakeRecoveryPoint(store, vm, o.type, control);
    if (point.ok()) report.point = *point;
    st = point.status();
  }
  report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  const ReplicationCycle cycle{.source = report.source,
                               .bitmap = report.bitmap,
                               .bytes = report.bytes,
                               .duration = report.duration,
                               .succeeded = st.ok(),
                               .error = st.ok() ? "" : st.ToString()};
  Status recorded = RecordReplicationCycle(store, vm, cycle);
  RETURN_IF_ERROR(st);
  RETURN_IF_ERROR(recorded);
  return report;
}

Result<ReplicateReport> Replicate(Store& store, const Guid& vm, const ReplicateOptions& o,
                                  const OpControl* control) {
  RETURN_IF_ERROR(CheckOptions(o));
  Result<std::unique_ptr<disk::ReplicationSource>> source =
      disk::OpenSource(store.fs(), o.from, {.bitmap = o.bitmap});
  if (!source.ok()) {
    // The VM must exist for a cycle to be recorded against it.
    if (store.GetVm(vm).ok()) {
      (void)RecordReplicationCycle(store, vm,
                                   {.source = o.from,
                                    .bitmap = o.bitmap,
                                    .succeeded = false,
                                    .error = source.status().ToString()});
    }
    return source.status();
  }
  return ReplicateFrom(store, vm, **source, o, control);
}

}  // namespace hvdisk::ops
