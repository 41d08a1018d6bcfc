// NBD serving against real clients: nbdkit with nbdkit-hvdisk-plugin.so (directly, and through
// `hvdisk serve` / `hvdisk vm serve`), read and written by nbdinfo, nbdcopy, qemu-img, qemu-io
// and libnbd; what they see and leave is checked with hvdisk and pyvhdi. Servers listen on unix
// sockets in the test's temp dir and are stopped by pid (SIGTERM, or SIGKILL where the test says).
//
// These tests FAIL (never skip) when nbdkit, nbdinfo, nbdcopy, qemu-img, qemu-io or pyvhdi is
// missing.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libnbd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "disk/open.h"
#include "ops/wmi/cim_reference.h"
#include "platform/file.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using ::testing::HasSubstr;
using testing::Hvdisk;
using testing::Q;
using Json = nlohmann::json;

constexpr uint64_t kMiB = 1 << 20;

std::string PluginPath() { return std::string(HVDISK_BINARY_DIR) + "/nbd/nbdkit-hvdisk-plugin.so"; }

// Runs a shell command that must succeed; its stdout.
std::string MustRun(const std::string& command) {
  std::string out;
  const int rc = testing::RunCommand(command, &out, false);
  EXPECT_EQ(rc, 0) << command << "\n" << out;
  return out;
}

std::string HvdiskOut(const std::string& args) {
  std::string out;
  EXPECT_EQ(Hvdisk(args, &out, false), 0) << "hvdisk " << args << "\n" << out;
  return out;
}

std::string Digest(const std::string& file) {
  return Json::parse(HvdiskOut("digest --json " + Q(file))).value("digest", "");
}

// A server started by the test: a command run in the foreground with its stdout and stderr in
// files of `dir`; ready when its pid file names it (and, for `hvdisk ... serve`, when hvdisk
// printed the URI). Stopped by pid; its socket removed (nbdkit 1.32 leaves it).
class Server {
 public:
  Server(const testing::TempDir& dir, const std::string& name) {
    socket_ = dir.File(name + ".sock");
    pid_file_ = dir.File(name + ".pid");
    out_ = dir.File(name + ".out");
    err_ = dir.File(name + ".err");
    uri_ = "nbd+unix:///?socket=" + socket_;
  }
  ~Server() {
    if (pid_ > 0) {
      if (const pid_t s = ServerPid(); s > 0) kill(s, SIGKILL);
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    unlink(socket_.c_str());
  }
  // `hvdisk ARGS --socket S --pid-file P --foreground`.
  bool StartHvdisk(const std::string& args) {
    return Start("exec " + Q(testing::HvdiskPath()) + " " + args + " --socket " + Q(socket_) +
                     " --pid-file " + Q(pid_file_) + " --foreground",
                 /*prints_uri=*/true);
  }
  // nbdkit with the plugin, as a user would run it.
  bool StartNbdkit(const std::string& params) {
    unlink(socket_.c_str());
    return Start("exec nbdkit -f -U " + Q(socket_) + " -P " + Q(pid_file_) + " " + Q(PluginPath()) +
                     " " + params,
                 /*prints_uri=*/false);
  }
  const std::string& uri() const { return uri_; }
  const std::string& socket() const { return socket_; }
  std::string Stdout() const { return testing::AsString(testing::ReadBinaryFile(out_)); }
  std::string Stderr() const { return testing::AsString(testing::ReadBinaryFile(err_)); }
  // nbdkit's pid (0 before it wrote its pid file).
  pid_t ServerPid() const {
    const std::string text = testing::AsString(testing::ReadBinaryFile(pid_file_));
    return text.empty() || text.back() != '\n' ? 0 : static_cast<pid_t>(std::stol(text));
  }
  // SIGTERM to the process started; its exit code.
  int Stop() { return Signal(pid_, SIGTERM); }
  // SIGKILL to nbdkit itself; the exit code of the process started.
  int KillServer() { return Signal(ServerPid(), SIGKILL); }

 private:
  bool Start(const std::string& command, bool prints_uri) {
    unlink(pid_file_.c_str());
    pid_ = fork();
    if (pid_ == 0) {
      const int out = open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(out, 1);
      dup2(err, 2);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      signal(SIGTERM, SIG_DFL);
      signal(SIGINT, SIG_DFL);
      execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 3000; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = 0;
        ADD_FAILURE() << command << " ended before serving:\n" << Stderr();
        return false;
      }
      const bool ready = ServerPid() > 0 && access(socket_.c_str(), F_OK) == 0 &&
                         (!prints_uri || Stdout().find('\n') != std::string::npos);
      if (ready) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << command << " did not start serving in 30 s:\n" << Stderr();
    return false;
  }
  int Signal(pid_t target, int sig) {
    if (pid_ <= 0 || target <= 0) return -1000;
    kill(target, sig);
    const int code = testing::WaitForExit(pid_);
    pid_ = 0;
    return code;
  }

  std::string socket_, pid_file_, out_, err_, uri_;
  pid_t pid_ = 0;
};

// (offset, length, data?) runs, adjacent runs of the same kind merged.
using Runs = std::vector<std::tuple<uint64_t, uint64_t, bool>>;
void AddRun(Runs* runs, uint64_t offset, uint64_t length, bool data) {
  if (!runs->empty() && std::get<2>(runs->back()) == data &&
      std::get<0>(runs->back()) + std::get<1>(runs->back()) == offset) {
    std::get<1>(runs->back()) += length;
  } else {
    runs->emplace_back(offset, length, data);
  }
}

class NbdInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"nbdkit", "nbdinfo", "nbdcopy", "qemu-img", "qemu-io"}) {
      ASSERT_EQ(testing::RunCommand(std::string("command -v ") + tool + " >/dev/null"), 0)
          << "the interop suite needs " << tool << " (scripts/bootstrap installs it)";
    }
    ASSERT_EQ(access(PluginPath().c_str(), R_OK), 0) << "not built: " << PluginPath();
  }
  // base.vhdx (64 MiB, 1 MiB blocks) and `depth - 1` children, each writing its own pattern at
  // its own offsets (a partial block over its parent, a whole block); returns the paths, leaf
  // last.
  std::vector<std::string> MakeChain(int depth) {
    std::vector<std::string> paths = {dir_.File("base.vhdx")};
    HvdiskOut("create --block-size 1M " + Q(paths[0]) + " 64M");
    for (int i = 0; i < depth; ++i) {
      if (i > 0) {
        paths.push_back(dir_.File("c" + std::to_string(i) + ".avhdx"));
        HvdiskOut("create --parent " + Q(paths[i - 1]) + " " + Q(paths[i]));
      }
      const std::string leaf = Q(paths.back());
      HvdiskOut("write " + leaf + " " + std::to_string(i * 3 * kMiB + i * 65536) + " --pattern " +
                std::to_string(0x10 + i) + " --length " + std::to_string(kMiB / 2 + 4096 * i));
      HvdiskOut("write " + leaf + " " + std::to_string((40 + i) * kMiB) + " --pattern " +
                std::to_string(0x60 + i) + " --length 1M");
    }
    return paths;
  }
  testing::TempDir dir_;
};

Runs HvdiskMapRuns(const std::string& file) {
  Runs runs;
  for (const Json& e : Json::parse(HvdiskOut("map --json " + Q(file)))) {
    AddRun(&runs, e.value("start", 0ull), e.value("length", 0ull), e.value("data", false));
  }
  return runs;
}

TEST_F(NbdInterop, NbdinfoMapOfAChainServedByTheNbdkitPluginEqualsHvdiskMap) {
  const std::vector<std::string> chain = MakeChain(3);
  Server server(dir_, "map");
  ASSERT_TRUE(server.StartNbdkit("file=" + Q(chain.back()) + " readonly=1"));
  const Json map = Json::parse(MustRun("nbdinfo --map --json " + Q(server.uri())));
  Runs nbd;
  for (const Json& e : map) {
    AddRun(&nbd, e.value("offset", 0ull), e.value("length", 0ull), (e.value("type", 0) & 1) == 0);
  }
  const Runs hvdisk = HvdiskMapRuns(chain.back());
  EXPECT_EQ(nbd, hvdisk);
  EXPECT_EQ(map.size(), hvdisk.size()) << "the plugin reports whole runs, merged across blocks";
  EXPECT_EQ(server.Stop(), 0) << server.Stderr();
}

TEST_F(NbdInterop, NbdcopyAndQemuImgConvertOfADepth8ChainEqualHvdiskDigest) {
  const std::vector<std::string> chain = MakeChain(8);
  ASSERT_EQ(chain.size(), 8u);
  Server server(dir_, "copy");
  ASSERT_TRUE(server.StartHvdisk("serve --read-only " + Q(chain.back())));
  EXPECT_EQ(server.Stdout(), server.uri() + "\n");
  const std::string copied = dir_.File("nbdcopy.raw"), converted = dir_.File("convert.raw");
  MustRun("nbdcopy " + Q(server.uri()) + " " + Q(copied));
  MustRun("qemu-img convert -f raw " + Q(server.uri()) + " -O raw " + Q(converted));
  const std::string want = Digest(chain.back());
  EXPECT_EQ(Digest(copied), want);
  EXPECT_EQ(Digest(converted), want);
  EXPECT_EQ(server.Stop(), 0) << server.Stderr();
}

// Dumps the media of a chain (argv[2:], leaf first, each given its parent) through pyvhdi.
constexpr const char* kPyvhdiDump = R"(
import sys, pyvhdi
files = []
for path in sys.argv[2:]:
    f = pyvhdi.file()
    f.open(path)
    files.append(f)
for i in range(len(files) - 2, -1, -1):
    files[i].set_parent(files[i + 1])
size = files[0].get_media_size()
with open(sys.argv[1], "wb") as out:
    offset = 0
    while offset < size:
        n = min(4 << 20, size - offset)
        out.write(files[0].read_buffer_at_offset(n, offset))
        offset += n
)";

TEST_F(NbdInterop, QemuIoWritesThroughNbdChangeTheLeafOnlyWhichChecksCleanAndOpensInPyvhdi) {
  const std::vector<std::string> chain = MakeChain(3);
  std::vector<std::vector<std::byte>> parents;
  for (size_t i = 0; i + 1 < chain.size(); ++i)
    parents.push_back(testing::ReadBinaryFile(chain[i]));
  {
    Server server(dir_, "qemu-io");
    ASSERT_TRUE(server.StartHvdisk("serve " + Q(chain.back())));
    MustRun(
        "qemu-io -f raw -c 'write -P 0x44 0 1M' -c 'write -P 0x45 3M 4k' "
        "-c 'write -z 20M 1M' -c 'write -P 0x46 1000 3000' -c flush " +
        Q(server.uri()));
    EXPECT_EQ(server.Stop(), 0) << server.Stderr();
  }
  for (size_t i = 0; i + 1 < chain.size(); ++i) {
    EXPECT_EQ(testing::ReadBinaryFile(chain[i]), parents[i]) << chain[i] << " changed";
  }
  std::string out;
  EXPECT_EQ(Hvdisk("check " + Q(chain.back()), &out), 0) << out;
  ASSERT_OK_AND_ASSIGN(auto d, disk::Open(DefaultFileSystem(), chain.back(), {}));
  std::vector<std::byte> got(4 * kMiB);
  ASSERT_OK(d->Read(0, got));
  auto all = [&](uint64_t off, uint64_t len, std::byte b) {
    return std::all_of(got.begin() + off, got.begin() + off + len,
                       [&](std::byte x) { return x == b; });
  };
  EXPECT_TRUE(all(0, 1000, std::byte{0x44}));
  EXPECT_TRUE(all(1000, 3000, std::byte{0x46}));
  EXPECT_TRUE(all(4000, kMiB - 4000, std::byte{0x44}));
  EXPECT_TRUE(all(3 * kMiB, 4096, std::byte{0x45}));
  std::vector<std::byte> zeroed(kMiB);
  ASSERT_OK(d->Read(20 * kMiB, zeroed));
  EXPECT_TRUE(
      std::all_of(zeroed.begin(), zeroed.end(), [](std::byte x) { return x == std::byte{0}; }));
  ASSERT_OK(d->Close());
  const std::string script = dir_.File("dump.py"), dump = dir_.File("pyvhdi.raw");
  testing::WriteBinaryFile(
      script, std::vector<std::byte>(
                  reinterpret_cast<const std::byte*>(kPyvhdiDump),
                  reinterpret_cast<const std::byte*>(kPyvhdiDump) + std::strlen(kPyvhdiDump)));
  std::string files;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) files += " " + Q(*it);
  ASSERT_EQ(testing::RunCommand("/usr/bin/python3 " + Q(script) + " " + Q(dump) + files, &out), 0)
      << "pyvhdi (Debian's python3-libvhdi) must open the leaf: " << out;
  EXPECT_EQ(Digest(dump), Digest(chain.back()));
}

// A replica store with VM "vm1" failed over to its only recovery point.
class NbdVmInterop : public NbdInterop {
 protected:
  void SetUp() override {
    NbdInterop::SetUp();
    HvdiskOut("create --block-size 1M " + Q(dir_.File("base.vhdx")) + " 64M");
    HvdiskOut("store create " + Q(store_));
    const std::string id = HvdiskOut(Vm("create vm1 --base " + Q(dir_.File("base.vhdx"))));
    vm_ = Guid::Parse(id.substr(0, 36)).value_or(Guid());
    HvdiskOut(Vm("checkpoint vm1"));
    HvdiskOut(Vm("failover vm1"));
  }
  std::string Vm(const std::string& args) { return "vm --store " + Q(store_) + " " + args; }
  Json Show() { return Json::parse(HvdiskOut(Vm("show --json vm1"))); }
  std::string store_ = dir_.File("store");
  Guid vm_;
};

TEST_F(NbdVmInterop, RevertOfAServedVmIs32774InUseUntilTheExportStops) {
  Server server(dir_, "vm");
  ASSERT_TRUE(server.StartHvdisk(Vm("serve vm1")));
  EXPECT_EQ(server.Stdout(), server.uri() + "\n");
  const Json served = Show();
  ASSERT_TRUE(served.contains("served")) << served.dump();
  EXPECT_EQ(served["served"].value("uri", ""), server.uri());
  EXPECT_EQ(served["served"].value("pid", 0), server.ServerPid());
  EXPECT_THAT(HvdiskOut(Vm("show vm1")), HasSubstr("served:   " + server.uri()));

  std::string out;
  EXPECT_EQ(Hvdisk(Vm("revert vm1"), &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("in use: "));
  EXPECT_THAT(out, HasSubstr(server.uri()));
  EXPECT_EQ(Hvdisk("wmi --store " + Q(store_) + " invoke Msvm_ReplicationService.RevertFailover " +
                       Q("ComputerSystem=" + ops::wmi::ComputerSystemPath(vm_)) + " --wait",
                   &out),
            1);
  EXPECT_THAT(out, HasSubstr("ReturnValue : 32774"));
  EXPECT_EQ(Hvdisk(Vm("commit vm1"), &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("in use: "));

  EXPECT_EQ(server.Stop(), 0) << server.Stderr();
  EXPECT_FALSE(Show().contains("served"));
  EXPECT_EQ(access(server.socket().c_str(), F_OK), -1) << "hvdisk serve removes its socket";
  EXPECT_EQ(Hvdisk(Vm("revert vm1"), &out), 0) << out;
}

TEST_F(NbdVmInterop, AReplicatingVmIsNotServed) {
  HvdiskOut(Vm("revert vm1"));
  std::string out;
  EXPECT_EQ(Hvdisk(Vm("serve vm1 --socket " + Q(dir_.File("s.sock")) + " --foreground"), &out), 1);
  EXPECT_THAT(out, HasSubstr("invalid state: "));
  EXPECT_THAT(out, HasSubstr("3 Replicating"));
}

TEST_F(NbdVmInterop, ASigkilledServerLeavesNoStaleServedMark) {
  Server server(dir_, "vm");
  ASSERT_TRUE(server.StartHvdisk(Vm("serve vm1")));
  ASSERT_TRUE(Show().contains("served"));
  EXPECT_NE(server.KillServer(), 0);
  EXPECT_FALSE(Show().contains("served")) << "the mark died with the server";
  Server again(dir_, "vm");  // the same socket path, left behind by the killed nbdkit
  ASSERT_TRUE(again.StartHvdisk(Vm("serve vm1")));
  EXPECT_EQ(Show()["served"].value("pid", 0), again.ServerPid());
  EXPECT_EQ(again.Stop(), 0) << again.Stderr();
  std::string out;
  EXPECT_EQ(Hvdisk(Vm("revert vm1"), &out), 0) << out;
}

// Without --foreground nbdkit forks into the background: the VM's locks, taken before the fork,
// must outlive nbdkit's parent (which exits through exit()) and go with the server.
TEST_F(NbdVmInterop, ABackgroundServerHoldsTheVmUntilItsPidIsKilled) {
  const std::string socket = dir_.File("bg.sock"), pid_file = dir_.File("bg.pid");
  struct StopServer {  // whatever fails below, no server is left behind
    const std::string& pid_file;
    bool stopped = false;
    ~StopServer() {
      if (stopped) return;
      const std::string text = testing::AsString(testing::ReadBinaryFile(pid_file));
      if (!text.empty() && std::stol(text) > 0) kill(static_cast<pid_t>(std::stol(text)), SIGKILL);
    }
  } stop{pid_file};
  std::string out;
  ASSERT_EQ(
      Hvdisk(Vm("serve vm1 --socket " + Q(socket) + " --pid-file " + Q(pid_file)), &out, false), 0);
  EXPECT_EQ(out, "nbd+unix:///?socket=" + socket + "\n");
  const pid_t pid =
      static_cast<pid_t>(std::stol(testing::AsString(testing::ReadBinaryFile(pid_file))));
  ASSERT_GT(pid, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // nbdkit's parent is gone
  EXPECT_EQ(Show()["served"].value("pid", 0), pid);
  EXPECT_EQ(Hvdisk(Vm("revert vm1"), &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("in use: "));
  MustRun("nbdinfo --size " + Q("nbd+unix:///?socket=" + socket));
  kill(pid, SIGTERM);
  for (int i = 0; i < 1000 && kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_NE(kill(pid, 0), 0) << "nbdkit did not stop on SIGTERM";
  stop.stopped = true;
  unlink(socket.c_str());
  EXPECT_FALSE(Show().contains("served"));
  EXPECT_EQ(Hvdisk(Vm("revert vm1"), &out), 0) << out;
}

// A libnbd client writing 4 KiB patterns at distinct offsets, flushing every 8 writes, until the
// server dies under it.
struct WriteStorm {
  static std::vector<std::byte> Data(uint64_t i) { return testing::PatternBytes(4096, 5000 + i); }
  static uint64_t Offset(uint64_t i) { return i * 12288 + (i % 3) * 512; }
  static constexpr uint64_t kMaxWrites = 5000;  // distinct offsets within 64 MiB

  // Returns how many writes (from the first) an acknowledged flush covers.
  static uint64_t Run(const std::string& uri, std::atomic<uint64_t>* written) {
    nbd_handle* nbd = nbd_create();
    if (nbd == nullptr || nbd_connect_uri(nbd, uri.c_str()) == -1) {
      ADD_FAILURE() << "libnbd: " << nbd_get_error();
      if (nbd != nullptr) nbd_close(nbd);
      return 0;
    }
    uint64_t durable = 0;
    for (uint64_t i = 0; i < kMaxWrites; ++i) {
      const std::vector<std::byte> data = Data(i);
      if (nbd_pwrite(nbd, data.data(), data.size(), Offset(i), 0) == -1) break;
      written->store(i + 1);
      if ((i + 1) % 8 == 0) {
        if (nbd_flush(nbd, 0) == -1) break;
        durable = i + 1;
      }
    }
    nbd_close(nbd);
    return durable;
  }
};

TEST_F(NbdInterop, ASigkillDuringAWriteStormLeavesACleanLeafHoldingEveryWriteBeforeTheLastFlush) {
  const std::vector<std::string> chain = MakeChain(2);
  Server server(dir_, "storm");
  ASSERT_TRUE(server.StartHvdisk("serve " + Q(chain.back())));
  std::atomic<uint64_t> written{0};
  std::thread killer([&] {
    while (written.load() < 600) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    kill(server.ServerPid(), SIGKILL);
  });
  const uint64_t durable = WriteStorm::Run(server.uri(), &written);
  killer.join();
  EXPECT_NE(server.KillServer(), 0);
  ASSERT_GE(durable, 600u - 8) << "the storm was acknowledged up to the kill";
  ASSERT_LT(written.load(), WriteStorm::kMaxWrites) << "the server died during the storm";
  std::string out;
  const int check = Hvdisk("check " + Q(chain.back()), &out);
  EXPECT_TRUE(check == 0 || check == 3) << "no corruption; at most space reserved past the last "
                                           "object (leaked), which the next writable open trims\n"
                                        << out;
  {  // the next server's open replays the log and trims the reserve
    ASSERT_OK_AND_ASSIGN(auto d, disk::Open(DefaultFileSystem(), chain.back(), {.writable = true}));
    ASSERT_OK(d->Close());
  }
  EXPECT_EQ(Hvdisk("check " + Q(chain.back()), &out), 0) << out;
  ASSERT_OK_AND_ASSIGN(auto d, disk::Open(DefaultFileSystem(), chain.back(), {}));
  std::vector<std::byte> got(4096);
  for (uint64_t i = 0; i < durable; ++i) {
    ASSERT_OK(d->Read(WriteStorm::Offset(i), got));
    ASSERT_EQ(got, WriteStorm::Data(i)) << "write " << i << " of " << durable << " flushed";
  }
}

}  // namespace
}  // namespace hvdisk
