// The store repair (`hvdisk store check -r`): what the store check finds, repaired without ever
// deleting user data.
//
// RepairStore, in order:
//   1. crash recovery (Store::Recover, recovery.h): leftover intents finished or rolled back, our
//      temporaries removed, files no record names quarantined into lost+found/;
//   2. for each replica VM, under its lock (Store::LockAndRead, which resolves its intents):
//      a. a chain link whose parent locator names no existing file is pointed at the record's
//         parent of that disk, when that parent carries the linkage the child records
//         (chain::Reparent: one log entry; a crash leaves the old or the new locator);
//      b. a head the record names but disks/ lacks is re-created on its point (the newest point,
//         or the base) when that is safe: the VM is Replicating or Suspended (no failover disk),
//         and the chain below the head opens and checks clean. The changes replicated since that
//         point were lost with the head; the VM resumes from the point (resynchronize the rest);
//      c. a VM whose record names a disk that is missing, or that does not check clean
//         (Image::Check), is marked Critical (health 3, written to vm.json) with the reason.
// Every action is reported; a VM that cannot be repaired is reported and left as it is.
//
// Thread safety: as Store (each VM is repaired under its lock).
#pragma once

#include <string>
#include <vector>

#include "ops/recovery.h"
#include "ops/store.h"

namespace hvdisk::ops {

struct StoreRepairReport {
  RecoveryReport recovery;           // step 1, with what the store's open recovered
  std::vector<std::string> actions;  // step 2, one line each: "<store-relative path>: <done>"
  std::vector<std::string> failed;   // "<vm-guid>: <error>": VMs step 2 could not repair
};

// REQUIRES: a writable store (kAccessDenied otherwise).
Result<StoreRepairReport> RepairStore(Store* store);

}  // namespace hvdisk::ops
