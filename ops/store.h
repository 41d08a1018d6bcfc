// Store: a replica store directory (store_layout.h) opened by one process; many processes may open
// the same store at once.
//
// Locks (OFD locks, platform/file_lock.h): every open Store holds STORE/store.lock shared. Every
// operation on a VM holds the VM's lock (slot 0 of locks/<vm-guid>.lock) exclusively for its whole
// run, and so does a consumer attached to the VM's disk (consumer.h): a VM whose lock is held is
// "in use" (a running VM, or an operation in another process or thread). Locks are taken with
// StoreOptions::lock_timeout: with FileLock::kTry a held lock fails at once with kInUse; with a
// deadline, waiting past it fails with kTimeout. A recovery (below) holds a VM only while it
// recovers it, and marks that by also holding kRecoverySlot of the VM's lock file: an operation
// that finds the VM held by a recovery waits for it, whatever the timeout, instead of failing.
// The lock files are on the store's FileSystem, as everything else of the store.
//
// Crash recovery (recovery.h) runs at Open and whenever a VM is locked: leftover intents of that
// VM are rolled forward or back, stray temporaries removed, unnamed files quarantined into
// lost+found/ and reported (recovery.h). Recovery and the intent runner (intent_runner.h) are
// functions over the store's parts (store_parts.h) that the Store calls; they never call it. Open
// locks only the VMs that need it (a leftover intent, a stray file, a directory without a record,
// as seen without a lock and confirmed under it), so opening a store never gets in the way of
// operations on VMs it does not touch.
//
// Read-only opens (StoreOptions::read_only; the read-only commands: vm list, vm show, wmi job)
// take the store lock shared through a read-only descriptor and nothing else: no recovery, no
// directory created, no VM lock (LockVm is kAccessDenied), so they work on a read-only store and
// for a user who may only read it; a VM with a leftover intent is shown as its record stands. A
// read-write Open on a store it cannot write (EROFS, EACCES) recovers nothing it cannot write:
// such VMs are reported in RecoveryReport::not_writable, and Open succeeds.
//
// Trash (trash.h): an operation's finish step, and a recovery rolling one forward, move the files
// it deletes into STORE/trash/ and call TrashChanged(); StoreOptions::reclaim says who empties
// the trash. By default (kBackground) a reaper thread owned by the Store does, so neither an
// operation nor Open waits for freeing a file's extents: Open hands leftover trash (a crash, a
// process that exited first) to the reaper too rather than reclaiming inline, which would make
// Open's latency grow with the size of what a previous run discarded. The destructor stops the
// reaper after the entry it is unlinking and joins it; what is left waits for the next reclaim
// (any Store's, or `hvdisk store reclaim`). A process that must not linger, like the CLI, uses
// kExternal and reclaims in a detached process instead.
//
// Shared stores (docs/shared-storage.md): the Store works through a FencingFileSystem
// (fencing_file_system.h) under its confinement, so EIO, EBADFD, ENOTCONN or ESTALE from any store
// file is kFenced and latches the Store: from then on every call fails with kFenced, nothing more
// is written. Recovering another holder's leftover intent takes a new store epoch (epoch.h).
//
// Thread safety: a Store is thread-safe; operations on different VMs may run in parallel from
// many threads (and processes). The FileSystem must outlive the Store.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ops/recovery.h"
#include "ops/store_layout.h"
#include "ops/store_parts.h"
#include "ops/trash.h"
#include "ops/vm_record.h"
#include "platform/file.h"
#include "platform/file_lock.h"
#include "platform/guid.h"
#include "platform/status.h"

namespace hvdisk::ops {

class ConfinedFileSystem;
class FencingFileSystem;

struct StoreOptions {
  std::chrono::milliseconds lock_timeout = FileLock::kTry;
  // Shared locks only, no recovery, no writes (see above).
  bool read_only = false;
  // Who empties the trash of what this Store's operations and recoveries discard (trash.h).
  using Reclaim = ReclaimMode;
  Reclaim reclaim = Reclaim::kBackground;
};

// A VM locked for an operation, with its record as read under the lock.
struct LockedVm {
  std::unique_ptr<FileLock> lock;
  VmRecord record;
};

class Store {
 public:
  // Creates the directory tree of an empty store (idempotent on an existing store).
  static Status Create(FileSystem* fs, const std::string& dir, const StoreOptions& options = {});
  // Opens a store and runs recovery on every VM that needs it and is not in use (none when
  // read_only). kNotFound if `dir` is not a store.
  static Result<std::unique_ptr<Store>> Open(FileSystem* fs, const std::string& dir,
                                             const StoreOptions& options = {});
  ~Store();

  // The FileSystem given to Open, confined to the store (confined_file_system.h): every open,
  // rename and unlink of a path inside the store follows no symbolic link below its root.
  FileSystem* fs() const { return fs_; }
  const StoreLayout& layout() const { return layout_; }
  const StoreOptions& options() const { return options_; }
  // What the recovery at Open did.
  const RecoveryReport& open_recovery() const { return open_recovery_; }

  // Runs recovery again over every VM that needs it and is not in use. kAccessDenied when
  // read_only.
  Result<RecoveryReport> Recover();

  // Files were moved into the trash: reclaims them as options().reclaim says. A synchronous
  // reclaim's error is dropped (the operation is done; what is left waits for the next reclaim).
  void TrashChanged();
  // Empties the trash now, on the caller's thread (whatever options().reclaim says).
  Result<TrashReport> ReclaimTrash();
  // Blocks until the reaper has no reclaim pending or running (kBackground; tests).
  void WaitForReclaim() { reaper_.WaitIdle(); }

  // Every VM record, sorted by name then id; a VM the store cannot use is listed as InspectVm
  // reports it (Critical, with its problems).
  Result<std::vector<VmRecord>> ListVms();
  // kNotFound for an unknown VM; kCorrupt naming the problem for a record the store cannot use
  // (vm_health.h): operations refuse such a VM.
  Result<VmRecord> GetVm(const Guid& vm);
  // The VM as `vm list` and `vm show` report it (vm_health.h): its record, marked Critical with
  // its problems, or a placeholder when it has no usable record. kNotFound for an unknown VM.
  Result<VmRecord> InspectVm(const Guid& vm);
  // A VM given by GUID (braced or bare) or by name; kNotFound if none, kInvalidArgument if the
  // name is ambiguous.
  Result<Guid> FindVm(std::string_view guid_or_name);

  // Locks `vm` for an operation (see the locking rules above) and resolves its leftover intents.
  // The lock is released when the returned object is destroyed. kAccessDenied when read_only, or
  // when the lock file cannot be opened for writing (a read-only store, another user's).
  // With `report`, what the recovery of leftover intents did (a takeover: ops/epoch.h).
  Result<std::unique_ptr<FileLock>> LockVm(const Guid& vm, RecoveryReport* report = nullptr);
  // LockVm, then reads the record (kNotFound for an unknown VM; with require_replica, kUnsupported
  // for a VM that is not a replica: a test VM). kInUse for a VM another host owns
  // (VmRecord::owner_host; RefuseOtherOwner): it is taken over with RecoverVm (vm_recover.h).
  Result<LockedVm> LockAndRead(const Guid& vm, bool require_replica);
  std::string RecordPath(const Guid& vm) const;
  std::string DiskPath(const Guid& vm, std::string_view name) const;
  std::string DisksDir(const Guid& vm) const;

  // What recovery and the intent runner work on (store_parts.h); valid while the Store lives.
  StoreParts parts() { return StoreParts{fs_, &layout_, &reaper_, fencing_.get()}; }
  // Whether this Store lost its hold on the store (fencing_file_system.h): every call on its
  // files fails with kFenced from then on; reopen the store (after remounting) to go on.
  bool fenced() const;

 private:
  Store(FileSystem* fs, StoreLayout layout, StoreOptions options);

  std::unique_ptr<FencingFileSystem> fencing_;    // on the FileSystem given to Open
  std::unique_ptr<ConfinedFileSystem> confined_;  // on fencing_
  FileSystem* fs_;                                // confined_
  StoreLayout layout_;
  StoreOptions options_;
  std::unique_ptr<FileLock> store_lock_;
  RecoveryReport open_recovery_;
  std::mutex recover_mu_;  // one store-wide recovery at a time in this process
  TrashReaper reaper_;     // last: stopped and joined first
};

// kInUse naming the owner and how to take the VM over when record.owner_host is another host
// (host_id.h); OK when no host or this one owns it. `store`: the store's directory, for the hint.
Status RefuseOtherOwner(const VmRecord& record, const std::string& store);

// kInvalidState naming the operation and the state unless record.state is one of `allowed`.
Status ExpectState(const VmRecord& record, std::initializer_list<ReplicationState> allowed,
                   std::string_view op);

// Acquires byte `slot` of a lock file with the store's timeout; kInUse/kTimeout name what is held.
Result<std::unique_ptr<FileLock>> AcquireLock(FileSystem* fs, const std::string& path,
                                              LockMode mode, std::chrono::milliseconds timeout,
                                              std::string_view what, uint32_t slot = 0);

}  // namespace hvdisk::ops
