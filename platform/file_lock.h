// FileLock: a cross-process advisory lock on a file, also exclusive between threads of one process:
// a byte-range lock of the File/FileSystem seam (File::Lock: an open file description lock,
// fcntl F_OFD_SETLK / F_OFD_GETLK, on the POSIX file system; modelled by the in-memory and crash
// file systems, so lock files live on the FileSystem of what they guard).
//
// Each FileLock opens its own File of the lock file and locks one byte of it (its `slot`; slots
// of one file are independent locks). The lock belongs to that open File, not to the process:
// closing any other File of the same file never drops it, and two holders in one process
// (threads, or one thread twice) exclude each other as two processes do. It is released when the
// FileLock is destroyed, or when its process dies (SIGKILL included; a simulated crash of
// CrashFileSystem).
//
// Files: shared locks need only a read-only open, so a shared lock works on a read-only file
// system or a lock file the caller cannot write (a missing lock file is created when the
// directory allows it); an exclusive lock opens the file read-write. Lock files are opened
// without following symlinks (POSIX descriptors are O_CLOEXEC). A child forked while a lock is
// held shares it until the child execs or closes its copy of the descriptor
// (platform/detached.h's children close theirs first); releasing unlocks explicitly, so a
// release is never delayed by such a child.
//
// Waiting: with a positive timeout, Acquire polls File::Lock with a backoff from 1 ms doubling
// to 20 ms (no signals, no timer threads), so a waiter takes the lock within 20 ms of its release
// and never later than the deadline says.
//
// Errors: a conflict is kInUse (kTry) or kTimeout (a deadline); a lock file that cannot be opened
// is the errno's code (kAccessDenied for EACCES/EPERM/EROFS, kNotFound for a missing directory);
// a lock file that is not a regular file (a symbolic link, a directory, ...) is kCorrupt.
//
// Thread safety: Acquire and IsHeld may be called from any thread; a FileLock object is owned by
// one thread at a time. The FileSystem must outlive the FileLock.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "platform/file.h"
#include "platform/status.h"

namespace hvdisk {

class FileLock {
 public:
  // Try once: fails at once with kInUse when the lock is held incompatibly.
  static constexpr std::chrono::milliseconds kTry{0};
  // Wait without a deadline.
  static constexpr std::chrono::milliseconds kForever{-1};

  // Acquires `mode` on byte `slot` of `path` on `fs` (created empty if missing). With kTry, a
  // conflict returns kInUse; with a positive timeout, a conflict that outlasts it kTimeout.
  static Result<std::unique_ptr<FileLock>> Acquire(FileSystem* fs, const std::string& path,
                                                   LockMode mode,
                                                   std::chrono::milliseconds timeout = kTry,
                                                   uint32_t slot = 0);
  // Whether anybody (another holder in this process included) holds a lock on byte `slot` of
  // `path` that conflicts with `mode` (kShared: an exclusive holder; kExclusive: any holder).
  // Takes nothing and creates nothing: a missing lock file is held by nobody. A snapshot: the
  // answer may change as soon as it is returned.
  static Result<bool> IsHeld(FileSystem* fs, const std::string& path,
                             LockMode mode = LockMode::kExclusive, uint32_t slot = 0);

  ~FileLock();  // releases (unlocks, then closes the file)
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  LockMode mode() const { return mode_; }
  const std::string& path() const { return path_; }

 private:
  FileLock(std::string path, LockMode mode, std::unique_ptr<File> file, uint32_t slot);
  std::string path_;
  LockMode mode_;
  std::unique_ptr<File> file_;
  uint32_t slot_;
};

}  // namespace hvdisk
