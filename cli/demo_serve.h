// The demo's optional `--serve` step: the failed-over VM served over NBD by `hvdisk vm serve` (a
// child process of the demo) and written through NBD by qemu-io, as a hypervisor running the VM
// writes it.
//
// Thread safety: one call at a time (it starts and waits for child processes).
#pragma once

#include <string>
#include <vector>

#include "platform/status.h"

namespace hvdisk::cli {

// Whether `name` is an executable file in a directory of $PATH.
bool OnPath(const std::string& name);

// Starts argv (argv[0] a path, or a name looked up on $PATH) with stdout on `out_fd` (or
// /dev/null when -1) and stderr appended to `err_path` (or ours when empty); its pid, or -1 when
// it cannot start. The caller waits for it (Wait).
int Spawn(const std::vector<std::string>& args, int out_fd = -1, const std::string& err_path = "");

// Waits for the child `pid`: its exit code, 128 + N when signal N ended it, -1 on error.
int Wait(int pid);

// The last lines (at most 600 bytes) of a log file, for an error message.
std::string Tail(const std::string& path);

// What ServeAndWrite does; the write is `qemu-io -f raw -c 'write -P PATTERN OFFSET LENGTH'`.
struct ServedWrite {
  std::string store;   // the store directory
  std::string vm;      // the VM's GUID or name
  std::string socket;  // the unix socket to serve on (absolute, at most 107 bytes)
  std::string log;     // the server's stderr is appended here
  uint64_t offset = 0;
  uint64_t length = 0;
  int pattern = 0;
};

// A running `hvdisk vm --store STORE serve VM --socket SOCKET --foreground`: started by Start,
// stopped (SIGTERM, then waited for) by Stop or by the destructor.
class ServedVm {
 public:
  ServedVm() = default;
  ~ServedVm();
  ServedVm(const ServedVm&) = delete;
  ServedVm& operator=(const ServedVm&) = delete;

  // Starts the server and waits (up to 60 s) until it serves (it prints the URI on stdout).
  // kUnavailable, naming the end of its log, when it ended before or did not serve in time.
  Status Start(const ServedWrite& w);
  // The NBD URI of the served VM (valid after Start).
  std::string uri() const { return "nbd+unix:///?socket=" + socket_; }
  // Writes through NBD with qemu-io; kUnavailable when qemu-io fails.
  Status WriteWithQemuIo(const ServedWrite& w);
  // SIGTERM, then waits: kUnavailable unless the server exits 0 (it flushed and released the VM).
  Status Stop();

 private:
  int pid_ = -1;
  std::string socket_;
};

}  // namespace hvdisk::cli
