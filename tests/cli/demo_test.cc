// `hvdisk demo`, the README's first command: its verdict, its store, and its refusals.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using ::testing::HasSubstr;
using testing::Hvdisk;
using testing::Q;

TEST(DemoTest, RunsTheReplicaLifecycleToAPassingVerdict) {
  testing::TempDir dir;
  const std::string demo = dir.File("demo");
  std::string out;
  ASSERT_EQ(Hvdisk("demo " + Q(demo), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("InitiateFailover(rp-0001): ReturnValue 4096"));
  EXPECT_THAT(out, HasSubstr("RevertFailover: ReturnValue 4096"));
  EXPECT_THAT(out, HasSubstr("CommitFailover: ReturnValue 4096"));
  EXPECT_THAT(out, HasSubstr("JobState 7 (Completed), ErrorCode 0; VM state 6"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("CHANGED")));
  EXPECT_THAT(out, HasSubstr("\ndemo: PASS: "));
  std::string check;
  EXPECT_EQ(Hvdisk("store check " + Q(demo + "/store"), &check), 0) << check;
}

// --serve: the failed-over VM is served by `hvdisk vm serve`, refuses RevertFailover while served
// (32774), and the demo's write goes through NBD (qemu-io); the verdict and the digests are those
// of the plain demo. Fails without qemu-io or
// nbdkit (scripts/bootstrap installs both).
TEST(DemoTest, ServeWritesIntoTheServedVmThroughNbdWithQemuIo) {
  testing::TempDir dir;
  const std::string demo = dir.File("demo");
  std::string out;
  ASSERT_EQ(Hvdisk("demo --serve " + Q(demo), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("hvdisk vm serve demo-vm: the failover disk served at "
                             "nbd+unix:///?socket=" +
                             demo + "/nbd.sock"));
  EXPECT_THAT(out, HasSubstr("RevertFailover while served: ReturnValue 32774 (System is in use)"));
  EXPECT_THAT(out, HasSubstr("qemu-io wrote 3 MiB through NBD into failover-"));
  EXPECT_THAT(out, HasSubstr("RevertFailover: ReturnValue 4096"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("CHANGED")));
  EXPECT_THAT(out, HasSubstr("\ndemo: PASS: "));
  std::string check;
  EXPECT_EQ(Hvdisk("store check " + Q(demo + "/store"), &check), 0) << check;
}

// Without qemu-io on PATH, --serve says so and writes through the engine: the demo still passes.
TEST(DemoTest, ServeWithoutQemuIoSaysSoAndWritesThroughTheEngine) {
  testing::TempDir dir;
  std::string out;
  ASSERT_EQ(testing::RunCommand("PATH=" + Q(dir.path()) + " " + testing::HvdiskPath() +
                                    " demo --serve " + Q(dir.File("demo")),
                                &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("--serve: qemu-io not found (apt-get install qemu-utils)"));
  EXPECT_THAT(out, HasSubstr("the failed-over VM wrote 3 MiB into failover-"));
  EXPECT_THAT(out, HasSubstr("\ndemo: PASS: "));
}

// With qemu-img, qemu-io and qemu-nbd installed (scripts/bootstrap), the points come from a qcow2
// primary over NBD: a full sync, then two incremental cycles of its dirty bitmap, each with
// --checkpoint, each point's digest the primary's; the qemu-nbd processes are gone afterwards and
// the primary holds only the running generation's bitmap. Fails without the qemu tools.
TEST(DemoTest, ReplicatesItsPointsFromAQemuNbdExportOfAQcow2PrimaryWithADirtyBitmap) {
  testing::TempDir dir;
  const std::string demo = dir.File("demo");
  std::string out;
  ASSERT_EQ(Hvdisk("demo " + Q(demo), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("(qcow2, 64 MiB, dirty bitmap b0), served by qemu-nbd (pid "));
  EXPECT_THAT(out, HasSubstr("full sync (vm replicate --from the export)"));
  EXPECT_THAT(out, HasSubstr("b1 started, b0 disabled and exported by qemu-nbd -B b0"));
  EXPECT_THAT(out, HasSubstr("incremental cycle --bitmap b0"));
  EXPECT_THAT(out, HasSubstr("incremental cycle --bitmap b1"));
  for (const char* point : {"rp-0001", "rp-0002", "rp-0003"}) {
    EXPECT_THAT(out, ::testing::ContainsRegex(std::string("--checkpoint took ") + point +
                                              ": digest [0-9a-f]+ \\(= the primary's\\)"));
  }
  EXPECT_THAT(out, HasSubstr("\ndemo: PASS: "));
  // Every qemu-nbd the demo started was stopped by its pid.
  for (size_t at = out.find("qemu-nbd (pid "); at != std::string::npos;
       at = out.find("qemu-nbd (pid ", at + 1)) {
    const int pid = std::stoi(out.substr(at + 14));
    EXPECT_NE(kill(pid, 0), 0) << "qemu-nbd " << pid << " is still running";
  }
  std::string info;
  ASSERT_EQ(testing::RunCommand("qemu-img info --output=json " + Q(demo + "/primary.qcow2"), &info),
            0)
      << info;
  EXPECT_THAT(info, HasSubstr("\"name\": \"b2\""));
  EXPECT_THAT(info, ::testing::Not(HasSubstr("\"name\": \"b0\"")));
  EXPECT_THAT(info, ::testing::Not(HasSubstr("\"name\": \"b1\"")));
}

// Without the qemu tools the demo says which is missing and applies changes through the engine.
TEST(DemoTest, WithoutQemuToolsSaysSoAndAppliesReplicatedChangesThroughTheEngine) {
  testing::TempDir dir;
  std::string out;
  ASSERT_EQ(testing::RunCommand("PATH=" + Q(dir.path()) + " " + testing::HvdiskPath() + " demo " +
                                    Q(dir.File("demo")),
                                &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("qemu-img not found (apt-get install qemu-utils): no qemu primary"));
  EXPECT_THAT(out, HasSubstr("applied 2 extents, took rp-0001"));
  EXPECT_THAT(out, HasSubstr("\ndemo: PASS: "));
}

TEST(DemoTest, RerunsOverItsOwnDirectory) {
  testing::TempDir dir;
  std::string out;
  ASSERT_EQ(Hvdisk("demo " + Q(dir.File("d")), &out), 0) << out;
  out.clear();
  ASSERT_EQ(Hvdisk("demo " + Q(dir.File("d")), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("demo: PASS"));
}

TEST(DemoTest, RefusesADirectoryItDidNotCreate) {
  testing::TempDir dir;
  std::ofstream(dir.File("precious.txt")) << "keep me";
  std::string out;
  EXPECT_EQ(Hvdisk("demo " + Q(dir.path()), &out), 1);
  EXPECT_THAT(out, HasSubstr("demo: FAIL"));
  EXPECT_THAT(out, HasSubstr("not a demo directory"));
  std::ifstream in(dir.File("precious.txt"));
  EXPECT_TRUE(in.good());
}

TEST(DemoTest, FailsWhereItCannotWrite) {
  testing::TempDir dir;
  const std::string blocker = dir.File("file");
  std::ofstream(blocker) << "x";  // a file where the directory should be
  std::string out;
  EXPECT_EQ(Hvdisk("demo " + Q(blocker), &out), 1);
  EXPECT_THAT(out, HasSubstr("demo: FAIL"));
}

}  // namespace
}  // namespace hvdisk
