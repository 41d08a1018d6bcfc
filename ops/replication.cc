#include "ops/replication.h"

#include <chrono>
#include <memory>

#include "chain/chain.h"
#include "ops/epoch.h"
#include "ops/intent_runner.h"
#include "ops/replication_stats.h"
#include "ops/store_paths.h"
#include "vhdx/image.h"

namespace hvdisk::ops {
namespace {

static_assert(kMaxRetention + 3 == chain::kDefaultMaxDepth,
              "a checkpoint holds base, kMaxRetention + 1 points and the head");

constexpr size_t kCopyChunk = 1 << 20;

// Copies `from` to a new file `to` through the FileSystem, skipping all-zero chunks (a VHDX reads
// zeros where nothing was written), and flushes it.
Status CopyFile(FileSystem* fs, const std::string& from, const std::string& to) {
  ASSIGN_OR_RETURN(auto src, fs->Open(from, OpenOptions::ReadOnly()));
  ASSIGN_OR_RETURN(uint64_t size, src->Size());
  ASSIGN_OR_RETURN(auto dst, fs->Open(to, OpenOptions::CreateOrTruncate()));
  std::vector<std::byte> buf(kCopyChunk);
  for (uint64_t off = 0; off < size; off += kCopyChunk) {
    std::span<std::byte> chunk(buf.data(), std::min<uint64_t>(kCopyChunk, size - off));
    RETURN_IF_ERROR(src->ReadExactAt(off, chunk, "base disk"));
    bool zero =
        std::all_of(chunk.begin(), chunk.end(), [](std::byte b) { return b == std::byte{0}; });
    if (!zero) RETURN_IF_ERROR(dst->WriteAt(off, chunk));
  }
  RETURN_IF_ERROR(dst->Truncate(size));
  return dst->Flush();
}

Status CheckBase(FileSystem* fs, const std::string& path) {
  ASSIGN_OR_RETURN(auto image, vhdx::Image::Open(fs, path, {.read_only = true}));
  if (image->type() == vhdx::DiskType::kDifferencing) {
    return Unsupported(path + " is a differencing disk; a replica's base must be fixed or dynamic");
  }
  return Status::Ok();
}

VmRecord NewRecord(const Guid& id, const CreateVmOptions& o) {
  VmRecord r;
  r.id = id;
  r.name = o.name;
  r.generation = 1;
  r.retention = o.retention;
  r.base = "base.vhdx";
  r.head = HeadName(1);
  r.next_number = 2;
  r.attached = StoreLayout::DiskRel(id, r.head);
  return r;
}

Intent CreateIntent(const Guid& id, const CreateVmOptions& o) {
  Intent in{.id = Guid::Random(), .op = "create", .vm = id};
  in.after = NewRecord(id, o);
  const std::string base = StoreLayout::DiskRel(id, in.after.base);
  in.creates = {StoreLayout::DiskRel(id, in.after.head), StoreLayout::VmRecordRel(id) + ".tmp"};
  if (o.adopt) {
    in.renames.push_back({o.base_path, base});
  } else {
    in.creates.push_back(base);
  }
  in.create_dirs = {StoreLayout::VmDirRel(id), StoreLayout::DisksDirRel(id)};
  return in;
}

}  // namespace

Status SyncDisks(Store& store, const Guid& vm) { return store.fs()->SyncDir(store.DisksDir(vm)); }

// Steps (crash points between each; every one undone by removing what it created):
//   1. intent written (journal)           4. base copied in (or renamed in: undone by renaming
//   back)
//   2. vms/<id>/ created, vms/ synced      5. head-0001 created on the base, disks/ synced
//   3. disks/ created, vms/<id>/ synced    6. vm.json written: the commit point
Result<Guid> CreateReplicaVm(Store& store, const CreateVmOptions& o, const OpControl* control) {
  RETURN_IF_ERROR(CheckVmName(o.name));
  if (o.retention == 0 || o.retention > kMaxRetention) {
    return InvalidArgument("retention " + std::to_string(o.retention) + " is outside 1.." +
                           std::to_string(kMaxRetention) + " (a chain holds at most " +
                           std::to_string(chain::kDefaultMaxDepth) +
                           " disks: the base, the points, the head and the point being taken)");
  }
  FileSystem* fs = store.fs();
  RETURN_IF_ERROR(CheckBase(fs, o.base_path));
  const Guid id = Guid::Random();
  ASSIGN_OR_RETURN(auto lock, store.LockVm(id));
  IntentRunner run(store.parts(), CreateIntent(id, o), control);
  const StoreLayout& l = store.layout();
  const std::string base = store.DiskPath(id, "base.vhdx");
  RETURN_IF_ERROR(run.Begin());
  RETURN_IF_ERROR(run.Prepare(10, [&] {
    RETURN_IF_ERROR(fs->CreateDir(l.Abs(StoreLayout::VmDirRel(id))));
    RETURN_IF_ERROR(fs->SyncDir(l.VmsDir()));
    RETURN_IF_ERROR(fs->CreateDir(store.DisksDir(id)));
    return fs->SyncDir(l.Abs(StoreLayout::VmDirRel(id)));
  }));
  RETURN_IF_ERROR(run.Prepare(70, [&] {
    if (!o.adopt) return CopyFile(fs, o.base_path, base);
    RETURN_IF_ERROR(fs->Rename(o.base_path, base));
    return fs->SyncDir(DirName(o.base_path));
  }));
  RETURN_IF_ERROR(run.Prepare(90, [&] {
    RETURN_IF_ERROR(chain::CreateChild(fs, base, store.DiskPath(id, HeadName(1))));
    return SyncDisks(store, id);
  }));
  RETURN_IF_ERROR(run.Commit());
  RETURN_IF_ERROR(run.Finish());
  return id;
}

namespace {

// The VM's head, open for writing under the VM's lock (which *v holds). REQUIRES state 3.
Result<std::unique_ptr<chain::Chain>> LockHead(Store& store, const Guid& vm, LockedVm* v) {
  ASSIGN_OR_RETURN(*v, store.LockAndRead(vm, true));
  RETURN_IF_ERROR(ExpectState(v->record, {ReplicationState::kReplicating}, "applying changes"));
  return chain::Chain::Open(store.fs(), store.DiskPath(vm, v->record.head),
                            {.writable_leaf = true});
}

}  // namespace

Status ApplyChanges(Store& store, const Guid& vm, std::span<const ChangeExtent> changes) {
  LockedVm v;
  ASSIGN_OR_RETURN(auto disk, LockHead(store, vm, &v));
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const ChangeExtent& e : changes) {
    if (e.offset > disk->virtual_size() || e.data.size() > disk->virtual_size() - e.offset) {
      return InvalidArgument("change at " + std::to_string(e.offset) + " +" +
                             std::to_string(e.data.size()) + " lies beyond the virtual size " +
                             std::to_string(disk->virtual_size()));
    }
    ranges.push_back({e.offset, e.data.size()});
  }
  // All or nothing on a full disk: the space of every new block first (kNoSpace changes nothing).
  RETURN_IF_ERROR(disk->leaf()->Reserve(ranges));
  for (const ChangeExtent& e : changes) RETURN_IF_ERROR(disk->Write(e.offset, e.data));
  RETURN_IF_ERROR(disk->Flush());
  return disk->Close();
}

// Steps (not journaled, as ApplyChanges: a crash in 6 leaves each sector old or new):
//   1. the file's header checked (its 24 bytes read: nothing else of a file that is not one)
//   2. the VM locked, its head opened
//   3. the declared virtual size compared with the head's
//   4. the whole body checked (extent bounds, checksum) without writing anything, noting the
//      ranges it covers
//   5. the space of every new block those ranges need reserved (kNoSpace: the head unchanged)
//   6. the body written into the head piece by piece, then flushed
// Memory: one piece (kChangeSetPiece) whatever the file's size, plus 16 bytes per extent (whose
// count Open bounds by the file size).
static Status ApplyChangeSetOnce(Store& store, const Guid& vm, const std::string& path,
                                 uint64_t* bytes) {
  ASSIGN_OR_RETURN(ChangeSetReader set, ChangeSetReader::Open(store.fs(), path));
  LockedVm v;
  ASSIGN_OR_RETURN(auto disk, LockHead(store, vm, &v));
  const uint64_t size = disk->virtual_size();
  if (set.virtual_size() != 0 && set.virtual_size() != size) {
    return InvalidArgument(path + ": change set for a disk of " +
                           std::to_string(set.virtual_size()) + " bytes, the replica has " +
                           std::to_string(size));
  }
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // 16 bytes per extent, not per byte
  RETURN_IF_ERROR(set.Scan(size, [&](uint64_t offset, std::span<const std::byte> data) {
    ranges.push_back({offset, data.size()});
    return Status::Ok();
  }));
  // All or nothing on a full disk: the space of every new block first (kNoSpace changes nothing).
  RETURN_IF_ERROR(disk->leaf()->Reserve(ranges));
  RETURN_IF_ERROR(set.Scan(size, [&](uint64_t offset, std::span<const std::byte> data) {
    *bytes += data.size();
    return disk->Write(offset, data);
  }));
  RETURN_IF_ERROR(disk->Flush());
  return disk->Close();
}

// ApplyChangeSetOnce, recorded as a replication cycle (replication_stats.h) whatever its outcome
// (an unknown VM has no statistics to record into). A failure to record a cycle that applied is
// returned; the changes stay applied (applying them again is harmless).
Status ApplyChangeSetFile(Store& store, const Guid& vm, const std::string& path) {
  const auto start = std::chrono::steady_clock::now();
  uint64_t bytes = 0;
  Status st = ApplyChangeSetOnce(store, vm, path, &bytes);
  const ReplicationCycle cycle{.source = path,
                               .bytes = st.ok() ? bytes : 0,
                               .duration = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - start),
                               .succeeded = st.ok(),
                               .error = st.ok() ? "" : st.ToString()};
  Status recorded = RecordReplicationCycle(store, vm, cycle);
  if (!st.ok()) return st;
  return recorded.WithContext("the changes were applied, but recording the cycle failed");
}

static Status SetReplicationState(Store& store, const Guid& vm, ReplicationState from,
                                  ReplicationState to, std::string_view op) {
  ASSIGN_OR_RETURN(LockedVm v, store.LockAndRead(vm, true));
  RETURN_IF_ERROR(ExpectState(v.record, {from}, op));
  v.record.state = to;
  ++v.record.generation;
  RETURN_IF_ERROR(CheckEpoch(store.fs(), store.layout(), vm, v.record.epoch, op));
  return WriteVmRecord(store.fs(), store.RecordPath(vm), v.record);
}

Status SuspendReplication(Store& store, const Guid& vm) {
  return SetReplicationState(store, vm, ReplicationState::kReplicating,
                             ReplicationState::kSuspended, "suspending replication");
}

Status ResumeReplication(Store& store, const Guid& vm) {
  return SetReplicationState(store, vm, ReplicationState::kSuspended,
                             ReplicationState::kReplicating, "resuming replication");
}

Result<Guid> FindPoint(const VmRecord& record, std::string_view text) {
  std::optional<Guid> id = Guid::Parse(text);
  std::optional<uint32_t> number = ParseNumbered(text, "rp", "");  // "rp-3" is rp-0003
  for (const RecoveryPoint& p : record.points) {
    if ((id && p.id == *id) || (number && p.number == *number) || p.file == text) return p.id;
  }
  return NotFound("VM " + record.name + " has no recovery point " + std::string(text));
}

Result<RecoveryPoint> ChoosePoint(const VmRecord& rec, std::optional<Guid> point) {
  if (!point) {
    if (rec.points.empty()) return NotFound("VM " + rec.name + " has no recovery point");
    return rec.points.back();
  }
  if (const RecoveryPoint* p = rec.FindPoint(*point)) return *p;
  return NotFound("VM " + rec.name + " has no recovery point " + point->ToString());
}

}  // namespace hvdisk::ops
