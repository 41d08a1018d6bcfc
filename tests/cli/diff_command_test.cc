// Issue 18, parts 2 and 3: `hvdisk diff` + `vm apply` round trips (the replica then reads as NEW,
// by digest), what diff refuses and leaves behind, a wrong or damaged change set changing nothing,
// and the replication statistics `vm stats` reports.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using Json = nlohmann::json;
using testing::Hvdisk;
using testing::Q;

class DiffCommandTest : public ::testing::Test {
 protected:
  std::string Run(const std::string& args, int want = 0) {
    std::string out;
    EXPECT_EQ(Hvdisk(args, &out, false), want) << args << "\n" << out;
    return out;
  }
  Json RunJson(const std::string& args) { return Json::parse(Run(args)); }
  std::string Digest(const std::string& disk) {
    return RunJson("digest --json " + Q(disk)).value("digest", "");
  }
  std::string Vm(const std::string& args) { return "vm --store " + Q(store_) + " " + args; }
  // A replica "web" whose base is `base` (a VHDX); returns its head's path.
  std::string MakeReplica(const std::string& base) {
    Run("store create " + Q(store_));
    Run(Vm("create web --base " + Q(base)));
    return Head();
  }
  std::string Head() { return store_ + "/" + RunJson(Vm("show --json web")).value("attached", ""); }
  std::string File(const std::string& n) { return dir_.File(n); }
  testing::TempDir dir_;
  std::string store_ = dir_.File("store");
};

TEST_F(DiffCommandTest, DiffOfRawAgainstVhdxThenApplyMakesTheReplicaReadAsNew) {
  const std::string old_raw = File("old.raw"), old_vhdx = File("old.vhdx"), nw = File("new.vhdx");
  testing::WriteBinaryFile(old_raw, {});
  std::filesystem::resize_file(old_raw, 16 << 20);  // a raw disk: a sparse file
  Run("write " + Q(old_raw) + " 1M --pattern 3 --length 3M");
  Run("convert -O vhdx " + Q(old_raw) + " " + Q(nw));
  Run("convert -O vhdx " + Q(old_raw) + " " + Q(old_vhdx));
  Run("write " + Q(nw) + " 2M --pattern 9 --length 100K");
  Run("write " + Q(nw) + " 12M --pattern 4 --length 1M");
  const std::string head = MakeReplica(old_vhdx);
  const Json d = RunJson("diff --json " + Q(old_raw) + " " + Q(nw) + " -o " + Q(File("cs")));
  EXPECT_EQ(d.value("virtual-size", 0), 16 << 20);
  EXPECT_LE(d.value("data-bytes", 0), (100 << 10) + (1 << 20) + 512);
  Run(Vm("apply web " + Q(File("cs"))));
  EXPECT_EQ(Digest(head), Digest(nw));
  const Json stats = RunJson(Vm("stats --json web"));
  EXPECT_EQ(stats.value("cycles", 0), 1);
  EXPECT_EQ(stats.value("last_bytes", 0), d.value("data-bytes", 0));
  EXPECT_EQ(stats.value("health", ""), "Normal");
  EXPECT_EQ(RunJson(Vm("show --json web"))["replication"].value("cycles", 0), 1);
}

TEST_F(DiffCommandTest, DiffOfABaseAndItsAvhdxChildThenApplyGivesTheChildsContent) {
  const std::string base = File("base.vhdx"), child = File("child.avhdx");
  Run("create --block-size 1M " + Q(base) + " 8M");
  Run("write " + Q(base) + " 0 --pattern 1 --length 2M");
  Run("create -p " + Q(base) + " " + Q(child));
  Run("write " + Q(child) + " 1M --pattern 2 --length 4K");
  Run("write " + Q(child) + " 5M --pattern 3 --length 1M");
  const std::string head = MakeReplica(base);
  Run("diff " + Q(base) + " " + Q(child) + " -o " + Q(File("cs")));
  Run(Vm("apply web " + Q(File("cs"))));
  EXPECT_EQ(Digest(head), Digest(child));
  // A second cycle: a child of the child, applied on top, after a recovery point.
  Run(Vm("checkpoint web"));
  const std::string grand = File("grand.avhdx");
  Run("create -p " + Q(child) + " " + Q(grand));
  Run("write " + Q(grand) + " 0 --pattern 0 --length 512");  // zeros over data
  Run("diff " + Q(child) + " " + Q(grand) + " -o " + Q(File("cs2")));
  Run(Vm("apply web " + Q(File("cs2"))));
  EXPECT_EQ(Digest(Head()), Digest(grand));
}

TEST_F(DiffCommandTest, ADiffOfTwoMostlyEmptyTerabyteDisksReadsOnlyTheirData) {
  const std::string a = File("a.vhdx"), b = File("b.vhdx");
  Run("create " + Q(a) + " 1T");
  Run("create " + Q(b) + " 1T");
  Run("write " + Q(a) + " 100G --pattern 5 --length 1M");
  Run("write " + Q(b) + " 100G --pattern 5 --length 1M");
  Run("write " + Q(b) + " 900G --pattern 6 --length 64K");
  const auto start = std::chrono::steady_clock::now();
  const Json d = RunJson("diff --json " + Q(a) + " " + Q(b) + " -o " + Q(File("cs")));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(d.value("extents", 0), 1);
  EXPECT_EQ(d.value("data-bytes", 0), 64 << 10);
  // Reading a terabyte takes minutes; walking two maps takes well under this.
  EXPECT_LT(took, std::chrono::seconds(20));
}

TEST_F(DiffCommandTest, DisksOfDifferentSizesAreRefusedAndNoChangeSetIsMade) {
  Run("create " + Q(File("a.vhdx")) + " 8M");
  Run("create " + Q(File("b.vhdx")) + " 16M");
  std::string out;
  EXPECT_EQ(
      Hvdisk("diff " + Q(File("a.vhdx")) + " " + Q(File("b.vhdx")) + " -o " + Q(File("cs")), &out),
      1);
  EXPECT_NE(out.find("differ in virtual size"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(File("cs")));
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    EXPECT_EQ(e.path().filename().string().find("hvdisk-partial"), std::string::npos);
  }
}

TEST_F(DiffCommandTest, AFileThatIsNotAChangeSetIsNamedSoWithAHintAboutDiff) {
  Run("create " + Q(File("base.vhdx")) + " 8M");
  MakeReplica(File("base.vhdx"));
  testing::WriteBinaryFile(File("x.vhdx"), std::vector<std::byte>(4096, std::byte{7}));
  std::string out;
  EXPECT_EQ(Hvdisk(Vm("apply web " + Q(File("x.vhdx"))), &out), 1);
  EXPECT_NE(out.find("is not a change set"), std::string::npos) << out;
  EXPECT_NE(out.find("hvdisk diff"), std::string::npos) << out;
  EXPECT_EQ(out.find("hvdisk check"), std::string::npos) << out;
}

// A truncated or altered change set is refused before anything is written: the head and the
// points read as before; two failed cycles in a row make the replication Critical.
TEST_F(DiffCommandTest, ATruncatedOrAlteredChangeSetChangesNothingAndTwoFailuresAreCritical) {
  const std::string base = File("base.vhdx"), nw = File("new.vhdx");
  Run("create --block-size 1M " + Q(base) + " 8M");
  Run("convert -O vhdx " + Q(base) + " " + Q(nw));
  Run("write " + Q(nw) + " 1M --pattern 8 --length 2M");
  const std::string head = MakeReplica(base);
  Run(Vm("checkpoint web"));
  const Json before = RunJson(Vm("show --json web"));
  const std::string head_digest = Digest(Head());
  Run("diff " + Q(base) + " " + Q(nw) + " -o " + Q(File("cs")));
  std::vector<std::byte> bytes = testing::ReadBinaryFile(File("cs"));
  std::vector<std::byte> cut(bytes.begin(), bytes.end() - 100), altered = bytes;
  altered[bytes.size() / 2] ^= std::byte{1};
  testing::WriteBinaryFile(File("cut"), cut);
  testing::WriteBinaryFile(File("alt"), altered);
  for (const char* f : {"cut", "alt"}) {
    std::string out;
    EXPECT_EQ(Hvdisk(Vm("apply web " + Q(File(f))), &out), 1) << f;
    EXPECT_NE(out.find("corrupt"), std::string::npos) << out;
  }
  EXPECT_EQ(Digest(Head()), head_digest);
  EXPECT_EQ(RunJson(Vm("show --json web"))["recovery_points"], before["recovery_points"]);
  const Json stats = RunJson(Vm("stats --json web"));
  EXPECT_EQ(stats.value("health", ""), "Critical");
  EXPECT_EQ(stats.value("consecutive_failures", 0), 2);
  Run(Vm("apply web " + Q(File("cs"))));
  EXPECT_EQ(RunJson(Vm("stats --json web")).value("health", ""), "Normal");
  EXPECT_EQ(Digest(Head()), Digest(nw));
  Run(Vm("set web --interval 1"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(RunJson(Vm("stats --json web")).value("health", ""), "Warning");
}

}  // namespace
}  // namespace hvdisk
