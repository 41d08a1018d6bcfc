// (tests/crash: needs the hvdisk binary, built by the release build this label runs in.)
// The crash contract against real processes: `hvdisk vm revert` and `hvdisk vm commit` killed with
// SIGKILL at random instants, then the store reopened (recovery runs) and checked as the
// CrashFileSystem suite checks it. 20 rounds per command by default; HVDISK_KILL_ROUNDS=N (e.g.
// 500) for the long mode, run by hand. Also: two processes racing RevertFailover on one VM end
// with exactly one success, the other refused with kInUse or kInvalidState.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "ops/consumer.h"
#include "ops/failover.h"
#include "ops/recovery_point.h"
#include "ops/replication.h"
#include "platform/posix_file.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/store_fixture.h"

extern char** environ;

namespace hvdisk::ops {
namespace {

using State = ReplicationState;
using Clock = std::chrono::steady_clock;

// Starts `hvdisk vm --store DIR <verb> VM` with stdout and stderr discarded.
pid_t Spawn(const std::string& store, const std::string& verb, const Guid& vm) {
  const std::string exe = hvdisk::testing::HvdiskPath(), vm_text = vm.ToString(false);
  std::vector<const char*> argv = {exe.c_str(),     "vm",   "--store", store.c_str(), verb.c_str(),
                                   vm_text.c_str(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int err = 0;
  // A shared build tree may be relinking hvdisk this instant (EACCES, ETXTBSY): retry a while.
  for (int attempt = 0; attempt < 100; ++attempt) {
    err =
        posix_spawn(&pid, exe.c_str(), &actions, nullptr, const_cast<char**>(argv.data()), environ);
    if (err != EACCES && err != ETXTBSY && err != ENOENT) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) ADD_FAILURE() << "posix_spawn " << exe << ": " << std::strerror(err);
  return err == 0 ? pid : -1;
}

// The exit code, or -signal.
int Wait(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

// A fresh directory on tmpfs (/dev/shm) when there is one: a killed process loses nothing that
// reached the kernel, so fsync speed is beside the point here. $HVDISK_TEST_TMPDIR, when set,
// names the file system to test instead (the CephFS suite runs this one on its mount).
class ScratchDir {
 public:
  ScratchDir() {
    const char* chosen = std::getenv("HVDISK_TEST_TMPDIR");
    const std::string base = chosen && *chosen               ? chosen
                             : access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                                                             : "/tmp";
    std::string tmpl = base + "/hvdisk-kill-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Returns once `dir`/journal holds an entry (the operation began) or the process has exited.
void WaitForJournal(const std::string& dir, pid_t pid) {
  for (int i = 0; i < 200000; ++i) {
    Result<std::vector<std::string>> names = DefaultFileSystem()->List(dir + "/journal");
    if (names.ok() && !names->empty()) return;
    if (waitid(P_PID, pid, nullptr, WEXITED | WNOHANG | WNOWAIT) == 0) {
      siginfo_t info{};
      waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT);
      if (info.si_pid == pid) return;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

class StoreKillTest : public ::testing::TestWithParam<const char*> {
 protected:
  // A store with a failed-over VM (2 points, a consumer's writes in the failover disk).
  void Prepare(const std::string& dir) {
    testing::StoreEnv env(DefaultFileSystem());
    ASSERT_OK(Store::Create(env.fs, dir));
    ASSERT_OK_AND_ASSIGN(auto store, Store::Open(env.fs, dir));
    ASSERT_OK(testing::MakeBaseDisk(env.fs, dir + "-base.vhdx"));
    ASSERT_OK_AND_ASSIGN(
        vm_,
        CreateReplicaVm(*store, {.name = "k", .base_path = dir + "-base.vhdx", .adopt = true}));
    for (int i = 0; i < 2; ++i) {
      ASSERT_OK(testing::ApplyPattern(*store, vm_, 300000 * (i + 1), 70000, i));
      ASSERT_OK(TakeRecoveryPoint(*store, vm_).status());
    }
    ASSERT_OK(InitiateFailover(*store, vm_, store->GetVm(vm_)->points[0].id));
    ASSERT_OK_AND_ASSIGN(auto consumer, AttachedDisk::Attach(*store, vm_));
    ASSERT_OK(consumer->disk()->Write(1 << 20, hvdisk::testing::PatternBytes(200000, 9)));
    ASSERT_OK(consumer->Detach());
    ASSERT_OK_AND_ASSIGN(before_, testing::CaptureState(*store));
  }

  void Verify(const std::string& dir, const std::string& where) {
    ASSERT_OK_AND_ASSIGN(auto store, Store::Open(DefaultFileSystem(), dir));
    std::vector<std::string> problems = testing::ContractProblems(*store);
    EXPECT_TRUE(problems.empty()) << where << ": " << problems.front();
    ASSERT_OK_AND_ASSIGN(testing::StoreState after, testing::CaptureState(*store));
    const State target =
        std::string(GetParam()) == "revert" ? State::kReplicating : State::kCommitted;
    bool rolled_back = false;
    problems = testing::TransitionProblems(before_, after, vm_, {target}, &rolled_back);
    EXPECT_TRUE(problems.empty()) << where << ": " << problems.front();
    (rolled_back ? before_count_ : after_count_)++;
    const RecoveryReport& rep = store->open_recovery();
    if (!rep.rolled_back.empty() || !rep.rolled_forward.empty()) ++recovered_;
  }

  ScratchDir tmp_;
  Guid vm_;
  testing::StoreState before_;
  int before_count_ = 0, after_count_ = 0, recovered_ = 0;
};

TEST_P(StoreKillTest, KilledAtRandomInstantsEndsBeforeOrAfter) {
  const char* env_rounds = std::getenv("HVDISK_KILL_ROUNDS");
  const int rounds = env_rounds ? std::atoi(env_rounds) : 20;
  // How long an undisturbed run takes (mostly process start): kill instants are drawn from 0.5 to
  // 1.1 times that, where the operation itself runs.
  Prepare(tmp_.File("timing"));
  auto start = Clock::now();
  ASSERT_EQ(Wait(Spawn(tmp_.File("timing"), GetParam(), vm_)), 0);
  const auto full = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  Verify(tmp_.File("timing"), "no kill");
  std::mt19937_64 rng(42);
  for (int round = 0; round < rounds && !HasFailure(); ++round) {
    const std::string dir = tmp_.File("r" + std::to_string(round));
    Prepare(dir);
    // Even rounds: a random instant from the start (0.5 to 1.1 times a full run). Odd rounds: a
    // random instant up to 1.5 ms after the operation's intent appears in the journal.
    pid_t pid = Spawn(dir, GetParam(), vm_);
    ASSERT_GT(pid, 0);
    std::chrono::microseconds delay(0);
    if (round % 2 == 0) {
      delay = std::chrono::microseconds(full.count() / 2 + rng() % (full.count() * 3 / 5 + 1));
    } else {
      WaitForJournal(dir, pid);
      delay = std::chrono::microseconds(rng() % 1500);
    }
    std::this_thread::sleep_for(delay);
    kill(pid, SIGKILL);
    const int code = Wait(pid);
    Verify(dir, "round " + std::to_string(round) + " delay " + std::to_string(delay.count()) +
                    "us exit " + std::to_string(code));
    ASSERT_EQ(hvdisk::testing::RunCommand("rm -rf " + hvdisk::testing::Q(dir) + "*"), 0);
  }
  std::printf("%s: %d rounds (full run %lld us): %d before, %d after, %d finished by recovery\n",
              GetParam(), rounds, static_cast<long long>(full.count()), before_count_,
              after_count_ - 1, recovered_);
}

INSTANTIATE_TEST_SUITE_P(Commands, StoreKillTest, ::testing::Values("revert", "commit"));

TEST(StoreRaceTest, TwoProcessesRacingRevertEndWithOneSuccess) {
  ScratchDir tmp;
  for (int round = 0; round < 5; ++round) {
    const std::string dir = tmp.File("s" + std::to_string(round));
    ASSERT_OK(Store::Create(DefaultFileSystem(), dir));
    ASSERT_OK_AND_ASSIGN(auto store, Store::Open(DefaultFileSystem(), dir));
    ASSERT_OK(testing::MakeBaseDisk(DefaultFileSystem(), dir + ".vhdx"));
    ASSERT_OK_AND_ASSIGN(Guid vm,
                         CreateReplicaVm(*store, {.name = "r", .base_path = dir + ".vhdx"}));
    ASSERT_OK(TakeRecoveryPoint(*store, vm).status());
    ASSERT_OK(InitiateFailover(*store, vm));
    std::string out_a, out_b;
    const std::string cmd =
        "vm --store " + hvdisk::testing::Q(dir) + " revert " + vm.ToString(false);
    int a = -1, b = -1;
    std::thread ta([&] { a = hvdisk::testing::Hvdisk(cmd, &out_a); });
    std::thread tb([&] { b = hvdisk::testing::Hvdisk(cmd, &out_b); });
    ta.join();
    tb.join();
    EXPECT_TRUE((a == 0) != (b == 0)) << a << ": " << out_a << "\n" << b << ": " << out_b;
    const std::string& loser = a == 0 ? out_b : out_a;
    EXPECT_TRUE(loser.find("in use") != std::string::npos ||
                loser.find("invalid state") != std::string::npos)
        << loser;
    EXPECT_EQ(store->GetVm(vm)->state, State::kReplicating);
  }
}

}  // namespace
}  // namespace hvdisk::ops
