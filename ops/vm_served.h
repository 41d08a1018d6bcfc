// Serving a VM: the mark a process holds while it exports a VM's disk to a running guest (the NBD
// server of `hvdisk vm serve`), and the question others ask: is this VM served, and where?
//
// The mark is a lock, not a flag in the record: the serving process holds the VM's lock
// exclusively (as an attached consumer does, consumer.h: the VM is running, so InitiateFailover,
// RevertFailover, CommitFailover and DestroyTestVm on it fail with kInUse) and also kServedSlot
// of the VM's lock file; beside the lock file, STORE/locks/<vm-guid>.served holds a small JSON
// record of where it serves (URI, pid, host). Both locks die with the process, SIGKILL included,
// so a killed server leaves no stale "served" mark: IsServed trusts the record only while the
// slot is held, and the next server removes a leftover record when it takes the slot.
//
// Thread safety: IsServed may be called from any thread; a ServedVm is owned by one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ops/store.h"
#include "platform/file_lock.h"
#include "platform/guid.h"
#include "platform/status.h"

namespace hvdisk::ops {

// The slot of STORE/locks/<vm-guid>.lock held by the process serving the VM.
inline constexpr uint32_t kServedSlot = 2;

// Where a served VM is served. Fields the server has not published yet (or a damaged record)
// are empty / 0; the VM is served all the same.
struct ServedInfo {
  std::string uri;   // the NBD URI clients connect to ("nbd+unix:///?socket=...")
  int64_t pid = 0;   // the serving process
  std::string host;  // the host it runs on
};

// The served VM's record path: STORE/locks/<vm-guid>.served.
std::string ServedRecordPath(const StoreLayout& layout, const Guid& vm);

// Whether `vm` is served now (a snapshot), and where. Takes no lock, writes nothing: works on a
// read-only store. The record is untrusted input: a missing, oversized or malformed one gives
// empty fields.
Result<std::optional<ServedInfo>> IsServed(Store& store, const Guid& vm);

// kInUse naming where the VM is served (and how to stop it) when it is served; OK otherwise.
Status RefuseIfServed(Store& store, const Guid& vm, std::string_view op);

// kInvalidState naming the state unless the VM can run (CanRun, consumer.h): only a failed-over
// VM (5 Recovered, 6 Committed) or a test VM is served; a replicating replica's head is the
// replication target, not a runnable disk.
Status ExpectRunnable(const VmRecord& record);

class ServedVm {
 public:
  // Locks `vm` (kInUse / kTimeout when held: served already, or an operation runs) and checks it
  // can run (CanRun, consumer.h: a replicating replica is kInvalidState, its head is the
  // replication target), then takes kServedSlot. Publish says where it is served.
  static Result<std::unique_ptr<ServedVm>> Mark(Store& store, const Guid& vm);
  // Removes the record (best effort), then releases the locks.
  ~ServedVm();
  ServedVm(const ServedVm&) = delete;
  ServedVm& operator=(const ServedVm&) = delete;

  const VmRecord& record() const { return record_; }
  // The disk the VM runs on (the record's attached disk), as the store's FileSystem names it.
  std::string disk_path() const;
  // Writes the record atomically. Call it from the process that serves (after a fork: the child).
  Status Publish(const ServedInfo& info);

 private:
  ServedVm(Store* store, LockedVm vm, std::unique_ptr<FileLock> mark);
  Store* store_;
  VmRecord record_;
  std::unique_ptr<FileLock> vm_lock_;
  std::unique_ptr<FileLock> mark_;
};

}  // namespace hvdisk::ops
