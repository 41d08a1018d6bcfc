// FileLock: a cross-process advisory lock on a file (Boost.Interprocess file_lock), also exclusive
// between threads of one process.
//
// Boost's file_lock uses fcntl record locks, which are owned by the process: two holders in one
// process would not exclude each other, and releasing one would release both. A process-wide
// registry keyed by (device, inode) therefore arbitrates between holders in this process and holds
// one OS lock per file for all of them.
//
// Thread safety: Acquire may be called from any thread; a FileLock object is owned by one thread.
#pragma once

#include <chrono>
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

  // Acquires `mode` on `path` (created empty if missing). With kTry, a conflict returns kInUse;
  // with a positive timeout, a conflict that outlasts it returns kTimeout.
  static Result<std::unique_ptr<FileLock>> Acquire(const std::string& path, LockMode mode,
                                                   std::chrono::milliseconds timeout = kTry);
  ~FileLock();  // releases
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  LockMode mode() const { return mode_; }
  const std::string& path() const { return path_; }

  struct Entry;  // registry entry (internal)

 private:
  FileLock(std::string path, LockMode mode, std::shared_ptr<Entry> entry);
  std::string path_;
  LockMode mode_;
  std::shared_ptr<Entry> entry_;
};

}  // namespace hvdisk
