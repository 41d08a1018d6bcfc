#include "ops/recovery_point.h"

#include <algorithm>
#include <optional>

#include "chain/chain.h"
#include "ops/intent_runner.h"
#include "ops/replication.h"

namespace hvdisk::ops {
namespace {

// The numbers of the frozen point (the head's: head-N becomes rp-N) and of the new head
// (next_number), checked not to name a file of the chain: kCorrupt for a record whose head is not
// head-N or whose numbers would reuse a name, kInvalidState when the numbers are used up.
Status CheckPointNumbers(const VmRecord& rec, uint32_t* n) {
  std::optional<uint32_t> head = ParseNumbered(rec.head, "head", ".avhdx");
  if (!head) return Corrupt("VM " + rec.name + ": head '" + rec.head + "' is not head-N.avhdx");
  if (rec.next_number >= kMaxPointNumber) {
    return InvalidState("VM " + rec.name + " has used every recovery point number (the last is " +
                        std::to_string(kMaxPointNumber - 1) + ")");
  }
  const std::vector<std::string> files = rec.ChainFiles();
  for (const std::string& name : {PointFileName(*head), HeadName(rec.next_number)}) {
    if (std::find(files.begin(), files.end(), name) != files.end()) {
      return Corrupt("VM " + rec.name + ": next_number " + std::to_string(rec.next_number) +
                     " and head " + rec.head + " would reuse " + name + " of its chain");
    }
  }
  *n = *head;
  return Status::Ok();
}

// kInvalidState when the points the checkpoint leaves (`after`, its retention merge done) exceed
// kMaxRetention: the next checkpoint would briefly hold a chain deeper than chain::Chain opens.
// Only a test VM pinning the oldest point (holding the merge off) or a hand-made record gets here.
Status CheckChainDepth(const VmRecord& after, bool pinned) {
  if (after.points.size() <= kMaxRetention) return Status::Ok();
  return InvalidState(
      "VM " + after.name + " holds " + std::to_string(after.points.size() - 1) +
      " recovery points, the most its chain allows (" + std::to_string(kMaxRetention) + ")" +
      (pinned ? "; destroy its test VM, which keeps the oldest point from merging" : ""));
}

// The intent of freezing record.head as rp-N (N = the head's number) under a new head, and of the
// retention merge when the points then exceed the retention.
Result<Intent> PointIntent(const VmRecord& rec, RecoveryPointType type, RecoveryPoint* point) {
  const Guid& vm = rec.id;
  uint32_t n = 0;
  RETURN_IF_ERROR(CheckPointNumbers(rec, &n));
  *point = {Guid::Random(), n, PointFileName(n), NowMs(), type};
  Intent in{.id = Guid::Random(), .op = "checkpoint", .vm = vm, .has_before = true};
  in.before = rec;
  VmRecord& after = in.after = rec;
  after.generation = rec.generation + 1;
  after.points.push_back(*point);
  after.head = HeadName(rec.next_number);
  after.next_number = rec.next_number + 1;
  after.attached = StoreLayout::DiskRel(vm, after.head);
  in.renames.push_back({StoreLayout::DiskRel(vm, rec.head), StoreLayout::DiskRel(vm, point->file)});
  in.creates.push_back(StoreLayout::DiskRel(vm, after.head));
  const bool pinned = !rec.test_vm.IsZero() && rec.test_point == after.points.front().id;
  if (after.points.size() > std::min(rec.retention, kMaxRetention) && !pinned) {
    const RecoveryPoint oldest = after.points.front();
    after.points.erase(after.points.begin());
    in.merges.push_back({StoreLayout::DiskRel(vm, oldest.file),
                         StoreLayout::DiskRel(vm, rec.base),
                         {StoreLayout::DiskRel(vm, after.points.front().file)}});
    in.deletes.push_back(StoreLayout::DiskRel(vm, oldest.file));
  }
  RETURN_IF_ERROR(CheckChainDepth(after, pinned));
  return in;
}

}  // namespace

// Steps and crash points:
//   1. intent written                          (nothing changed yet)
//   2. head-N renamed to rp-N, disks/ synced   (undone: renamed back)
//   3. head-M created on rp-N, disks/ synced   (undone: head-M removed)
//   4. vm.json names rp-N and head-M           (the commit point)
//   5. retention: rp-oldest merged into the base, its child reparented (chain::Merge, redone
//      while rp-oldest exists), rp-oldest renamed into trash/, disks/ and trash/ synced
//   6. intent removed
//   7. retention: the trash reclaimed (store.h; trash.h)
Result<RecoveryPoint> TakeRecoveryPoint(Store& store, const Guid& vm, RecoveryPointType type,
                                        const OpControl* control) {
  ASSIGN_OR_RETURN(LockedVm v, store.LockAndRead(vm, true));
  RETURN_IF_ERROR(
      ExpectState(v.record, {ReplicationState::kReplicating}, "taking a recovery point"));
  RecoveryPoint point;
  ASSIGN_OR_RETURN(Intent intent, PointIntent(v.record, type, &point));
  IntentRunner run(store.parts(), std::move(intent), control);
  FileSystem* fs = store.fs();
  const std::string frozen = store.DiskPath(vm, point.file);
  RETURN_IF_ERROR(run.Begin());
  RETURN_IF_ERROR(run.Prepare(20, [&] {
    RETURN_IF_ERROR(fs->Rename(store.DiskPath(vm, v.record.head), frozen));
    return SyncDisks(store, vm);
  }));
  RETURN_IF_ERROR(run.Prepare(40, [&] {
    RETURN_IF_ERROR(chain::CreateChild(fs, frozen, store.DiskPath(vm, run.intent().after.head)));
    return SyncDisks(store, vm);
  }));
  RETURN_IF_ERROR(run.Commit());
  RETURN_IF_ERROR(run.Finish());
  return point;
}

}  // namespace hvdisk::ops
