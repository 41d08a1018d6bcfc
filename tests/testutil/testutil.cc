#include "tests/testutil/testutil.h"

#include <dirent.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "platform/file.h"

namespace hvdisk::testing {

std::string TestTmpBase() {
  for (const char* name : {"HVDISK_TEST_TMPDIR", "TMPDIR"}) {
    const char* base = std::getenv(name);
    if (base && *base) return base;
  }
  return "/tmp";
}

TempDir::TempDir() {
  std::string tmpl = TestTmpBase() + "/hvdisk-test-XXXXXX";
  char* made = mkdtemp(tmpl.data());
  if (made == nullptr) std::abort();
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::vector<std::byte> PatternBytes(size_t size, uint64_t seed) {
  std::vector<std::byte> out(size);
  for (size_t i = 0; i < size; i += 8) {
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + i / 8 + 1;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    for (size_t j = 0; j < 8 && i + j < size; ++j) out[i + j] = std::byte(z >> (8 * j));
  }
  return out;
}

int RunCommand(const std::string& command, std::string* output, bool merge_stderr) {
  std::string cmd = command + (merge_stderr ? " 2>&1" : "");
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
    if (output) output->append(buf, n);
  }
  int rc = pclose(p);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::vector<int> ProcessesHoldingUnlinked(const std::string& path) {
  std::vector<int> pids;
  const std::string want = path + " (deleted)";
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return pids;
  while (dirent* p = readdir(proc)) {
    const int pid = std::atoi(p->d_name);
    if (pid <= 0) continue;
    const std::string fds = "/proc/" + std::string(p->d_name) + "/fd";
    DIR* d = opendir(fds.c_str());
    if (d == nullptr) continue;  // gone, or not ours to read
    while (dirent* f = readdir(d)) {
      char target[4096];
      const std::string link = fds + "/" + f->d_name;
      ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
      if (n > 0 && std::string(target, n) == want) pids.push_back(pid);
    }
    closedir(d);
  }
  closedir(proc);
  return pids;
}

bool UnlinkedFileReleased(const std::string& path) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!ProcessesHoldingUnlinked(path).empty()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::vector<std::string> DirNames(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

NameWatch::NameWatch(const std::string& dir) {
  fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0 || inotify_add_watch(fd_, dir.c_str(), IN_CREATE | IN_MOVED_TO) < 0) {
    ADD_FAILURE() << "inotify on " << dir << ": " << std::strerror(errno);
  }
}

NameWatch::~NameWatch() {
  if (fd_ >= 0) close(fd_);
}

std::vector<std::string> NameWatch::Names() {
  alignas(inotify_event) char buf[64 * 1024];
  for (;;) {
    const ssize_t n = fd_ < 0 ? -1 : read(fd_, buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: nothing more queued
    for (ssize_t off = 0; off < n;) {
      const auto* e = reinterpret_cast<const inotify_event*>(buf + off);
      if (e->mask & IN_Q_OVERFLOW) ADD_FAILURE() << "inotify queue overflowed";
      if (e->len > 0) seen_.emplace_back(e->name);
      off += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
    }
  }
  return seen_;
}

std::string TestDataPath(const std::string& name) {
  return std::string(HVDISK_TESTDATA_DIR_VALUE) + "/windows-structures/" + name;
}

std::vector<std::byte> ReadTestData(const std::string& name) {
  Result<std::string> s = ReadWholeFile(DefaultFileSystem(), TestDataPath(name));
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (!s.ok()) return {};
  std::vector<std::byte> out(s->size());
  std::memcpy(out.data(), s->data(), s->size());
  return out;
}

}  // namespace hvdisk::testing
