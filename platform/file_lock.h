// FileLock: a cross-process advisory lock on a file, also exclusive between threads of one process:
// an open file description (OFD) lock, fcntl F_OFD_SETLK / F_OFD_GETLK (Linux 3.15).
//
// Each FileLock opens its own descriptor of the lock file and locks one byte of it (its `slot`;
// slots of one file are independent locks). An OFD lock belongs to that open file description, not
// to the process: closing any other descriptor of the same file never drops it, and two holders in
// one process (threads, or one thread twice) exclude each other as two processes do. It is
// released when the FileLock is destroyed, or when its process dies (SIGKILL included).
//
// Descriptors: shared locks need only a read-only descriptor, so a shared lock works on a read-only
// file system or a lock file the caller cannot write (a missing lock file is created when the
// directory allows it); an exclusive lock opens the file read-write. Descriptors are O_CLOEXEC and
// opened without following symlinks. A child forked while a lock is held shares it until the
// child execs or closes its copy of the descriptor (platform/detached.h's children close theirs
// first); releasing unlocks explicitly, so a release is never delayed by such a child.
//
// Waiting: with a positive timeout, Acquire polls F_OFD_SETLK with a backoff from 1 ms doubling
// to 20 ms (no signals, no timer threads), so a waiter takes the lock within 20 ms of its release
// and never later than the deadline says.
//
// Errors: a conflict is kInUse (kTry) or kTimeout (a deadline); a lock file that cannot be opened
// is the errno's code (kAccessDenied for EACCES/EPERM/EROFS, kNotFound for a missing directory);
// a lock file that is not a regular file is kCorrupt.
//
// Thread safety: Acquire and IsHeld may be called from any thread; a FileLock object is owned by
// one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "platform/status.h"

namespace hvdisk {

enum class LockMode { kShared, kExclusive };

class FileLock {
 public:
  // Try once: fails at once with kInUse when the lock is held incompatibly.
  static constexpr std::chrono::milliseconds kTry{0};
  // Wait without a deadline.
  static constexpr std::chrono::milliseconds kForever{-1};

  // Acquires `mode` on byte `slot` of `path` (created empty if missing). With kTry, a conflict
  // returns kInUse; with a positive timeout, a conflict that outlasts it returns kTimeout.
  static Result<std::unique_ptr<FileLock>> Acquire(const std::string& path, LockMode mode,
                                                   std::chrono::milliseconds timeout = kTry,
                                                   uint32_t slot = 0);
  // Whether anybody (another holder in this process included) holds a lock on byte `slot` of
  // `path` that conflicts with `mode` (kShared: an exclusive holder; kExclusive: any holder).
  // Takes nothing and creates nothing: a missing lock file is held by nobody. A snapshot: the
  // answer may change as soon as it is returned.
  static Result<bool> IsHeld(const std::string& path, LockMode mode = LockMode::kExclusive,
                             uint32_t slot = 0);

  ~FileLock();  // releases (unlocks, then closes the descriptor)
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  LockMode mode() const { return mode_; }
  const std::string& path() const { return path_; }

 private:
  FileLock(std::string path, LockMode mode, int fd, uint32_t slot);
  std::string path_;
  LockMode mode_;
  int fd_;
  uint32_t slot_;
};

}  // namespace hvdisk
