// Issue 20, part 4 (the first three bullets): one replica store on a real CephFS, used by two
// hosts (the fixture's two ceph-fuse mounts, with host ids A and B), every operation a real
// `hvdisk` process:
//   - contention: both hosts run lifecycle operations on VMs of their own and on one shared VM at
//     once; every operation completes or is refused (in use / a state the other host left), both
//     mounts' `store check` stay clean, and no recovery point's digest changes;
//   - host kill: host A's ceph-fuse SIGKILLed while A's revert (and A's commit) is paused in the
//     middle (HVDISK_PAUSE_AT, ops/pause_point.h); B's `vm recover` succeeds within the eviction
//     time + 10 s and leaves the VM before or after, never between;
//   - host freeze: A's ceph-fuse SIGSTOPped while A's revert holds the VM, session_timeout 30; B
//     takes over after ~35 s; when A resumes, its command exits 4 (kFenced) and nothing of it
//     reaches the store (records, digests, file list and `store check` on B unchanged).
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/testutil/ceph_cluster.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::testing {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

const char* Id(CephHost h) { return h == CephHost::kA ? "host-a" : "host-b"; }

// The GUID as the store's directories name it (lower case).
std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class SharedStoreTest : public CephTest {
 public:  // Contend drives it from two threads
  void SetUp() override {
    CephTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_OK(cluster().SetSessionTimeout(30));
    ASSERT_OK_AND_ASSIGN(store_a_, cluster().FreshDir(CephHost::kA, "store"));
    store_b_ = cluster().PathOn(CephHost::kB, store_a_);
    ASSERT_EQ(Hvdisk("store create " + Q(store_a_)), 0);
  }
  const std::string& Store(CephHost h) const { return h == CephHost::kA ? store_a_ : store_b_; }
  // `hvdisk vm --store STORE(h) --host-id ID ARGS`: exit code; stdout+stderr in *out.
  int Vm(CephHost h, const std::string& args, std::string* out = nullptr) {
    return Hvdisk("vm --store " + Q(Store(h)) + " --host-id " + Id(h) + " " + args, out);
  }
  // A replica named `name` with `points` recovery points, made by host A; its GUID.
  std::string MakeVm(const std::string& name, int points) {
    const std::string base = tmp_.File(name + ".vhdx");
    EXPECT_EQ(Hvdisk("create --block-size 1M " + Q(base) + " 8M"), 0);
    EXPECT_EQ(Hvdisk("write " + Q(base) + " 0 --pattern 1 --length 1M"), 0);
    std::string out;
    EXPECT_EQ(Vm(CephHost::kA, "create " + name + " --base " + Q(base), &out), 0) << out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    for (int i = 0; i < points; ++i) EXPECT_EQ(Vm(CephHost::kA, "checkpoint " + name), 0);
    return out;
  }
  Json Show(CephHost h, const std::string& vm) {
    std::string out;
    EXPECT_EQ(Hvdisk("vm --store " + Q(Store(h)) + " show --json " + vm, &out, false), 0);
    const Json j = Json::parse(out, nullptr, false);
    return j.is_object() ? j : Json::object();
  }
  // "<file>" -> digest of every disk the record names (points, head, failover disk).
  std::map<std::string, std::string> Digests(CephHost h, const std::string& vm) {
    const Json r = Show(h, vm);
    std::map<std::string, std::string> out;
    std::vector<std::string> files;
    for (const Json& p : r.value("recovery_points", Json::array())) files.push_back(p["file"]);
    if (!r.value("failover_disk", "").empty()) files.push_back(r["failover_disk"]);
    const std::string disks = Store(h) + "/vms/" + Lower(r.value("id", "")) + "/disks/";
    for (const std::string& f : files) {
      std::string d;
      EXPECT_EQ(Hvdisk("digest -U --json " + Q(disks + f), &d, false), 0) << d;
      const Json j = Json::parse(d, nullptr, false);
      out[f] = j.is_object() ? j.value("digest", "?") : "?";
    }
    return out;
  }
  std::set<std::string> Files(CephHost h) {
    std::set<std::string> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(Store(h))) {
      const std::string rel = e.path().string().substr(Store(h).size());
      if (rel.find("/trash/") == std::string::npos) out.insert(rel);
    }
    return out;
  }
  int StoreCheck(CephHost h, std::string* out = nullptr) {
    return Hvdisk("store check " + Q(Store(h)), out);
  }
  // Starts `hvdisk vm ... ARGS` on host h paused at `step` for `seconds`; waits until it is.
  int SpawnPaused(CephHost h, const std::vector<std::string>& args, const std::string& step,
                  int seconds, const std::string& err) {
    setenv("HVDISK_PAUSE_AT", step.c_str(), 1);
    setenv("HVDISK_PAUSE_SECONDS", std::to_string(seconds).c_str(), 1);
    std::vector<std::string> argv = {"vm", "--store", Store(h), "--host-id", Id(h)};
    argv.insert(argv.end(), args.begin(), args.end());
    const int pid = SpawnHvdisk(argv, err);
    unsetenv("HVDISK_PAUSE_AT");
    unsetenv("HVDISK_PAUSE_SECONDS");
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline && ReadText(err).find("paused at") == std::string::npos) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_NE(ReadText(err).find("paused at " + step), std::string::npos) << ReadText(err);
    return pid;
  }
  static std::string ReadText(const std::string& path) {
    return AsString(std::filesystem::exists(path) ? ReadBinaryFile(path)
                                                  : std::vector<std::byte>{});
  }
  // B's `vm recover VM`, retried every second until it succeeds: seconds it took (-1: never).
  double RecoverOnB(const std::string& vm, int max_seconds, std::string* out) {
    const auto start = Clock::now();
    while (Clock::now() - start < std::chrono::seconds(max_seconds)) {
      if (Vm(CephHost::kB, "recover " + vm, out) == 0) {
        return std::chrono::duration<double>(Clock::now() - start).count();
      }
      EXPECT_NE(out->find("in use"), std::string::npos) << "recover failed otherwise: " << *out;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    return -1;
  }

  TempDir tmp_;
  std::string store_a_, store_b_;
};

// One host's part of the contention run: `rounds` cycles on its own VM (checkpoint, test,
// destroy, failover, revert; each must complete) interleaved with an attempt on the shared VM
// (failover or revert: completes, or is refused as in use or in a state the other host left).
// Adds the digest of every point it made to *made.
void Contend(SharedStoreTest* t, CephHost h, const std::string& own, const std::string& shared,
             int rounds, int* ops, std::map<std::string, std::string>* made,
             std::vector<std::string>* failures) {
  auto must = [&](const std::string& args) {
    std::string out;
    ++*ops;
    if (t->Vm(h, args, &out) != 0)
      failures->push_back(std::string(Id(h)) + " " + args + ": " + out);
    return out;
  };
  for (int i = 0; i < rounds; ++i) {
    std::string out = must("checkpoint --json " + own);
    const Json p = Json::parse(out, nullptr, false);
    if (p.is_object()) {
      const std::string file = p.value("file", "");
      const std::string path = t->Store(h) + "/vms/" + Lower(own) + "/disks/" + file;
      std::string d;
      (void)Hvdisk("digest -U --json " + Q(path), &d, false);
      const Json j = Json::parse(d, nullptr, false);
      (*made)[own + "/" + file] = j.is_object() ? j.value("digest", "?") : "?";
    }
    const Json test = Json::parse(must("test --json " + own), nullptr, false);
    if (test.is_object()) must("destroy " + test.value("id", ""));
    must("failover " + own);
    for (const char* op : {"failover", "revert"}) {
      ++*ops;
      const int rc = t->Vm(h, std::string(op) + " " + shared, &out);
      const bool refused =
          out.find("in use") != std::string::npos || out.find("invalid state") != std::string::npos;
      if (rc != 0 && !refused) failures->push_back(std::string(Id(h)) + " " + op + ": " + out);
    }
    must("revert " + own);
  }
}

TEST_F(SharedStoreTest, TwoHostsContendAndEveryOperationCompletesOrIsRefused) {
  const std::string va = MakeVm("va", 1), vb = MakeVm("vb", 1), shared = MakeVm("shared", 2);
  std::map<std::string, std::string> before;
  for (const std::string& vm : {va, vb, shared}) {
    for (const auto& [f, d] : Digests(CephHost::kA, vm)) before[vm + "/" + f] = d;
  }
  int ops_a = 0, ops_b = 0;
  std::map<std::string, std::string> made_a, made_b;
  std::vector<std::string> fail_a, fail_b;
  const int kRounds = 15;  // 7 operations a round on each host: 210 in all
  std::thread a(
      [&] { Contend(this, CephHost::kA, va, shared, kRounds, &ops_a, &made_a, &fail_a); });
  std::thread b(
      [&] { Contend(this, CephHost::kB, vb, shared, kRounds, &ops_b, &made_b, &fail_b); });
  a.join();
  b.join();
  EXPECT_GE(ops_a + ops_b, 200);
  EXPECT_EQ(fail_a, std::vector<std::string>{});
  EXPECT_EQ(fail_b, std::vector<std::string>{});
  std::string check;
  EXPECT_EQ(StoreCheck(CephHost::kA, &check), 0) << check;
  EXPECT_EQ(StoreCheck(CephHost::kB, &check), 0) << check;
  before.insert(made_a.begin(), made_a.end());
  before.insert(made_b.begin(), made_b.end());
  std::map<std::string, std::string> after;
  for (const std::string& vm : {va, vb, shared}) {
    for (const auto& [f, d] : Digests(CephHost::kB, vm)) after[vm + "/" + f] = d;
  }
  for (const auto& [key, digest] : before) {
    if (key.find("failover-") != std::string::npos) continue;  // written by the "running VM"
    ASSERT_TRUE(after.count(key)) << key << " is gone";
    EXPECT_EQ(after[key], digest) << key << " changed";
  }
}

// Host A's ceph-fuse is killed while A's `vm OP` is paused at `step`; B recovers the VM.
struct KillCase {
  const char* op;
  const char* step;
};

class HostKillTest : public SharedStoreTest, public ::testing::WithParamInterface<KillCase> {};

TEST_P(HostKillTest, HostBRecoversTheVmBeforeOrAfterWithinTheEvictionTimePlus10s) {
  const KillCase c = GetParam();
  const std::string vm = MakeVm("db", 2);
  ASSERT_EQ(Vm(CephHost::kA, "failover " + vm), 0);
  const Json before = Show(CephHost::kA, vm);
  const std::map<std::string, std::string> digests = Digests(CephHost::kA, vm);
  const std::string err = tmp_.File("a.err");
  const int pid = SpawnPaused(CephHost::kA, {c.op, vm}, std::string(c.op) + ":" + c.step, 5, err);
  ASSERT_EQ(kill(cluster().FusePid(CephHost::kA), SIGKILL), 0);
  std::string out;
  const double took = RecoverOnB(vm, 30 + 5 + 10 + 20, &out);
  EXPECT_GT(took, 0) << "B never took the VM over: " << out;
  EXPECT_LE(took, 30 + 5 + 10) << "past the eviction time + 10 s";
  EXPECT_NE(WaitForExit(pid), 0) << ReadText(err);
  const Json after = Show(CephHost::kB, vm);
  const int state = after.value("state", 0);
  const bool undone = state == before.value("state", 0) &&
                      after.value("failover_disk", "") == before.value("failover_disk", "");
  const bool done = state == (std::string(c.op) == "revert" ? 3 : 6);
  EXPECT_TRUE(undone || done) << "between: " << after.dump();
  if (undone) {
    EXPECT_EQ(Digests(CephHost::kB, vm), digests);
  }
  std::string check;
  EXPECT_EQ(StoreCheck(CephHost::kB, &check), 0) << check;
  ASSERT_OK(cluster().Remount(CephHost::kA));
}

INSTANTIATE_TEST_SUITE_P(MidOperation, HostKillTest,
                         ::testing::Values(KillCase{"revert", "commit"},
                                           KillCase{"commit", "finish"}),
                         [](const auto& info) { return std::string(info.param.op); });

TEST_F(SharedStoreTest, AFrozenHostIsFencedAndNothingItWritesAfterTheTakeoverLands) {
  const std::string vm = MakeVm("web", 2);
  ASSERT_EQ(Vm(CephHost::kA, "failover " + vm), 0);
  const std::string err = tmp_.File("frozen.err");
  const int pid = SpawnPaused(CephHost::kA, {"revert", vm}, "revert:commit", 3, err);
  const pid_t fuse = cluster().FusePid(CephHost::kA);
  ASSERT_EQ(kill(fuse, SIGSTOP), 0);
  struct Thaw {  // whatever fails below, host A is never left frozen
    pid_t pid;
    ~Thaw() { kill(pid, SIGCONT); }
  } thaw{fuse};
  std::string out;
  const double took = RecoverOnB(vm, 90, &out);
  EXPECT_GT(took, 20) << "B took the VM while A held it";
  EXPECT_LT(took, 60) << out;
  const Json record = Show(CephHost::kB, vm);
  EXPECT_EQ(record.value("owner_host", ""), "host-b");
  EXPECT_EQ(record.value("state", 0), 5) << "the paused revert had not committed: rolled back";
  const std::map<std::string, std::string> digests = Digests(CephHost::kB, vm);
  const std::set<std::string> files = Files(CephHost::kB);
  ASSERT_EQ(kill(fuse, SIGCONT), 0);
  EXPECT_EQ(WaitForExit(pid), 4) << ReadText(err);
  EXPECT_NE(ReadText(err).find("lost its hold on the store"), std::string::npos) << ReadText(err);
  EXPECT_EQ(Show(CephHost::kB, vm), record);
  EXPECT_EQ(Digests(CephHost::kB, vm), digests);
  EXPECT_EQ(Files(CephHost::kB), files);
  std::string check;
  EXPECT_EQ(StoreCheck(CephHost::kB, &check), 0) << check;
  ASSERT_OK(cluster().Remount(CephHost::kA));
}

}  // namespace
}  // namespace hvdisk::testing
