// docs/replication.md's live protocol, run as the page writes it: qemu-storage-daemon owns a
// qcow2 primary and takes the QMP commands (bitmap generations in a transaction, NBD exports with
// `bitmaps`, fleecing, removal after the checkpoint), the guest's writes go through a writable
// export with qemu-io, and `hvdisk vm replicate` runs each cycle. The daemon is started by the
// test on unix sockets in its temp dir and stopped by pid.
//
// FAILS (never skips) when qemu-storage-daemon, qemu-img or qemu-io is missing.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

extern char** environ;

namespace hvdisk {
namespace {

using testing::Hvdisk;
using testing::Q;
using Json = nlohmann::json;

std::string MustRun(const std::string& command) {
  std::string out;
  EXPECT_EQ(testing::RunCommand(command, &out, false), 0) << command << "\n" << out;
  return out;
}

std::string HvdiskOut(const std::string& args) {
  std::string out;
  EXPECT_EQ(Hvdisk(args, &out, false), 0) << "hvdisk " << args << "\n" << out;
  return out;
}

// qemu-storage-daemon serving `image` as node disk0, its QMP monitor on `qmp`; killed by pid.
class Daemon {
 public:
  Daemon(const std::string& image, const std::string& qmp, const std::string& log) {
    const std::vector<std::string> args = {"qemu-storage-daemon",
                                           "--blockdev",
                                           "driver=file,node-name=file0,filename=" + image,
                                           "--blockdev",
                                           "driver=qcow2,node-name=disk0,file=file0",
                                           "--chardev",
                                           "socket,path=" + qmp + ",server=on,wait=off,id=qmp0",
                                           "--monitor",
                                           "chardev=qmp0"};
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Daemon() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  // Waits for the daemon to end (after `quit`); its exit status.
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
};

// A QMP connection: one JSON object per line; events are skipped.
class Qmp {
 public:
  explicit Qmp(const std::string& path) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    while (std::chrono::steady_clock::now() < deadline) {
      fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) break;
      close(fd_);
      fd_ = -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (fd_ < 0) return;
    timeval tv{.tv_sec = 30, .tv_usec = 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)Line();  // the greeting
    (void)Cmd("qmp_capabilities");
  }
  ~Qmp() {
    if (fd_ >= 0) close(fd_);
  }
  bool connected() const { return fd_ >= 0; }

  // Sends one command; its reply ({"return": ...} or {"error": ...}).
  Json Cmd(const std::string& name, const Json& args = Json::object()) {
    const std::string line = Json{{"execute", name}, {"arguments", args}}.dump() + "\n";
    if (write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return {};
    for (;;) {
      Json reply = Json::parse(Line(), nullptr, false);
      if (!reply.is_object()) return {};
      if (!reply.contains("event")) return reply;
    }
  }
  // A command that must succeed.
  void Ok(const std::string& name, const Json& args = Json::object()) {
    const Json reply = Cmd(name, args);
    EXPECT_TRUE(reply.contains("return")) << name << " " << args.dump() << " -> " << reply.dump();
  }

 private:
  std::string Line() {
    std::string line;
    char c = 0;
    while (read(fd_, &c, 1) == 1 && c != '\n') line.push_back(c);
    return line;
  }
  int fd_ = -1;
};

Json Bitmap(const std::string& name) {
  return {{"node", "disk0"}, {"name", name}, {"persistent", true}};
}

Json Action(const std::string& type, const Json& data) { return {{"type", type}, {"data", data}}; }

struct Primary {
  testing::TempDir& dir;
  std::string uri(const std::string& name) const {
    return "nbd+unix:///" + name + "?socket=" + dir.File("nbd.sock");
  }
  // The guest writes `length` bytes of `pattern` at `offset` through the writable export.
  void Write(uint64_t offset, uint64_t length, int pattern) const {
    MustRun("qemu-io -f raw -c " +
            Q("write -P " + std::to_string(pattern) + " " + std::to_string(offset) + " " +
              std::to_string(length)) +
            " " + Q(uri("vm")));
  }
  // The digest of what an export reads (qemu-img convert to raw, then hvdisk digest).
  std::string Digest(const std::string& name) const {
    const std::string raw = dir.File(name + ".raw");
    unlink(raw.c_str());
    MustRun("qemu-img convert -f raw -O raw " + Q(uri(name)) + " " + Q(raw));
    const std::string digest =
        Json::parse(HvdiskOut("digest --json " + Q(raw))).value("digest", "");
    unlink(raw.c_str());
    return digest;
  }
};

struct Replica {
  std::string store;
  // One cycle with --checkpoint; the digest of the point it took.
  std::string Cycle(const std::string& uri, const std::string& bitmap) {
    std::string args = "vm --store " + Q(store) + " replicate vm1 --from " + Q(uri);
    if (!bitmap.empty()) args += " --bitmap " + bitmap;
    HvdiskOut(args + " --checkpoint --json");
    const Json vm = Json::parse(HvdiskOut("vm --store " + Q(store) + " show vm1 --json"));
    const std::string attached = vm.value("attached", "");
    const std::string disks = attached.substr(0, attached.rfind('/'));
    if (!vm.contains("recovery_points") || vm["recovery_points"].empty()) {
      ADD_FAILURE() << "the cycle took no recovery point: " << vm.dump();
      return "";
    }
    const std::string point = vm["recovery_points"].back().value("file", "");
    return Json::parse(HvdiskOut("digest --json " + Q(store + "/" + disks + "/" + point)))
        .value("digest", "");
  }
};

TEST(ReplicationProtocol, LiveCyclesOverQmpLoseNoWriteAndAFleecingPointIsOneInstant) {
  testing::TempDir dir;
  const std::string image = dir.File("vm.qcow2"), fleece = dir.File("fleece.qcow2");
  MustRun("qemu-img create -q -f qcow2 " + Q(image) + " 64M");
  MustRun("qemu-img create -q -f qcow2 " + Q(fleece) + " 64M");
  MustRun("qemu-io -f qcow2 -c 'write -P 17 0 4M' " + Q(image));
  Daemon daemon(image, dir.File("qmp.sock"), dir.File("qsd.log"));
  ASSERT_GT(daemon.pid(), 0) << "qemu-storage-daemon could not start (apt-get install qemu-utils)";
  Qmp qmp(dir.File("qmp.sock"));
  ASSERT_TRUE(qmp.connected()) << "no QMP monitor on " << dir.File("qmp.sock");
  Primary primary{dir};
  Replica replica{dir.File("store")};
  HvdiskOut("create " + Q(dir.File("base.vhdx")) + " 64M");
  HvdiskOut("store create " + Q(replica.store));
  HvdiskOut("vm --store " + Q(replica.store) + " create vm1 --base " + Q(dir.File("base.vhdx")) +
            " --adopt");

  // Once: generation b0, the NBD server (a writable export stands for the guest), the full sync.
  qmp.Ok("block-dirty-bitmap-add", Bitmap("b0"));
  qmp.Ok("nbd-server-start",
         {{"addr", {{"type", "unix"}, {"data", {{"path", dir.File("nbd.sock")}}}}}});
  qmp.Ok(
      "block-export-add",
      {{"type", "nbd"}, {"id", "vm"}, {"node-name", "disk0"}, {"name", "vm"}, {"writable", true}});
  qmp.Ok("block-export-add",
         {{"type", "nbd"}, {"id", "full"}, {"node-name", "disk0"}, {"name", "full"}});
  EXPECT_EQ(replica.Cycle(primary.uri("full"), ""), primary.Digest("full"));
  qmp.Ok("block-export-del", {{"id", "full"}, {"mode", "hard"}});

  // A fleecing cycle: the guest writes, the transaction starts b1, stops b0 and the backup job;
  // the guest writes again after that instant, and the point is the instant, not the later write.
  primary.Write(8 << 20, 1 << 20, 34);
  qmp.Ok("blockdev-add", {{"driver", "qcow2"},
                          {"node-name", "fleece"},
                          {"file", {{"driver", "file"}, {"filename", fleece}}},
                          {"backing", "disk0"}});
  qmp.Ok("transaction",
         {{"actions",
           {Action("block-dirty-bitmap-add", Bitmap("b1")),
            Action("block-dirty-bitmap-disable", {{"node", "disk0"}, {"name", "b0"}}),
            Action("blockdev-backup", {{"job-id", "fleecing"},
                                       {"device", "disk0"},
                                       {"target", "fleece"},
                                       {"sync", "none"}})}}});
  qmp.Ok("block-export-add", {{"type", "nbd"},
                              {"id", "pit"},
                              {"node-name", "fleece"},
                              {"name", "pit"},
                              {"bitmaps", {{{"node", "disk0"}, {"name", "b0"}}}}});
  const std::string instant = primary.Digest("pit");
  primary.Write(8 << 20, 64 << 10, 51);  // during the transfer: lands in b1
  primary.Write(30 << 20, 64 << 10, 52);
  EXPECT_EQ(primary.Digest("pit"), instant) << "the fleecing export moved with the guest";
  EXPECT_EQ(replica.Cycle(primary.uri("pit"), "b0"), instant);
  qmp.Ok("block-export-del", {{"id", "pit"}, {"mode", "hard"}});
  qmp.Ok("block-job-cancel", {{"device", "fleecing"}});
  qmp.Ok("blockdev-del", {{"node-name", "fleece"}});
  qmp.Ok("block-dirty-bitmap-remove", {{"node", "disk0"}, {"name", "b0"}});

  // A plain cycle with the guest idle: b1 holds the writes made during the last transfer, so the
  // point equals the primary now.
  qmp.Ok("transaction",
         {{"actions",
           {Action("block-dirty-bitmap-add", Bitmap("b2")),
            Action("block-dirty-bitmap-disable", {{"node", "disk0"}, {"name", "b1"}})}}});
  qmp.Ok("block-export-add", {{"type", "nbd"},
                              {"id", "inc"},
                              {"node-name", "disk0"},
                              {"name", "inc"},
                              {"bitmaps", {"b1"}}});
  EXPECT_EQ(replica.Cycle(primary.uri("inc"), "b1"), primary.Digest("inc"));
  qmp.Ok("block-export-del", {{"id", "inc"}, {"mode", "hard"}});
  qmp.Ok("block-dirty-bitmap-remove", {{"node", "disk0"}, {"name", "b1"}});

  // The daemon quits cleanly and the running generation is stored in the image.
  qmp.Ok("quit");
  const int status = daemon.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const std::string info = MustRun("qemu-img info --output=json " + Q(image));
  EXPECT_THAT(info, ::testing::HasSubstr("\"name\": \"b2\""));
  EXPECT_THAT(info, ::testing::Not(::testing::HasSubstr("\"name\": \"b1\"")));
}

}  // namespace
}  // namespace hvdisk
