// Instances through the facade (ops/wmi/cim_instance.h, ReplicationService's EnumerateInstances,
// ExecQuery and GetInstance), and VM references by ElementName: what a WMI client looks up before
// it calls a method, so that no GUID has to be fished out of `vm list --json`.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ops/failover.h"
#include "ops/test_failover.h"
#include "ops/wmi/cim_reference.h"
#include "ops/wmi/replication_service.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/store_fixture.h"
#include "tests/testutil/testutil.h"
#include "tests/testutil/wmi_fixture.h"

namespace hvdisk::ops::wmi {
namespace {

std::string Value(const CimInstance& i, std::string_view name) {
  const CimProperty* p = i.Find(name);
  return p != nullptr && p->value ? *p->value : "<null>";
}

class WmiInstanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, env_.Create());
    ASSERT_OK_AND_ASSIGN(db01_, testing::MakeReplica(*store_, "/b1.vhdx", 2, "db01", 1));
    ASSERT_OK_AND_ASSIGN(web_, testing::MakeReplica(*store_, "/b2.vhdx", 1, "web", 2));
    service_ = std::make_unique<ReplicationService>(&mem_, "/store");
  }
  std::vector<CimInstance> Query(const std::string& wql) {
    Result<std::vector<CimInstance>> r = service_->ExecQuery(wql);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<CimInstance>{};
  }

  MemFileSystem mem_;
  ops::testing::StoreEnv env_{&mem_};
  std::unique_ptr<Store> store_;
  Guid db01_, web_;
  std::unique_ptr<ReplicationService> service_;
};

TEST_F(WmiInstanceTest, EnumerationListsEveryVmPointSettingAndTheService) {
  ASSERT_OK_AND_ASSIGN(auto vms, service_->EnumerateInstances("msvm_computersystem"));
  ASSERT_EQ(vms.size(), 2u);
  EXPECT_EQ(Value(vms[0], "ElementName"), "db01");
  EXPECT_EQ(Value(vms[0], "Name"), db01_.ToString(false));
  EXPECT_EQ(Value(vms[0], "ReplicationState"), "3");
  EXPECT_EQ(Value(vms[0], "ReplicationHealth"), "1");
  EXPECT_EQ(Value(vms[0], "ReplicationMode"), "2");
  EXPECT_EQ(vms[0].Path(), ComputerSystemPath(db01_));
  ASSERT_OK_AND_ASSIGN(auto points, service_->EnumerateInstances(kSettingDataClass));
  ASSERT_EQ(points.size(), 3u);
  EXPECT_EQ(Value(points[0], "VirtualSystemType"), "Microsoft:Hyper-V:Snapshot:Replica:Standard");
  EXPECT_EQ(points[0].Path(), SnapshotPath(store_->GetVm(db01_)->points[0].id));
  ASSERT_OK_AND_ASSIGN(auto settings, service_->EnumerateInstances(kReplicationSettingDataClass));
  ASSERT_EQ(settings.size(), 2u);
  EXPECT_EQ(Value(settings[1], "AdditionalRecoveryPoints"), "24");
  ASSERT_OK_AND_ASSIGN(auto services, service_->EnumerateInstances(kReplicationServiceClass));
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].Path(), ReplicationServicePath());
  EXPECT_CODE(service_->EnumerateInstances("Win32_Process"), Code::kInvalidArgument);
}

TEST_F(WmiInstanceTest, QueryByElementNameFindsTheVmAndItsPoints) {
  std::vector<CimInstance> found =
      Query("SELECT * FROM Msvm_ComputerSystem WHERE ElementName='db01'");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(Value(found[0], "Name"), db01_.ToString(false));
  EXPECT_EQ(Query("SELECT * FROM Msvm_VirtualSystemSettingData WHERE VirtualSystemIdentifier='" +
                  web_.ToString(false) + "'")
                .size(),
            1u);
  EXPECT_TRUE(Query("SELECT * FROM Msvm_ComputerSystem WHERE ElementName='nobody'").empty());
  EXPECT_CODE(service_->ExecQuery("SELECT * FROM Msvm_ComputerSystem WHERE Owner='x'"),
              Code::kInvalidArgument);
  EXPECT_CODE(service_->ExecQuery("SELECT * FROM Win32_Process"), Code::kInvalidArgument);
}

TEST_F(WmiInstanceTest, AFailoverAndATestVmShowInTheirStates) {
  ASSERT_OK(ops::InitiateFailover(*store_, db01_, std::nullopt));
  ASSERT_OK(ops::TestReplicaSystem(*store_, web_, std::nullopt).status());
  std::vector<CimInstance> failed =
      Query("SELECT * FROM Msvm_ComputerSystem WHERE ReplicationState=5");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(Value(failed[0], "ElementName"), "db01");
  EXPECT_EQ(Value(failed[0], "FailedOverReplicationType"), "1");
  std::vector<CimInstance> tests =
      Query("SELECT * FROM Msvm_ComputerSystem WHERE ReplicationMode=3");
  ASSERT_EQ(tests.size(), 1u);
  EXPECT_EQ(Value(tests[0], "ElementName"), "web - Test");
  // A test VM has no replication settings of its own.
  EXPECT_EQ(Query("SELECT * FROM Msvm_ReplicationSettingData").size(), 2u);
}

TEST_F(WmiInstanceTest, GetInstanceByNameOrElementNameAndMissingOnesAreNotFound) {
  ASSERT_OK_AND_ASSIGN(CimInstance a, service_->GetInstance(ComputerSystemPath(db01_)));
  ASSERT_OK_AND_ASSIGN(CimInstance b,
                       service_->GetInstance("Msvm_ComputerSystem.ElementName=\"db01\""));
  EXPECT_EQ(a.Path(), b.Path());
  EXPECT_CODE(service_->GetInstance("Msvm_ComputerSystem.ElementName=\"nobody\""), Code::kNotFound);
  EXPECT_CODE(service_->GetInstance(ComputerSystemPath(Guid::Random())), Code::kNotFound);
  EXPECT_CODE(service_->GetInstance(SnapshotPath(Guid::Random())), Code::kNotFound);
  EXPECT_CODE(service_->GetInstance(JobPath(Guid::Random())), Code::kNotFound);
  const Guid point = store_->GetVm(web_)->points[0].id;
  ASSERT_OK_AND_ASSIGN(CimInstance p, service_->GetInstance(SnapshotPath(point)));
  EXPECT_EQ(Value(p, "VirtualSystemIdentifier"), web_.ToString(false));
  ASSERT_OK(service_->GetInstance(ReplicationSettingDataPath(web_)).status());
  ASSERT_OK(service_->GetInstance(ReplicationServicePath()).status());
  EXPECT_CODE(service_->GetInstance("Msvm_ReplicationService.CreationClassName="
                                    "\"Msvm_ReplicationService\",Name=\"vmms\","
                                    "SystemCreationClassName=\"Msvm_ComputerSystem\","
                                    "SystemName=\"another-host\""),
              Code::kInvalidArgument);
  EXPECT_CODE(service_->GetInstance("Msvm_ReplicationService.Name=\"vmms\""),
              Code::kInvalidArgument);
}

// The README's example named the VM as Name="db01" and got 32773: Name is the GUID. ElementName
// (hvdisk's extension) names it by its name; the 32773 now says so.
TEST_F(WmiInstanceTest, MethodsTakeAVmByElementNameAndNameMustBeItsGuid) {
  MethodResult bad = service_->RevertFailover("Msvm_ComputerSystem.Name=\"db01\"");
  EXPECT_EQ(bad.return_value, kInvalidParameter);
  EXPECT_NE(bad.error.find("ElementName=\"db01\""), std::string::npos) << bad.error;
  MethodResult r = service_->InitiateFailover("Msvm_ComputerSystem.ElementName=\"db01\"", "");
  ASSERT_EQ(r.return_value, kJobStarted) << r.error;
  ASSERT_OK_AND_ASSIGN(Job job, testing::WaitForJob(*service_, r.job));
  EXPECT_EQ(job.state, JobState::kCompleted);
  EXPECT_EQ(store_->GetVm(db01_)->state, ReplicationState::kRecovered);
  EXPECT_EQ(service_->RevertFailover("Msvm_ComputerSystem.ElementName=\"nobody\"").return_value,
            kInvalidParameter);
  EXPECT_EQ(service_
                ->RevertFailover("Msvm_ComputerSystem.ElementName=\"db01\",Name=\"" +
                                 db01_.ToString(false) + "\"")
                .return_value,
            kInvalidParameter);
}

TEST_F(WmiInstanceTest, AnAmbiguousElementNameIsAnInvalidParameterAndChangesNothing) {
  ASSERT_OK_AND_ASSIGN(Guid twin, testing::MakeReplica(*store_, "/b3.vhdx", 1, "db01", 3));
  MethodResult r = service_->InitiateFailover("Msvm_ComputerSystem.ElementName=\"db01\"", "");
  EXPECT_EQ(r.return_value, kInvalidParameter);
  EXPECT_TRUE(r.job.empty());
  EXPECT_EQ(store_->GetVm(db01_)->state, ReplicationState::kReplicating);
  EXPECT_EQ(store_->GetVm(twin)->state, ReplicationState::kReplicating);
}

TEST_F(WmiInstanceTest, TheJobOfAMethodIsAnInstanceOfMsvmConcreteJob) {
  MethodResult r = service_->InitiateFailover(ComputerSystemPath(web_), "");
  ASSERT_EQ(r.return_value, kJobStarted) << r.error;
  ASSERT_OK(testing::WaitForJob(*service_, r.job).status());
  ASSERT_OK_AND_ASSIGN(CimInstance job, service_->GetInstance(r.job));
  EXPECT_EQ(Value(job, "JobState"), "7");
  EXPECT_EQ(Value(job, "JobType"), "97");
  EXPECT_EQ(job.Path(), r.job);
  EXPECT_EQ(Query("SELECT * FROM Msvm_ConcreteJob WHERE JobState = 7").size(), 1u);
}

}  // namespace
}  // namespace hvdisk::ops::wmi
