// StoreLayout: where everything of a replica store lives (docs/design.md, "The replica store"):
//
//   STORE/store.lock                  cross-process lock (shared by every open Store)
//   STORE/locks/<vm-guid>.lock        per-VM lock: held by an operation or an attached consumer
//   STORE/locks/<vm-guid>.served      where the VM is served (vm_served.h), while byte 2 is held
//   STORE/journal/<op-guid>.json      intent records of operations in flight
//   STORE/jobs/                       job records (the WMI facade's)
//   STORE/trash/<op-guid>-<name>      files discarded by committed operations, awaiting
//                                     reclamation (trash.h); nothing refers to them
//   STORE/vms/<vm-guid>/vm.json       the VM record
//   STORE/vms/<vm-guid>/disks/        base.vhdx, rp-NNNN.avhdx, head-NNNN.avhdx,
//                                     failover-<guid>.avhdx, test-<guid>.avhdx
//
// Lock files live on the store's FileSystem (FileLock goes through the File seam, so the
// in-memory and crash file systems model them too), in the store itself: STORE/store.lock and
// STORE/locks/.
// Paths kept in records and intents are relative to the store root ("vms/<guid>/disks/x").
// Thread safety: a value; const methods only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "platform/guid.h"
#include "platform/status.h"

namespace hvdisk {
class FileSystem;
}  // namespace hvdisk

namespace hvdisk::ops {

struct StoreLayout {
  std::string root;  // the store directory, as the FileSystem names it

  std::string Abs(std::string_view relative) const;  // root joined with a store-relative path
  std::string JournalDir() const { return Abs("journal"); }
  std::string JobsDir() const { return Abs("jobs"); }
  std::string TrashDir() const { return Abs("trash"); }
  std::string LocksDir() const { return Abs("locks"); }
  std::string VmsDir() const { return Abs("vms"); }
  std::string StoreLockPath() const;
  std::string VmLockPath(const Guid& vm) const;

  // Store-relative paths.
  static std::string VmDirRel(const Guid& vm);     // "vms/<guid>"
  static std::string VmRecordRel(const Guid& vm);  // "vms/<guid>/vm.json"
  static std::string DisksDirRel(const Guid& vm);  // "vms/<guid>/disks"
  static std::string DiskRel(const Guid& vm, std::string_view name);
};

// OK when `layout.root` holds a store's journal/ and vms/ (trash/ may be missing: an older
// store); kNotFound naming what is missing otherwise.
Status CheckStoreDirs(FileSystem* fs, const StoreLayout& layout);

// The GUID in lower case, no braces (as file names in the store hold it).
std::string LowerGuid(const Guid& g);
// "head-0004.avhdx", "rp-0004.avhdx" for number 4: at least four digits, zero-padded, so
// "head-10000.avhdx" follows "head-9999.avhdx" (numbers are unbounded up to kMaxPointNumber).
std::string HeadName(uint32_t number);
std::string PointFileName(uint32_t number);
inline constexpr uint32_t kMaxPointNumber = UINT32_MAX;
// The number of `name` when it is `prefix` "-" digits `suffix` ("head-10002.avhdx" with "head"
// and ".avhdx": 10002); nullopt when it is not, or the number exceeds kMaxPointNumber.
std::optional<uint32_t> ParseNumbered(std::string_view name, std::string_view prefix,
                                      std::string_view suffix);
// "failover-<guid>.avhdx", "test-<guid>.avhdx" (lower-case GUID, no braces).
std::string FailoverName(const Guid& id);
std::string TestDiskName(const Guid& id);

}  // namespace hvdisk::ops
