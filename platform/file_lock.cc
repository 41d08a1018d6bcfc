#include "platform/file_lock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace hvdisk {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kOpenFlags = O_CLOEXEC | O_NOFOLLOW;

struct flock LockRange(short type, uint32_t slot) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(slot);
  fl.l_len = 1;
  fl.l_pid = 0;  // F_OFD_* requires 0
  return fl;
}

// kCorrupt unless `fd` is a regular file (a directory or device in place of a lock file).
Status ExpectRegular(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, "stat lock file", path);
  if (!S_ISREG(st.st_mode)) return Corrupt("lock file " + path + " is not a regular file");
  return Status::Ok();
}

// A descriptor fit for `mode`: read-only for a shared lock (creating the file if it is missing),
// read-write for an exclusive one.
Result<int> OpenLockFile(const std::string& path, LockMode mode) {
  int fd = -1;
  if (mode == LockMode::kShared) {
    fd = ::open(path.c_str(), O_RDONLY | kOpenFlags);
    if (fd < 0 && errno == ENOENT) fd = ::open(path.c_str(), O_RDONLY | O_CREAT | kOpenFlags, 0644);
  } else {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | kOpenFlags, 0644);
  }
  if (fd < 0 && errno == EISDIR) return Corrupt("lock file " + path + " is not a regular file");
  if (fd < 0) return ErrnoStatus(errno, "open lock file", path);
  Status st = ExpectRegular(fd, path);
  if (!st.ok()) {
    ::close(fd);
    return st;
  }
  return fd;
}

bool IsConflict(int err) { return err == EAGAIN || err == EACCES || err == EWOULDBLOCK; }

// One F_OFD_SETLK: true when taken, false on a conflict.
Result<bool> TryLock(int fd, LockMode mode, uint32_t slot, const std::string& path) {
  struct flock fl = LockRange(mode == LockMode::kExclusive ? F_WRLCK : F_RDLCK, slot);
  if (::fcntl(fd, F_OFD_SETLK, &fl) == 0) return true;
  if (IsConflict(errno)) return false;
  return ErrnoStatus(errno, "lock", path);
}

// Polls TryLock until taken or past `timeout` (see the header: backoff 1 ms doubling to 20 ms).
Status LockWithin(int fd, const std::string& path, LockMode mode, uint32_t slot,
                  std::chrono::milliseconds timeout) {
  const bool forever = timeout.count() < 0;
  const auto deadline = Clock::now() + (forever ? std::chrono::milliseconds(0) : timeout);
  for (auto backoff = std::chrono::milliseconds(1);;
       backoff = std::min(backoff * 2, std::chrono::milliseconds(20))) {
    ASSIGN_OR_RETURN(bool got, TryLock(fd, mode, slot, path));
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

Result<std::unique_ptr<FileLock>> FileLock::Acquire(const std::string& path, LockMode mode,
                                                    std::chrono::milliseconds timeout,
                                                    uint32_t slot) {
  ASSIGN_OR_RETURN(int fd, OpenLockFile(path, mode));
  Status st = LockWithin(fd, path, mode, slot, timeout);
  if (!st.ok()) {
    ::close(fd);
    return st;
  }
  return std::unique_ptr<FileLock>(new FileLock(path, mode, fd, slot));
}

Result<bool> FileLock::IsHeld(const std::string& path, LockMode mode, uint32_t slot) {
  const int fd = ::open(path.c_str(), O_RDONLY | kOpenFlags);
  if (fd < 0 && errno == ENOENT) return false;
  if (fd < 0) return ErrnoStatus(errno, "open lock file", path);
  struct flock fl = LockRange(mode == LockMode::kExclusive ? F_WRLCK : F_RDLCK, slot);
  const int rc = ::fcntl(fd, F_OFD_GETLK, &fl);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus(err, "query lock", path);
  return fl.l_type != F_UNLCK;
}

FileLock::FileLock(std::string path, LockMode mode, int fd, uint32_t slot)
    : path_(std::move(path)), mode_(mode), fd_(fd), slot_(slot) {}

// Unlocks explicitly before closing: a child forked meanwhile (by any thread) shares the open file
// description until it execs or closes its copy, and closing our descriptor alone would leave the
// lock held through that copy.
FileLock::~FileLock() {
  struct flock fl = LockRange(F_UNLCK, slot_);
  (void)::fcntl(fd_, F_OFD_SETLK, &fl);
  ::close(fd_);
}

}  // namespace hvdisk
