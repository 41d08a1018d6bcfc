// convert --salvage against a real read error: the source VHDX is served through nbdkit (a shell
// plugin that fails with EIO every read touching one 4 KiB range of the file) and mounted as a
// file with nbdfuse, so the kernel returns EIO to hvdisk's reads in the middle of a block. What
// reads is copied, the unreadable range becomes zeros and is reported (JSON), the exit code is 0.
// Fails (never skips) without nbdkit or nbdfuse (libnbd-bin).
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

extern char** environ;

namespace hvdisk {
namespace {

using testing::Q;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kBadStart = 5 * kMiB + 4096;  // block 5 lies at 5 MiB of the file

// nbdkit's sh plugin: get_size and pread of the file beside it, EIO for [BAD_START, BAD_END).
constexpr const char* kPlugin = R"(#!/bin/bash
F=$(dirname "$0")/s.vhdx
case "$1" in
  get_size) stat -c %s "$F" ;;
  pread) if [ "$4" -lt "$BAD_END" ] && [ $(($4 + $3)) -gt "$BAD_START" ]; then
           echo "EIO bad sector" >&2; exit 1
         fi
         dd if="$F" skip="$4" count="$3" iflag=skip_bytes,count_bytes status=none ;;
  can_write) exit 3 ;;
  *) exit 2 ;;
esac
)";

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// nbdfuse serving `dir`/s.vhdx at `dir`/mnt/s.vhdx, read-only; stopped (and waited for) on
// destruction.
class FailingMount {
 public:
  explicit FailingMount(const std::string& dir) : dir_(dir) {
    std::ofstream(dir + "/p.sh") << kPlugin;
    chmod((dir + "/p.sh").c_str(), 0755);
    mkdir((dir + "/mnt").c_str(), 0755);
    setenv("BAD_START", std::to_string(kBadStart).c_str(), 1);
    setenv("BAD_END", std::to_string(kBadStart + 4096).c_str(), 1);
    const std::string mount = dir + "/mnt/s.vhdx", plugin = dir + "/p.sh";
    const char* argv[] = {"nbdfuse", "-r", mount.c_str(),  "--command", "nbdkit",
                          "-s",      "sh", plugin.c_str(), nullptr};
    if (posix_spawnp(&pid_, "nbdfuse", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) {
      pid_ = -1;
    }
  }
  ~FailingMount() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::string out;
    (void)testing::RunCommand("umount " + Q(dir_ + "/mnt") + " 2>/dev/null", &out);
  }
  // Waits up to 10 s for the mounted file.
  bool Ready() const {
    struct stat st;
    for (int i = 0; i < 100 && pid_ > 0; ++i) {
      if (stat((dir_ + "/mnt/s.vhdx").c_str(), &st) == 0 && S_ISREG(st.st_mode)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  std::string file() const { return dir_ + "/mnt/s.vhdx"; }

 private:
  std::string dir_;
  pid_t pid_ = -1;
};

TEST(SalvageInterop, AReadErrorInTheMiddleOfABlockLosesOnlyThatRangeWhichIsReported) {
  testing::TempDir dir;
  const std::string src = dir.File("s.vhdx"), dst = dir.File("out.vhdx"), raw = dir.File("o.raw");
  std::string out;
  ASSERT_EQ(testing::Hvdisk("create --block-size 1M " + Q(src) + " 8M", &out), 0) << out;
  ASSERT_EQ(testing::Hvdisk("write " + Q(src) + " 0 --pattern 0x11 --length 1M", &out), 0);
  ASSERT_EQ(testing::Hvdisk("write " + Q(src) + " 5M --pattern 0x55 --length 8K", &out), 0);
  ASSERT_EQ(Slurp(src).substr(3 * kMiB + 40, 8), std::string("\x06\x00\x50\x00\x00\x00\x00\x00", 8))
      << "block 5 is expected at 5 MiB of the file";
  FailingMount mount(dir.path());
  ASSERT_TRUE(mount.Ready()) << "nbdfuse and nbdkit are needed (libnbd-bin, nbdkit)";
  EXPECT_NE(testing::Hvdisk("convert " + Q(mount.file()) + " " + Q(dir.File("plain.vhdx")), &out),
            0)
      << "without --salvage the read error stops the copy: " << out;
  std::string json;
  ASSERT_EQ(
      testing::Hvdisk("convert --salvage --json " + Q(mount.file()) + " " + Q(dst), &json, false),
      0)
      << json;
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << json;
  ASSERT_EQ(j["lost"].size(), 1u) << json;
  EXPECT_EQ(j["lost"][0]["offset"], 5 * kMiB + 4096);
  EXPECT_EQ(j["lost"][0]["length"], 4096);
  EXPECT_EQ(j["lost"][0]["reason"], "unreadable");
  ASSERT_EQ(testing::Hvdisk("convert -O raw " + Q(dst) + " " + Q(raw), &out), 0) << out;
  const std::string data = Slurp(raw);
  ASSERT_EQ(data.size(), 8 * kMiB);
  EXPECT_EQ(data.substr(0, kMiB), std::string(kMiB, '\x11'));
  EXPECT_EQ(data.substr(5 * kMiB, 4096), std::string(4096, '\x55'));
  EXPECT_EQ(data.substr(5 * kMiB + 4096, 4096), std::string(4096, '\0')) << "the lost range";
}

}  // namespace
}  // namespace hvdisk
