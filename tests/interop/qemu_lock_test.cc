// Image locks against the real qemu (qemu-img 7.2, qemu-io): hvdisk and qemu see each other's
// opens (platform/image_lock.h, qemu's block/file-posix.c scheme). qemu-io holding an image runs
// as a background process reading its commands from a pipe, stopped by its pid.
//
// These tests FAIL (never skip) when qemu-img or qemu-io is missing.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "chain/chain.h"
#include "platform/file.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"
#include "vhdx/image.h"

namespace hvdisk {
namespace {

using ::testing::HasSubstr;
using testing::Hvdisk;
using testing::Q;
using vhdx::Image;

// `qemu-io ARGS FILE` kept alive: its stdin is a pipe we hold open; killed (SIGKILL) by its pid.
class QemuIo {
 public:
  QemuIo(const std::string& args, const std::string& file) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[0], 0);
      close(fds[0]);
      close(fds[1]);
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      const std::string cmd = "exec qemu-io " + args + " " + Q(file);
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[0]);
    stdin_ = fds[1];
  }
  ~QemuIo() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (stdin_ >= 0) close(stdin_);
  }
  // Waits (up to 10 s) until byte `byte` of `file` is locked by another open file: qemu-io has
  // opened the image and taken its locks.
  bool WaitLocked(const std::string& file, uint64_t byte) const {
    auto probe = DefaultFileSystem()->Open(file, OpenOptions::ReadOnly());
    if (!probe.ok()) return false;
    for (int i = 0; i < 1000; ++i) {
      Result<std::optional<RangeLock>> r = (*probe)->TestLock(byte, 1, LockMode::kExclusive);
      if (r.ok() && r->has_value()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
};

class QemuLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string out;
    ASSERT_EQ(testing::RunCommand("qemu-img --version && qemu-io --version", &out), 0)
        << "the interop suite needs qemu-utils installed\n"
        << out;
    img_ = dir_.File("disk.vhdx");
    ASSERT_OK(Image::Create(fs_, img_, {.virtual_size = 16 << 20, .block_size = 1 << 20}));
  }
  int Run(const std::string& command, std::string* out) {
    return testing::RunCommand(command, out);
  }

  testing::TempDir dir_;
  FileSystem* fs_ = DefaultFileSystem();
  std::string img_;
};

TEST_F(QemuLockTest, HvdiskHoldingAnImageWritableMakesQemuImgInfoAndQemuIoRefuseIt) {
  ASSERT_OK_AND_ASSIGN(auto image, Image::Open(fs_, img_, {.read_only = false}));
  std::string out;
  EXPECT_NE(Run("qemu-img info " + Q(img_), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("Failed to get shared \"write\" lock"));
  EXPECT_NE(Run("qemu-io -f vhdx -c 'write 0 4k' " + Q(img_), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("Failed to get \"write\" lock"));
  EXPECT_EQ(Run("qemu-img info -U " + Q(img_), &out), 0) << out;
  ASSERT_OK(image->Close());
  EXPECT_EQ(Run("qemu-img info " + Q(img_), &out), 0) << "closed: released\n" << out;
}

TEST_F(QemuLockTest, HvdiskReadingAnImageMakesQemuIoWritingRefuseItButNotQemuIoReading) {
  ASSERT_OK_AND_ASSIGN(auto image, Image::Open(fs_, img_, {.read_only = true}));
  std::string out;
  EXPECT_NE(Run("qemu-io -f vhdx -c 'write 0 4k' " + Q(img_), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("Failed to get \"write\" lock"));  // we do not share it
  EXPECT_EQ(Run("qemu-io -r -f vhdx -c 'read 0 4k' " + Q(img_), &out), 0) << out;
  EXPECT_EQ(Run("qemu-img info " + Q(img_), &out), 0) << out;
}

TEST_F(QemuLockTest, QemuIoHoldingAnImageForWritingMakesHvdiskOpensFailUnlessForceShared) {
  QemuIo qemu("-f vhdx", img_);
  ASSERT_TRUE(qemu.WaitLocked(img_, 101)) << "qemu-io did not take its write lock";
  auto writable = Image::Open(fs_, img_, {.read_only = false});
  EXPECT_CODE(writable, Code::kInUse);
  auto reader = Image::Open(fs_, img_, {.read_only = true});
  EXPECT_CODE(reader, Code::kInUse);
  EXPECT_THAT(reader.status().message(), HasSubstr("is in use by another process"));
  EXPECT_THAT(reader.status().message(), HasSubstr("-U/--force-share"));
  EXPECT_OK(Image::Open(fs_, img_, {.read_only = true, .force_share = true}).status());
  std::string out;
  EXPECT_EQ(Hvdisk("write " + Q(img_) + " 0 --pattern 7 --length 4K", &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("in use"));
  EXPECT_EQ(Hvdisk("info " + Q(img_), &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("in use"));
  EXPECT_EQ(Hvdisk("info -U " + Q(img_), &out), 0) << out;
  EXPECT_EQ(Hvdisk("check --force-share " + Q(img_), &out), 0) << out;
}

TEST_F(QemuLockTest, QemuIoReadingAnImageLetsHvdiskReadButNotWrite) {
  QemuIo qemu("-r -f vhdx", img_);
  ASSERT_TRUE(qemu.WaitLocked(img_, 201)) << "qemu-io -r did not take its locks";
  EXPECT_CODE(Image::Open(fs_, img_, {.read_only = false}), Code::kInUse);
  EXPECT_OK(Image::Open(fs_, img_, {.read_only = true}).status());
}

TEST_F(QemuLockTest, TwoHvdiskWritersExcludeEachOther) {
  ASSERT_OK_AND_ASSIGN(auto first, Image::Open(fs_, img_, {.read_only = false}));
  auto second = Image::Open(fs_, img_, {.read_only = false});
  EXPECT_CODE(second, Code::kInUse);
  EXPECT_THAT(second.status().message(), HasSubstr("it does not share \"write\""));
  std::string out;
  EXPECT_EQ(Hvdisk("write " + Q(img_) + " 0 --pattern 7 --length 4K", &out), 1) << out;
  first.reset();
  EXPECT_EQ(Hvdisk("write " + Q(img_) + " 0 --pattern 7 --length 4K", &out), 0) << out;
}

TEST_F(QemuLockTest, TheParentsOfAChainAreSharedByReadersAndChainsButNotByWriters) {
  const std::string a = dir_.File("a.avhdx"), b = dir_.File("b.avhdx");
  std::string out;
  ASSERT_EQ(Hvdisk("create -p " + Q(img_) + " " + Q(a), &out), 0) << out;
  ASSERT_EQ(Hvdisk("create -p " + Q(img_) + " " + Q(b), &out), 0) << out;
  ASSERT_OK_AND_ASSIGN(auto chain_a, chain::Chain::Open(fs_, a, {.writable_leaf = true}));
  ASSERT_OK_AND_ASSIGN(auto chain_b, chain::Chain::Open(fs_, b, {.writable_leaf = true}));
  EXPECT_EQ(Run("qemu-img info " + Q(img_), &out), 0) << out;
  EXPECT_EQ(Run("qemu-io -r -f vhdx -c 'read 0 4k' " + Q(img_), &out), 0) << out;
  EXPECT_NE(Run("qemu-io -f vhdx -c 'write 0 4k' " + Q(img_), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("Failed to get \"write\" lock"));
  EXPECT_CODE(Image::Open(fs_, img_, {.read_only = false}), Code::kInUse);
  EXPECT_NE(Run("qemu-img info " + Q(a), &out), 0) << "a's leaf is written\n" << out;
}

TEST_F(QemuLockTest, AChainDoesNotOpenOverAParentQemuWrites) {
  const std::string a = dir_.File("a.avhdx");
  std::string out;
  ASSERT_EQ(Hvdisk("create -p " + Q(img_) + " " + Q(a), &out), 0) << out;
  QemuIo qemu("-f vhdx", img_);
  ASSERT_TRUE(qemu.WaitLocked(img_, 101));
  EXPECT_CODE(chain::Chain::Open(fs_, a, {.writable_leaf = true}), Code::kInUse);
  EXPECT_OK(chain::Chain::Open(fs_, a, {.force_share = true}).status());
}

}  // namespace
}  // namespace hvdisk
