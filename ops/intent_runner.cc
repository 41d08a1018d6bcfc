#include "ops/intent_runner.h"

#include <algorithm>

#include "chain/chain.h"
#include "ops/epoch.h"
#include "ops/fencing_file_system.h"
#include "ops/host_id.h"
#include "ops/pause_point.h"
#include "ops/store_files.h"
#include "ops/store_paths.h"
#include "ops/trash.h"

namespace hvdisk::ops {
namespace {

std::string RecordPath(const StoreLayout& layout, const Guid& vm) {
  return layout.Abs(StoreLayout::VmRecordRel(vm));
}

bool IsMissing(const Status& st) { return st.code() == Code::kNotFound; }

// Refuses an intent that reaches into the directory of another VM unless that VM is its own
// test VM (or does not exist yet): a test VM's paths are allowed by store_paths.h only as
// such, and this is where the record says so. Every VM directory it reaches must be real
// (a symbolic link there would take its steps outside the store).
Status CheckIntentTargets(FileSystem* fs, const StoreLayout& layout, const Intent& intent) {
  std::set<Guid> others;
  for (const auto* list :
       {&intent.creates, &intent.deletes, &intent.create_dirs, &intent.delete_dirs}) {
    for (const std::string& rel : *list) {
      Result<VmPath> p = ParseVmPath(rel);
      if (p.ok() && p->vm != intent.vm) others.insert(p->vm);
    }
  }
  std::set<Guid> all = others;
  all.insert(intent.vm);
  for (const Guid& vm : all) RETURN_IF_ERROR(CheckVmDirs(fs, layout, vm));
  for (const Guid& other : others) {
    Result<VmRecord> r = ReadVmRecordOf(fs, layout, other);
    if (!r.ok() && IsMissing(r.status())) continue;
    if (r.ok() && r->mode == ReplicationMode::kTestReplica && r->source_vm == intent.vm) continue;
    return Corrupt("intent " + intent.id.ToString() + " (" + intent.op + ") reaches VM " +
                   other.ToString() + ", which is not a test VM of " + intent.vm.ToString() +
                   "; refused, nothing done");
  }
  return Status::Ok();
}

// The intent as recovery may roll it back: an adopted base goes to lost+found/ rather than back
// to where it came from, outside the store (the journal is store input, so a path outside the
// store is never written from it); the report of the store check names it there.
Result<Intent> ForRecovery(FileSystem* fs, const StoreLayout& layout, Intent intent) {
  for (RenameStep& r : intent.renames) {
    if (!IsAdoptRename(intent, r.from, r.to)) continue;
    const std::string dir = LostFoundDir(layout);
    if (IsMissing(fs->KindOf(dir).status())) {
      RETURN_IF_ERROR(fs->CreateDir(dir));
      RETURN_IF_ERROR(fs->SyncDir(layout.root));
    }
    r.from = "lost+found/" + LowerGuid(intent.vm) + "-adopted-" + BaseName(r.to);
  }
  return intent;
}

Status ReverseRenames(FileSystem* fs, const StoreLayout& layout, const Intent& intent) {
  std::set<std::string> dirs;
  for (auto it = intent.renames.rbegin(); it != intent.renames.rend(); ++it) {
    const std::string from = layout.Abs(it->from), to = layout.Abs(it->to);
    ASSIGN_OR_RETURN(bool to_exists, fs->Exists(to));
    ASSIGN_OR_RETURN(bool from_exists, fs->Exists(from));
    if (!to_exists || from_exists) continue;  // never happened, or already undone
    RETURN_IF_ERROR(fs->Rename(to, from));
    dirs.insert(DirName(from));
    dirs.insert(DirName(to));
  }
  return SyncDirs(fs, dirs);
}

// Removes each directory if present; they must be empty by now.
Status RemoveDirs(FileSystem* fs, const StoreLayout& layout, const std::vector<std::string>& rels) {
  std::set<std::string> parents;
  for (const std::string& rel : rels) {
    Status st = fs->RemoveDir(layout.Abs(rel));
    if (!st.ok() && !IsMissing(st)) return st;
    parents.insert(DirName(layout.Abs(rel)));
  }
  return SyncDirs(fs, parents);
}

Status RunMerge(FileSystem* fs, const StoreLayout& layout, const Guid& op, const MergeStep& m,
                bool* relinking) {
  ASSIGN_OR_RETURN(bool exists, fs->Exists(layout.Abs(m.child)));
  if (!exists) {  // done before the crash
    *relinking = true;
    return Status::Ok();
  }
  chain::MergeOptions options;
  options.relinking = relinking;
  options.into = layout.Abs(m.into);
  for (const std::string& d : m.dependents) options.dependents.push_back(layout.Abs(d));
  options.dispose = [&](const std::vector<std::string>& merged) {
    return MoveToTrash(fs, layout, op, merged);
  };
  Result<chain::MergeResult> r = chain::Merge(fs, layout.Abs(m.child), options);
  return r.status().WithContext("merge " + m.child + " into " + m.into);
}

// What a cancelled operation returns once it is rolled back.
Status CancelledOnRequest(const std::string& op) {
  return Cancelled(op + " cancelled on request and rolled back");
}

}  // namespace

Status RemoveIfPresent(FileSystem* fs, const std::string& path, std::set<std::string>* dirs) {
  Status st = fs->Unlink(path);
  if (!st.ok() && !IsMissing(st)) return st;
  dirs->insert(DirName(path));
  return Status::Ok();
}

Status SyncDirs(FileSystem* fs, const std::set<std::string>& dirs) {
  for (const std::string& d : dirs) {
    Status st = fs->SyncDir(d);
    if (!st.ok() && !IsMissing(st)) return st;
  }
  return Status::Ok();
}

Status RollBack(FileSystem* fs, const StoreLayout& layout, const Intent& intent) {
  RETURN_IF_ERROR(ReverseRenames(fs, layout, intent));
  std::set<std::string> dirs;
  for (const std::string& rel : intent.creates) {
    RETURN_IF_ERROR(RemoveIfPresent(fs, layout.Abs(rel), &dirs));
  }
  RETURN_IF_ERROR(SyncDirs(fs, dirs));
  std::vector<std::string> created_dirs(intent.create_dirs.rbegin(), intent.create_dirs.rend());
  RETURN_IF_ERROR(RemoveDirs(fs, layout, created_dirs));
  if (!intent.has_before) return Status::Ok();
  Result<VmRecord> current = ReadVmRecordOf(fs, layout, intent.vm);
  if (current.ok() && *current == intent.before) return Status::Ok();
  if (!current.ok() && !IsMissing(current.status()) && current.status().code() != Code::kCorrupt) {
    return current.status();
  }
  return WriteVmRecord(fs, RecordPath(layout, intent.vm), intent.before);
}

Status RollForward(FileSystem* fs, const StoreLayout& layout, const Intent& intent,
                   bool* undoable) {
  if (undoable != nullptr) *undoable = false;
  for (const MergeStep& m : intent.merges) {
    bool relinking = false;
    Status st = RunMerge(fs, layout, intent.id, m, &relinking);
    if (!st.ok()) {
      if (undoable != nullptr) *undoable = !relinking && st.code() == Code::kNoSpace;
      return st;
    }
  }
  RETURN_IF_ERROR(MoveToTrash(fs, layout, intent.id, intent.deletes));
  return RemoveDirs(fs, layout, intent.delete_dirs);
}

Intent NewIntent(std::string op, const VmRecord& before) {
  Intent in{.id = Guid::Random(), .op = std::move(op), .vm = before.id, .has_before = true};
  in.before = before;
  in.after = before;
  in.after.generation = before.generation + 1;
  return in;
}

Result<Resolution> ResolveIntent(FileSystem* fs, const StoreLayout& layout, const Intent& intent,
                                 uint64_t epoch) {
  RETURN_IF_ERROR(CheckIntentTargets(fs, layout, intent));
  Result<VmRecord> current = ReadVmRecordOf(fs, layout, intent.vm);
  if (!current.ok() && !IsMissing(current.status())) return current.status();
  if (current.ok() && current->epoch < epoch) {  // the takeover is marked before anything else
    current->epoch = epoch;
    RETURN_IF_ERROR(WriteVmRecord(fs, RecordPath(layout, intent.vm), *current));
  }
  // An intent that deletes its own VM's record (vm remove) deletes it only after its commit
  // point: a missing record means the roll-forward was under way.
  const std::string own_record = StoreLayout::VmRecordRel(intent.vm);
  const bool record_deleted =
      !current.ok() && intent.has_before &&
      std::find(intent.deletes.begin(), intent.deletes.end(), own_record) != intent.deletes.end();
  bool committed =
      record_deleted || (current.ok() && current->generation >= intent.after.generation);
  if (committed) {
    bool undoable = false;
    Status st = RollForward(fs, layout, intent, &undoable);
    if (!st.ok() && !undoable) return st;
    if (!st.ok()) {  // out of space in a merge before its first relink: back to the before-state
      committed = false;
      RETURN_IF_ERROR(RollBack(fs, layout, intent));
    }
  } else {
    ASSIGN_OR_RETURN(Intent undo, ForRecovery(fs, layout, intent));
    undo.before.epoch = std::max(undo.before.epoch, epoch);
    RETURN_IF_ERROR(RollBack(fs, layout, undo));
  }
  RETURN_IF_ERROR(Journal(fs, &layout).Remove(intent.id));
  return committed ? Resolution::kRolledForward : Resolution::kRolledBack;
}

IntentRunner::IntentRunner(const StoreParts& store, Intent intent, const OpControl* control)
    : trash_(store.trash),
      fencing_(store.fencing),
      fs_(store.fs),
      layout_(store.layout),
      intent_(std::move(intent)),
      control_(control) {}

Status IntentRunner::CheckFence(std::string_view step) {
  Status st =
      CheckEpoch(fs_, *layout_, intent_.vm, intent_.epoch, intent_.op + " " + std::string(step));
  if (st.code() == Code::kFenced && fencing_ != nullptr) fencing_->Fence(st);
  return st;
}

Status IntentRunner::Begin() {
  // Never start what could not finish: the finish step moves discarded files into the trash.
  if (DiscardsFiles(intent_)) RETURN_IF_ERROR(CheckTrashDir(fs_, *layout_));
  intent_.epoch = intent_.has_before ? intent_.before.epoch : intent_.after.epoch;
  intent_.host = HostId();
  RETURN_IF_ERROR(CheckFence("writing its intent"));
  RETURN_IF_ERROR(Journal(fs_, layout_).Write(intent_));
  PausePoint(intent_.op + ":begin");
  // The operation is accepted: its preconditions held and its intent is durable.
  if (control_ != nullptr) control_->Report(0);
  return Status::Ok();
}

Status IntentRunner::Abort(const Status& cause) {
  if (cause.code() == Code::kFenced) return cause;  // no further writes: the new holder recovers
  Status rb = RollBack(fs_, *layout_, intent_);
  if (rb.ok()) rb = Journal(fs_, layout_).Remove(intent_.id);
  if (rb.ok()) return cause;
  return Status(cause.code(),
                cause.message() + " (rollback left for recovery: " + rb.ToString() + ")");
}

Status IntentRunner::Prepare(int percent, const std::function<Status()>& step) {
  if (control_ != nullptr && control_->cancelled()) return Abort(CancelledOnRequest(intent_.op));
  RETURN_IF_ERROR(CheckFence("a prepare step"));
  Status st = step();
  if (!st.ok()) return Abort(st.WithContext(intent_.op));
  if (control_ != nullptr) control_->Report(percent);
  return Status::Ok();
}

Status IntentRunner::Commit() {
  if (control_ != nullptr && control_->cancelled()) return Abort(CancelledOnRequest(intent_.op));
  PausePoint(intent_.op + ":commit");
  RETURN_IF_ERROR(CheckFence("its commit"));
  Status st = WriteVmRecord(fs_, RecordPath(*layout_, intent_.vm), intent_.after);
  if (!st.ok()) return Abort(st.WithContext(intent_.op + ": commit"));
  return Status::Ok();
}

Status IntentRunner::Finish() {
  PausePoint(intent_.op + ":finish");
  RETURN_IF_ERROR(CheckFence("its finish"));
  bool undoable = false;
  Status st = RollForward(fs_, *layout_, intent_, &undoable).WithContext(intent_.op + ": finish");
  if (!st.ok() && undoable) return Abort(st);  // out of space in a merge: rolled back
  RETURN_IF_ERROR(st);
  RETURN_IF_ERROR(CheckFence("removing its intent"));
  RETURN_IF_ERROR(Journal(fs_, layout_).Remove(intent_.id));
  if (control_ != nullptr) control_->Report(100);
  if (DiscardsFiles(intent_) && trash_ != nullptr) trash_->Changed();
  return Status::Ok();
}

}  // namespace hvdisk::ops
