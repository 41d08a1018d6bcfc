#include "ops/failover.h"

#include "chain/chain.h"
#include "ops/host_id.h"
#include "ops/intent_runner.h"
#include "ops/replication.h"
#include "ops/vm_served.h"

namespace hvdisk::ops {
namespace {

using State = ReplicationState;

Status CreateOnPoint(Store& store, const Guid& vm, const RecoveryPoint& p,
                     const std::string& name) {
  RETURN_IF_ERROR(
      chain::CreateChild(store.fs(), store.DiskPath(vm, p.file), store.DiskPath(vm, name)));
  return SyncDisks(store, vm);
}

}  // namespace

// Steps and crash points:
//   1. intent written                        (nothing changed yet)
//   2. vm.json: 12 Failover in progress      (undone: the before-record written back)
//   3. failover-<g> created on the point, disks/ synced  (undone: removed)
//   4. vm.json: 5 Recovered, attached to the failover disk (the commit point)
//   5. intent removed
Status InitiateFailover(Store& store, const Guid& vm, std::optional<Guid> point,
                        const OpControl* control) {
  ASSIGN_OR_RETURN(LockedVm v, store.LockAndRead(vm, true));
  RETURN_IF_ERROR(ExpectState(v.record, {State::kReplicating, State::kSuspended}, "failover"));
  ASSIGN_OR_RETURN(RecoveryPoint p, ChoosePoint(v.record, point));
  const std::string disk = FailoverName(Guid::Random());
  Intent in = NewIntent("failover", v.record);
  VmRecord progress = v.record;
  progress.state = State::kFailoverInProgress;
  progress.generation = v.record.generation + 1;
  progress.failover_disk = disk;
  progress.failover_point = p.id;
  progress.owner_host = HostId();  // this host runs the failed-over VM
  in.after = progress;
  in.after.state = State::kRecovered;
  in.after.generation = v.record.generation + 2;
  in.after.attached = StoreLayout::DiskRel(vm, disk);
  in.creates.push_back(StoreLayout::DiskRel(vm, disk));
  IntentRunner run(store.parts(), std::move(in), control);
  RETURN_IF_ERROR(run.Begin());
  RETURN_IF_ERROR(
      run.Prepare(10, [&] { return WriteVmRecord(store.fs(), store.RecordPath(vm), progress); }));
  RETURN_IF_ERROR(run.Prepare(80, [&] { return CreateOnPoint(store, vm, p, disk); }));
  RETURN_IF_ERROR(run.Commit());
  return run.Finish();
}

// Steps and crash points:
//   1. intent written                        (nothing changed yet)
//   2. vm.json: 3 Replicating, attached to the head (the commit point)
//   3. failover disk renamed into trash/, disks/ and trash/ synced (redone; no cost by size)
//   4. intent removed
//   5. the trash reclaimed (store.h: off the caller's path by default; trash.h)
Status RevertFailover(Store& store, const Guid& vm, const OpControl* control) {
  RETURN_IF_ERROR(RefuseIfServed(store, vm, "revert failover"));
  ASSIGN_OR_RETURN(LockedVm v, store.LockAndRead(vm, true));
  RETURN_IF_ERROR(
      ExpectState(v.record, {State::kRecovered, State::kFailoverInProgress}, "revert failover"));
  Intent in = NewIntent("revert", v.record);
  in.after.state = State::kReplicating;
  in.after.failover_disk.clear();
  in.after.failover_point = Guid();
  in.after.owner_host.clear();  // back to a replica: no host runs it
  in.after.attached = StoreLayout::DiskRel(vm, v.record.head);
  if (!v.record.failover_disk.empty()) {
    in.deletes.push_back(StoreLayout::DiskRel(vm, v.record.failover_disk));
  }
  IntentRunner run(store.parts(), std::move(in), control);
  RETURN_IF_ERROR(run.Begin());
  RETURN_IF_ERROR(run.Commit());
  return run.Finish();
}

// Steps and crash points:
//   1. intent written                        (nothing changed yet)
//   2. vm.json: 6 Committed, chain base <- failover disk (the commit point; no way back after it)
//   3. chain::Merge of the chosen point (and every point below it) into the base, reparenting the
//      failover disk onto the base, the merged files renamed into trash/ (redone while the point's
//      file exists)
//   4. later points and the head renamed into trash/, disks/ and trash/ synced (redone)
//   5. intent removed
//   6. the trash reclaimed (store.h; trash.h)
Status CommitFailover(Store& store, const Guid& vm, const OpControl* control) {
  RETURN_IF_ERROR(RefuseIfServed(store, vm, "commit failover"));
  ASSIGN_OR_RETURN(LockedVm v, store.LockAndRead(vm, true));
  RETURN_IF_ERROR(ExpectState(v.record, {State::kRecovered}, "commit failover"));
  if (!v.record.test_vm.IsZero()) {
    return InUse("VM " + v.record.name + " has a test VM " + v.record.test_vm.ToString() +
                 " pinning a recovery point; destroy it first");
  }
  const RecoveryPoint* chosen = v.record.FindPoint(v.record.failover_point);
  if (chosen == nullptr) return Corrupt("VM " + v.record.name + ": failover point not in record");
  // Before the journal: the failover disk's chain must open, so that a disk removed behind the
  // engine's back is kNotFound with nothing changed (the VM stays 5 Recovered).
  RETURN_IF_ERROR(
      chain::Chain::Open(store.fs(),
                         store.layout().Abs(StoreLayout::DiskRel(vm, v.record.failover_disk)), {})
          .status());
  Intent in = NewIntent("commit", v.record);
  in.after.state = State::kCommitted;
  in.after.points.clear();
  in.after.head.clear();
  auto rel = [&](const std::string& name) { return StoreLayout::DiskRel(vm, name); };
  in.merges.push_back({rel(chosen->file), rel(v.record.base), {rel(v.record.failover_disk)}});
  for (const RecoveryPoint& p : v.record.points) in.deletes.push_back(rel(p.file));
  in.deletes.push_back(rel(v.record.head));
  IntentRunner run(store.parts(), std::move(in), control);
  RETURN_IF_ERROR(run.Begin());
  RETURN_IF_ERROR(run.Commit());
  if (control != nullptr) control->Report(10);
  return run.Finish();
}

}  // namespace hvdisk::ops
