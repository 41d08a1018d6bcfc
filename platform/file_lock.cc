#include "platform/file_lock.h"

#include <thread>

namespace hvdisk {
namespace {

using Clock = std::chrono::steady_clock;

Status NotRegular(const std::string& path) {
  return Corrupt("lock file " + path + " is not a regular file");
}

// kCorrupt unless `path` is a regular file or missing (a directory, a symbolic link, a FIFO in
// place of a lock file: never opened, so never followed or blocked on).
Status ExpectRegularOrMissing(FileSystem* fs, const std::string& path) {
  Result<FileKind> kind = fs->KindOf(path);
  if (!kind.ok() && kind.status().code() == Code::kNotFound) return Status::Ok();
  if (!kind.ok()) return kind.status().WithContext("lock file");
  return *kind == FileKind::kFile ? Status::Ok() : NotRegular(path);
}

Result<std::unique_ptr<File>> OpenNoFollow(FileSystem* fs, const std::string& path, bool create) {
  OpenOptions oo = create ? OpenOptions{.write = true, .create = true} : OpenOptions::ReadOnly();
  oo.no_follow = true;
  Result<std::unique_ptr<File>> file = fs->Open(path, oo);
  if (!file.ok() && file.status().code() == Code::kWrongType) return NotRegular(path);
  if (!file.ok()) return file.status().WithContext("open lock file");
  return file;
}

// A File fit for `mode`: read-only for a shared lock (creating the file if it is missing),
// read-write for an exclusive one.
Result<std::unique_ptr<File>> OpenLockFile(FileSystem* fs, const std::string& path, LockMode mode) {
  RETURN_IF_ERROR(ExpectRegularOrMissing(fs, path));
  if (mode == LockMode::kExclusive) return OpenNoFollow(fs, path, /*create=*/true);
  Result<std::unique_ptr<File>> file = OpenNoFollow(fs, path, /*create=*/false);
  if (file.ok() || file.status().code() != Code::kNotFound) return file;
  Result<std::unique_ptr<File>> created = OpenNoFollow(fs, path, /*create=*/true);
  if (created.ok() || created.status().code() != Code::kAccessDenied) return created;
  file = OpenNoFollow(fs, path, /*create=*/false);  // made meanwhile by someone who may write
  return file.ok() ? std::move(file) : std::move(created);
}

// One File::Lock: true when taken, false on a conflict.
Result<bool> TryLock(File& file, LockMode mode, uint32_t slot) {
  Status st = file.Lock(slot, 1, mode);
  if (st.ok()) return true;
  if (st.code() == Code::kInUse) return false;
  return st;
}

// Polls TryLock until taken or past `timeout` (see the header: backoff 1 ms doubling to 20 ms).
Status LockWithin(File& file, const std::string& path, LockMode mode, uint32_t slot,
                  std::chrono::milliseconds timeout) {
  const bool forever = timeout.count() < 0;
  const auto deadline = Clock::now() + (forever ? std::chrono::milliseconds(0) : timeout);
  for (auto backoff = std::chrono::milliseconds(1);;
       backoff = std::min(backoff * 2, std::chrono::milliseconds(20))) {
    ASSIGN_OR_RETURN(bool got, TryLock(file, mode, slot));
    if (got) return Status::Ok();
    if (timeout.count() == 0) return InUse("lock " + path + ": held by another holder");
    const auto now = Clock::now();
    if (!forever && now >= deadline) {
      return Timeout("lock " + path + ": not acquired within " + std::to_string(timeout.count()) +
                     " ms");
    }
    std::this_thread::sleep_for(forever ? backoff
                                        : std::min<Clock::duration>(backoff, deadline - now));
  }
}

}  // namespace

Result<std::unique_ptr<FileLock>> FileLock::Acquire(FileSystem* fs, const std::string& path,
                                                    LockMode mode,
                                                    std::chrono::milliseconds timeout,
                                                    uint32_t slot) {
  ASSIGN_OR_RETURN(std::unique_ptr<File> file, OpenLockFile(fs, path, mode));
  RETURN_IF_ERROR(LockWithin(*file, path, mode, slot, timeout));
  return std::unique_ptr<FileLock>(new FileLock(path, mode, std::move(file), slot));
}

Result<bool> FileLock::IsHeld(FileSystem* fs, const std::string& path, LockMode mode,
                              uint32_t slot) {
  RETURN_IF_ERROR(ExpectRegularOrMissing(fs, path));
  Result<std::unique_ptr<File>> file = OpenNoFollow(fs, path, /*create=*/false);
  if (!file.ok() && file.status().code() == Code::kNotFound) return false;
  if (!file.ok()) return file.status();
  ASSIGN_OR_RETURN(std::optional<RangeLock> other, (*file)->TestLock(slot, 1, mode));
  return other.has_value();
}

FileLock::FileLock(std::string path, LockMode mode, std::unique_ptr<File> file, uint32_t slot)
    : path_(std::move(path)), mode_(mode), file_(std::move(file)), slot_(slot) {}

// Unlocks explicitly before closing: a child forked meanwhile (by any thread) shares the open file
// description until it execs or closes its copy, and closing our descriptor alone would leave the
// lock held through that copy.
FileLock::~FileLock() { (void)file_->Unlock(slot_, 1); }

}  // namespace hvdisk
