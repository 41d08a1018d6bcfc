#include "platform/file_lock.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using std::chrono::milliseconds;

// Forks a child that takes `mode` on path, signals through a pipe, holds it for hold_ms, exits.
pid_t HoldInChild(const std::string& path, LockMode mode, int hold_ms) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    auto lock = FileLock::Acquire(DefaultFileSystem(), path, mode, FileLock::kForever);
    char c = lock.ok() ? 'y' : 'n';
    if (write(fds[1], &c, 1) != 1) _exit(3);
    std::this_thread::sleep_for(milliseconds(hold_ms));
    _exit(lock.ok() ? 0 : 1);
  }
  close(fds[1]);
  char c = 0;
  if (read(fds[0], &c, 1) != 1 || c != 'y') pid = -1;
  close(fds[0]);
  return pid;
}

int Reap(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(FileLockTest, SecondProcessContendingGetsInUse) {
  testing::TempDir dir;
  std::string path = dir.File("store.lock");
  pid_t child = HoldInChild(path, LockMode::kExclusive, 500);
  ASSERT_GT(child, 0);
  EXPECT_CODE(FileLock::Acquire(DefaultFileSystem(), path, LockMode::kExclusive), Code::kInUse);
  EXPECT_CODE(FileLock::Acquire(DefaultFileSystem(), path, LockMode::kShared), Code::kInUse);
  EXPECT_EQ(Reap(child), 0);
  EXPECT_OK(FileLock::Acquire(DefaultFileSystem(), path, LockMode::kExclusive));
}

TEST(FileLockTest, TimedWaitPastDeadlineGetsTimeout) {
  testing::TempDir dir;
  std::string path = dir.File("store.lock");
  pid_t child = HoldInChild(path, LockMode::kExclusive, 1500);
  ASSERT_GT(child, 0);
  auto start = std::chrono::steady_clock::now();
  EXPECT_CODE(FileLock::Acquire(DefaultFileSystem(), path, LockMode::kExclusive, milliseconds(200)),
              Code::kTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(200));
  // A deadline beyond the holder's release succeeds.
  EXPECT_OK(
      FileLock::Acquire(DefaultFileSystem(), path, LockMode::kExclusive, milliseconds(10000)));
  EXPECT_EQ(Reap(child), 0);
}

TEST(FileLockTest, SharedHoldersCoexistAcrossProcessesAndBlockExclusive) {
  testing::TempDir dir;
  std::string path = dir.File("store.lock");
  pid_t child = HoldInChild(path, LockMode::kShared, 500);
  ASSERT_GT(child, 0);
  {
    ASSERT_OK_AND_ASSIGN(auto mine,
                         FileLock::Acquire(DefaultFileSystem(), path, LockMode::kShared));
    EXPECT_EQ(mine->mode(), LockMode::kShared);
  }
  EXPECT_CODE(FileLock::Acquire(DefaultFileSystem(), path, LockMode::kExclusive), Code::kInUse);
  EXPECT_EQ(Reap(child), 0);
}

TEST(FileLockTest, ThreadsOfOneProcessExcludeEachOther) {
  testing::TempDir dir;
  std::string path = dir.File("vm.lock");
  ASSERT_OK_AND_ASSIGN(auto a, FileLock::Acquire(DefaultFileSystem(), path, LockMode::kExclusive));
  std::thread t([&] {
    EXPECT_CODE(FileLock::Acquire(DefaultFileSystem(), path, LockMode::kShared), Code::kInUse);
  });
  t.join();
  {
    ASSERT_OK_AND_ASSIGN(
        auto s1, FileLock::Acquire(DefaultFileSystem(), dir.File("other.lock"), LockMode::kShared));
    ASSERT_OK_AND_ASSIGN(
        auto s2, FileLock::Acquire(DefaultFileSystem(), dir.File("other.lock"), LockMode::kShared));
  }
  a.reset();
  // Releasing the in-process holder released the OS lock: another process can take it.
  pid_t child = HoldInChild(path, LockMode::kExclusive, 10);
  ASSERT_GT(child, 0);
  EXPECT_EQ(Reap(child), 0);
}

// Forks a child that runs `probe` and exits with its result (0..255): what another process sees.
template <typename Probe>
int InChild(Probe probe) {
  pid_t pid = fork();
  if (pid == 0) _exit(probe());
  return Reap(pid);
}

// Whether a second process sees byte 0 of `path` locked: 1 held, 0 free, 2 could not ask. The
// child asks the kernel directly (F_GETLK reports POSIX and OFD locks of other processes), so the
// answer does not depend on anything FileLock keeps in this process.
int ChildTriesExclusive(const std::string& path) {
  return InChild([&] {
    const int fd = open(path.c_str(), O_RDONLY);
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_len = 1;
    if (fd < 0 || fcntl(fd, F_GETLK, &fl) != 0) return 2;
    return fl.l_type == F_UNLCK ? 0 : 1;
  });
}

// Finding 5: closing any descriptor of a POSIX-locked file dropped the process's lock, and every
// Acquire opened and closed one.
TEST(FileLockTest, ClosingAnotherDescriptorOfTheLockFileKeepsTheLock) {
  testing::TempDir dir;
  std::string path = dir.File("job.lock");
  ASSERT_OK_AND_ASSIGN(auto held,
                       FileLock::Acquire(DefaultFileSystem(), path, LockMode::kExclusive));
  const int fd = open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  close(fd);
  EXPECT_EQ(ChildTriesExclusive(path), 1) << "a plain open and close dropped the lock";
  // A second holder in this process tries and fails (as a poller checking the owner does).
  EXPECT_CODE(FileLock::Acquire(DefaultFileSystem(), path, LockMode::kExclusive), Code::kInUse);
  EXPECT_CODE(FileLock::Acquire(DefaultFileSystem(), path, LockMode::kShared), Code::kInUse);
  EXPECT_EQ(ChildTriesExclusive(path), 1) << "a failed second Acquire dropped the lock";
  ASSERT_OK_AND_ASSIGN(bool is_held, FileLock::IsHeld(DefaultFileSystem(), path));
  EXPECT_TRUE(is_held);
  EXPECT_EQ(ChildTriesExclusive(path), 1) << "IsHeld dropped the lock";
  held.reset();
  EXPECT_EQ(ChildTriesExclusive(path), 0);
}

// A child forked while the lock is held (any thread's fork: a spawned command, a detached
// reclaim) shares its open file description until it execs; the release must not wait for it.
TEST(FileLockTest, ReleaseIsNotDelayedByAChildForkedWhileHeld) {
  testing::TempDir dir;
  std::string path = dir.File("vm.lock");
  ASSERT_OK_AND_ASSIGN(auto held,
                       FileLock::Acquire(DefaultFileSystem(), path, LockMode::kExclusive));
  pid_t sleeper = fork();
  if (sleeper == 0) {
    std::this_thread::sleep_for(milliseconds(1000));
    _exit(0);
  }
  held.reset();
  EXPECT_EQ(ChildTriesExclusive(path), 0) << "the forked child kept the released lock";
  EXPECT_OK(FileLock::Acquire(DefaultFileSystem(), path, LockMode::kExclusive));
  EXPECT_EQ(Reap(sleeper), 0);
}

TEST(FileLockTest, IsHeldSeesHoldersOfEveryProcessAndCreatesNothing) {
  testing::TempDir dir;
  std::string path = dir.File("vm.lock");
  ASSERT_OK_AND_ASSIGN(bool held, FileLock::IsHeld(DefaultFileSystem(), path));
  EXPECT_FALSE(held);
  EXPECT_NE(access(path.c_str(), F_OK), 0) << "IsHeld created the lock file";
  pid_t child = HoldInChild(path, LockMode::kShared, 300);
  ASSERT_GT(child, 0);
  EXPECT_TRUE(*FileLock::IsHeld(DefaultFileSystem(), path, LockMode::kExclusive));
  EXPECT_FALSE(*FileLock::IsHeld(DefaultFileSystem(), path, LockMode::kShared));
  EXPECT_FALSE(*FileLock::IsHeld(DefaultFileSystem(), path, LockMode::kExclusive, 1))
      << "slots are independent";
  EXPECT_EQ(Reap(child), 0);
  EXPECT_FALSE(*FileLock::IsHeld(DefaultFileSystem(), path));
}

TEST(FileLockTest, SlotsOfOneFileAreIndependentLocks) {
  testing::TempDir dir;
  std::string path = dir.File("vm.lock");
  ASSERT_OK_AND_ASSIGN(auto slot0,
                       FileLock::Acquire(DefaultFileSystem(), path, LockMode::kExclusive));
  ASSERT_OK_AND_ASSIGN(auto slot1, FileLock::Acquire(DefaultFileSystem(), path,
                                                     LockMode::kExclusive, FileLock::kTry, 1));
  EXPECT_CODE(FileLock::Acquire(DefaultFileSystem(), path, LockMode::kExclusive, FileLock::kTry, 1),
              Code::kInUse);
  slot0.reset();
  EXPECT_TRUE(*FileLock::IsHeld(DefaultFileSystem(), path, LockMode::kExclusive, 1));
  EXPECT_OK(FileLock::Acquire(DefaultFileSystem(), path, LockMode::kExclusive));
}

// A small tmpfs the test mounts, remounted read-only on request; unmounted at the end.
class ReadOnlyMount {
 public:
  ReadOnlyMount() { ok_ = mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, "size=1m") == 0; }
  ~ReadOnlyMount() {
    if (ok_) umount2(dir_.path().c_str(), MNT_DETACH);
  }
  bool ok() const { return ok_; }
  bool MakeReadOnly() {
    return mount(nullptr, dir_.path().c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr) == 0;
  }
  std::string File(const std::string& name) const { return dir_.File(name); }

 private:
  testing::TempDir dir_;
  bool ok_ = false;
};

// Finding 9: a shared lock needs only a read-only descriptor.
TEST(FileLockTest, SharedLockWorksOnAReadOnlyFileSystemAndExclusiveIsAccessDenied) {
  ReadOnlyMount mnt;
  ASSERT_TRUE(mnt.ok()) << "mount tmpfs: " << std::strerror(errno);
  {
    ASSERT_OK(
        FileLock::Acquire(DefaultFileSystem(), mnt.File("store.lock"), LockMode::kShared).status());
  }
  ASSERT_TRUE(mnt.MakeReadOnly()) << std::strerror(errno);
  ASSERT_OK_AND_ASSIGN(
      auto a, FileLock::Acquire(DefaultFileSystem(), mnt.File("store.lock"), LockMode::kShared));
  ASSERT_OK_AND_ASSIGN(
      auto b, FileLock::Acquire(DefaultFileSystem(), mnt.File("store.lock"), LockMode::kShared));
  EXPECT_CODE(FileLock::Acquire(DefaultFileSystem(), mnt.File("store.lock"), LockMode::kExclusive),
              Code::kAccessDenied);
  EXPECT_CODE(FileLock::Acquire(DefaultFileSystem(), mnt.File("missing.lock"), LockMode::kShared),
              Code::kAccessDenied);
}

// Finding 9: a lock directory the caller cannot write is kAccessDenied, not kNotFound.
TEST(FileLockTest, UnwritableLockDirectoryIsAccessDeniedForAnotherUser) {
  testing::TempDir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  const std::string existing = dir.File("store.lock");
  ASSERT_OK(FileLock::Acquire(DefaultFileSystem(), existing, LockMode::kShared).status());
  ASSERT_EQ(chmod(existing.c_str(), 0644), 0);
  ASSERT_EQ(getuid(), 0u) << "the test runs as root to switch to an unprivileged user";
  int code = InChild([&] {
    if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) return 9;
    auto missing =
        FileLock::Acquire(DefaultFileSystem(), dir.File("vm.lock"), LockMode::kExclusive);
    if (missing.ok() || missing.status().code() != Code::kAccessDenied) return 1;
    auto excl = FileLock::Acquire(DefaultFileSystem(), existing, LockMode::kExclusive);
    if (excl.ok() || excl.status().code() != Code::kAccessDenied) return 2;
    return FileLock::Acquire(DefaultFileSystem(), existing, LockMode::kShared).ok() ? 0 : 3;
  });
  EXPECT_EQ(code, 0) << "1: missing lock not kAccessDenied; 2: exclusive; 3: shared failed";
}

TEST(FileLockTest, LockFileThatIsADirectoryIsCorrupt) {
  testing::TempDir dir;
  ASSERT_EQ(mkdir(dir.File("d.lock").c_str(), 0755), 0);
  EXPECT_CODE(FileLock::Acquire(DefaultFileSystem(), dir.File("d.lock"), LockMode::kShared),
              Code::kCorrupt);
  EXPECT_CODE(FileLock::Acquire(DefaultFileSystem(), dir.File("d.lock"), LockMode::kExclusive),
              Code::kCorrupt);
}

}  // namespace
}  // namespace hvdisk
