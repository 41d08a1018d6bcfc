// The intent journal: one record per operation in flight (STORE/journal/<op-guid>.json), written
// and made durable before the operation's first change and removed (durably) after its last.
//
// An intent describes an operation in three phases:
//   prepare  (undoable)   new files are created (`creates`, `create_dirs`), files renamed
//                         (`renames`); the VM record may pass through intermediate states.
//   commit   (one write)  the VM record is replaced by `after` (generation > before's).
//   finish   (redoable)   `merges` run, then `deletes` are moved into the trash (trash.h) and
//                         `delete_dirs` removed.
// Every step is idempotent. Resolving an intent (ResolveIntent) reads the VM record: at or past
// `after.generation` it rolls forward (finish); otherwise it rolls back (undo the prepare steps in
// reverse and write `before` back). Either way the intent is then removed. One exception: a
// merge that runs out of space before it relinks anything rolls back even past the commit point
// (RollForward's undoable, intent_runner.h): every file still holds the before-state.
//
// Paths are store-relative; a rename's `from` may be absolute (a base disk adopted into the store).
// Thread safety: values and functions over a FileSystem; callers hold the VM's lock.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ops/store_layout.h"
#include "ops/vm_record.h"
#include "platform/file.h"
#include "platform/guid.h"
#include "platform/status.h"

namespace hvdisk::ops {

struct RenameStep {
  std::string from;
  std::string to;
  bool operator==(const RenameStep&) const = default;
};

// chain::Merge(child, into, dependents): run while `child` still exists.
struct MergeStep {
  std::string child;
  std::string into;
  std::vector<std::string> dependents;
  bool operator==(const MergeStep&) const = default;
};

struct Intent {
  Guid id;
  std::string op;           // "failover", "revert", ... (for reports)
  Guid vm;                  // the VM whose record decides, and whose lock guards the intent
  bool has_before = false;  // false: the record does not exist before (create)
  VmRecord before;
  VmRecord after;
  std::vector<std::string> creates;
  std::vector<std::string> create_dirs;  // parents first
  std::vector<RenameStep> renames;
  std::vector<MergeStep> merges;
  std::vector<std::string> deletes;
  std::vector<std::string> delete_dirs;  // parents last
  // The store epoch of the holder that wrote the intent (ops/epoch.h; 0 in older intents), and
  // its host (ops/host_id.h; empty in older intents). Set by IntentRunner::Begin.
  uint64_t epoch = 0;
  std::string host;
  bool operator==(const Intent&) const = default;
};

std::string EncodeIntent(const Intent& intent);
// kCorrupt when the text is not a well-formed intent or names a path store_paths.h refuses.
Result<Intent> DecodeIntent(std::string_view text, std::string_view where);
// The VM a (possibly malformed) intent's text names, or zero when it names none readably.
Guid IntentVmOf(std::string_view text);

// An intent the journal holds but the store cannot act on (unreadable, malformed, refused).
struct BadIntent {
  std::string rel;      // "journal/<name>"
  Guid vm;              // the VM it names, zero when unknown
  std::string problem;  // why it is refused
};
struct JournalScan {
  std::vector<Intent> intents;
  std::vector<std::string> files;  // files[i]: the name in journal/ of intents[i]
  std::vector<BadIntent> bad;
};

// Journal file I/O under layout.JournalDir().
class Journal {
 public:
  Journal(FileSystem* fs, const StoreLayout* layout) : fs_(fs), layout_(layout) {}
  // Durable when it returns OK (written to a temporary, flushed, renamed, directory synced).
  Status Write(const Intent& intent);
  // Durable removal (unlink and directory sync); OK if already gone.
  Status Remove(const Guid& id);
  // Every intent in the journal; a malformed one is kCorrupt (never skipped silently).
  Result<std::vector<Intent>> List();
  // Every intent in the journal, the ones it cannot act on apart (never acted on, never removed:
  // they make their VM Critical, recovery.h). kCorrupt only when journal/ itself is not a real
  // directory. Each intent is read through ReadStoreFile with the kMaxIntentBytes cap.
  // With `earlier` (a scan of this journal), an intent file `earlier` read is taken from it, not
  // read again: an intent file never changes (written once, under a new id; removed once). Files
  // it found bad, and files new since, are read.
  Result<JournalScan> Scan(const JournalScan* earlier = nullptr);
  std::string PathOf(const Guid& id) const;

 private:
  FileSystem* fs_;
  const StoreLayout* layout_;
};

}  // namespace hvdisk::ops
