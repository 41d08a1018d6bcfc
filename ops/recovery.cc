#include "ops/recovery.h"

#include <algorithm>
#include <map>
#include <set>

#include "chain/chain.h"
#include "ops/intent_runner.h"
#include "ops/journal.h"
#include "vhdx/image.h"

namespace hvdisk::ops {
namespace {

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// VM ids from vms/ and from the journal.
Result<std::set<Guid>> KnownVms(Store* store, const std::vector<Intent>& intents) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, store->fs()->List(store->layout().VmsDir()));
  std::set<Guid> out;
  for (const std::string& n : names) {
    if (std::optional<Guid> g = Guid::Parse(n)) out.insert(*g);
  }
  for (const Intent& in : intents) out.insert(in.vm);
  return out;
}

// Removes everything under a VM directory that has no record, then the directory.
Status RemoveOrphanVmDir(Store* store, const Guid& vm, RecoveryReport* report) {
  FileSystem* fs = store->fs();
  const std::string dir = store->layout().Abs(StoreLayout::VmDirRel(vm));
  std::set<std::string> dirs;
  Result<std::vector<std::string>> disks = fs->List(store->DisksDir(vm));
  for (const std::string& name : disks.ok() ? *disks : std::vector<std::string>()) {
    RETURN_IF_ERROR(RemoveIfPresent(fs, store->DiskPath(vm, name), &dirs));
    report->removed.push_back(StoreLayout::DiskRel(vm, name));
  }
  RETURN_IF_ERROR(SyncDirs(fs, dirs));
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs->List(dir));
  for (const std::string& name : names) {
    if (name == "disks") continue;
    RETURN_IF_ERROR(RemoveIfPresent(fs, JoinPath(dir, name), &dirs));
    report->removed.push_back(StoreLayout::VmDirRel(vm) + "/" + name);
  }
  Status st = fs->RemoveDir(store->DisksDir(vm));
  if (!st.ok() && st.code() != Code::kNotFound) return st;
  RETURN_IF_ERROR(fs->RemoveDir(dir));
  report->removed.push_back(StoreLayout::VmDirRel(vm));
  return fs->SyncDir(store->layout().VmsDir());
}

}  // namespace

Result<std::vector<std::string>> FindStrays(Store* store, const VmRecord& record) {
  FileSystem* fs = store->fs();
  std::vector<std::string> out;
  const std::string dir = store->layout().Abs(StoreLayout::VmDirRel(record.id));
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs->List(dir));
  for (const std::string& n : names) {
    if (n != "vm.json" && n != "disks") out.push_back(StoreLayout::VmDirRel(record.id) + "/" + n);
  }
  Result<std::vector<std::string>> disks = fs->List(store->DisksDir(record.id));
  if (!disks.ok()) return out;
  ASSIGN_OR_RETURN(std::vector<std::string> named, ReferencedDisks(store, record));
  for (const std::string& n : *disks) {
    if (std::find(named.begin(), named.end(), n) == named.end()) {
      out.push_back(StoreLayout::DiskRel(record.id, n));
    }
  }
  return out;
}

namespace {

Status SweepVm(Store* store, const Guid& vm, RecoveryReport* report) {
  Result<VmRecord> record = ReadVmRecord(store->fs(), store->RecordPath(vm));
  if (!record.ok() && record.status().code() == Code::kNotFound) {
    Result<bool> exists = store->fs()->Exists(store->layout().Abs(StoreLayout::VmDirRel(vm)));
    if (exists.ok() && *exists) return RemoveOrphanVmDir(store, vm, report);
    return Status::Ok();
  }
  if (!record.ok()) return record.status();
  ASSIGN_OR_RETURN(std::vector<std::string> strays, FindStrays(store, *record));
  std::set<std::string> dirs;
  for (const std::string& rel : strays) {
    RETURN_IF_ERROR(RemoveIfPresent(store->fs(), store->layout().Abs(rel), &dirs));
    report->removed.push_back(rel);
  }
  return SyncDirs(store->fs(), dirs);
}

Status SweepJournalTemps(Store* store, RecoveryReport* report) {
  FileSystem* fs = store->fs();
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs->List(store->layout().JournalDir()));
  std::set<std::string> dirs;
  for (const std::string& n : names) {
    if (!EndsWith(n, ".tmp")) continue;
    RETURN_IF_ERROR(RemoveIfPresent(fs, JoinPath(store->layout().JournalDir(), n), &dirs));
    report->removed.push_back("journal/" + n);
  }
  return SyncDirs(fs, dirs);
}

}  // namespace

Result<std::vector<std::string>> ReferencedDisks(Store* store, const VmRecord& record) {
  std::vector<std::string> out = record.ChainFiles();
  if (!record.failover_disk.empty()) out.push_back(record.failover_disk);
  if (!record.test_vm.IsZero()) {
    Result<VmRecord> test = ReadVmRecord(store->fs(), store->RecordPath(record.test_vm));
    if (test.ok()) out.push_back(test->test_disk);
    if (!test.ok() && test.status().code() != Code::kNotFound) return test.status();
  }
  return out;
}

namespace {

// Whether `vm` needs recovery, as seen without its lock: a leftover intent, a directory without a
// record (or a record that cannot be read: the locked pass reports it), a stray file. An operation
// in flight looks like this too; under the lock, after it, the recovery finds nothing to do.
bool NeedsRecovery(Store* store, const Guid& vm, const std::vector<Intent>& intents) {
  for (const Intent& in : intents) {
    if (in.vm == vm) return true;
  }
  Result<VmRecord> record = ReadVmRecord(store->fs(), store->RecordPath(vm));
  if (!record.ok()) return true;
  Result<std::vector<std::string>> strays = FindStrays(store, *record);
  return !strays.ok() || !strays->empty();
}

// The VM lock for a recovery, taken after the VM's kRecoverySlot (kept in *slots, to be released
// after the VM: store.h). kInUse when another holder has the VM or another recovery is at it;
// kAccessDenied when the lock file cannot be written (a read-only store, another user's).
Result<std::unique_ptr<FileLock>> LockForRecovery(const std::string& path,
                                                  std::vector<std::unique_ptr<FileLock>>* slots) {
  ASSIGN_OR_RETURN(std::unique_ptr<FileLock> slot,
                   FileLock::Acquire(path, LockMode::kExclusive, FileLock::kTry, kRecoverySlot));
  ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock,
                   FileLock::Acquire(path, LockMode::kExclusive, FileLock::kTry));
  slots->push_back(std::move(slot));
  return lock;
}

bool IsHeld(Store* store, const Guid& vm) {
  Result<bool> held = FileLock::IsHeld(store->layout().VmLockPath(vm));
  return !held.ok() || *held;
}

}  // namespace

Result<RecoveryReport> RecoverStore(Store* store) {
  RecoveryReport report;
  ASSIGN_OR_RETURN(std::vector<Intent> intents, Journal(store->fs(), &store->layout()).List());
  ASSIGN_OR_RETURN(std::set<Guid> vms, KnownVms(store, intents));
  std::vector<std::unique_ptr<FileLock>> recovery_slots;  // released after `held`
  std::map<Guid, std::unique_ptr<FileLock>> held;
  bool others_held = false;  // a VM that needs nothing is held: an operation may be running
  for (const Guid& vm : vms) {
    if (!NeedsRecovery(store, vm, intents)) {  // never locked: never in an operation's way
      others_held = others_held || IsHeld(store, vm);
      continue;
    }
    Result<std::unique_ptr<FileLock>> lock =
        LockForRecovery(store->layout().VmLockPath(vm), &recovery_slots);
    if (!lock.ok() && lock.status().code() == Code::kInUse) {
      report.busy.push_back(vm);
      continue;
    }
    if (!lock.ok() && lock.status().code() == Code::kAccessDenied) {
      report.not_writable.push_back(vm);
      continue;
    }
    if (!lock.ok()) return lock.status();
    Status st = store->RecoverVm(vm, &report);
    if (st.code() == Code::kNoSpace) {  // this VM waits for space; the others stay usable
      report.deferred.push_back(vm.ToString(false) + ": " + st.ToString());
      continue;
    }
    RETURN_IF_ERROR(st);
    held[vm] = std::move(lock).value();
  }
  // Test VMs sit in their own directories but are swept with their source (both locked here).
  for (const auto& [vm, lock] : held) RETURN_IF_ERROR(SweepVm(store, vm, &report));
  if (report.busy.empty() && report.deferred.empty() && !others_held) {
    Status st = SweepJournalTemps(store, &report);
    if (st.code() != Code::kAccessDenied) RETURN_IF_ERROR(st);  // a read-only store keeps them
  }
  return report;
}

}  // namespace hvdisk::ops
