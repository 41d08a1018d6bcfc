#include "platform/file_lock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/sync/file_lock.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

namespace hvdisk {

struct FileLock::Entry {
  std::optional<boost::interprocess::file_lock> os_lock;  // held while holders > 0
  int holders = 0;
  bool exclusive = false;
};

namespace {

using Clock = std::chrono::steady_clock;
using Key = std::pair<dev_t, ino_t>;

struct Registry {
  std::mutex mu;
  std::condition_variable cv;
  std::map<Key, std::shared_ptr<FileLock::Entry>> entries;
};

Registry& GetRegistry() {
  static Registry* r = new Registry();
  return *r;
}

Result<Key> EnsureFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open lock file", path);
  struct stat st;
  int rc = ::fstat(fd, &st);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus(err, "stat lock file", path);
  return Key{st.st_dev, st.st_ino};
}

// Takes the OS lock without blocking; false when another process holds it.
Result<bool> TryOsLock(FileLock::Entry* e, const std::string& path, LockMode mode) {
  try {
    if (!e->os_lock) e->os_lock.emplace(path.c_str());
    return mode == LockMode::kExclusive ? e->os_lock->try_lock() : e->os_lock->try_lock_sharable();
  } catch (const boost::interprocess::interprocess_exception& ex) {
    return IoError("lock " + path + ": " + ex.what());
  }
}

bool Compatible(const FileLock::Entry& e, LockMode mode) {
  if (e.holders == 0) return true;
  return mode == LockMode::kShared && !e.exclusive;
}

}  // namespace

Result<std::unique_ptr<FileLock>> FileLock::Acquire(const std::string& path, LockMode mode,
                                                    std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(Key key, EnsureFile(path));
  Registry& reg = GetRegistry();
  const bool forever = timeout.count() < 0;
  const auto deadline = Clock::now() + (forever ? std::chrono::milliseconds(0) : timeout);
  std::unique_lock<std::mutex> lock(reg.mu);
  auto& slot = reg.entries[key];
  if (!slot) slot = std::make_shared<Entry>();
  std::shared_ptr<Entry> entry = slot;
  for (auto backoff = std::chrono::milliseconds(1);;
       backoff = std::min(backoff * 2, std::chrono::milliseconds(20))) {
    if (Compatible(*entry, mode)) {
      if (entry->holders > 0) break;  // joins an in-process shared holder
      ASSIGN_OR_RETURN(bool got, TryOsLock(entry.get(), path, mode));
      if (got) break;
    }
    if (timeout.count() == 0) return InUse("lock " + path + ": held by another holder");
    if (!forever && Clock::now() >= deadline) {
      return Timeout("lock " + path + ": not acquired within " + std::to_string(timeout.count()) +
                     " ms");
    }
    auto wake = Clock::now() + backoff;
    if (!forever && wake > deadline) wake = deadline;
    reg.cv.wait_until(lock, wake);
  }
  entry->holders++;
  entry->exclusive = mode == LockMode::kExclusive;
  return std::unique_ptr<FileLock>(new FileLock(path, mode, std::move(entry)));
}

FileLock::FileLock(std::string path, LockMode mode, std::shared_ptr<Entry> entry)
    : path_(std::move(path)), mode_(mode), entry_(std::move(entry)) {}

FileLock::~FileLock() {
  Registry& reg = GetRegistry();
  {
    std::lock_guard<std::mutex> lock(reg.mu);
    if (--entry_->holders == 0) {
      entry_->exclusive = false;
      try {
        if (mode_ == LockMode::kExclusive) {
          entry_->os_lock->unlock();
        } else {
          entry_->os_lock->unlock_sharable();
        }
      } catch (const boost::interprocess::interprocess_exception&) {
        // Unlock of a held fcntl lock does not fail in practice; the fd closes below anyway.
      }
      entry_->os_lock.reset();
    }
  }
  reg.cv.notify_all();
}

}  // namespace hvdisk
