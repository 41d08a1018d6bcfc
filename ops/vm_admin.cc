#include "ops/vm_admin.h"

#include <algorithm>
#include <string>

#include "ops/intent_runner.h"
#include "ops/replication.h"
#include "ops/replication_stats.h"
#include "ops/vm_served.h"

namespace hvdisk::ops {
namespace {

using State = ReplicationState;

// The intent of keeping `retention` points: the oldest beyond it merged into the base (through
// the newest of them; the first point kept is reparented onto the base), then trashed.
Result<Intent> RetentionIntent(const VmRecord& rec, uint32_t retention,
                               std::vector<RecoveryPoint>* merged) {
  Intent in = NewIntent("retention", rec);
  in.after.retention = retention;
  if (rec.points.size() <= retention) return in;
  const size_t drop = rec.points.size() - retention;
  RETURN_IF_ERROR(ExpectState(rec, {State::kReplicating, State::kSuspended},
                              "merging recovery points beyond the retention"));
  for (size_t i = 0; i < drop; ++i) {
    if (!rec.test_vm.IsZero() && rec.points[i].id == rec.test_point) {
      return InUse("VM " + rec.name + " has a test VM on " + rec.points[i].name() +
                   ", which the retention would merge; destroy the test VM first");
    }
  }
  auto rel = [&](const std::string& name) { return StoreLayout::DiskRel(rec.id, name); };
  merged->assign(rec.points.begin(), rec.points.begin() + static_cast<std::ptrdiff_t>(drop));
  in.after.points.erase(in.after.points.begin(),
                        in.after.points.begin() + static_cast<std::ptrdiff_t>(drop));
  in.merges.push_back(
      {rel(merged->back().file), rel(rec.base), {rel(in.after.points.front().file)}});
  for (const RecoveryPoint& p : *merged) in.deletes.push_back(rel(p.file));
  return in;
}

}  // namespace

// Steps and crash points:
//   1. intent written                      (nothing changed yet)
//   2. vm.json with the new retention and without the merged points   (the commit point)
//   3. the merged points merged into the base, the first point kept reparented onto it
//      (chain::Merge, redone while the newest merged point exists), the merged files renamed
//      into trash/, disks/ and trash/ synced
//   4. intent removed
//   5. the trash reclaimed (store.h; trash.h)
Result<std::vector<RecoveryPoint>> SetRetention(Store& store, const Guid& vm, uint32_t retention,
                                                const OpControl* control) {
  if (retention < 1 || retention > kMaxRetention) {
    return InvalidArgument("retention " + std::to_string(retention) + " is not in 1.." +
                           std::to_string(kMaxRetention));
  }
  ASSIGN_OR_RETURN(LockedVm v, store.LockAndRead(vm, true));
  std::vector<RecoveryPoint> merged;
  ASSIGN_OR_RETURN(Intent in, RetentionIntent(v.record, retention, &merged));
  IntentRunner run(store.parts(), std::move(in), control);
  RETURN_IF_ERROR(run.Begin());
  RETURN_IF_ERROR(run.Commit());
  if (control != nullptr) control->Report(10);
  RETURN_IF_ERROR(run.Finish());
  return merged;
}

Status CheckNotServed(Store& store, const VmRecord& record) {
  return RefuseIfServed(store, record.id, "remove");
}

// Steps and crash points (the VM's own record decides; once it is gone the intent has committed,
// intent_runner.cc ResolveIntent):
//   1. intent written                          (nothing changed yet)
//   2. vm.json rewritten with a later generation   (the commit point)
//   3. every disk of the chain and then vm.json renamed into trash/, disks/ and vms/<vm>/
//      removed, trash/ synced (redone)
//   4. intent removed
//   5. the trash reclaimed (store.h; trash.h)
Status RemoveReplica(Store& store, const Guid& vm, const OpControl* control) {
  ASSIGN_OR_RETURN(LockedVm v, store.LockAndRead(vm, true));
  RETURN_IF_ERROR(ExpectState(v.record, {State::kReplicating, State::kSuspended},
                              "removing replication (fail back or revert first)"));
  if (!v.record.test_vm.IsZero()) {
    return InUse("VM " + v.record.name + " has a test VM " + v.record.test_vm.ToString() +
                 "; destroy it first");
  }
  RETURN_IF_ERROR(CheckNotServed(store, v.record));
  Intent in = NewIntent("remove", v.record);
  for (const std::string& f : v.record.ChainFiles()) {
    in.deletes.push_back(StoreLayout::DiskRel(vm, f));
  }
  in.deletes.push_back(ReplicationStatsRel(vm));
  in.deletes.push_back(ReplicationStatsRel(vm) + ".tmp");
  in.deletes.push_back(StoreLayout::VmRecordRel(vm));
  in.deletes.push_back(StoreLayout::VmRecordRel(vm) + ".tmp");
  in.delete_dirs = {StoreLayout::DisksDirRel(vm), StoreLayout::VmDirRel(vm)};
  IntentRunner run(store.parts(), std::move(in), control);
  RETURN_IF_ERROR(run.Begin());
  RETURN_IF_ERROR(run.Commit());
  if (control != nullptr) control->Report(10);
  return run.Finish();
}

}  // namespace hvdisk::ops
