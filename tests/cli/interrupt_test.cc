// A convert stopped in the middle of its copy (issue 16, item 3): SIGINT and SIGTERM remove the
// partial output and end the process by that signal; a DST that another process creates meanwhile
// is kept; a SIGKILL leaves only a hidden temporary, which the next convert of that DST removes.
// The DST name never appears before the copy is complete (inotify sees every name created).
//
// Each test runs a real `hvdisk convert` of a 2 GiB sparse raw disk holding 4 KiB of data in every
// 8 MiB, waits until the copy has reached its output, stops the process (SIGSTOP), checks that it
// is mid-copy, and then signals it.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "platform/file.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kSourceSize = 2048 * kMiB;
constexpr uint64_t kStride = 8 * kMiB;  // convert's chunk: every chunk holds data

uint64_t AllocatedBytes(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Whether `pid` has exited (without reaping it).
bool Exited(pid_t pid) {
  siginfo_t info{};
  return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

class ConvertMidCopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = dir_.File("src.raw");
    const int fd = open(src_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, static_cast<off_t>(kSourceSize)), 0);
    const std::vector<std::byte> data = testing::PatternBytes(4096, 1);
    for (uint64_t off = 0; off < kSourceSize; off += kStride) {
      ASSERT_EQ(pwrite(fd, data.data(), data.size(), static_cast<off_t>(off)), 4096);
    }
    close(fd);
    stderr_ = logs_.File("stderr");
  }
  void TearDown() override {
    if (pid_ > 0 && !Exited(pid_)) {
      kill(pid_, SIGKILL);
      testing::WaitForExit(pid_);
    }
  }

  // Starts `convert ARGS... SRC DST` and stops it once it has copied data into its temporary (at
  // least `allocated` bytes of it allocated): true when it is stopped mid-copy, with *temp its
  // temporary. Fails the test if convert made no temporary or finished first.
  bool StartAndStopMidCopy(const std::vector<std::string>& args, const std::string& dst,
                           uint64_t allocated, std::string* temp) {
    std::vector<std::string> argv{"convert"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(src_);
    argv.push_back(dst);
    pid_ = testing::SpawnHvdisk(argv, stderr_);
    if (pid_ < 0) return false;
    const std::string prefix = "." + BaseName(dst) + ".hvdisk-partial-";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (temp->empty() || AllocatedBytes(*temp) < allocated) {
      if (Exited(pid_) || std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "convert made no temporary " << prefix << "* that it copied into:\n"
                      << ReadText(stderr_);
        return false;
      }
      temp->clear();
      for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
        if (e.path().filename().string().starts_with(prefix)) *temp = e.path().string();
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    kill(pid_, SIGSTOP);
    siginfo_t info{};
    waitid(P_PID, static_cast<id_t>(pid_), &info, WSTOPPED | WNOWAIT);
    if (!std::filesystem::exists(*temp) || std::filesystem::exists(dst)) {
      ADD_FAILURE() << "the copy ended before the test could stop it: make the source larger";
      return false;
    }
    return true;
  }
  // Lets the stopped convert go on with `signo` pending; returns how it ended.
  int SignalAndResume(int signo) {
    if (signo != 0) kill(pid_, signo);
    kill(pid_, SIGCONT);
    const int end = testing::WaitForExit(pid_);
    pid_ = -1;
    return end;
  }
  std::vector<std::string> Names() { return testing::DirNames(dir_.path()); }
  // Interrupts a convert to `dst` mid-copy with `signo`: it must end by that signal, saying
  // kCancelled, leave only the source, and never have shown the DST name.
  void ExpectInterruptedCleanly(int signo, const std::vector<std::string>& args,
                                const std::string& dst, uint64_t allocated) {
    testing::NameWatch watch(dir_.path());
    std::string temp;
    ASSERT_TRUE(StartAndStopMidCopy(args, dst, allocated, &temp));
    EXPECT_EQ(SignalAndResume(signo), -signo) << ReadText(stderr_);
    EXPECT_THAT(Names(), ElementsAre("src.raw"));
    const std::string err = ReadText(stderr_);
    EXPECT_THAT(err, HasSubstr("hvdisk: cancelled: convert "));
    EXPECT_THAT(
        err, HasSubstr(signo == SIGINT ? ": interrupted by SIGINT" : ": interrupted by SIGTERM"));
    for (const std::string& name : watch.Names()) EXPECT_NE(name, BaseName(dst)) << "DST appeared";
  }

  testing::TempDir dir_, logs_;
  std::string src_, stderr_;
  pid_t pid_ = -1;
};

TEST_F(ConvertMidCopyTest, SigintDuringTheCopyLeavesNoDstAndNoTemporaryAndEndsBySigint) {
  ExpectInterruptedCleanly(SIGINT, {}, dir_.File("dst.raw"), 4096);
}

TEST_F(ConvertMidCopyTest, SigtermDuringAVhdxCopyLeavesNoDstAndNoTemporaryAndEndsBySigterm) {
  // A dynamic image's first data block reserves 64 MiB: past 32 MiB, the copy is under way.
  ExpectInterruptedCleanly(SIGTERM, {"--block-size", "1M"}, dir_.File("dst.vhdx"), 32 * kMiB);
}

TEST_F(ConvertMidCopyTest, ADstAnotherProcessCreatesDuringTheCopyIsKeptAndConvertFails) {
  const std::string dst = dir_.File("dst.raw");
  std::string temp;
  ASSERT_TRUE(StartAndStopMidCopy({}, dst, 4096, &temp));
  std::ofstream(dst) << "precious";
  EXPECT_EQ(SignalAndResume(0), 1) << ReadText(stderr_);
  EXPECT_EQ(ReadText(dst), "precious");
  EXPECT_THAT(ReadText(stderr_), HasSubstr("in use"));
  EXPECT_THAT(Names(), ElementsAre("dst.raw", "src.raw"));
}

TEST_F(ConvertMidCopyTest, AKilledConvertLeavesOnlyAHiddenTemporaryThatTheNextConvertRemoves) {
  const std::string dst = dir_.File("dst.raw");
  std::string temp;
  ASSERT_TRUE(StartAndStopMidCopy({}, dst, 4096, &temp));
  EXPECT_EQ(SignalAndResume(SIGKILL), -SIGKILL);
  EXPECT_THAT(Names(), ElementsAre(BaseName(temp), "src.raw")) << "no DST, only the temporary";
  std::string out;
  ASSERT_EQ(testing::Hvdisk("convert " + testing::Q(src_) + " " + testing::Q(dst), &out), 0) << out;
  EXPECT_THAT(Names(), ElementsAre("dst.raw", "src.raw"));
  EXPECT_EQ(testing::Hvdisk("compare " + testing::Q(src_) + " " + testing::Q(dst), &out), 0) << out;
}

TEST_F(ConvertMidCopyTest, ACompletedConvertIsUnchangedAndLeavesNoTemporary) {
  const std::string dst = dir_.File("dst.vhdx");
  std::string out;
  ASSERT_EQ(
      testing::Hvdisk("convert --block-size 1M " + testing::Q(src_) + " " + testing::Q(dst), &out),
      0)
      << out;
  EXPECT_THAT(Names(), ElementsAre("dst.vhdx", "src.raw"));
  EXPECT_EQ(testing::Hvdisk("check " + testing::Q(dst), &out), 0) << out;
  EXPECT_EQ(testing::Hvdisk("compare " + testing::Q(src_) + " " + testing::Q(dst), &out), 0) << out;
  EXPECT_THAT(ReadText(stderr_), IsEmpty());
}

}  // namespace
}  // namespace hvdisk
