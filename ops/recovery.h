// Store-wide crash recovery (the read-only store check is store_check.h).
//
// RecoverStore, for every VM that needs recovery (a leftover intent, a stray file, a directory
// without a record, as seen without its lock) and whose lock it can take at once (others are in
// use, and skipped; VMs it cannot write are reported in not_writable), holding the VM's
// kRecoverySlot with it (store.h) so that an operation arriving meanwhile waits for it, locks
// them all and then, VM by VM:
//   1. resolves the VM's leftover intents (roll forward past the commit point, else back);
//   2. removes its own temporaries (*.tmp) from the VM's directory;
//   3. moves into lost+found/
//      (store_files.h: Quarantine), and reports, regular files in the VM's directory and disks/
//      that no record names (the replica chain, the failover disk, the disk of every test VM
//      made from it); leaves anything else (directories, links) as it is. A VM directory with no
//      record is removed only when nothing but temporaries is left in it.
// A VM whose lock file, record or intents cannot be used (vm_health.h) is left as it is: not
// swept, and named in RecoveryReport::problems; every other VM is recovered.
// Journal temporaries are removed when no VM is in use (held by anybody). VMs that need nothing
// are never locked. A VM whose recovery runs out of space (kNoSpace) is left as it is and
// reported as deferred: the store stays usable for the others, and the next recovery with space
// resolves it.
//
// The journal is read once per recovery: once without locks, to choose the VMs to lock, and
// under their locks only what changed since (Journal::Scan's `earlier`).
//
// These are functions over the store's parts (store_parts.h): Store calls them (store.h); they
// never call back into it. Files a roll forward moves into the trash are reported to
// StoreParts::trash.
//
// Thread safety: as Store: calls may run concurrently in many threads and processes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ops/journal.h"
#include "ops/store_layout.h"
#include "ops/store_parts.h"
#include "ops/vm_record.h"
#include "platform/file.h"
#include "platform/guid.h"
#include "platform/status.h"

namespace hvdisk::ops {

// What a recovery did. Paths are store-relative.
struct RecoveryReport {
  std::vector<std::string> rolled_back;     // "<op> <vm-guid>"
  std::vector<std::string> rolled_forward;  // "<op> <vm-guid>"
  std::vector<std::string> removed;         // temporaries (and empty VM directories) deleted
  std::vector<Guid> busy;                   // VMs skipped because another holder has their lock
  std::vector<Guid> not_writable;           // VMs needing recovery this process cannot write
  std::vector<std::string> deferred;        // "<vm-guid>: <error>": out of space, left for later
  std::vector<std::string> quarantined;     // "<from> -> lost+found/<name>": nothing names them
  std::vector<std::string> problems;        // VMs left as they are, and why (vm_health.h)
};

// The slot of a VM's lock file a recovery holds while it holds the VM (store.h, "Locks").
inline constexpr uint32_t kRecoverySlot = 1;

Result<RecoveryReport> RecoverStore(const StoreParts& store);

// Resolves the intents of `vm` in `journal` (read while the caller held vm's lock), rolling each
// forward or back (intent_runner.h: ResolveIntent) under a new store epoch taken for it (a
// takeover, epoch.h) and reporting it in *report. kCorrupt, and
// nothing done, when `journal` holds an intent naming `vm` that it cannot act on (the VM stays as
// it is). REQUIRES: the caller holds vm's lock.
Status RecoverVmIntents(const StoreParts& store, const JournalScan& journal, const Guid& vm,
                        RecoveryReport* report);

// Files under the VM's directory and its disks/ that nothing names (temporaries and orphans),
// store-relative.
Result<std::vector<std::string>> FindStrays(FileSystem* fs, const StoreLayout& layout,
                                            const VmRecord& record);

// The disk files of `vm` that its record (and its test VM's record) name, by file name.
Result<std::vector<std::string>> ReferencedDisks(FileSystem* fs, const StoreLayout& layout,
                                                 const VmRecord& record);

}  // namespace hvdisk::ops
