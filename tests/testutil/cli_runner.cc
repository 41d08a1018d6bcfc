#include "tests/testutil/cli_runner.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "tests/testutil/testutil.h"

namespace hvdisk::testing {

const std::string& HvdiskPath() {
  static const std::string path = HVDISK_BINARY_DIR "/cli/hvdisk";
  return path;
}

std::string Q(const std::string& path) { return "'" + path + "'"; }

int Hvdisk(const std::string& args, std::string* out, bool merge_stderr) {
  std::string ignored;
  return RunCommand(HvdiskPath() + " " + args, out ? out : &ignored, merge_stderr);
}

int SpawnHvdisk(const std::vector<std::string>& args, const std::string& stderr_path) {
  std::vector<const char*> argv{HvdiskPath().c_str()};
  for (const std::string& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  // SIGINT and SIGTERM as a terminal would deliver them, even when this test runs in the
  // background of a shell (which starts it with SIGINT ignored) or with them blocked.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t signals, none;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &signals);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  const int err =
      posix_spawn(&pid, argv[0], &actions, &attr, const_cast<char**>(argv.data()), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) ADD_FAILURE() << "posix_spawn " << argv[0] << ": " << std::strerror(err);
  return err == 0 ? pid : -1;
}

int WaitForExit(int pid) {
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1000;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

void WriteBinaryFile(const std::string& path, const std::vector<std::byte>& data) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

std::vector<std::byte> ReadBinaryFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

std::string AsString(const std::vector<std::byte>& data) {
  return std::string(reinterpret_cast<const char*>(data.data()), data.size());
}

}  // namespace hvdisk::testing
