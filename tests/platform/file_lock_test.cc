#include "platform/file_lock.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
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
    auto lock = FileLock::Acquire(path, mode, FileLock::kForever);
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
  EXPECT_CODE(FileLock::Acquire(path, LockMode::kExclusive), Code::kInUse);
  EXPECT_CODE(FileLock::Acquire(path, LockMode::kShared), Code::kInUse);
  EXPECT_EQ(Reap(child), 0);
  EXPECT_OK(FileLock::Acquire(path, LockMode::kExclusive));
}

TEST(FileLockTest, TimedWaitPastDeadlineGetsTimeout) {
  testing::TempDir dir;
  std::string path = dir.File("store.lock");
  pid_t child = HoldInChild(path, LockMode::kExclusive, 1500);
  ASSERT_GT(child, 0);
  auto start = std::chrono::steady_clock::now();
  EXPECT_CODE(FileLock::Acquire(path, LockMode::kExclusive, milliseconds(200)), Code::kTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(200));
  // A deadline beyond the holder's release succeeds.
  EXPECT_OK(FileLock::Acquire(path, LockMode::kExclusive, milliseconds(10000)));
  EXPECT_EQ(Reap(child), 0);
}

TEST(FileLockTest, SharedHoldersCoexistAcrossProcessesAndBlockExclusive) {
  testing::TempDir dir;
  std::string path = dir.File("store.lock");
  pid_t child = HoldInChild(path, LockMode::kShared, 500);
  ASSERT_GT(child, 0);
  {
    ASSERT_OK_AND_ASSIGN(auto mine, FileLock::Acquire(path, LockMode::kShared));
    EXPECT_EQ(mine->mode(), LockMode::kShared);
  }
  EXPECT_CODE(FileLock::Acquire(path, LockMode::kExclusive), Code::kInUse);
  EXPECT_EQ(Reap(child), 0);
}

TEST(FileLockTest, ThreadsOfOneProcessExcludeEachOther) {
  testing::TempDir dir;
  std::string path = dir.File("vm.lock");
  ASSERT_OK_AND_ASSIGN(auto a, FileLock::Acquire(path, LockMode::kExclusive));
  std::thread t([&] { EXPECT_CODE(FileLock::Acquire(path, LockMode::kShared), Code::kInUse); });
  t.join();
  {
    ASSERT_OK_AND_ASSIGN(auto s1, FileLock::Acquire(dir.File("other.lock"), LockMode::kShared));
    ASSERT_OK_AND_ASSIGN(auto s2, FileLock::Acquire(dir.File("other.lock"), LockMode::kShared));
  }
  a.reset();
  // Releasing the in-process holder released the OS lock: another process can take it.
  pid_t child = HoldInChild(path, LockMode::kExclusive, 10);
  ASSERT_GT(child, 0);
  EXPECT_EQ(Reap(child), 0);
}

}  // namespace
}  // namespace hvdisk
