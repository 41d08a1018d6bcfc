#include "platform/image_lock.h"

#include <string>

namespace hvdisk {
namespace {

constexpr const char* kPermNames[kPermCount] = {"consistent read", "write", "write unchanged",
                                                "resize"};

struct Perms {
  uint32_t held = 0;
  uint32_t unshared = 0;
};

Perms PermsFor(ImageAccess access, bool force_share) {
  if (access == ImageAccess::kWrite) {
    return {kPermConsistentRead | kPermWrite | kPermResize, kPermWrite | kPermResize};
  }
  return {kPermConsistentRead, force_share ? 0u : kPermWrite | kPermResize};
}

// Step 1: a shared lock on each byte of `perms` above `base`.
Status ApplyLocks(File& file, uint64_t base, uint32_t perms) {
  for (uint32_t i = 0; i < kPermCount; ++i) {
    if (perms & (1u << i)) RETURN_IF_ERROR(file.Lock(base + i, 1, LockMode::kShared));
  }
  return Status::Ok();
}

// Step 2: the first permission of `perms` whose byte above `base` another open file holds;
// kPermCount when none.
Result<uint32_t> FirstHeldByOthers(File& file, uint64_t base, uint32_t perms) {
  for (uint32_t i = 0; i < kPermCount; ++i) {
    if (!(perms & (1u << i))) continue;
    ASSIGN_OR_RETURN(std::optional<RangeLock> other,
                     file.TestLock(base + i, 1, LockMode::kExclusive));
    if (other) return i;
  }
  return kPermCount;
}

Status InUseBy(const File& file, ImageAccess access, const std::string& why) {
  std::string message = file.path() + " is in use by another process (" + why + ")";
  if (access == ImageAccess::kRead) {
    message +=
        "; to inspect it read-only anyway, pass -U/--force-share (what it shows may change "
        "under you)";
  }
  return InUse(std::move(message));
}

// Steps 1-2 of LockImage; the caller releases on failure.
Status LockAndCheck(File& file, ImageAccess access, const Perms& p) {
  RETURN_IF_ERROR(ApplyLocks(file, kPermLockBase, p.held));
  RETURN_IF_ERROR(ApplyLocks(file, kSharedLockBase, p.unshared));
  ASSIGN_OR_RETURN(uint32_t refused, FirstHeldByOthers(file, kSharedLockBase, p.held));
  if (refused < kPermCount) {
    return InUseBy(file, access, std::string("it does not share \"") + kPermNames[refused] + "\"");
  }
  ASSIGN_OR_RETURN(uint32_t held, FirstHeldByOthers(file, kPermLockBase, p.unshared));
  if (held < kPermCount) {
    return InUseBy(file, access, std::string("it holds a \"") + kPermNames[held] + "\" lock");
  }
  return Status::Ok();
}

}  // namespace

// Steps: (1) shared locks on the bytes of the permissions held and of those not shared (as
// qemu's raw_apply_lock_bytes); (2) the conflict check (raw_check_lock_bytes); on a failure of
// either, every image lock is released again. No crash point: locks are not durable.
Status LockImage(File& file, ImageAccess access, bool force_share) {
  if (force_share && access == ImageAccess::kWrite) {
    return InvalidArgument(file.path() + ": force-share is for read-only opens only");
  }
  Status st = LockAndCheck(file, access, PermsFor(access, force_share));
  if (st.ok()) return st;
  UnlockImage(file);
  return st.code() == Code::kUnsupported ? Status::Ok() : st;
}

void UnlockImage(File& file) {
  (void)file.Unlock(kPermLockBase, kSharedLockBase + kPermCount - kPermLockBase);
}

}  // namespace hvdisk
