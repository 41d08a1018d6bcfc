// `hvdisk serve DISK` and `hvdisk vm --store DIR serve VM`: serve a disk over NBD by starting
// nbdkit with the hvdisk plugin (nbd/nbdkit_plugin.h); hvdisk does not speak NBD itself.
//
// Steps: 1. check what can be checked here (the disk's or VM's state, a stale unix socket of an
// earlier server, which nbdkit 1.32 leaves behind: removed); 2. start nbdkit with a pid file,
// in the foreground as our child (--foreground) or forking into the background by itself; 3. wait
// until it is ready: its pid file names it and, for a VM, the store's served record does too
// (the plugin writes it once it serves, ops/vm_served.h); 4. print the NBD URI on stdout;
// 5. --foreground: forward SIGTERM, SIGINT and SIGHUP to nbdkit (which flushes and closes the
// disk, then releases the VM), wait for it and remove the socket.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "ops/consumer.h"
#include "ops/store.h"
#include "ops/vm_served.h"
#include "platform/file.h"

namespace hvdisk::cli {
namespace {

constexpr auto kReadyTimeout = std::chrono::seconds(60);

struct ServeArgs {
  std::string disk;
  std::string vm;
  std::string socket;
  int port = 0;
  std::string bind = "127.0.0.1";
  std::string pid_file;
  std::vector<std::string> roots;
  bool read_only = false;
  bool foreground = false;
};

// Where the server listens: nbdkit's options and the URI a client connects to.
struct Endpoint {
  std::vector<std::string> args;
  std::string uri;
  std::string socket;  // unix socket path, absolute; empty for TCP
};

Result<std::string> Absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[4096];
  if (getcwd(cwd, sizeof cwd) == nullptr) return IoError("cannot read the working directory");
  return JoinPath(cwd, path);
}

// Whether a server accepts connections on the unix socket `path`.
bool SocketListens(const std::string& path) {
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

// A leftover socket of a server that is gone is removed; a live one is kInUse.
Status ClearStaleSocket(const std::string& path) {
  Result<FileKind> kind = DefaultFileSystem()->KindOf(path);
  if (!kind.ok()) return kind.status().code() == Code::kNotFound ? Status::Ok() : kind.status();
  if (*kind != FileKind::kOther) {
    return InvalidArgument(path + " exists and is not a socket: choose another --socket path");
  }
  if (SocketListens(path)) return InUse("a server already listens on " + path);
  return DefaultFileSystem()->Unlink(path);
}

Result<Endpoint> MakeEndpoint(const ServeArgs& a) {
  if (a.socket.empty() == (a.port == 0)) {
    return InvalidArgument("give --socket PATH or --port N (one of them)");
  }
  Endpoint e;
  if (!a.socket.empty()) {
    ASSIGN_OR_RETURN(e.socket, Absolute(a.socket));
    if (e.socket.size() >= sizeof(sockaddr_un{}.sun_path)) {
      return InvalidArgument("--socket path is too long for a unix socket: " + e.socket);
    }
    e.args = {"-U", e.socket};
    e.uri = "nbd+unix:///?socket=" + e.socket;
    return e;
  }
  if (a.port < 1 || a.port > 65535) return InvalidArgument("--port must be 1..65535");
  e.args = {"-p", std::to_string(a.port), "-i", a.bind};
  const bool v6 = a.bind.find(':') != std::string::npos;
  e.uri = "nbd://" + (v6 ? "[" + a.bind + "]" : a.bind) + ":" + std::to_string(a.port) + "/";
  return e;
}

// The plugin: $HVDISK_NBDKIT_PLUGIN, else beside this hvdisk in the build tree (nbd/), else
// where cmake --install put it.
Result<std::string> PluginPath() {
  const char* env = std::getenv("HVDISK_NBDKIT_PLUGIN");
  if (env != nullptr && *env != '\0') return std::string(env);
  ASSIGN_OR_RETURN(std::string exe, DefaultFileSystem()->RealPath("/proc/self/exe"));
  const std::string bin = DirName(exe);
  const std::string dir = HVDISK_NBDKIT_PLUGINDIR;
  const std::string name = "nbdkit-hvdisk-plugin.so";
  for (const std::string& p :
       {bin + "/../nbd/" + name, (dir[0] == '/' ? dir : bin + "/../" + dir) + "/" + name}) {
    Result<std::string> real = DefaultFileSystem()->RealPath(p);
    if (real.ok()) return real;
  }
  return NotFound(name + " not found beside " + exe + " nor in " + dir +
                  ": build hvdisk with nbdkit-plugin-dev installed, or set HVDISK_NBDKIT_PLUGIN");
}

// The nbdkit command line: listening options, then the plugin and its parameters.
std::vector<std::string> NbdkitArgs(const ServeArgs& a, const Endpoint& e,
                                    const std::string& plugin, const std::string& pid_file,
                                    const std::vector<std::string>& params) {
  std::vector<std::string> argv = {"nbdkit"};
  if (a.foreground) argv.insert(argv.end(), {"-f", "--exit-with-parent"});
  if (a.read_only) argv.push_back("-r");
  argv.insert(argv.end(), e.args.begin(), e.args.end());
  argv.insert(argv.end(), {"-P", pid_file, plugin});
  argv.insert(argv.end(), params.begin(), params.end());
  if (a.read_only) argv.push_back("readonly=1");
  return argv;
}

// Forks and execs nbdkit (found on PATH); its stdout is ours, its errors go to our stderr.
Result<pid_t> Spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& s : args) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) return IoError("cannot start nbdkit: fork failed");
  if (pid == 0) {
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "hvdisk: cannot run nbdkit: %s (apt-get install nbdkit)\n",
                 std::strerror(errno));
    _exit(127);
  }
  return pid;
}

// The pid nbdkit wrote, once it did (0 until then).
pid_t ReadPid(const std::string& pid_file) {
  Result<std::string> text = ReadWholeFile(DefaultFileSystem(), pid_file, 64);
  if (!text.ok() || text->empty() || text->back() != '\n') return 0;
  return static_cast<pid_t>(std::atol(text->c_str()));
}

// Status of a waited-for nbdkit that ended before it was ready.
Status EndedEarly(int wstatus) {
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 127) return NotFound("nbdkit did not start");
  return IoError("nbdkit stopped before serving (its error is above)");
}

// Waits until nbdkit serves: its pid file names it and `ready(pid)` holds. `child`: nbdkit in
// the foreground, our child (else it forked into the background by itself and `child` is 0).
Result<pid_t> WaitReady(pid_t child, const std::string& pid_file,
                        const std::function<bool(pid_t)>& ready) {
  const auto deadline = std::chrono::steady_clock::now() + kReadyTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int wstatus = 0;
    if (child > 0 && waitpid(child, &wstatus, WNOHANG) == child) return EndedEarly(wstatus);
    const pid_t pid = ReadPid(pid_file);
    if (pid > 0 && child == 0 && kill(pid, 0) != 0) return EndedEarly(0);
    if (pid > 0 && ready(pid)) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Timeout("nbdkit did not start serving within " + std::to_string(kReadyTimeout.count()) +
                 " s");
}

volatile pid_t forward_to = 0;

void Forward(int sig) {
  if (forward_to > 0) kill(forward_to, sig);
}

// Waits for the foreground nbdkit, forwarding the signals that stop a server to it.
int WaitForeground(pid_t child) {
  forward_to = child;
  struct sigaction sa {};
  sa.sa_handler = Forward;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &sa, nullptr);
  int wstatus = 0;
  while (waitpid(child, &wstatus, 0) < 0 && errno == EINTR) {
  }
  forward_to = 0;
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return kExitOk;
  if (WIFSIGNALED(wstatus)) {
    std::fprintf(stderr, "hvdisk: nbdkit ended by signal %d\n", WTERMSIG(wstatus));
  }
  return kExitFailure;
}

// Runs nbdkit with the plugin and `params`, prints the URI once `ready`; see the steps above.
int Serve(const ServeArgs& a, const std::vector<std::string>& params, const std::string& what,
          const std::function<bool(pid_t)>& ready) {
  Result<Endpoint> e = MakeEndpoint(a);
  if (!e.ok()) return UsageError(e.status());
  Result<std::string> plugin = PluginPath();
  if (!plugin.ok()) return ReportError(plugin.status());
  if (!e->socket.empty()) {
    Status st = ClearStaleSocket(e->socket);
    if (!st.ok()) return ReportError(st);
  }
  std::string pid_file = a.pid_file;
  if (pid_file.empty()) {
    char tmpl[] = "/tmp/hvdisk-serve-XXXXXX";
    const int fd = mkstemp(tmpl);
    if (fd < 0) return ReportError(IoError("cannot create a pid file in /tmp"));
    close(fd);
    pid_file = tmpl;
  }
  Result<std::string> abs_pid = Absolute(pid_file);
  if (!abs_pid.ok()) return ReportError(abs_pid.status());
  (void)DefaultFileSystem()->Unlink(*abs_pid);  // a stale pid must not pass for the new one
  Result<pid_t> spawned = Spawn(NbdkitArgs(a, *e, *plugin, *abs_pid, params));
  if (!spawned.ok()) return ReportError(spawned.status());
  int wstatus = 0;
  if (!a.foreground && (waitpid(*spawned, &wstatus, 0) != *spawned || !WIFEXITED(wstatus) ||
                        WEXITSTATUS(wstatus) != 0)) {
    return ReportError(EndedEarly(wstatus));
  }
  Result<pid_t> server = WaitReady(a.foreground ? *spawned : 0, *abs_pid, ready);
  if (!server.ok()) {  // a server that never became ready is stopped, not left behind
    if (a.foreground) {
      kill(*spawned, SIGTERM);
      waitpid(*spawned, nullptr, 0);
    } else if (const pid_t daemon = ReadPid(*abs_pid); daemon > 0) {
      kill(daemon, SIGTERM);
    }
  }
  if (a.pid_file.empty()) (void)DefaultFileSystem()->Unlink(*abs_pid);
  if (!server.ok()) return ReportError(server.status());
  std::printf("%s\n", e->uri.c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "hvdisk: serving %s at %s (nbdkit pid %d); stop it with 'kill %d'\n",
               what.c_str(), e->uri.c_str(), static_cast<int>(*server), static_cast<int>(*server));
  if (!a.foreground) return kExitOk;
  const int code = WaitForeground(*spawned);
  if (!e->socket.empty()) (void)DefaultFileSystem()->Unlink(e->socket);
  return code;
}

int RunServe(const ServeArgs& a) {
  Result<std::string> disk = Absolute(a.disk);
  if (!disk.ok()) return ReportError(disk.status());
  std::vector<std::string> params = {"file=" + *disk};
  for (const std::string& root : a.roots) {
    Result<std::string> abs = Absolute(root);
    if (!abs.ok()) return ReportError(abs.status());
    params.push_back("allow-root=" + *abs);
  }
  return Serve(a, params, *disk, [](pid_t) { return true; });
}

// Checks the VM can be served (it can run, nobody serves it), then serves it; ready once the
// store's served record names the server.
int RunVmServe(const ServeArgs& a, const std::string& store_dir) {
  Result<std::string> dir = Absolute(store_dir);
  if (!dir.ok()) return ReportError(dir.status());
  Result<std::unique_ptr<ops::Store>> store =
      ops::Store::Open(DefaultFileSystem(), *dir, {.read_only = true});
  if (!store.ok()) return ReportError(store.status());
  ops::Store& s = **store;
  Result<Guid> vm = s.FindVm(a.vm);
  if (!vm.ok()) return ReportError(vm.status());
  Result<ops::VmRecord> record = s.GetVm(*vm);
  Status st = record.ok() ? ops::ExpectRunnable(*record) : record.status();
  if (st.ok()) st = ops::RefuseIfServed(s, *vm, "serve");
  if (!st.ok()) return ReportError(st);
  Result<Endpoint> e = MakeEndpoint(a);
  const std::vector<std::string> params = {"store=" + *dir, "vm=" + vm->ToString(false),
                                           "uri=" + (e.ok() ? e->uri : "")};
  return Serve(a, params, "VM " + record->name, [&](pid_t pid) {
    Result<std::optional<ops::ServedInfo>> served = ops::IsServed(s, *vm);
    return served.ok() && served->has_value() && (*served)->pid == pid;
  });
}

void AddServeOptions(CLI::App* sub, ServeArgs* a) {
  CLI::Option* socket =
      sub->add_option("--socket", a->socket, "serve on this unix socket (nbd+unix:///?socket=)");
  CLI::Option* port = sub->add_option("--port", a->port, "serve on this TCP port (nbd://)");
  socket->excludes(port);
  sub->add_option("--bind", a->bind, "the address --port listens on (127.0.0.1)")->needs(port);
  sub->add_flag("--read-only", a->read_only, "refuse writes");
  sub->add_flag("--foreground", a->foreground,
                "stay in the foreground until SIGTERM or SIGINT (which flush and stop the server)");
  sub->add_option("--pid-file", a->pid_file, "write the server's pid to this file");
  SetExitStatus(sub, {"0  serving (printed the NBD URI; without --foreground nbdkit runs on in "
                      "the background: stop it with 'kill PID', which flushes the disk), or "
                      "--foreground: stopped cleanly by SIGTERM or SIGINT",
                      "1  the server could not start or failed (the error on stderr)",
                      "2  bad arguments (usage)"});
}

}  // namespace

void RegisterServeCommand(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* serve =
      app.add_subcommand("serve", "Serve a raw, VHDX or differencing disk over NBD (nbdkit)");
  serve->add_option("DISK", a->disk, "raw file, VHDX, or the leaf of a chain")->required();
  AddServeOptions(serve, a.get());
  AddAllowRootOption(serve, &a->roots);
  SetCommand(serve, [a] { return RunServe(*a); });
}

void RegisterVmServeCommand(CLI::App* vm) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* serve = vm->add_subcommand(
      "serve", "Serve the disk a failed-over or test VM runs on over NBD (the VM is running)");
  serve->add_option("VM", a->vm, "VM GUID or name")->required();
  AddServeOptions(serve, a.get());
  SetCommand(serve,
             [a, vm] { return RunVmServe(*a, vm->get_option("--store")->as<std::string>()); });
}

}  // namespace hvdisk::cli
