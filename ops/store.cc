#include "ops/store.h"

#include <algorithm>
#include <map>

#include "ops/confined_file_system.h"
#include "ops/fencing_file_system.h"
#include "ops/host_id.h"
#include "ops/journal.h"
#include "ops/recovery.h"
#include "ops/store_files.h"
#include "ops/vm_health.h"
#include "platform/mem_file_system.h"

namespace hvdisk::ops {

Result<std::unique_ptr<FileLock>> AcquireLock(FileSystem* fs, const std::string& path,
                                              LockMode mode, std::chrono::milliseconds timeout,
                                              std::string_view what, uint32_t slot) {
  RETURN_IF_ERROR(CheckLockFile(fs, path).WithContext(what));
  Result<std::unique_ptr<FileLock>> lock = FileLock::Acquire(fs, path, mode, timeout, slot);
  if (lock.ok()) return lock;
  Status st = lock.status();
  if (st.code() == Code::kInUse) return InUse(std::string(what) + " is in use: " + st.message());
  if (st.code() == Code::kTimeout) {
    return Timeout(std::string(what) + " stayed locked past the deadline: " + st.message());
  }
  return st.WithContext(what);
}

Status Store::Create(FileSystem* fs, const std::string& dir, const StoreOptions& /*options*/) {
  const StoreLayout layout{dir};
  RETURN_IF_ERROR(memfs::MakeDirs(fs, dir));
  for (const std::string& sub : {layout.JournalDir(), layout.JobsDir(), layout.VmsDir(),
                                 layout.TrashDir(), layout.LocksDir()}) {
    RETURN_IF_ERROR(fs->CreateDir(sub));
  }
  RETURN_IF_ERROR(fs->SyncDir(dir));
  RETURN_IF_ERROR(fs->SyncDir(DirName(dir)));
  return FileLock::Acquire(fs, layout.StoreLockPath(), LockMode::kShared, FileLock::kTry).status();
}

Store::Store(FileSystem* fs, StoreLayout layout, StoreOptions options)
    : fencing_(std::make_unique<FencingFileSystem>(fs)),
      confined_(std::make_unique<ConfinedFileSystem>(fencing_.get(), layout.root)),
      fs_(confined_.get()),
      layout_(std::move(layout)),
      options_(std::move(options)),
      reaper_(fs_, &layout_, options_.reclaim) {}

Store::~Store() = default;

bool Store::fenced() const { return fencing_->fenced(); }

Result<std::unique_ptr<Store>> Store::Open(FileSystem* fs, const std::string& dir,
                                           const StoreOptions& options) {
  const StoreLayout layout{dir};
  RETURN_IF_ERROR(CheckStoreDirs(fs, layout));
  if (!options.read_only) {
    RETURN_IF_ERROR(fs->CreateDir(layout.LocksDir()));
    RETURN_IF_ERROR(CheckRealDir(fs, layout.LocksDir(), "locks/"));
  }
  std::unique_ptr<Store> store(new Store(fs, layout, options));
  ASSIGN_OR_RETURN(store->store_lock_, AcquireLock(fs, layout.StoreLockPath(), LockMode::kShared,
                                                   options.lock_timeout, "store " + dir));
  if (options.read_only) return store;
  Status trash_dir = EnsureTrashDir(fs, layout);
  if (!trash_dir.ok() && trash_dir.code() != Code::kAccessDenied) return trash_dir;
  ASSIGN_OR_RETURN(store->open_recovery_, store->Recover());
  // Leftovers of earlier runs (a crash, a process that did not wait for its reclaim).
  Result<bool> trash = TrashHasEntries(fs, layout);
  if (!trash.ok() || *trash) store->TrashChanged();
  return store;
}

void Store::TrashChanged() { reaper_.Changed(); }

Result<TrashReport> Store::ReclaimTrash() { return ops::ReclaimTrash(fs_, layout_); }

Result<RecoveryReport> Store::Recover() {
  if (options_.read_only) return AccessDenied("store " + layout_.root + " is opened read-only");
  std::lock_guard<std::mutex> guard(recover_mu_);
  return RecoverStore(parts());
}

std::string Store::RecordPath(const Guid& vm) const {
  return layout_.Abs(StoreLayout::VmRecordRel(vm));
}
std::string Store::DiskPath(const Guid& vm, std::string_view name) const {
  return layout_.Abs(StoreLayout::DiskRel(vm, name));
}
std::string Store::DisksDir(const Guid& vm) const {
  return layout_.Abs(StoreLayout::DisksDirRel(vm));
}

Result<std::vector<VmRecord>> Store::ListVms() {
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->List(layout_.VmsDir()));
  ASSIGN_OR_RETURN(JournalScan journal, Journal(fs_, &layout_).Scan());
  std::vector<VmRecord> out;
  for (const std::string& name : names) {
    std::optional<Guid> id = Guid::Parse(name);
    if (!id) continue;
    Result<VmRecord> r = ops::InspectVm(fs_, layout_, *id, journal);
    if (!r.ok() && r.status().code() == Code::kNotFound) continue;  // being created or removed
    if (!r.ok()) return r.status();
    out.push_back(std::move(r).value());
  }
  std::sort(out.begin(), out.end(), [](const VmRecord& a, const VmRecord& b) {
    return a.name != b.name ? a.name < b.name : a.id < b.id;
  });
  return out;
}

Result<VmRecord> Store::InspectVm(const Guid& vm) {
  ASSIGN_OR_RETURN(JournalScan journal, Journal(fs_, &layout_).Scan());
  Result<VmRecord> r = ops::InspectVm(fs_, layout_, vm, journal);
  if (!r.ok() && r.status().code() == Code::kNotFound) {
    return NotFound("no VM " + vm.ToString() + " in store " + layout_.root);
  }
  return r;
}

Result<VmRecord> Store::GetVm(const Guid& vm) {
  Result<VmRecord> r = ReadVmRecordOf(fs_, layout_, vm);
  if (!r.ok() && r.status().code() == Code::kNotFound) {
    return NotFound("no VM " + vm.ToString() + " in store " + layout_.root);
  }
  return r;
}

Result<Guid> Store::FindVm(std::string_view guid_or_name) {
  if (std::optional<Guid> id = Guid::Parse(guid_or_name)) {
    RETURN_IF_ERROR(InspectVm(*id).status());  // a Critical VM is found; operations refuse it
    return *id;
  }
  ASSIGN_OR_RETURN(std::vector<VmRecord> vms, ListVms());
  std::vector<Guid> found;
  for (const VmRecord& r : vms) {
    if (r.name == guid_or_name) found.push_back(r.id);
  }
  if (found.empty()) return NotFound("no VM named '" + std::string(guid_or_name) + "'");
  if (found.size() > 1) {
    return InvalidArgument("several VMs are named '" + std::string(guid_or_name) +
                           "'; give a GUID");
  }
  return found[0];
}

namespace {

// The VM lock for an operation: a conflict with a recovery (which holds kRecoverySlot while it
// holds the VM) waits for the recovery to end, then tries again; any other holder keeps the
// status of the first attempt. The recovery releases the VM before its slot, so a conflict seen
// with the slot free twice in a row is another holder (an operation, a consumer).
Result<std::unique_ptr<FileLock>> LockForOperation(FileSystem* fs, const std::string& path,
                                                   std::chrono::milliseconds timeout,
                                                   const std::string& what) {
  Result<std::unique_ptr<FileLock>> first =
      AcquireLock(fs, path, LockMode::kExclusive, timeout, what);
  if (first.ok()) return first;
  Result<std::unique_ptr<FileLock>> lock = first.status();
  for (int quiet = 0; !lock.ok() && quiet < 2;) {
    const Code code = lock.status().code();
    if (code != Code::kInUse && code != Code::kTimeout) return lock;
    Result<bool> recovering = FileLock::IsHeld(fs, path, LockMode::kExclusive, kRecoverySlot);
    if (!recovering.ok()) return first;
    if (*recovering) {
      quiet = 0;
      lock = FileLock::Acquire(fs, path, LockMode::kExclusive, std::chrono::milliseconds(20));
    } else {
      ++quiet;
      lock = FileLock::Acquire(fs, path, LockMode::kExclusive, FileLock::kTry);
    }
  }
  return lock.ok() ? std::move(lock) : std::move(first);
}

}  // namespace

Result<std::unique_ptr<FileLock>> Store::LockVm(const Guid& vm, RecoveryReport* out) {
  if (options_.read_only) {
    return AccessDenied("VM " + vm.ToString() + ": store " + layout_.root + " is opened read-only");
  }
  ASSIGN_OR_RETURN(
      std::unique_ptr<FileLock> lock,
      LockForOperation(fs_, layout_.VmLockPath(vm), options_.lock_timeout, "VM " + vm.ToString()));
  ASSIGN_OR_RETURN(JournalScan journal, Journal(fs_, &layout_).Scan());  // under the lock
  RecoveryReport report;
  RETURN_IF_ERROR(RecoverVmIntents(parts(), journal, vm, out != nullptr ? out : &report));
  return lock;
}

Status RefuseOtherOwner(const VmRecord& record, const std::string& store) {
  if (record.owner_host.empty() || record.owner_host == HostId()) return Status::Ok();
  return InUse("VM " + record.name + " is owned by host " + record.owner_host +
               " (it failed the VM over or runs it); when that host is down or lost the store, "
               "take the VM over here with 'hvdisk vm --store " +
               store + " recover " + record.id.ToString(false) + "'");
}

Result<LockedVm> Store::LockAndRead(const Guid& vm, bool require_replica) {
  LockedVm out;
  ASSIGN_OR_RETURN(out.lock, LockVm(vm));
  ASSIGN_OR_RETURN(out.record, GetVm(vm));
  RETURN_IF_ERROR(RefuseOtherOwner(out.record, layout_.root));
  RETURN_IF_ERROR(CheckVmDisks(fs_, layout_, out.record));
  if (require_replica && out.record.mode != ReplicationMode::kReplica) {
    return Unsupported("VM " + out.record.name + " is not a replica (mode " +
                       std::string(ModeName(out.record.mode)) + ")");
  }
  return out;
}

Status ExpectState(const VmRecord& record, std::initializer_list<ReplicationState> allowed,
                   std::string_view op) {
  for (ReplicationState s : allowed) {
    if (record.state == s) return Status::Ok();
  }
  return InvalidState(std::string(op) + " is not allowed for VM " + record.name + " in state " +
                      std::to_string(static_cast<int>(record.state)) + " " +
                      std::string(StateName(record.state)));
}

}  // namespace hvdisk::ops
