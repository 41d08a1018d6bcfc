// RecoverVm: a host takes a VM over after its owner lost its hold on the store (the Replica
// Broker's move of a VM to another node; `hvdisk vm --store DIR recover VM`).
//
// Steps:
//   1. refused with kInUse while anyone holds the VM: its owner serving it (vm_served.h, naming
//      the host), or an operation in flight (on CephFS a crashed or frozen host's locks are
//      released once the MDS evicts it: session_timeout, docs/shared-storage.md);
//   2. the VM's lock is taken and its leftover intents resolved, rolled back or forward, each
//      under a new store epoch (epoch.h: the late writer, if it comes back, is fenced);
//   3. when another host owned the VM (VmRecord::owner_host), a new epoch is taken and the record
//      rewritten with it, owned by this host (HostId, host_id.h). Crash points: before 3 the VM is
//      recovered and still owned by the old host (run it again); 3 is one atomic record write.
// A VM owned by no host, or by this one, with nothing left over, is left as it is (OK).
//
// Thread safety: as the other operations (store.h); calls on different VMs may run concurrently.
#pragma once

#include <cstdint>
#include <string>

#include "ops/recovery.h"
#include "ops/store.h"

namespace hvdisk::ops {

struct VmRecoverReport {
  RecoveryReport recovery;     // the intents rolled back and forward
  std::string previous_owner;  // the owner before ("" for none)
  std::string owner;           // the owner now
  uint64_t epoch = 0;          // the record's epoch now
  bool taken_over = false;     // whether step 3 moved the VM to this host
};

Result<VmRecoverReport> RecoverVm(Store& store, const Guid& vm);

}  // namespace hvdisk::ops
