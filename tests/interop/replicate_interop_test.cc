// `hvdisk vm replicate` against a real primary (issue 18): a qcow2 disk with persistent dirty
// bitmaps made by `qemu-img bitmap`, written by `qemu-io`, exported by `qemu-nbd -B` on a unix
// socket of the test's directory (started by the test, stopped by pid). A full sync, then three
// incremental cycles, each a new bitmap generation as qemu's protocol goes (export stopped, a new
// bitmap added, the old one disabled, the old one exported and pulled, then removed), each
// followed by a checkpoint whose content digest must equal the primary's at that instant and whose
// bytes moved must equal the dirty data (not the disk's size). Then SIGKILL of `hvdisk vm
// replicate` during cycles, 10 rounds at varied delays, from the NBD export, a raw file and a delta
// .avhdx: a kill never changes a point, and the resumed cycle converges. A missing peer (qemu-img,
// qemu-io, qemu-nbd) fails the test.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using Json = nlohmann::json;
using testing::Q;
constexpr uint64_t kMiB = 1 << 20;

void MustRun(const std::string& command) {
  std::string out;
  ASSERT_EQ(testing::RunCommand(command, &out), 0) << command << "\n" << out;
}

Json HvdiskJson(const std::string& args) {
  std::string out;
  const int rc = testing::Hvdisk(args, &out, false);
  EXPECT_EQ(rc, 0) << args << "\n" << out;
  return rc == 0 ? Json::parse(out, nullptr, false) : Json();
}

std::string Digest(const std::string& file) {
  return HvdiskJson("digest --json " + Q(file)).value("digest", "");
}

// qemu-nbd exporting `image` read-only (with `bitmap`'s dirty-bitmap context when not empty) on a
// unix socket, for up to 4 clients at once (a killed client may linger a moment); stopped by pid,
// its socket removed.
class QemuNbd {
 public:
  QemuNbd(const testing::TempDir& dir, const std::string& image, const std::string& format,
          const std::string& bitmap)
      : socket_(dir.File("nbd.sock")), uri_("nbd+unix:///?socket=" + socket_) {
    unlink(socket_.c_str());
    std::vector<std::string> args = {"qemu-nbd", "-r",   "-t", "-e",   "4",
                                     "-f",       format, "-k", socket_};
    if (!bitmap.empty()) args.insert(args.end(), {"-B", bitmap});
    args.push_back(image);
    pid_ = fork();
    if (pid_ == 0) {
      const int null_fd = open("/dev/null", O_WRONLY);
      dup2(null_fd, 1);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp("qemu-nbd", argv.data());
      _exit(127);
    }
    for (int i = 0; i < 1000 && access(socket_.c_str(), F_OK) != 0; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = 0;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(access(socket_.c_str(), F_OK), 0) << "qemu-nbd did not start (is qemu-utils there?)";
  }
  ~QemuNbd() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    unlink(socket_.c_str());
  }
  const std::string& uri() const { return uri_; }
  // SIGKILL: the server goes away without a word.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }

 private:
  std::string socket_, uri_;
  pid_t pid_ = 0;
};

class ReplicateInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = dir_.File("store");
    primary_ = dir_.File("primary.qcow2");
    const std::string base = dir_.File("base.vhdx");
    MustRun(Q(testing::HvdiskPath()) + " create --block-size 1M " + Q(base) + " 64M");
    MustRun(Q(testing::HvdiskPath()) + " store create " + Q(store_));
    MustRun(Q(testing::HvdiskPath()) + " vm --store " + Q(store_) + " create web --base " +
            Q(base));
    MustRun(Q(testing::HvdiskPath()) + " vm --store " + Q(store_) + " checkpoint web");
  }
  std::string Vm(const std::string& args) { return "vm --store " + Q(store_) + " " + args; }
  // One qemu-io run of `commands` on the primary (its enabled bitmaps record the writes).
  void QemuIo(const std::string& image, const std::string& format,
              const std::vector<std::string>& commands) {
    std::string cmd = "qemu-io -f " + format;
    for (const std::string& c : commands) cmd += " -c " + Q(c);
    MustRun(cmd + " " + Q(image));
  }
  std::string PrimaryDigest() {
    const std::string raw = dir_.File("primary.raw");
    unlink(raw.c_str());
    MustRun("qemu-img convert -f qcow2 -O raw " + Q(primary_) + " " + Q(raw));
    return Digest(raw);
  }
  std::string PointPath(const std::string& file) {
    std::string id = HvdiskJson(Vm("show --json web")).value("id", "");
    for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return store_ + "/vms/" + id + "/disks/" + file;
  }
  Json Points() { return HvdiskJson(Vm("show --json web"))["recovery_points"]; }
  // One cycle with --checkpoint --json; the JSON result.
  Json Replicate(const std::string& from, const std::string& bitmap) {
    return HvdiskJson(Vm("replicate web --json --checkpoint --from " + Q(from) +
                         (bitmap.empty() ? "" : " --bitmap " + bitmap)));
  }
  // Rounds of: `change` (the primary changes), a cycle started and SIGKILLed after a varied delay
  // (it may finish first), the points checked unchanged, the cycle run again, its point checked
  // against `digest()`.
  void KillRounds(int rounds, const std::function<std::vector<std::string>(int)>& change,
                  const std::function<std::string()>& digest,
                  const std::function<void(int)>& after = nullptr) {
    for (int round = 0; round < rounds; ++round) {
      SCOPED_TRACE("round " + std::to_string(round));
      const std::vector<std::string> words = change(round);  // --from (and --bitmap) words
      std::string args;
      for (const std::string& w : words) args += " " + Q(w);
      const Json before = Points();
      const std::string last = PointPath(before.back().value("file", ""));
      const std::string last_digest = Digest(last);
      std::vector<std::string> argv = {"vm", "--store", store_, "replicate", "web", "--checkpoint"};
      argv.insert(argv.end(), words.begin(), words.end());
      const int pid = testing::SpawnHvdisk(argv, dir_.File("kill.err"));
      std::this_thread::sleep_for(std::chrono::milliseconds(2 + (round * 17) % 60));
      kill(pid, SIGKILL);
      const int code = testing::WaitForExit(pid);
      const Json now = Points();
      EXPECT_TRUE(code == -SIGKILL || code == 0) << code;
      ASSERT_GE(now.size(), before.size());
      for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(now[i], before[i]);
      EXPECT_EQ(Digest(last), last_digest) << "a killed cycle changed a point";
      std::string out;
      ASSERT_EQ(testing::Hvdisk(Vm("replicate web --checkpoint --json" + args), &out), 0) << out;
      const Json r = Json::parse(out);
      EXPECT_EQ(Digest(PointPath(r["point"].value("file", ""))), digest());
      if (after) after(round);
    }
  }
  testing::TempDir dir_;
  std::string store_, primary_;
};

TEST_F(ReplicateInteropTest, QcowDirtyBitmapsFullSyncThenThreeIncrementalCyclesMatchThePrimary) {
  MustRun("qemu-img create -q -f qcow2 " + Q(primary_) + " 64M");
  QemuIo(primary_, "qcow2", {"write -P 0x11 0 4M", "write -P 0x22 20M 1M"});
  MustRun("qemu-img bitmap --add " + Q(primary_) + " b0");
  {
    QemuNbd nbd(dir_, primary_, "qcow2", "");
    const Json r = Replicate(nbd.uri(), "");
    EXPECT_EQ(r.value("bytes", 0ull), 5 * kMiB) << "a full sync moves the allocated data only";
    EXPECT_EQ(Digest(PointPath(r["point"].value("file", ""))), PrimaryDigest());
    std::string err;
    EXPECT_EQ(testing::Hvdisk(Vm("replicate web --bitmap nope --from " + Q(nbd.uri())), &err), 1);
    EXPECT_NE(err.find("exports no dirty bitmap nope"), std::string::npos) << err;
  }
  struct Cycle {
    std::vector<std::string> writes;
    uint64_t dirty_data;  // the dirty bytes that hold data (64 KiB granularity)
  };
  const Cycle cycles[] = {
      {{"write -P 0x33 1M 128K", "write -P 0x44 30M 2M"}, 128 * 1024 + 2 * kMiB},
      {{"write -P 0x55 0 64K", "write -z 20M 1M", "write -P 0x66 40M 512K"}, 576 * 1024},
      {{"write -P 0x77 63M 1M", "write -P 0x12 2M 64K"}, kMiB + 64 * 1024},
  };
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE("cycle " + std::to_string(i + 1));
    const std::string old_bitmap = "b" + std::to_string(i), next = "b" + std::to_string(i + 1);
    QemuIo(primary_, "qcow2", cycles[i].writes);
    MustRun("qemu-img bitmap --add " + Q(primary_) + " " + next);
    MustRun("qemu-img bitmap --disable " + Q(primary_) + " " + old_bitmap);
    {
      QemuNbd nbd(dir_, primary_, "qcow2", old_bitmap);
      const Json r = Replicate(nbd.uri(), old_bitmap);
      EXPECT_EQ(r.value("bytes", 0ull), cycles[i].dirty_data) << r.dump();
      EXPECT_EQ(r.value("bitmap", ""), old_bitmap);
      EXPECT_EQ(Digest(PointPath(r["point"].value("file", ""))), PrimaryDigest());
    }
    MustRun("qemu-img bitmap --remove " + Q(primary_) + " " + old_bitmap);
  }
  EXPECT_EQ(Points().size(), 5u) << "rp-0001 of the empty base, then four cycles";
}

TEST_F(ReplicateInteropTest, KilledNbdCyclesNeverChangeAPointAndTheResumedCycleConverges) {
  MustRun("qemu-img create -q -f qcow2 " + Q(primary_) + " 64M");
  QemuIo(primary_, "qcow2", {"write -P 0x01 0 8M"});
  MustRun("qemu-img bitmap --add " + Q(primary_) + " g0");
  {
    QemuNbd nbd(dir_, primary_, "qcow2", "");
    Replicate(nbd.uri(), "");
  }
  std::unique_ptr<QemuNbd> nbd;
  KillRounds(
      10,
      [&](int round) {
        const std::string old_bitmap = "g" + std::to_string(round);
        QemuIo(primary_, "qcow2",
               {"write -P " + std::to_string(round + 2) + " " + std::to_string(round % 3 * 20) +
                "M 8M"});
        MustRun("qemu-img bitmap --add " + Q(primary_) + " g" + std::to_string(round + 1));
        MustRun("qemu-img bitmap --disable " + Q(primary_) + " " + old_bitmap);
        nbd = std::make_unique<QemuNbd>(dir_, primary_, "qcow2", old_bitmap);
        return std::vector<std::string>{"--from", nbd->uri(), "--bitmap", old_bitmap};
      },
      [&] { return PrimaryDigest(); },
      [&](int round) {
        nbd.reset();
        MustRun("qemu-img bitmap --remove " + Q(primary_) + " g" + std::to_string(round));
      });
}

// The server killed while a full sync is writing the head (the cycle stopped there, the server
// killed, the cycle resumed): a clear error naming the source, the VM consistent with its points,
// and the next cycle completes it.
TEST_F(ReplicateInteropTest, ServerGoneMidCycleFailsClearlyAndTheNextCycleCompletesIt) {
  MustRun("qemu-img create -q -f qcow2 " + Q(primary_) + " 64M");
  QemuIo(primary_, "qcow2", {"write -P 0x21 0 48M"});
  const Json before = Points();
  auto nbd = std::make_unique<QemuNbd>(dir_, primary_, "qcow2", "");
  const std::string err = dir_.File("gone.err");
  const int pid = testing::SpawnHvdisk({"vm", "--store", store_, "replicate", "web", "--checkpoint",
                                        "--depth", "1", "--from", nbd->uri()},
                                       err);
  const std::string head = PointPath("head-0002.avhdx");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::filesystem::file_size(head) < (16u << 20) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  kill(pid, SIGSTOP);
  nbd->Kill();
  kill(pid, SIGCONT);
  EXPECT_EQ(testing::WaitForExit(pid), 1);
  const std::string text = testing::AsString(testing::ReadBinaryFile(err));
  EXPECT_NE(text.find("unavailable"), std::string::npos) << text;
  EXPECT_NE(text.find("start the NBD server that exports"), std::string::npos) << text;
  EXPECT_EQ(Points(), before) << "no point after a failed cycle";
  EXPECT_EQ(testing::Hvdisk("store check " + Q(store_)), 0);
  nbd.reset();  // before the next one starts: it removes its socket
  nbd = std::make_unique<QemuNbd>(dir_, primary_, "qcow2", "");
  const Json r = Replicate(nbd->uri(), "");
  EXPECT_EQ(r.value("bytes", 0ull), 48 * kMiB);
  EXPECT_EQ(Digest(PointPath(r["point"].value("file", ""))), PrimaryDigest());
}

TEST_F(ReplicateInteropTest, KilledCyclesFromARawFileNeverChangeAPointAndConverge) {
  const std::string raw = dir_.File("primary.img");
  MustRun("truncate -s 64M " + Q(raw));
  KillRounds(
      10,
      [&](int round) {
        QemuIo(raw, "raw",
               {"write -P " + std::to_string(round + 1) + " " + std::to_string(round % 4 * 12) +
                "M 8M"});
        return std::vector<std::string>{"--from", raw};
      },
      [&] { return Digest(raw); });
}

TEST_F(ReplicateInteropTest, KilledCyclesFromDeltaAvhdxFilesNeverChangeAPointAndConverge) {
  // The first delta's parent is the replica's content (an empty disk, as the base); each next
  // delta is made on the previous one, which the replica then holds.
  std::string parent = dir_.File("parent.vhdx");
  MustRun(Q(testing::HvdiskPath()) + " create --block-size 1M " + Q(parent) + " 64M");
  std::string delta;
  KillRounds(
      10,
      [&](int round) {
        delta = dir_.File("delta" + std::to_string(round) + ".avhdx");
        MustRun(Q(testing::HvdiskPath()) + " create --parent " + Q(parent) + " " + Q(delta));
        MustRun(Q(testing::HvdiskPath()) + " write " + Q(delta) + " " +
                std::to_string(round % 4 * 12 + 1) + "M --pattern " + std::to_string(round + 1) +
                " --length 8M");
        return std::vector<std::string>{"--from", delta};
      },
      [&] { return Digest(delta); }, [&](int) { parent = delta; });
}

}  // namespace
}  // namespace hvdisk
