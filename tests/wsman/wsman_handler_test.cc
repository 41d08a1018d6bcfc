// WsmanHandler over a real replica store (in memory): each operation as `wsl` and python3-winrm
// send it, and hostile requests answered with the WS-Management fault or the documented return
// value, changing nothing.
#include "wsman/wsman_handler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "ops/wmi/cim_reference.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/store_fixture.h"
#include "tests/testutil/testutil.h"
#include "tests/testutil/wmi_fixture.h"
#include "tests/testutil/wsman_fixture.h"
#include "wsman/soap_xml.h"

namespace hvdisk::wsman {
namespace {

using namespace testing;  // NOLINT: the envelope helpers

class WsmanHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, env_.Create());
    ASSERT_OK_AND_ASSIGN(vm_, ops::wmi::testing::MakeReplica(*store_, "/b1.vhdx", 2, "db01", 1));
    service_ = std::make_unique<ops::wmi::ReplicationService>(&gate_, "/store");
    handler_ = std::make_unique<WsmanHandler>(service_.get(), HandlerOptions{});
  }
  std::string Send(const std::string& envelope, int expect_status = 200) {
    HttpReply r = handler_->Handle(envelope);
    EXPECT_EQ(r.status, expect_status) << r.body;
    return r.body;
  }
  SelectorList VmSelectors() {
    return {{"CreationClassName", "Msvm_ComputerSystem"}, {"Name", vm_.ToString(false)}};
  }
  std::string Invoke(std::string_view method, const std::string& params) {
    return Send(InvokeRequest("Msvm_ReplicationService", method, ServiceSelectors(), params));
  }
  // As libvirt does: Get the job every 10 ms until it ends.
  std::string PollJob(const std::string& id) {
    for (int i = 0; i < 3000; ++i) {
      std::string job = Send(GetRequest("Msvm_ConcreteJob", {{"InstanceID", id}}));
      const int state = std::stoi(FirstText(job, "JobState"));
      if (state >= 7) return job;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "job " << id << " did not end";
    return "";
  }
  ops::VmRecord Record() { return store_->GetVm(vm_).value(); }

  MemFileSystem mem_;
  ops::wmi::testing::GateFileSystem gate_{&mem_};
  ops::testing::StoreEnv env_{&mem_};
  std::unique_ptr<ops::Store> store_;
  Guid vm_;
  std::unique_ptr<ops::wmi::ReplicationService> service_;
  std::unique_ptr<WsmanHandler> handler_;
};

TEST_F(WsmanHandlerTest, IdentifyNamesTheProtocolAndTheProduct) {
  std::string reply = Send(
      "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:wsmid=\"" +
      std::string(kIdentityNs) + "\"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>");
  EXPECT_EQ(FirstText(reply, "ProtocolVersion"), kWsmanNs);
  EXPECT_EQ(FirstText(reply, "ProductVendor"), "hvdisk");
}

TEST_F(WsmanHandlerTest, GetOfAVmShowsItsReplicationProperties) {
  std::string reply = Send(GetRequest("Msvm_ComputerSystem", VmSelectors()));
  EXPECT_EQ(FirstText(reply, "ElementName"), "db01");
  EXPECT_EQ(FirstText(reply, "ReplicationState"), "3");
  EXPECT_EQ(FirstText(reply, "ReplicationMode"), "2");
  EXPECT_EQ(FirstText(reply, "ReplicationHealth"), "1");
  EXPECT_EQ(FirstText(reply, "Action"), std::string(kTransferNs) + "/GetResponse");
  // hvdisk's extension: the VM by its name.
  reply = Send(GetRequest("Msvm_ComputerSystem", {{"ElementName", "db01"}}));
  EXPECT_EQ(FirstText(reply, "Name"), vm_.ToString(false));
}

TEST_F(WsmanHandlerTest, GetOfAMissingOrForeignInstanceIsDestinationUnreachable) {
  // A VM of another store is a GUID this store does not have.
  std::string reply =
      Send(GetRequest("Msvm_ComputerSystem", {{"Name", Guid::Random().ToString(false)}}), 400);
  EXPECT_EQ(FaultSubcodeOf(reply), "wsa:DestinationUnreachable");
  reply =
      Send(GetRequest("Msvm_ConcreteJob", {{"InstanceID", Guid::Random().ToString(false)}}), 400);
  EXPECT_EQ(FaultSubcodeOf(reply), "wsa:DestinationUnreachable");
  reply = Send(GetRequest("Win32_Process", {{"Handle", "1"}}), 400);
  EXPECT_EQ(FaultSubcodeOf(reply), "wsa:DestinationUnreachable");
}

TEST_F(WsmanHandlerTest, MissingExtraOrRepeatedSelectorsAreInvalidSelectors) {
  for (const SelectorList& bad : std::vector<SelectorList>{
           {},
           {{"Name", vm_.ToString(false)}, {"Owner", "x"}},
           {{"Name", "db01"}},
           {{"Name", vm_.ToString(false)}, {"ElementName", "db01"}},
           {{"CreationClassName", "Msvm_Other"}, {"Name", vm_.ToString(false)}},
       }) {
    std::string reply = Send(GetRequest("Msvm_ComputerSystem", bad), 400);
    EXPECT_EQ(FaultSubcodeOf(reply), "wsman:InvalidSelectors") << reply;
  }
  std::string repeated = GetRequest("Msvm_ComputerSystem",
                                    {{"Name", vm_.ToString(false)}, {"Name", vm_.ToString(false)}});
  EXPECT_EQ(FaultSubcodeOf(Send(repeated, 400)), "wsman:InvalidSelectors");
  SelectorList service = ServiceSelectors();
  service.back().second = "ANOTHER-HOST";
  EXPECT_EQ(
      FaultSubcodeOf(Send(
          InvokeRequest("Msvm_ReplicationService", "RevertFailover", service, VmParam(vm_)), 400)),
      "wsman:InvalidSelectors");
  EXPECT_EQ(Record().state, ops::ReplicationState::kReplicating);
}

TEST_F(WsmanHandlerTest, EnumerateEprThenPullUntilEndOfSequence) {
  ASSERT_OK(ops::wmi::testing::MakeReplica(*store_, "/b2.vhdx", 1, "web", 2).status());
  std::string reply = Send(EnumerateRequest(
      "Msvm_ComputerSystem", "<wsman:EnumerationMode>EnumerateEPR</wsman:EnumerationMode>"));
  std::string context = FirstText(reply, "EnumerationContext");
  ASSERT_FALSE(context.empty()) << reply;
  std::vector<std::string> names;
  for (int i = 0; i < 5 && !context.empty(); ++i) {
    reply = Send(PullRequest("Msvm_ComputerSystem", context));
    for (const std::string& s : AllText(reply, "Selector")) {
      if (s != "Msvm_ComputerSystem") names.push_back(s);
    }
    context = FirstText(reply, "EnumerationContext");
    if (context.empty()) {
      EXPECT_EQ(AllText(reply, "EndOfSequence").size(), 1u);
    }
  }
  EXPECT_TRUE(context.empty());
  EXPECT_EQ(names.size(), 2u);
  // The context is gone once the sequence ended.
  EXPECT_EQ(FaultSubcodeOf(Send(PullRequest("Msvm_ComputerSystem", "uuid:nope"), 500)),
            "wsen:InvalidEnumerationContext");
}

TEST_F(WsmanHandlerTest, WqlFilterFindsTheVmByElementNameInOneOptimizedReply) {
  ASSERT_OK(ops::wmi::testing::MakeReplica(*store_, "/b2.vhdx", 1, "web", 2).status());
  std::string reply = Send(EnumerateRequest(
      "*", "<wsman:OptimizeEnumeration/><wsman:MaxElements>10</wsman:MaxElements>" +
               WqlFilter("SELECT * FROM Msvm_ComputerSystem WHERE ElementName='web'")));
  EXPECT_EQ(AllText(reply, "ElementName"), std::vector<std::string>{"web"});
  EXPECT_EQ(AllText(reply, "EndOfSequence").size(), 1u);
  EXPECT_TRUE(FirstText(reply, "EnumerationContext").empty());
  // The points of db01 through the VSSD class.
  reply = Send(EnumerateRequest(
      "Msvm_VirtualSystemSettingData",
      "<wsman:OptimizeEnumeration/><wsman:MaxElements>10</wsman:MaxElements>" +
          WqlFilter("SELECT * FROM Msvm_VirtualSystemSettingData WHERE VirtualSystemIdentifier='" +
                    vm_.ToString(false) + "'")));
  EXPECT_EQ(AllText(reply, "VirtualSystemType").size(), 2u);
}

TEST_F(WsmanHandlerTest, FiltersOutsideTheSubsetAreRefusedAsFilterFaults) {
  auto fault_of = [&](const std::string& cls, const std::string& filter) {
    return FaultSubcodeOf(Send(EnumerateRequest(cls, filter), 400));
  };
  EXPECT_EQ(fault_of("*",
                     "<wsman:Filter Dialect=\"http://www.w3.org/TR/1999/REC-xpath-19991116\">"
                     "/x</wsman:Filter>"),
            "wsen:FilterDialectRequestedUnavailable");
  EXPECT_EQ(fault_of("*", WqlFilter("SELECT Name FROM Msvm_ComputerSystem")),
            "wsen:CannotProcessFilter");
  EXPECT_EQ(fault_of("Msvm_ConcreteJob", WqlFilter("SELECT * FROM Msvm_ComputerSystem")),
            "wsen:CannotProcessFilter");
  EXPECT_EQ(fault_of("*", WqlFilter("SELECT * FROM Win32_Process")), "wsen:CannotProcessFilter");
  EXPECT_EQ(FaultSubcodeOf(Send(EnumerateRequest("*", ""), 400)), "wsa:DestinationUnreachable");
}

// The lifecycle as the reference shows it: 4096 and a Job EPR, the job polled to 7, and a refused
// call answered with its return value, not a fault.
TEST_F(WsmanHandlerTest, InitiateFailoverReturnsAJobEprPolledToCompletion) {
  std::string reply = Invoke("InitiateFailover", VmParam(vm_));
  EXPECT_EQ(FirstText(reply, "ReturnValue"), "4096") << reply;
  EXPECT_EQ(FirstText(reply, "Action"),
            Uri("Msvm_ReplicationService") + "/InitiateFailoverResponse");
  EXPECT_EQ(FirstText(reply, "ResourceURI"), Uri("Msvm_ConcreteJob"));
  const std::string job = JobIdOf(reply);
  ASSERT_TRUE(Guid::Parse(job)) << reply;
  std::string done = PollJob(job);
  EXPECT_EQ(FirstText(done, "JobState"), "7");
  EXPECT_EQ(FirstText(done, "ErrorCode"), "0");
  EXPECT_EQ(FirstText(done, "JobType"), "97");
  EXPECT_EQ(Record().state, ops::ReplicationState::kRecovered);
  // Invoke on the VM by ElementName too.
  reply = Invoke("RevertFailover",
                 EprParam("ComputerSystem", "Msvm_ComputerSystem", {{"ElementName", "db01"}}));
  EXPECT_EQ(FirstText(PollJob(JobIdOf(reply)), "JobState"), "7");
  // Not failed over any more: 32775, no job, nothing changed.
  const ops::VmRecord before = Record();
  reply = Invoke("RevertFailover", VmParam(vm_));
  EXPECT_EQ(FirstText(reply, "ReturnValue"), "32775");
  EXPECT_TRUE(JobIdOf(reply).empty());
  EXPECT_EQ(Record(), before);
}

TEST_F(WsmanHandlerTest, AMissingOrForeignVmIs32773AndChangesNothing) {
  const ops::VmRecord before = Record();
  std::string reply = Invoke("InitiateFailover", VmParam(Guid::Random()));
  EXPECT_EQ(FirstText(reply, "ReturnValue"), "32773");
  reply = Invoke("InitiateFailover",
                 EprParam("ComputerSystem", "Msvm_VirtualSystemSettingData",
                          {{"InstanceID", "Microsoft:" + Guid::Random().ToString(false)}}));
  EXPECT_EQ(FirstText(reply, "ReturnValue"), "32776");
  reply = Invoke("InitiateFailover", "");  // NULL ComputerSystem
  EXPECT_EQ(FirstText(reply, "ReturnValue"), "32773");
  EXPECT_EQ(Record(), before);
}

TEST_F(WsmanHandlerTest, TestReplicaSystemReturnsTheResultingSystemEpr) {
  std::string reply = Invoke("TestReplicaSystem", VmParam(vm_));
  ASSERT_EQ(FirstText(reply, "ReturnValue"), "4096") << reply;
  std::vector<std::string> uris = AllText(reply, "ResourceURI");
  ASSERT_EQ(uris.size(), 2u);
  EXPECT_EQ(uris[1], Uri("Msvm_ComputerSystem"));
  EXPECT_EQ(FirstText(PollJob(JobIdOf(reply)), "JobState"), "7");
  reply = Send(EnumerateRequest(
      "*", "<wsman:OptimizeEnumeration/><wsman:MaxElements>5</wsman:MaxElements>" +
               WqlFilter("SELECT * FROM Msvm_ComputerSystem WHERE ReplicationMode=3")));
  EXPECT_EQ(AllText(reply, "ElementName"), std::vector<std::string>{"db01 - Test"});
}

TEST_F(WsmanHandlerTest, ReplicationStateChangeIsInvokedOnTheVmInstance) {
  std::string reply =
      Send(InvokeRequest("Msvm_ComputerSystem", "RequestReplicationStateChange", VmSelectors(),
                         "<p:RequestedState>7</p:RequestedState>"
                         "<p:TimeoutPeriod xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                         "xsi:nil=\"true\"/>"));
  EXPECT_EQ(FirstText(reply, "ReturnValue"), "0") << reply;
  EXPECT_EQ(Record().state, ops::ReplicationState::kSuspended);
  reply = Send(InvokeRequest("Msvm_ComputerSystem", "RequestReplicationStateChange", VmSelectors(),
                             "<p:RequestedState>99</p:RequestedState>"));
  EXPECT_EQ(FirstText(reply, "ReturnValue"), "32773");
  reply = Send(InvokeRequest("Msvm_ComputerSystem", "RequestReplicationStateChange", VmSelectors(),
                             "<p:RequestedState>seven</p:RequestedState>"),
               400);
  EXPECT_EQ(FaultSubcodeOf(reply), "wsman:InvalidParameter");
  EXPECT_EQ(Record().state, ops::ReplicationState::kSuspended);
}

TEST_F(WsmanHandlerTest, AJobIsCancelledWithRequestStateChangeAndEndsKilled) {
  gate_.Arm("failover-");
  std::string reply = Invoke("InitiateFailover", VmParam(vm_));
  ASSERT_EQ(FirstText(reply, "ReturnValue"), "4096");
  const std::string job = JobIdOf(reply);
  gate_.WaitUntilHeld();
  reply = Send(InvokeRequest("Msvm_ConcreteJob", "RequestStateChange", {{"InstanceID", job}},
                             "<p:RequestedState>5</p:RequestedState>"));
  EXPECT_EQ(FirstText(reply, "ReturnValue"), "4096");
  gate_.Release();
  EXPECT_EQ(FirstText(PollJob(job), "JobState"), "9");
  EXPECT_EQ(Record().state, ops::ReplicationState::kReplicating);
  // A finished job cannot be cancelled again: 4097.
  reply = Send(InvokeRequest("Msvm_ConcreteJob", "RequestStateChange", {{"InstanceID", job}},
                             "<p:RequestedState>5</p:RequestedState>"));
  EXPECT_EQ(FirstText(reply, "ReturnValue"), "4097");
}

TEST_F(WsmanHandlerTest, UnknownActionsMethodsAndParametersAreFaults) {
  EXPECT_EQ(
      FaultSubcodeOf(Send(Envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete",
                                   Uri("Msvm_ComputerSystem"), SelectorSetXml(VmSelectors()), ""),
                          400)),
      "wsa:ActionNotSupported");
  EXPECT_EQ(
      FaultSubcodeOf(Send(InvokeRequest("Msvm_ReplicationService", "RemoveReplicationRelationship",
                                        ServiceSelectors(), VmParam(vm_)),
                          400)),
      "wsa:ActionNotSupported");
  EXPECT_EQ(FaultSubcodeOf(
                Send(InvokeRequest("Msvm_ReplicationService", "RevertFailover", ServiceSelectors(),
                                   VmParam(vm_) + "<p:Force>true</p:Force>"),
                     400)),
            "wsman:InvalidParameter");
  EXPECT_EQ(FaultSubcodeOf(Send(InvokeRequest("Msvm_ReplicationService", "RevertFailover",
                                              ServiceSelectors(), VmParam(vm_) + VmParam(vm_)),
                                400)),
            "wsman:InvalidParameter");
  EXPECT_EQ(Record().state, ops::ReplicationState::kReplicating);
}

TEST_F(WsmanHandlerTest, MalformedXmlAndDoctypesAreRefusedUnparsed) {
  const ops::VmRecord before = Record();
  const std::string revert = InvokeRequest("Msvm_ReplicationService", "InitiateFailover",
                                           ServiceSelectors(), VmParam(vm_));
  for (const std::string& bad : std::vector<std::string>{
           "",
           "not xml",
           revert.substr(0, revert.size() / 2),
           "<a><b></a>",
           "<s:Envelope xmlns:s=\"urn:not-soap\"><s:Body/></s:Envelope>",
           // An entity bomb and an external entity: the DOCTYPE alone is refused.
           "<?xml version=\"1.0\"?><!DOCTYPE s:Envelope [<!ENTITY a \"aaaaaaaaaa\">"
           "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;\">]>" +
               revert.substr(revert.find("<s:Envelope")),
           "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY vm SYSTEM \"file:///etc/passwd\">]>" +
               revert.substr(revert.find("<s:Envelope")),
       }) {
    HttpReply r = handler_->Handle(bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(FaultSubcodeOf(r.body), "wsman:SchemaValidationError") << r.body;
  }
  EXPECT_EQ(Record(), before);
}

TEST_F(WsmanHandlerTest, HeaderProblemsAreFaultsBeforeAnythingRuns) {
  const ops::VmRecord before = Record();
  const std::string params = VmParam(vm_);
  std::string r =
      InvokeRequest("Msvm_ReplicationService", "InitiateFailover", ServiceSelectors(), params);
  std::string unknown = r;
  unknown.replace(unknown.find("</s:Header>"), 0,
                  "<x:Transaction xmlns:x=\"urn:tx\" s:mustUnderstand=\"true\">1</x:Transaction>");
  EXPECT_EQ(handler_->Handle(unknown).status, 500);
  std::string no_id = r;
  no_id.erase(no_id.find("<wsa:MessageID"),
              no_id.find("</wsa:MessageID>") + 16 - no_id.find("<wsa:MessageID"));
  EXPECT_EQ(FaultSubcodeOf(Send(no_id, 400)), "wsa:InvalidMessageInformationHeader");
  std::string tiny = r;
  tiny.replace(tiny.find("</s:Header>"), 0, "<wsman:MaxEnvelopeSize>100</wsman:MaxEnvelopeSize>");
  EXPECT_EQ(FaultSubcodeOf(Send(tiny, 400)), "wsman:EncodingLimit");
  EXPECT_EQ(Record(), before);
}

TEST_F(WsmanHandlerTest, OversizedEnvelopesAndRepliesHonourTheLimits) {
  const ops::VmRecord before = Record();
  HandlerOptions small{.max_request_bytes = 4096};
  WsmanHandler strict(service_.get(), small);
  std::string big = InvokeRequest("Msvm_ReplicationService", "InitiateFailover", ServiceSelectors(),
                                  VmParam(vm_) + "<!--" + std::string(8192, 'x') + "-->");
  HttpReply r = strict.Handle(big);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(FaultSubcodeOf(r.body), "wsman:EncodingLimit");
  EXPECT_EQ(Record(), before);
  // A Pull whose items exceed MaxEnvelopeSize returns fewer of them; an Enumerate reply that
  // cannot fit is EncodingLimit.
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK(ops::wmi::testing::MakeReplica(*store_, "/x" + std::to_string(i) + ".vhdx", 0,
                                             "vm-" + std::string(250, 'a' + i), 3 + i)
                  .status());
  }
  std::string reply = Send(EnumerateRequest("Msvm_ComputerSystem", ""));
  std::string ctx = FirstText(reply, "EnumerationContext");
  std::string pull = PullRequest("Msvm_ComputerSystem", ctx, 10);
  pull.replace(pull.find("</s:Header>"), 0, "<wsman:MaxEnvelopeSize>8192</wsman:MaxEnvelopeSize>");
  reply = Send(pull);
  const size_t got = AllText(reply, "ElementName").size();
  EXPECT_GE(got, 1u);
  EXPECT_LT(got, 10u);
  EXPECT_LE(reply.size(), 8192u);
}

}  // namespace
}  // namespace hvdisk::wsman
