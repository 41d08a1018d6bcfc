// FencingFileSystem: the FileSystem under a Store (below ConfinedFileSystem) that turns the errors
// of a lost hold on a shared store into kFenced, and then stops every further call.
//
// On a shared file system a host that lost its session (CephFS evicts and blocklists a client
// that stopped answering; NFS and GlusterFS fail a stale handle) sees EIO, EBADFD, ENOTCONN or
// ESTALE from the descriptors it still has. Any of them, from any call on the store's files (the
// file system's calls and every File opened through it), means "fenced": another host may hold
// the locks now and be recovering. The call returns kFenced, and from then on every call of this
// wrapper and of the Files it opened returns kFenced at once without reaching the target (no
// read, no write, no unlock-and-retry): the operation stops where it is and leaves the rest to the
// recovery of the host that holds the store now (docs/shared-storage.md). A kFenced from above
// (an epoch check, ops/epoch.h) latches it the same way through Fence().
//
// The errno is read from the status the target returned (platform/status.h: ErrnoStatus ends its
// message with "(errno N)"); other kIoErrors (a short read, a bad checksum) pass unchanged.
// Once fenced, Lock and TestLock fail too; Unlock is forwarded (it writes nothing, and a lock
// this process held is released when its File is destroyed in any case).
//
// Thread safety: thread-safe (the latch is atomic and shared with the Files it opened, which may
// outlive the wrapper). Does not own the target, which must outlive it and its Files.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "platform/file.h"
#include "platform/status.h"

namespace hvdisk::ops {

// Whether `err` is one of the errnos that mean a lost hold on a shared store.
bool IsFencingErrno(int err);
// The errno a status of ErrnoStatus names (its "(errno N)" suffix), or 0.
int ErrnoOf(const Status& status);

class FencingFileSystem : public FileSystemWrapper {
 public:
  explicit FencingFileSystem(FileSystem* target);

  // Whether a call failed as fenced (or Fence was called): every call fails with kFenced now.
  bool fenced() const { return latch_->fenced.load(); }
  // Latches the wrapper as fenced with `why` (an epoch check found a newer holder).
  void Fence(const Status& why);
  // The status every call returns once fenced (OK before).
  Status why() const;

  Result<std::unique_ptr<File>> Open(const std::string& path, const OpenOptions& opts) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status RenameNoReplace(const std::string& from, const std::string& to) override;
  Status Unlink(const std::string& path) override;
  Status UnlinkInBackground(const std::string& path) override;
  Status RenameBeneath(const std::string& dir, const std::string& from,
                       const std::string& to) override;
  Status UnlinkBeneath(const std::string& dir, const std::string& path) override;
  Status CreateDir(const std::string& path) override;
  Status RemoveDir(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  Result<std::vector<std::string>> List(const std::string& dir) override;
  Result<bool> IsDirectory(const std::string& path) override;
  Result<std::string> RealPath(const std::string& path) override;
  Result<FileKind> KindOf(const std::string& path) override;

  // Shared between the wrapper and its Files.
  struct Latch {
    std::atomic<bool> fenced{false};
    std::mutex mu;
    Status why;  // guarded by mu
    // `st` unchanged, or kFenced (latching) when it names a fencing errno; kFenced once latched.
    Status Filter(Status st);
    Status Check();  // OK, or the latched kFenced
  };

 private:
  class FencedFile;
  std::shared_ptr<Latch> latch_;
};

}  // namespace hvdisk::ops
