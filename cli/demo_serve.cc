#include "cli/demo_serve.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>
#include <vector>

extern char** environ;

namespace hvdisk::cli {
namespace {

// Starts argv (argv[0] a path, or a name looked up on $PATH) with stdout on /dev/null; -1 when
// it cannot start.
int Spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  std::fflush(stdout);
  const int err = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return err == 0 ? pid : -1;
}

// The exit code of a waited-for child, or 128 + N when signal N ended it.
int Wait(int pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool Listens(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return false;
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, path.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

}  // namespace

bool OnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

ServedVm::~ServedVm() { (void)Stop(); }

Status ServedVm::Start(const ServedWrite& w) {
  socket_ = w.socket;
  if (socket_.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return InvalidArgument("the socket path " + socket_ +
                           " is too long for a unix socket: " + "pass a shorter demo DIR");
  }
  pid_ = Spawn({"/proc/self/exe", "vm", "--store", w.store, "serve", w.vm, "--socket", socket_,
                "--foreground"});
  if (pid_ < 0) return Unavailable("could not start `hvdisk vm serve`");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!Listens(socket_)) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Unavailable("`hvdisk vm serve` ended before it served (its error is above)");
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Unavailable("`hvdisk vm serve` did not listen on " + socket_ + " within 60 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::Ok();
}

Status ServedVm::WriteWithQemuIo(const ServedWrite& w) {
  char command[128];
  std::snprintf(command, sizeof command, "write -P 0x%02x %llu %llu", w.pattern,
                static_cast<unsigned long long>(w.offset),
                static_cast<unsigned long long>(w.length));
  const int pid = Spawn({"qemu-io", "-f", "raw", "-c", command, uri()});
  if (pid < 0) return Unavailable("could not start qemu-io");
  const int code = Wait(pid);
  if (code != 0) return Unavailable("qemu-io exited " + std::to_string(code) + " (see above)");
  return Status::Ok();
}

Status ServedVm::Stop() {
  if (pid_ < 0) return Status::Ok();
  kill(pid_, SIGTERM);
  const int code = Wait(pid_);
  pid_ = -1;
  if (code != 0) return Unavailable("`hvdisk vm serve` exited " + std::to_string(code));
  return Status::Ok();
}

}  // namespace hvdisk::cli
