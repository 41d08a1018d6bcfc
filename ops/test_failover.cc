#include "ops/test_failover.h"

#include "chain/chain.h"
#include "ops/host_id.h"
#include "ops/intent_runner.h"
#include "ops/replication.h"

namespace hvdisk::ops {
namespace {

using State = ReplicationState;

VmRecord TestRecord(const Guid& id, const VmRecord& source, const std::string& disk) {
  VmRecord t;
  t.id = id;
  t.name = source.name + " - Test";
  t.state = State::kDisabled;
  t.mode = ReplicationMode::kTestReplica;
  t.generation = 1;
  t.source_vm = source.id;
  t.test_disk = disk;
  t.attached = StoreLayout::DiskRel(source.id, disk);
  t.epoch = source.epoch;
  t.owner_host = HostId();  // this host runs the test VM
  return t;
}

Intent TestIntent(const VmRecord& src, const Guid& test_id, const Guid& point,
                  const std::string& disk) {
  Intent in{.id = Guid::Random(), .op = "test-failover", .vm = src.id, .has_before = true};
  in.before = src;
  in.after = src;
  in.after.generation = src.generation + 1;
  in.after.test_vm = test_id;
  in.after.test_point = point;
  in.creates = {StoreLayout::DiskRel(src.id, disk), StoreLayout::VmRecordRel(test_id),
                StoreLayout::VmRecordRel(test_id) + ".tmp"};
  in.create_dirs = {StoreLayout::VmDirRel(test_id)};
  return in;
}

}  // namespace

// Steps and crash points (the source VM's record decides):
//   1. intent written                          (nothing changed yet)
//   2. test-<t> created on the point, disks/ synced        (undone: removed)
//   3. vms/<t>/ created and synced, the test VM's vm.json written (undone: removed)
//   4. source vm.json names the test VM and pins the point (the commit point)
//   5. intent removed
Result<Guid> TestReplicaSystem(Store& store, const Guid& vm, std::optional<Guid> point,
                               const OpControl* control, const Guid& test_vm_id) {
  ASSIGN_OR_RETURN(LockedVm v, store.LockAndRead(vm, true));
  RETURN_IF_ERROR(ExpectState(v.record, {State::kReplicating, State::kSuspended}, "test failover"));
  if (!v.record.test_vm.IsZero()) {
    return InvalidState("VM " + v.record.name + " already has a test VM " +
                        v.record.test_vm.ToString());
  }
  ASSIGN_OR_RETURN(RecoveryPoint p, ChoosePoint(v.record, point));
  const Guid test_id = test_vm_id.IsZero() ? Guid::Random() : test_vm_id;
  ASSIGN_OR_RETURN(auto test_lock, store.LockVm(test_id));
  const std::string disk = TestDiskName(test_id);
  FileSystem* fs = store.fs();
  IntentRunner run(store.parts(), TestIntent(v.record, test_id, p.id, disk), control);
  RETURN_IF_ERROR(run.Begin());
  RETURN_IF_ERROR(run.Prepare(60, [&] {
    RETURN_IF_ERROR(chain::CreateChild(fs, store.DiskPath(vm, p.file), store.DiskPath(vm, disk)));
    return SyncDisks(store, vm);
  }));
  RETURN_IF_ERROR(run.Prepare(80, [&] {
    const std::string dir = store.layout().Abs(StoreLayout::VmDirRel(test_id));
    RETURN_IF_ERROR(fs->CreateDir(dir));
    RETURN_IF_ERROR(fs->SyncDir(store.layout().VmsDir()));
    return WriteVmRecord(fs, store.RecordPath(test_id), TestRecord(test_id, v.record, disk));
  }));
  RETURN_IF_ERROR(run.Commit());
  RETURN_IF_ERROR(run.Finish());
  return test_id;
}

// Steps and crash points (the source VM's record decides):
//   1. intent written                          (nothing changed yet)
//   2. source vm.json without the test VM      (the commit point)
//   3. the test disk and the test VM's vm.json renamed into trash/, disks/, vms/<t>/ and trash/
//      synced, vms/<t>/ removed (redone)
//   4. intent removed
//   5. the trash reclaimed (store.h; trash.h)
Status DestroyTestVm(Store& store, const Guid& test_vm, const OpControl* control) {
  ASSIGN_OR_RETURN(VmRecord test, store.GetVm(test_vm));
  if (test.mode != ReplicationMode::kTestReplica) {
    return Unsupported("VM " + test.name + " is not a test VM");
  }
  ASSIGN_OR_RETURN(LockedVm src, store.LockAndRead(test.source_vm, true));
  ASSIGN_OR_RETURN(auto test_lock, store.LockVm(test_vm));
  if (src.record.test_vm != test_vm) return NotFound("test VM " + test.name + " is gone");
  ASSIGN_OR_RETURN(test, store.GetVm(test_vm));  // as it stands under the locks
  RETURN_IF_ERROR(RefuseOtherOwner(test, store.layout().root));
  Intent in{.id = Guid::Random(), .op = "destroy-test", .vm = src.record.id, .has_before = true};
  in.before = src.record;
  in.after = src.record;
  in.after.generation = src.record.generation + 1;
  in.after.test_vm = Guid();
  in.after.test_point = Guid();
  in.deletes = {StoreLayout::DiskRel(src.record.id, test.test_disk),
                StoreLayout::VmRecordRel(test_vm), StoreLayout::VmRecordRel(test_vm) + ".tmp"};
  in.delete_dirs = {StoreLayout::VmDirRel(test_vm)};
  IntentRunner run(store.parts(), std::move(in), control);
  RETURN_IF_ERROR(run.Begin());
  RETURN_IF_ERROR(run.Commit());
  return run.Finish();
}

}  // namespace hvdisk::ops
