// Return values whose cause is another process, on a real store in a temporary directory:
// 32771 (a job lost with the process running it), 32774 (another process holds the VM) and
// 32769 (a caller without write permission on the store's files, in a child that dropped root).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "ops/consumer.h"
#include "ops/failover.h"
#include "ops/wmi/replication_service.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"
#include "tests/testutil/wmi_fixture.h"

namespace hvdisk::ops::wmi {
namespace {

using testing::GateFileSystem;
using testing::VmRef;

// Runs `body(write_fd)` in a forked child, which then _exit()s; the parent reads what it wrote.
class Child {
 public:
  explicit Child(const std::function<void(int fd)>& body) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    pid_ = fork();
    if (pid_ == 0) {
      close(fds[0]);
      body(fds[1]);
      _exit(0);
    }
    close(fds[1]);
    fd_ = fds[0];
  }
  ~Child() {
    close(fd_);
    Wait();
  }
  // Reads one '\n'-terminated line the child wrote.
  std::string ReadLine() {
    std::string line;
    char c;
    while (read(fd_, &c, 1) == 1 && c != '\n') line.push_back(c);
    return line;
  }
  int Wait() {
    int status = 0;
    if (pid_ > 0) waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
};

void WriteLine(int fd, const std::string& text) {
  const std::string line = text + "\n";
  (void)!write(fd, line.data(), line.size());
}

class WmiProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(Store::Create(fs_, dir_, options()));
    ASSERT_OK_AND_ASSIGN(auto store, Store::Open(fs_, dir_, options()));
    ASSERT_OK_AND_ASSIGN(vm_, testing::MakeReplica(*store, tmp_.File("base.vhdx"), 2));
  }
  StoreOptions options() const { return {}; }
  ServiceOptions service_options() const { return {.store = options()}; }
  ReplicationState State() {
    auto store = Store::Open(fs_, dir_, options()).value();
    return store->GetVm(vm_)->state;
  }

  FileSystem* fs_ = DefaultFileSystem();
  hvdisk::testing::TempDir tmp_;
  std::string dir_ = tmp_.File("store");
  Guid vm_;
};

TEST_F(WmiProcessTest, JobLostWithItsProcessIsStatusUnknown_32771) {
  Child child([&](int fd) {
    GateFileSystem gate(fs_);
    gate.Arm("failover-");
    auto* service = new ReplicationService(&gate, dir_, service_options());  // never destroyed
    MethodResult r = service->InitiateFailover(VmRef(vm_), "");
    gate.WaitUntilHeld();  // the job runs, held mid-way: the process dies now
    WriteLine(fd, std::to_string(r.return_value) + " " + r.job);
    _exit(0);
  });
  const std::string line = child.ReadLine();
  child.Wait();
  ASSERT_EQ(line.substr(0, 5), "4096 ") << line;
  ReplicationService service(fs_, dir_, service_options());
  ASSERT_OK_AND_ASSIGN(Job job, service.GetJob(line.substr(5)));
  EXPECT_EQ(job.state, JobState::kException);
  EXPECT_EQ(job.error_code, kStatusUnknown);
  EXPECT_NE(job.error_description.find("lost"), std::string::npos);
  EXPECT_EQ(service.GetJob(line.substr(5)).value(), job);  // settled once and for all
  EXPECT_EQ(State(), ReplicationState::kReplicating);      // recovery rolled it back
}

// Finding 5: a poller in the job's own process dropped its owner lock (closing a descriptor of the
// lock file drops a POSIX lock), so another process's poll declared the running job lost (10 /
// 32771, in 34 of 34 polls of a long CommitFailover) while it went on to complete. The other
// process is the hvdisk binary (`wmi job`), so it shares nothing with this one; locks are in the
// store, where the binary looks for them.
TEST_F(WmiProcessTest, RunningJobPolledHereAndFromAnotherProcessIsNeverLost) {
  GateFileSystem gate(fs_);
  gate.Arm("failover-");
  ReplicationService service(&gate, dir_);
  MethodResult r = service.InitiateFailover(VmRef(vm_), "");
  ASSERT_EQ(r.return_value, kJobStarted) << r.error;
  gate.WaitUntilHeld();  // the job runs, held mid-way, in this process
  const std::string id = r.job.substr(r.job.find("InstanceID=\"") + 12, 36);
  for (int poll = 0; poll < 5; ++poll) {
    ASSERT_OK_AND_ASSIGN(Job here, service.GetJob(r.job));
    EXPECT_EQ(here.state, JobState::kRunning) << "poll " << poll << ": " << here.error_description;
    std::string out;
    EXPECT_EQ(
        hvdisk::testing::Hvdisk(
            "wmi --store " + hvdisk::testing::Q(dir_) + " job " + id + " --json", &out, false),
        0)
        << out;
    EXPECT_NE(out.find("\"JobState\": 4,"), std::string::npos) << "poll " << poll << ": " << out;
  }
  gate.Release();
  ASSERT_OK_AND_ASSIGN(Job end, testing::WaitForJob(service, r.job));
  EXPECT_EQ(end.state, JobState::kCompleted) << end.error_description;
}

TEST_F(WmiProcessTest, VmHeldByAnotherProcessIsInUse_32774) {
  {
    ReplicationService service(fs_, dir_, service_options());
    ASSERT_EQ(testing::WaitForJob(service, service.InitiateFailover(VmRef(vm_), "").job)->state,
              JobState::kCompleted);
  }
  int release[2];
  ASSERT_EQ(pipe(release), 0);
  Child child([&](int fd) {
    auto store = Store::Open(fs_, dir_, options());
    auto running = AttachedDisk::Attach(**store, vm_);  // the VM runs in this process
    WriteLine(fd, running.ok() ? "attached" : running.status().ToString());
    char c;
    (void)!read(release[0], &c, 1);
  });
  ASSERT_EQ(child.ReadLine(), "attached");
  ReplicationService service(fs_, dir_, service_options());
  MethodResult r = service.RevertFailover(VmRef(vm_));
  EXPECT_EQ(r.return_value, kSystemInUse) << r.error;
  EXPECT_TRUE(r.job.empty());
  EXPECT_EQ(service.CommitFailover(VmRef(vm_)).return_value, kSystemInUse);
  (void)!write(release[1], "x", 1);
  close(release[0]);
  close(release[1]);
  child.Wait();
  EXPECT_EQ(testing::WaitForJob(service, service.RevertFailover(VmRef(vm_)).job)->state,
            JobState::kCompleted);
}

// Root ignores permission bits, so the caller is a child that became nobody: it can read the
// store (0755 directories, 0644 files, all root's) and take its locks, but not write its files.
TEST_F(WmiProcessTest, StoreFilesNotWritableByTheCallerIsAccessDenied_32769) {
  namespace stdfs = std::filesystem;
  stdfs::permissions(tmp_.path(),
                     stdfs::perms::all & ~stdfs::perms::others_write & ~stdfs::perms::group_write);
  const std::string locks = dir_ + "/locks";
  for (const auto& e : stdfs::recursive_directory_iterator(locks)) {
    stdfs::permissions(e.path(), stdfs::perms::all);
  }
  stdfs::permissions(locks, stdfs::perms::all);
  Child child([&](int fd) {
    if (setgid(65534) != 0 || setuid(65534) != 0) return WriteLine(fd, "setuid failed");
    ReplicationService service(fs_, dir_, service_options());
    MethodResult r = service.InitiateFailover(VmRef(vm_), "");
    WriteLine(fd, std::to_string(r.return_value) + " " + r.error);
  });
  const std::string line = child.ReadLine();
  EXPECT_EQ(line.substr(0, 5), "32769") << line;
  EXPECT_EQ(State(), ReplicationState::kReplicating);
}

}  // namespace
}  // namespace hvdisk::ops::wmi
