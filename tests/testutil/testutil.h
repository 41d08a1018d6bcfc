// Test helpers shared by every suite: status assertions, temp dirs, byte patterns.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "platform/status.h"

#define ASSERT_OK(expr)                                     \
  do {                                                      \
    auto _s = ::hvdisk::testing::ToStatus(expr);            \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)
#define EXPECT_OK(expr)                                     \
  do {                                                      \
    auto _s = ::hvdisk::testing::ToStatus(expr);            \
    EXPECT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)
// `lhs = value`, or fails the test (use in void-returning test bodies).
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(HVDISK_CONCAT(_r_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(r, lhs, expr)                  \
  auto r = (expr);                                               \
  ASSERT_TRUE(r.ok()) << #expr << ": " << r.status().ToString(); \
  lhs = std::move(r).value()
// Streamable: EXPECT_CODE(Open(...), Code::kCorrupt) << "case " << i;
#define EXPECT_CODE(expr, c) EXPECT_PRED_FORMAT2(::hvdisk::testing::HasCode, expr, c)

namespace hvdisk::testing {

inline Status ToStatus(const Status& s) { return s; }
template <typename T>
Status ToStatus(const Result<T>& r) {
  return r.status();
}

template <typename S>
::testing::AssertionResult HasCode(const char* expr, const char*, const S& s, Code code) {
  Status st = ToStatus(s);
  if (st.code() == code) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << expr << " returned " << st.ToString() << ", expected " << CodeName(code);
}

// Where tests make their temporary files: $HVDISK_TEST_TMPDIR (e.g. a CephFS mount, to run a suite
// on shared storage), else $TMPDIR, else /tmp.
std::string TestTmpBase();

// A fresh directory under TestTmpBase(), removed with its contents when destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Deterministic pseudo-random bytes (splitmix64 of seed and position).
std::vector<std::byte> PatternBytes(size_t size, uint64_t seed);

// Runs a shell command; returns its exit status (-1 if it could not run) and captures stdout
// (and stderr when merge_stderr).
int RunCommand(const std::string& command, std::string* output = nullptr, bool merge_stderr = true);

// The pids of the processes holding a descriptor of `path`, which is unlinked (/proc/PID/fd links
// that read "PATH (deleted)").
std::vector<int> ProcessesHoldingUnlinked(const std::string& path);
// Whether, within 30 s, no process holds the unlinked `path` any more (its space is freed).
bool UnlinkedFileReleased(const std::string& path);

// The names in `dir`, sorted (empty when it cannot be listed).
std::vector<std::string> DirNames(const std::string& dir);

// The names created in, or renamed into, a directory while a NameWatch lives (inotify): proof that
// a name never appeared, however briefly. Fails the test when the watch cannot be set.
class NameWatch {
 public:
  explicit NameWatch(const std::string& dir);
  ~NameWatch();
  NameWatch(const NameWatch&) = delete;
  NameWatch& operator=(const NameWatch&) = delete;
  // Every name seen so far, in order (a name created twice is listed twice).
  std::vector<std::string> Names();

 private:
  int fd_ = -1;
  std::vector<std::string> seen_;
};

// The path of the Windows-made structures (tests/testdata/windows-structures).
std::string TestDataPath(const std::string& name);
// The bytes of one of those structures; fails the test (and returns empty) when unreadable.
std::vector<std::byte> ReadTestData(const std::string& name);

}  // namespace hvdisk::testing
