#include "ops/recovery.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "ops/epoch.h"
#include "ops/intent_runner.h"
#include "ops/journal.h"
#include "ops/replication_stats.h"
#include "ops/store_files.h"
#include "ops/store_paths.h"
#include "ops/trash.h"
#include "platform/file_lock.h"

namespace hvdisk::ops {
namespace {

std::string DisksDir(const StoreParts& store, const Guid& vm) {
  return store.layout->Abs(StoreLayout::DisksDirRel(vm));
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// VM ids from vms/ and from the journal (its intents, and the VMs its bad intents name).
Result<std::set<Guid>> KnownVms(const StoreParts& store, const JournalScan& journal) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, store.fs->List(store.layout->VmsDir()));
  std::set<Guid> out;
  for (const std::string& n : names) {
    if (std::optional<Guid> g = Guid::Parse(n)) out.insert(*g);
  }
  for (const Intent& in : journal.intents) out.insert(in.vm);
  for (const BadIntent& b : journal.bad) {
    if (!b.vm.IsZero()) out.insert(b.vm);
  }
  return out;
}

// A VM directory without a record: removed when nothing but temporaries and an empty disks/ is
// left in it (a crash can leave that much); otherwise kept as it is, for the operator, and
// reported (its disks may be all that is left of a VM whose record was lost).
Status SweepRecordless(const StoreParts& store, const Guid& vm, RecoveryReport* report) {
  FileSystem* fs = store.fs;
  const std::string rel = StoreLayout::VmDirRel(vm), dir = store.layout->Abs(rel);
  Status real = CheckVmDirs(fs, *store.layout, vm);
  if (!real.ok()) return real;
  Result<std::vector<std::string>> disks = fs->List(DisksDir(store, vm));
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs->List(dir));
  for (const std::string& n : names) {
    const bool tmp = EndsWith(n, ".tmp") && CheckRegularFile(fs, JoinPath(dir, n), n).ok();
    if (!tmp && !(n == "disks" && disks.ok() && disks->empty())) {
      return Corrupt(rel + "/vm.json: no VM record, but the directory holds " + n +
                     "; kept as it is (restore the record, or move the directory away)");
    }
  }
  std::set<std::string> dirs;
  for (const std::string& n : names) {
    if (n == "disks") continue;
    RETURN_IF_ERROR(RemoveIfPresent(fs, JoinPath(dir, n), &dirs));
    report->removed.push_back(rel + "/" + n);
  }
  RETURN_IF_ERROR(SyncDirs(fs, dirs));
  Status st = fs->RemoveDir(DisksDir(store, vm));
  if (!st.ok() && st.code() != Code::kNotFound) return st;
  RETURN_IF_ERROR(fs->RemoveDir(dir));
  report->removed.push_back(rel);
  return fs->SyncDir(store.layout->VmsDir());
}

}  // namespace

Result<std::vector<std::string>> FindStrays(FileSystem* fs, const StoreLayout& layout,
                                            const VmRecord& record) {
  std::vector<std::string> out;
  const std::string dir = layout.Abs(StoreLayout::VmDirRel(record.id));
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs->List(dir));
  for (const std::string& n : names) {
    if (n != "vm.json" && n != "disks" && n != kReplicationStatsName)
      out.push_back(StoreLayout::VmDirRel(record.id) + "/" + n);
  }
  Result<std::vector<std::string>> disks =
      fs->List(layout.Abs(StoreLayout::DisksDirRel(record.id)));
  if (!disks.ok()) return out;
  ASSIGN_OR_RETURN(std::vector<std::string> named, ReferencedDisks(fs, layout, record));
  for (const std::string& n : *disks) {
    if (std::find(named.begin(), named.end(), n) == named.end()) {
      out.push_back(StoreLayout::DiskRel(record.id, n));
    }
  }
  return out;
}

namespace {

// One stray of a VM with a good record: a temporary of ours is removed; a file nothing names is
// quarantined (never deleted); anything else (a directory, a link) is left and reported.
Status SweepStray(const StoreParts& store, const Guid& vm, const std::string& rel,
                  std::set<std::string>* dirs, RecoveryReport* report) {
  FileSystem* fs = store.fs;
  const std::string path = store.layout->Abs(rel);
  Status regular = CheckRegularFile(fs, path, rel);
  if (regular.code() == Code::kNotFound) return Status::Ok();
  if (!regular.ok()) {
    report->problems.push_back(regular.message() + "; left as it is");
    return Status::Ok();
  }
  if (EndsWith(rel, ".tmp") && DirName(rel) == StoreLayout::VmDirRel(vm)) {
    RETURN_IF_ERROR(RemoveIfPresent(fs, path, dirs));
    report->removed.push_back(rel);
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(std::string to, Quarantine(fs, *store.layout, vm, rel));
  report->quarantined.push_back(rel + " -> " + to);
  return Status::Ok();
}

Status SweepVm(const StoreParts& store, const Guid& vm, RecoveryReport* report) {
  Result<VmRecord> record = ReadVmRecordOf(store.fs, *store.layout, vm);
  if (!record.ok() && record.status().code() == Code::kNotFound) {
    Result<FileKind> dir = store.fs->KindOf(store.layout->Abs(StoreLayout::VmDirRel(vm)));
    return dir.ok() ? SweepRecordless(store, vm, report) : Status::Ok();
  }
  if (!record.ok()) return record.status();
  RETURN_IF_ERROR(CheckVmDirs(store.fs, *store.layout, vm));
  ASSIGN_OR_RETURN(std::vector<std::string> strays, FindStrays(store.fs, *store.layout, *record));
  std::set<std::string> dirs;
  for (const std::string& rel : strays) RETURN_IF_ERROR(SweepStray(store, vm, rel, &dirs, report));
  return SyncDirs(store.fs, dirs);
}
bool IsHeld(const StoreParts& store, const Guid& vm);

Status SweepJournalTemps(const StoreParts& store, RecoveryReport* report) {
  FileSystem* fs = store.fs;
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs->List(store.layout->JournalDir()));
  std::set<std::string> dirs;
  for (const std::string& n : names) {
    if (!EndsWith(n, ".tmp")) continue;
    const std::string path = JoinPath(store.layout->JournalDir(), n);
    if (!CheckRegularFile(fs, path, path).ok()) continue;  // not ours: the check names it
    // Another process may be writing it now (it takes its VM's lock, then writes the whole intent
    // at once): a temporary naming a VM somebody holds is kept. One naming none (empty, torn) is a
    // crashed writer's: this sweep runs only when no VM was seen held.
    Result<std::string> text = ReadStoreFile(fs, path, kMaxIntentBytes);
    const Guid vm = text.ok() ? IntentVmOf(*text) : Guid();
    if (!vm.IsZero() && IsHeld(store, vm)) continue;
    RETURN_IF_ERROR(RemoveIfPresent(fs, JoinPath(store.layout->JournalDir(), n), &dirs));
    report->removed.push_back("journal/" + n);
  }
  return SyncDirs(fs, dirs);
}

}  // namespace

Result<std::vector<std::string>> ReferencedDisks(FileSystem* fs, const StoreLayout& layout,
                                                 const VmRecord& record) {
  std::vector<std::string> out = record.ChainFiles();
  if (!record.failover_disk.empty()) out.push_back(record.failover_disk);
  if (!record.test_vm.IsZero()) out.push_back(TestDiskName(record.test_vm));
  // Every test VM made from this one names its disk here, whatever this record says.
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs->List(layout.VmsDir()));
  for (const std::string& n : names) {
    std::optional<Guid> id = Guid::Parse(n);
    if (!id || *id == record.id) continue;
    Result<VmRecord> test = ReadVmRecordOf(fs, layout, *id);
    if (test.ok() && test->mode == ReplicationMode::kTestReplica && test->source_vm == record.id) {
      out.push_back(test->test_disk);
    }
  }
  return out;
}

namespace {

// Whether `vm` needs recovery, as seen without its lock: a leftover intent, a directory without a
// record (or a record that cannot be read: the locked pass reports it), a stray file. An operation
// in flight looks like this too; under the lock, after it, the recovery finds nothing to do.
bool NeedsRecovery(const StoreParts& store, const Guid& vm, const JournalScan& journal) {
  for (const Intent& in : journal.intents) {
    if (in.vm == vm) return true;
  }
  for (const BadIntent& b : journal.bad) {
    if (b.vm == vm) return true;
  }
  Result<VmRecord> record = ReadVmRecordOf(store.fs, *store.layout, vm);
  if (!record.ok()) return true;
  Result<std::vector<std::string>> strays = FindStrays(store.fs, *store.layout, *record);
  return !strays.ok() || !strays->empty();
}

// The VM lock for a recovery, taken after the VM's kRecoverySlot (kept in *slots, to be released
// after the VM: store.h). kInUse when another holder has the VM or another recovery is at it;
// kAccessDenied when the lock file cannot be written (a read-only store, another user's).
Result<std::unique_ptr<FileLock>> LockForRecovery(FileSystem* fs, const std::string& path,
                                                  std::vector<std::unique_ptr<FileLock>>* slots) {
  ASSIGN_OR_RETURN(
      std::unique_ptr<FileLock> slot,
      FileLock::Acquire(fs, path, LockMode::kExclusive, FileLock::kTry, kRecoverySlot));
  ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock,
                   FileLock::Acquire(fs, path, LockMode::kExclusive, FileLock::kTry));
  slots->push_back(std::move(slot));
  return lock;
}

bool IsHeld(const StoreParts& store, const Guid& vm) {
  Result<bool> held = FileLock::IsHeld(store.fs, store.layout->VmLockPath(vm));
  return !held.ok() || *held;
}

// RecoverVmIntents under vm's lock, with *current brought up to date first: an operation may have
// ended (or crashed) since it was read. Only intent files it does not hold yet are read.
Status RecoverLockedVm(const StoreParts& store, JournalScan* current, const Guid& vm,
                       RecoveryReport* report) {
  ASSIGN_OR_RETURN(*current, Journal(store.fs, store.layout).Scan(current));
  return RecoverVmIntents(store, *current, vm, report);
}

}  // namespace

Status RecoverVmIntents(const StoreParts& store, const JournalScan& journal, const Guid& vm,
                        RecoveryReport* report) {
  for (const BadIntent& bad : journal.bad) {  // never acted on: the VM stays as it is
    if (bad.vm == vm) return Corrupt(bad.problem + " (VM " + vm.ToString() + " left as it is)");
  }
  for (const Intent& intent : journal.intents) {
    if (intent.vm != vm) continue;
    // A takeover of another holder's leftovers: a new epoch first (epoch.h).
    Result<VmRecord> record = ReadVmRecordOf(store.fs, *store.layout, vm);
    const uint64_t seen = std::max(intent.epoch, record.ok() ? record->epoch : 0);
    ASSIGN_OR_RETURN(uint64_t epoch, NextEpoch(store.fs, *store.layout, seen));
    ASSIGN_OR_RETURN(Resolution res, ResolveIntent(store.fs, *store.layout, intent, epoch));
    if (res == Resolution::kRolledForward && DiscardsFiles(intent) && store.trash != nullptr) {
      store.trash->Changed();
    }
    std::string what = intent.op + " " + vm.ToString(false);
    (res == Resolution::kRolledBack ? report->rolled_back : report->rolled_forward).push_back(what);
  }
  return Status::Ok();
}

Result<RecoveryReport> RecoverStore(const StoreParts& store) {
  RecoveryReport report;
  // `journal` as read without locks decides which VMs to lock; `current` follows it under them.
  ASSIGN_OR_RETURN(JournalScan journal, Journal(store.fs, store.layout).Scan());
  JournalScan current = journal;
  ASSIGN_OR_RETURN(std::set<Guid> vms, KnownVms(store, journal));
  std::vector<std::unique_ptr<FileLock>> recovery_slots;  // released after `held`
  std::map<Guid, std::unique_ptr<FileLock>> held;
  std::set<Guid> unresolved;
  bool others_held = false;  // a VM that needs nothing is held: an operation may be running
  for (const Guid& vm : vms) {
    if (!NeedsRecovery(store, vm, journal)) {  // never locked: never in an operation's way
      others_held = others_held || IsHeld(store, vm);
      continue;
    }
    const std::string path = store.layout->VmLockPath(vm);
    Status usable = CheckLockFile(store.fs, path);
    Result<std::unique_ptr<FileLock>> lock = usable.ok()
                                                 ? LockForRecovery(store.fs, path, &recovery_slots)
                                                 : Result<std::unique_ptr<FileLock>>(usable);
    if (!lock.ok() && lock.status().code() == Code::kInUse) {
      report.busy.push_back(vm);
      continue;
    }
    if (!lock.ok() && lock.status().code() == Code::kAccessDenied) {
      report.not_writable.push_back(vm);
      continue;
    }
    if (!lock.ok()) {  // this VM alone is left as it is
      report.problems.push_back("VM " + vm.ToString() + ": " + lock.status().ToString());
      continue;
    }
    Status st = RecoverLockedVm(store, &current, vm, &report);
    if (st.code() == Code::kNoSpace) {  // this VM waits for space; the others stay usable
      report.deferred.push_back(vm.ToString(false) + ": " + st.ToString());
      continue;
    }
    held[vm] = std::move(lock).value();
    if (!st.ok()) {
      report.problems.push_back("VM " + vm.ToString() + ": " + st.ToString());
      unresolved.insert(vm);
    }
  }
  // Test VMs sit in their own directories but are swept with their source (both locked here).
  for (const auto& [vm, lock] : held) {
    if (unresolved.count(vm) != 0) continue;  // its intents may still name what it holds
    Status st = SweepVm(store, vm, &report);
    if (!st.ok()) report.problems.push_back("VM " + vm.ToString() + ": " + st.ToString());
  }
  if (report.busy.empty() && report.deferred.empty() && !others_held) {
    Status st = SweepJournalTemps(store, &report);
    if (st.code() != Code::kAccessDenied) RETURN_IF_ERROR(st);  // a read-only store keeps them
  }
  return report;
}

}  // namespace hvdisk::ops
