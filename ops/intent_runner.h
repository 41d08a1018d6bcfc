// Running and resolving intents (journal.h): the one mechanism behind every multi-step store
// operation and behind crash recovery.
//
// An operation builds its Intent, then:
//   IntentRunner run(store.parts(), intent, control);
//   RETURN_IF_ERROR(run.Begin());                 // the intent is durable: first change may follow
//   RETURN_IF_ERROR(run.Prepare(30, [&] { ... })); // undoable steps; cancel checked before each
//   RETURN_IF_ERROR(run.Commit());                // writes intent.after: the commit point
//   return run.Finish();                          // redoable steps, then the intent is removed
// Finish moves the files it deletes into the store's trash (trash.h) rather than unlinking them,
// so its cost does not grow with their size; the store's TrashReaper (StoreParts::trash) is told,
// and reclaims them afterwards (store.h). The runner and the functions here work on the store's
// parts (store_parts.h) and never call the Store.
// Fencing (epoch.h, fencing_file_system.h): Begin records the holder's epoch (its before-record's)
// and host in the intent; before the intent is written, before each prepare step, before the
// commit, before the finish and before the intent is removed, the VM's record is read again, and
// a newer epoch stops the run with kFenced (latching StoreParts::fencing). A kFenced step is
// never rolled back here: nothing more is written, the holder that took over recovers.
// Pause points (pause_point.h): "<op>:begin" after the intent is durable, "<op>:commit" before
// the commit, "<op>:finish" before the finish.
// A failed or cancelled Prepare or Commit rolls back (as recovery would) and returns the error;
// when the rollback itself fails the intent stays in the journal for the next recovery. So does
// a Finish whose merge ran out of space before relinking anything (RollForward's undoable): disk
// full is an ordinary error, the VM keeps its before-state, and a retry with space succeeds.
//
// Thread safety: REQUIRES the caller to hold the lock of intent.vm for the whole run.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <string_view>

#include "ops/journal.h"
#include "ops/op_control.h"
#include "ops/store_layout.h"
#include "ops/store_parts.h"
#include "platform/file.h"
#include "platform/status.h"

namespace hvdisk::ops {

enum class Resolution { kRolledBack, kRolledForward };

// An intent of `op` on the VM of `before`: after = before with the next generation; the caller
// adds the steps and the rest of the after-state.
Intent NewIntent(std::string op, const VmRecord& before);

// Brings intent.vm to the before- or after-state (see journal.h) and removes the intent. With a
// takeover's `epoch` (ops/epoch.h), the VM's record is first rewritten with it (nothing else
// changed), and the record written back on a roll-back carries it too.
Result<Resolution> ResolveIntent(FileSystem* fs, const StoreLayout& layout, const Intent& intent,
                                 uint64_t epoch = 0);
// The undo half: renames reversed, created files and directories removed, `before` written back.
Status RollBack(FileSystem* fs, const StoreLayout& layout, const Intent& intent);
// The redo half: merges run (while their child exists; the merged files go to the trash), deletes
// moved into the trash as TrashName(intent.id, ...), delete_dirs removed. *undoable (when not
// null) tells whether a failure may still be rolled back: a merge that ran out of space (kNoSpace)
// before its first relink changed no content and no link (chain::MergeOptions::relinking), and
// nothing was deleted yet; the before-state still stands in every file.
Status RollForward(FileSystem* fs, const StoreLayout& layout, const Intent& intent,
                   bool* undoable = nullptr);

class IntentRunner {
 public:
  // `control` may be null; it and what `store` points to must outlive the runner.
  IntentRunner(const StoreParts& store, Intent intent, const OpControl* control);

  Status Begin();
  Status Prepare(int percent, const std::function<Status()>& step);
  Status Commit();
  Status Finish();

  const Intent& intent() const { return intent_; }

 private:
  // Rolls back after `cause`; returns cause (with the rollback error appended if it failed).
  // A kFenced cause is returned at once.
  Status Abort(const Status& cause);
  // kFenced (latched) when another holder took the VM over; `step` is what comes next.
  Status CheckFence(std::string_view step);

  TrashReaper* trash_;
  FencingFileSystem* fencing_;
  FileSystem* fs_;
  const StoreLayout* layout_;
  Intent intent_;
  const OpControl* control_;
};

// Unlinks `rel` if present (kNotFound is fine) and remembers its directory in *dirs.
Status RemoveIfPresent(FileSystem* fs, const std::string& path, std::set<std::string>* dirs);
// SyncDir of each directory.
Status SyncDirs(FileSystem* fs, const std::set<std::string>& dirs);

}  // namespace hvdisk::ops
