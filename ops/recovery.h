// Store-wide crash recovery (the read-only store check is store_check.h).
//
// RecoverStore, for every VM that needs recovery (a leftover intent, a stray file, a directory
// without a record, as seen without its lock) and whose lock it can take at once (others are in
// use, and skipped; VMs it cannot write are reported in not_writable), holding the VM's
// kRecoverySlot with it (store.h) so that an operation arriving meanwhile waits for it:
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
// Thread safety: as Store.
#pragma once

#include <string>
#include <vector>

#include "ops/store.h"

namespace hvdisk::ops {

Result<RecoveryReport> RecoverStore(Store* store);

// Files under the VM's directory and its disks/ that nothing names (temporaries and orphans),
// store-relative.
Result<std::vector<std::string>> FindStrays(Store* store, const VmRecord& record);

// The disk files of `vm` that its record (and its test VM's record) name, by file name.
Result<std::vector<std::string>> ReferencedDisks(Store* store, const VmRecord& record);

}  // namespace hvdisk::ops
