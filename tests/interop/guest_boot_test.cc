// A real guest runs on a failed-over VM: qemu-system-x86_64 (TCG, no KVM needed) boots Debian's
// cloud kernel with a busybox initramfs from `hvdisk vm serve` of the VM's failover disk, over
// NBD on a unix socket; the guest's /init writes a marker into its ext4 root and powers off. The
// marker is then in the failover disk, RevertFailover discards it, and every recovery point's
// digest is what it was before the failover.
//
// The guest is built by tests/interop/guest.sh from Debian packages: `apt-get download` of the
// kernel (kept under the build tree, so reruns do not fetch it again), busybox-static, and an ext4
// root made by `mkfs.ext4 -d` (no root, no loop device). These tests FAIL (never skip) when a
// peer is missing or apt cannot fetch the kernel.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "ops/change_set.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using ::testing::HasSubstr;
using testing::Q;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kRootSize = 32 * kMiB;  // the ext4 filesystem
constexpr uint64_t kDiskSize = 40 * kMiB;  // the VM's disk: the filesystem, then 8 MiB past it

std::string GuestScript() { return HVDISK_SOURCE_DIR "/tests/interop/guest.sh"; }
std::string KernelCache() { return HVDISK_BINARY_DIR "/tests/guest-kernel"; }

// A process started by the test, stopped (SIGKILL, reaped) when the test ends early.
struct ServerGuard {
  int pid = -1;
  ~ServerGuard() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      testing::WaitForExit(pid);
    }
  }
};

// The replicated writes that carry `image` onto an empty disk: its non-zero 64 KiB chunks.
std::vector<ops::ChangeExtent> NonZeroChunks(const std::vector<std::byte>& image) {
  constexpr size_t kChunk = 64 << 10;
  std::vector<ops::ChangeExtent> out;
  for (size_t off = 0; off < image.size(); off += kChunk) {
    std::span<const std::byte> chunk(image.data() + off, std::min(kChunk, image.size() - off));
    bool zero = true;
    for (std::byte b : chunk) zero = zero && b == std::byte{0};
    if (!zero) out.push_back({off, chunk});
  }
  return out;
}

void WriteChangeSet(const std::string& path, std::span<const ops::ChangeExtent> extents) {
  const std::string set = ops::EncodeChangeSet(extents, kDiskSize);
  const auto* p = reinterpret_cast<const std::byte*>(set.data());
  testing::WriteBinaryFile(path, std::vector<std::byte>(p, p + set.size()));
}

class GuestBootTest : public ::testing::Test {
 protected:
  int Vm(const std::string& args) {
    out_.clear();
    return testing::Hvdisk("vm --store " + Q(store_) + " " + args, &out_);
  }
  nlohmann::json Show() {
    std::string json;
    EXPECT_EQ(testing::Hvdisk("vm --store " + Q(store_) + " show --json guest", &json, false), 0)
        << json;
    return nlohmann::json::parse(json, nullptr, false);
  }
  // A disk of the VM, by the name `vm show` gives (`attached` names its directory in the store).
  std::string DiskPath(const std::string& name) { return disks_ + "/" + name; }
  std::string Digest(const std::string& path) {
    std::string json;
    EXPECT_EQ(testing::Hvdisk("digest --json " + Q(path), &json, false), 0) << json;
    auto j = nlohmann::json::parse(json, nullptr, false);
    return j.is_object() ? j.value("digest", "") : "";
  }
  // Every recovery point's name and digest.
  std::vector<std::pair<std::string, std::string>> PointDigests() {
    std::vector<std::pair<std::string, std::string>> out;
    const nlohmann::json vm = Show();
    for (const auto& rp : vm["recovery_points"]) {
      out.emplace_back(rp["name"], Digest(DiskPath(rp["file"])));
    }
    return out;
  }

  // The guest's kernel (fetched once per build tree) and a fresh ext4 root in the temp dir.
  void BuildGuest();
  // A store with the VM `guest`: the root image replicated onto an empty base (rp-0001), then
  // 1 MiB past the filesystem (rp-0002).
  void ReplicateGuest();
  // `hvdisk vm serve guest` on a unix socket until the socket is there; returns the NBD URI.
  std::string Serve(ServerGuard* server);

  testing::TempDir tmp_;
  std::string store_ = tmp_.File("store"), root_ = tmp_.File("root.img"), vm_, disks_, out_;
  std::vector<std::byte> tail_ = testing::PatternBytes(kMiB, 17);
};

void GuestBootTest::BuildGuest() {
  std::string out;
  ASSERT_EQ(testing::RunCommand(GuestScript() + " kernel " + Q(KernelCache()), &out), 0)
      << "could not prepare the guest's kernel (Debian's linux-image-cloud-amd64 through "
         "`apt-get download`): "
      << out;
  ASSERT_EQ(testing::RunCommand(GuestScript() + " root " + Q(root_) + " 32M", &out), 0) << out;
  struct stat st {};
  ASSERT_EQ(stat(root_.c_str(), &st), 0);
  ASSERT_EQ(uint64_t(st.st_size), kRootSize);
}

void GuestBootTest::ReplicateGuest() {
  ASSERT_EQ(testing::Hvdisk("store create " + Q(store_), &out_), 0) << out_;
  const std::string base = tmp_.File("base.vhdx");
  ASSERT_EQ(testing::Hvdisk("create --type dynamic --block-size 1M " + Q(base) + " 40M", &out_), 0)
      << out_;
  ASSERT_EQ(Vm("create guest --base " + Q(base)), 0) << out_;
  vm_ = out_.substr(0, 36);
  disks_ = store_ + "/" + std::filesystem::path(Show()["attached"]).parent_path().string();
  const std::vector<std::byte> image = testing::ReadBinaryFile(root_);
  WriteChangeSet(tmp_.File("root.hvchg"), NonZeroChunks(image));
  ASSERT_EQ(Vm("apply guest " + Q(tmp_.File("root.hvchg"))), 0) << out_;
  ASSERT_EQ(Vm("checkpoint guest"), 0) << out_;
  std::vector<ops::ChangeExtent> past{{kDiskSize - 2 * kMiB, tail_}};
  WriteChangeSet(tmp_.File("tail.hvchg"), past);
  ASSERT_EQ(Vm("apply guest " + Q(tmp_.File("tail.hvchg"))), 0) << out_;
  ASSERT_EQ(Vm("checkpoint guest"), 0) << out_;
}

std::string GuestBootTest::Serve(ServerGuard* server) {
  const std::string socket = tmp_.File("nbd.sock");
  server->pid = testing::SpawnHvdisk(
      {"vm", "--store", store_, "serve", "guest", "--socket", socket, "--foreground"},
      tmp_.File("serve.log"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  struct stat st {};
  int status = 0;
  while (stat(socket.c_str(), &st) != 0 && std::chrono::steady_clock::now() < deadline) {
    if (waitpid(server->pid, &status, WNOHANG) == server->pid) {
      server->pid = -1;
      ADD_FAILURE() << "`hvdisk vm serve` exited before it served (status " << status << ")";
      return "";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(S_ISSOCK(st.st_mode)) << "no NBD socket from `hvdisk vm serve` within 30 s";
  return "nbd+unix:///?socket=" + socket;
}

TEST_F(GuestBootTest, AFailedOverVmBootsFromVmServeAndRevertDiscardsWhatTheGuestWrote) {
  ASSERT_NO_FATAL_FAILURE(BuildGuest());
  ASSERT_NO_FATAL_FAILURE(ReplicateGuest());
  // rp-0001 holds the root image exactly: a raw copy padded to the disk's size digests alike.
  ASSERT_EQ(testing::RunCommand("cp " + Q(root_) + " " + Q(tmp_.File("padded.img")) +
                                    " && truncate -s 40M " + Q(tmp_.File("padded.img")),
                                &out_),
            0)
      << out_;
  const auto before = PointDigests();
  ASSERT_EQ(before.size(), 2u);
  EXPECT_EQ(before[0].second, Digest(tmp_.File("padded.img")));
  EXPECT_NE(before[0].second, before[1].second);

  ASSERT_EQ(Vm("failover guest"), 0) << out_;
  const std::string failover = DiskPath(Show()["failover_disk"]);
  const std::string marker = "booted-" + vm_.substr(0, 8);
  {
    ServerGuard server;
    const std::string uri = Serve(&server);
    ASSERT_FALSE(HasFailure()) << testing::AsString(
        testing::ReadBinaryFile(tmp_.File("serve.log")));
    const auto t0 = std::chrono::steady_clock::now();
    std::string console;
    const int booted = testing::RunCommand(
        GuestScript() + " boot " + Q(KernelCache()) + " " + Q(uri) + " " + marker + " 120",
        &console);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(booted, 0) << console << "\nserver: "
                         << testing::AsString(testing::ReadBinaryFile(tmp_.File("serve.log")));
    std::printf("guest: booted from `hvdisk vm serve` to power-off in %.1f s\n", secs);
    ASSERT_EQ(kill(server.pid, SIGTERM), 0);
    EXPECT_EQ(testing::WaitForExit(server.pid), 0) << "`hvdisk vm serve` stops cleanly on SIGTERM";
    server.pid = -1;
  }

  // The marker is in the failover disk, which checks clean; the recovery points did not change.
  EXPECT_EQ(testing::Hvdisk("check " + Q(failover), &out_), 0) << out_;
  const std::string flat = tmp_.File("failover.raw");
  ASSERT_EQ(testing::Hvdisk("convert --output-format raw " + Q(failover) + " " + Q(flat), &out_), 0)
      << out_;
  std::string cat;
  ASSERT_EQ(
      testing::RunCommand("debugfs -R 'cat /marker' " + Q(flat) + " 2>/dev/null", &cat, false), 0)
      << cat;
  EXPECT_EQ(cat, marker + "\n");
  EXPECT_EQ(PointDigests(), before);

  // RevertFailover discards the failover disk and with it the marker; the points are unchanged.
  ASSERT_EQ(Vm("revert guest"), 0) << out_;
  EXPECT_EQ(Show()["state"], 3);
  EXPECT_EQ(Show()["failover_disk"], "");
  EXPECT_FALSE(std::filesystem::exists(failover));
  EXPECT_EQ(PointDigests(), before);
  const std::string latest = tmp_.File("latest.raw");
  ASSERT_EQ(testing::Hvdisk("convert --output-format raw " +
                                Q(store_ + "/" + std::string(Show()["attached"])) + " " + Q(latest),
                            &out_),
            0)
      << out_;
  cat.clear();
  testing::RunCommand("debugfs -R 'cat /marker' " + Q(latest), &cat);
  EXPECT_THAT(cat, HasSubstr("File not found by ext2_lookup"));
  EXPECT_EQ(testing::Hvdisk("store check " + Q(store_), &out_), 0) << out_;
}

}  // namespace
}  // namespace hvdisk
