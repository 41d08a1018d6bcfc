// End-to-end tests of `hvdisk wmi`: invoke with --wait and --json, and `job` reading from another
// process the record a finished invoke left in STORE/jobs/. The store is made through the library.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ops/store.h"
#include "ops/wmi/cim_reference.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"
#include "tests/testutil/wmi_fixture.h"

namespace hvdisk {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using testing::Hvdisk;
using testing::Q;

class WmiCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct stat st;
    ASSERT_EQ(stat(testing::HvdiskPath().c_str(), &st), 0) << "build the hvdisk target";
    ASSERT_OK(ops::Store::Create(DefaultFileSystem(), store_));
    ASSERT_OK_AND_ASSIGN(auto store, ops::Store::Open(DefaultFileSystem(), store_));
    ASSERT_OK_AND_ASSIGN(vm_, ops::wmi::testing::MakeReplica(*store, dir_.File("base.vhdx"), 2));
  }
  std::string Wmi(const std::string& args) { return "wmi --store " + Q(store_) + " " + args; }
  std::string VmParam() { return Q("ComputerSystem=" + ops::wmi::ComputerSystemPath(vm_)); }

  testing::TempDir dir_;
  std::string store_ = dir_.File("store");
  Guid vm_;
};

TEST_F(WmiCommandsTest, InvokeWaitPrintsTheJobAsItEnds) {
  std::string out;
  ASSERT_EQ(
      Hvdisk(Wmi("invoke Msvm_ReplicationService.InitiateFailover " + VmParam() + " --wait"), &out),
      0)
      << out;
  EXPECT_THAT(out, ContainsRegex("Job +: Msvm_ConcreteJob \\(InstanceID = \""));
  EXPECT_THAT(out, ContainsRegex("ReturnValue +: 4096"));
  EXPECT_THAT(out, ContainsRegex("PercentComplete +: 100"));
  EXPECT_THAT(out, ContainsRegex("JobState +: 7"));
  EXPECT_THAT(out, ContainsRegex("ErrorCode +: 0"));
  EXPECT_THAT(out, ContainsRegex("JobType +: 97"));
}

// A job accepted (4096) that fails while it runs: --wait exits 1 and says why on stderr, with the
// job's ErrorCode and ErrorDescription (finding: it printed nothing there).
TEST_F(WmiCommandsTest, InvokeWaitOnAJobThatFailsPrintsItsErrorOnStderr) {
  std::string point;
  {
    ASSERT_OK_AND_ASSIGN(auto store, ops::Store::Open(DefaultFileSystem(), store_));
    ASSERT_OK_AND_ASSIGN(ops::VmRecord r, store->GetVm(vm_));
    ASSERT_FALSE(r.points.empty());
    point = r.points.back().file;
    // The latest point, which the failover disk is made on, is no longer a VHDX.
    testing::WriteBinaryFile(store->DiskPath(vm_, point),
                             std::vector<std::byte>(4096, std::byte{0x5a}));
  }
  std::string out, err_file = dir_.File("stderr.txt");
  EXPECT_EQ(Hvdisk(Wmi("invoke Msvm_ReplicationService.InitiateFailover " + VmParam() +
                       " --wait 2>" + Q(err_file)),
                   &out, false),
            1)
      << out;
  EXPECT_THAT(out, ContainsRegex("ReturnValue +: 4096"));
  EXPECT_THAT(out, ContainsRegex("JobState +: 10"));
  const std::string err = testing::AsString(testing::ReadBinaryFile(err_file));
  EXPECT_THAT(err, ContainsRegex("job .* ended 10 Exception: ErrorCode 32768 Failed: corrupt"));
  EXPECT_THAT(err, HasSubstr(point));
}

TEST_F(WmiCommandsTest, JobOfAnotherProcessAndRefusedCalls) {
  ASSERT_EQ(Hvdisk(Wmi("invoke Msvm_ReplicationService.InitiateFailover " + VmParam())), 0);
  std::string out;
  // A refused call: ReturnValue 32775 with no job, exit 1.
  out.clear();
  EXPECT_EQ(Hvdisk(Wmi("invoke Msvm_ReplicationService.InitiateFailover " + VmParam() + " --json"),
                   &out, false),
            1);
  auto refused = nlohmann::json::parse(out);
  EXPECT_EQ(refused["ReturnValue"], 32775);
  EXPECT_FALSE(refused.contains("Job"));

  out.clear();
  ASSERT_EQ(Hvdisk(Wmi("invoke msvm_replicationservice.revertfailover " + VmParam() + " --json"),
                   &out, false),
            0);
  auto started = nlohmann::json::parse(out);
  ASSERT_EQ(started["ReturnValue"], 4096) << out;
  const std::string job = started["Job"];
  // The invoking process is gone; its job record tells how it ended.
  out.clear();
  ASSERT_EQ(Hvdisk(Wmi("job " + Q(job) + " --json"), &out, false), 0) << out;
  auto shown = nlohmann::json::parse(out);
  EXPECT_EQ(shown["JobState"], 7);
  EXPECT_EQ(shown["JobType"], 98);
  EXPECT_EQ(shown["ErrorCode"], 0);
  EXPECT_EQ(shown["Cancellable"], false);
  out.clear();
  ASSERT_EQ(Hvdisk(Wmi("job " + std::string(shown["InstanceID"])), &out), 0);
  EXPECT_THAT(out, HasSubstr("ElapsedTime "));
}

TEST_F(WmiCommandsTest, StateChangeCompletesAtOnceAndUsageErrorsExit2) {
  std::string out;
  out.clear();
  ASSERT_EQ(Hvdisk(Wmi("invoke Msvm_ComputerSystem.RequestReplicationStateChange " + VmParam() +
                       " RequestedState=7"),
                   &out),
            0)
      << out;
  EXPECT_THAT(out, ContainsRegex("ReturnValue +: 0"));
  out.clear();
  EXPECT_EQ(Hvdisk(Wmi("invoke Msvm_ReplicationService.Frobnicate " + VmParam()), &out), 2);
  EXPECT_THAT(out, HasSubstr("unknown method"));
  out.clear();
  EXPECT_EQ(Hvdisk(Wmi("invoke Msvm_ReplicationService.RevertFailover Bogus=1"), &out), 2);
  out.clear();
  EXPECT_EQ(Hvdisk("wmi --store " + Q(dir_.File("nowhere")) +
                       " invoke Msvm_ReplicationService.RevertFailover " + VmParam(),
                   &out),
            1);
  EXPECT_THAT(out, HasSubstr("32777"));
}

// The README's example: a VM named by ElementName (Name="vm1" is 32773, Name being its GUID).
TEST_F(WmiCommandsTest, InvokeTakesTheVmByElementNameAsTheReadmeShows) {
  std::string out;
  EXPECT_EQ(Hvdisk(Wmi("invoke Msvm_ReplicationService.InitiateFailover "
                       "ComputerSystem='Msvm_ComputerSystem.Name=\"vm1\"'"),
                   &out),
            1);
  EXPECT_THAT(out, HasSubstr("ElementName=\"vm1\""));
  out.clear();
  ASSERT_EQ(Hvdisk(Wmi("invoke Msvm_ReplicationService.InitiateFailover "
                       "ComputerSystem='Msvm_ComputerSystem.ElementName=\"vm1\"' --wait"),
                   &out),
            0)
      << out;
  EXPECT_THAT(out, ContainsRegex("JobState +: 7"));
}

TEST_F(WmiCommandsTest, QueryByElementNamePrintsTheInstanceAsGetCimInstanceDoes) {
  std::string out;
  ASSERT_EQ(
      Hvdisk(Wmi("query \"SELECT * FROM Msvm_ComputerSystem WHERE ElementName='vm1'\""), &out), 0)
      << out;
  EXPECT_THAT(out, ContainsRegex("ElementName +: vm1\n"));
  EXPECT_THAT(out, ContainsRegex("Name +: " + vm_.ToString(false) + "\n"));
  EXPECT_THAT(out, ContainsRegex("ReplicationState +: 3\n"));
  EXPECT_THAT(out, ContainsRegex("ReplicationMode +: 2\n"));
  out.clear();
  ASSERT_EQ(Hvdisk(Wmi("query 'SELECT * FROM Msvm_VirtualSystemSettingData' --json"), &out, false),
            0);
  auto points = nlohmann::json::parse(out);
  ASSERT_EQ(points.size(), 2u) << out;
  EXPECT_EQ(points[0]["VirtualSystemIdentifier"], vm_.ToString(false));
  EXPECT_EQ(points[0]["ElementName"], "rp-0001");
  out.clear();
  ASSERT_EQ(Hvdisk(Wmi("query \"SELECT * FROM Msvm_ComputerSystem WHERE ElementName='x'\" --json"),
                   &out, false),
            0);
  EXPECT_EQ(nlohmann::json::parse(out), nlohmann::json::array());
}

TEST_F(WmiCommandsTest, AQueryOutsideTheSubsetIsABadArgument) {
  std::string out;
  EXPECT_EQ(Hvdisk(Wmi("query 'SELECT Name FROM Msvm_ComputerSystem'"), &out), 2);
  EXPECT_THAT(out, HasSubstr("only SELECT * is supported"));
  out.clear();
  EXPECT_EQ(Hvdisk(Wmi("query 'SELECT * FROM Win32_Process'"), &out), 2);
  EXPECT_THAT(out, HasSubstr("not one hvdisk serves"));
}

TEST_F(WmiCommandsTest, MethodsListsEachMethodAndItsParametersWithoutAStore) {
  std::string out;
  ASSERT_EQ(Hvdisk("wmi methods", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("uint32 Msvm_ReplicationService.InitiateFailover(\n"
                             "    [in] CIM_ComputerSystem REF ComputerSystem,\n"
                             "    [in] CIM_VirtualSystemSettingData REF SnapshotSettingData,\n"
                             "    [out] CIM_ConcreteJob REF Job\n)"));
  EXPECT_THAT(out, HasSubstr("[out] CIM_ComputerSystem REF ResultingSystem"));
  out.clear();
  ASSERT_EQ(Hvdisk("wmi methods --json", &out, false), 0);
  auto methods = nlohmann::json::parse(out);
  ASSERT_EQ(methods.size(), 7u);
  EXPECT_EQ(methods[1]["Method"], "Msvm_ReplicationService.RevertFailover");
  EXPECT_EQ(methods[1]["Parameters"][0]["Name"], "ComputerSystem");
  out.clear();
  EXPECT_EQ(Hvdisk("wmi query 'SELECT * FROM Msvm_ComputerSystem'", &out), 2);
  EXPECT_THAT(out, HasSubstr("--store"));
}

}  // namespace
}  // namespace hvdisk
