#include "cli/demo_serve.h"

#include <fcntl.h>
#include <poll.h>
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
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>
#include <vector>

extern char** environ;

namespace hvdisk::cli {
namespace {

// The first line `fd` delivers within `seconds`: empty at end of file or on timeout.
std::string ReadLine(int fd, int seconds) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  char c = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, 100) <= 0) continue;
    if (read(fd, &c, 1) != 1) return "";
    if (c == '\n') return line;
    line.push_back(c);
  }
  return "";
}

}  // namespace

int Spawn(const std::vector<std::string>& args, int out_fd, const std::string& err_path) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (out_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  } else {
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  }
  if (!err_path.empty()) {
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
  }
  pid_t pid = -1;
  std::fflush(stdout);
  const int err = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return err == 0 ? pid : -1;
}

int Wait(int pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string Tail(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text.size() > 600 ? text.substr(text.size() - 600) : text;
}

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
  // `vm serve` prints the NBD URI on stdout once it serves: that line is the readiness signal.
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return IoError("pipe failed");
  pid_ = Spawn({"/proc/self/exe", "vm", "--store", w.store, "serve", w.vm, "--socket", socket_,
                "--foreground"},
               out[1], w.log);
  close(out[1]);
  const std::string line = pid_ < 0 ? "" : ReadLine(out[0], 60);
  close(out[0]);
  if (pid_ < 0) return Unavailable("could not start `hvdisk vm serve`");
  if (line != uri()) {
    (void)Stop();
    return Unavailable("`hvdisk vm serve` did not serve within 60 s: " + Tail(w.log));
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
