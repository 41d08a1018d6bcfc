// `hvdisk wsman` driven by the WS-Management clients Debian ships: wsl (wslid, wslenum, wslget,
// wslinvoke: bash, curl and xmllint) and python3-winrm (Protocol.send_message), against a real
// store on disk, with `hvdisk wmi` on the same store at the same time. They fail, never skip,
// when a client is missing (scripts/bootstrap installs wsl and python3-winrm).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ops/store.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"
#include "tests/testutil/wmi_fixture.h"
#include "tests/testutil/wsman_fixture.h"
#include "wsman/soap_xml.h"

namespace hvdisk::wsman {
namespace {

using hvdisk::testing::Hvdisk;
using hvdisk::testing::Q;
using hvdisk::testing::RunCommand;
using namespace testing;  // NOLINT: the envelope helpers

const std::string kWinrmClient =
    std::string(HVDISK_SOURCE_DIR) + "/tests/interop/wsman_winrm_client.py";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class WsmanInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"/usr/bin/wslinvoke", "/usr/bin/curl", "/usr/bin/xmllint"}) {
      struct stat st;
      ASSERT_EQ(stat(tool, &st), 0) << tool
                                    << " missing: apt-get install wsl curl libxml2-utils "
                                       "(scripts/bootstrap)";
    }
    ASSERT_EQ(RunCommand("/usr/bin/python3 -c 'import winrm'"), 0)
        << "python3-winrm missing: apt-get install python3-winrm (scripts/bootstrap)";
    ASSERT_OK(ops::Store::Create(DefaultFileSystem(), store_));
    {
      ASSERT_OK_AND_ASSIGN(auto store, ops::Store::Open(DefaultFileSystem(), store_));
      ASSERT_OK_AND_ASSIGN(
          db01_, ops::wmi::testing::MakeReplica(*store, dir_.File("b1.vhdx"), 3, "db01", 1));
      ASSERT_OK_AND_ASSIGN(
          web_, ops::wmi::testing::MakeReplica(*store, dir_.File("b2.vhdx"), 2, "web", 2));
    }
    std::ofstream(dir_.File("password")) << "Pa55word\n";
    ASSERT_EQ(RunCommand("mkdir -p " + Q(home_) + " " + Q(work_)), 0);
    ASSERT_TRUE(server_.Start({"--store", store_, "--user", "hvadmin", "--password-file",
                               dir_.File("password"), "--allow-unencrypted"},
                              dir_.path()))
        << server_.error();
  }
  void TearDown() override { EXPECT_EQ(server_.Stop(), 0) << "hvdisk wsman did not exit cleanly"; }

  // A wsl command in its own HOME and working directory; returns its response.xml.
  std::string Wsl(const std::string& args, int* status = nullptr) {
    std::string out;
    const int rc = RunCommand("cd " + Q(work_) + " && HOME=" + Q(home_) +
                                  " WSENDPOINT=127.0.0.1:" + std::to_string(server_.port()) +
                                  " WSUSER=hvadmin WSPASS=Pa55word WSNOSSL=1 " + args,
                              &out);
    if (status != nullptr) *status = rc;
    return ReadFile(work_ + "/response.xml");
  }
  // python3-winrm posting one envelope; the reply (or "FAULT ..." and the fault body).
  std::string Winrm(const std::string& envelope) {
    const std::string file = dir_.File("envelope.xml");
    std::ofstream(file) << envelope;
    return WinrmRun("send " + Q(file));
  }
  std::string WinrmPoll(const std::string& job) { return WinrmRun("poll " + job); }
  std::string WinrmRun(const std::string& verb) {
    std::string out;
    RunCommand("/usr/bin/python3 " + Q(kWinrmClient) + " http://127.0.0.1:" +
                   std::to_string(server_.port()) + "/wsman hvadmin Pa55word " + verb,
               &out, /*merge_stderr=*/true);
    return out;
  }
  std::string Invoke(const std::string& method, const Guid& vm) {
    return Winrm(InvokeRequest("Msvm_ReplicationService", method, ServiceSelectors(), VmParam(vm)));
  }
  // The VM's ReplicationState as `hvdisk wmi query` sees it, from another process.
  int WmiState(const std::string& name) {
    std::string out;
    EXPECT_EQ(Hvdisk("wmi --store " + Q(store_) +
                         " query \"SELECT * FROM Msvm_ComputerSystem WHERE ElementName='" + name +
                         "'\" --json",
                     &out, false),
              0)
        << out;
    auto j = nlohmann::json::parse(out, nullptr, false);
    return j.is_array() && j.size() == 1 ? j[0].value("ReplicationState", -1) : -1;
  }
  // Each recovery point's content digest, through `hvdisk digest` (read-only, shared).
  std::map<std::string, std::string> PointDigests(const Guid& vm) {
    std::map<std::string, std::string> out;
    auto store = ops::Store::Open(DefaultFileSystem(), store_, {.read_only = true});
    EXPECT_TRUE(store.ok());
    if (!store.ok()) return out;
    auto record = (*store)->GetVm(vm);  // kept alive: the loop reads its points
    EXPECT_TRUE(record.ok());
    if (!record.ok()) return out;
    for (const auto& p : record->points) {
      std::string d;
      EXPECT_EQ(Hvdisk("digest -U " + Q((*store)->DiskPath(vm, p.file)), &d, false), 0) << d;
      out[p.file] = d;
    }
    return out;
  }
  std::string VmEprFile(const Guid& vm) {  // one element a line, as wsl's EPR reader wants
    const std::string file = work_ + "/vm-" + vm.ToString(false) + ".xml";
    std::ofstream(file) << "<wsa:EndpointReference>\n<wsa:Address>" << kAnonymous
                        << "</wsa:Address>\n<wsa:ReferenceParameters>\n<wsman:ResourceURI>"
                        << Uri("Msvm_ComputerSystem")
                        << "</wsman:ResourceURI>\n<wsman:SelectorSet>\n<wsman:Selector "
                           "Name=\"CreationClassName\">Msvm_ComputerSystem</wsman:Selector>\n"
                           "<wsman:Selector Name=\"Name\">"
                        << vm.ToString(false)
                        << "</wsman:Selector>\n</wsman:SelectorSet>\n</wsa:ReferenceParameters>\n"
                           "</wsa:EndpointReference>\n";
    return file;
  }
  // wslget of the job every 100 ms until it ends; its last response.
  std::string WslPollJob(const std::string& job) {
    for (int i = 0; i < 600; ++i) {
      std::string reply = Wsl("wslget " + Uri("Msvm_ConcreteJob") + " InstanceID=" + job);
      const std::string state = FirstText(reply, "JobState");
      if (!state.empty() && std::stoi(state) >= 7) return reply;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "job " << job << " did not end";
    return "";
  }

  hvdisk::testing::TempDir dir_;
  std::string store_ = dir_.File("store");
  std::string home_ = dir_.File("home");
  std::string work_ = dir_.File("work");
  Guid db01_, web_;
  WsmanProcess server_;
};

TEST_F(WsmanInteropTest, WslIdentifiesEnumeratesGetsAndDrivesFailoverAndRevert) {
  EXPECT_EQ(FirstText(Wsl("wslid check"), "ProductVendor"), "hvdisk");
  // The VM by ElementName through the WQL filter (response.xml holds the last Pull).
  std::string reply =
      Wsl("wslenum '" + Uri("*") + "' -dialect " + std::string(kWqlDialect) +
          " -filter \"SELECT * FROM Msvm_ComputerSystem WHERE ElementName='db01'\"");
  EXPECT_EQ(FirstText(reply, "Name"), db01_.ToString(false)) << reply;
  reply = Wsl("wslget " + Uri("Msvm_ComputerSystem") +
              " CreationClassName=Msvm_ComputerSystem Name=" + db01_.ToString(false));
  EXPECT_EQ(FirstText(reply, "ReplicationState"), "3") << reply;
  const auto digests = PointDigests(db01_);
  // wslinvoke finds the service by EnumerateEPR itself, then invokes on it.
  reply = Wsl("wslinvoke " + Uri("Msvm_ReplicationService") +
              " InitiateFailover ComputerSystem=FILE:" + VmEprFile(db01_));
  ASSERT_EQ(FirstText(reply, "ReturnValue"), "4096") << reply;
  std::string job = WslPollJob(JobIdOf(reply));
  EXPECT_EQ(FirstText(job, "JobState"), "7") << job;
  EXPECT_EQ(WmiState("db01"), 5);
  reply = Wsl("wslinvoke " + Uri("Msvm_ReplicationService") +
              " RevertFailover ComputerSystem=FILE:" + VmEprFile(db01_));
  ASSERT_EQ(FirstText(reply, "ReturnValue"), "4096") << reply;
  EXPECT_EQ(FirstText(WslPollJob(JobIdOf(reply)), "JobState"), "7");
  EXPECT_EQ(WmiState("db01"), 3);
  // Refused: not failed over.
  reply = Wsl("wslinvoke " + Uri("Msvm_ReplicationService") +
              " RevertFailover ComputerSystem=FILE:" + VmEprFile(db01_));
  EXPECT_EQ(FirstText(reply, "ReturnValue"), "32775") << reply;
  EXPECT_EQ(PointDigests(db01_), digests);
  // Test failover and commit through wslinvoke too.
  reply = Wsl("wslinvoke " + Uri("Msvm_ReplicationService") +
              " TestReplicaSystem ComputerSystem=FILE:" + VmEprFile(web_));
  ASSERT_EQ(FirstText(reply, "ReturnValue"), "4096") << reply;
  EXPECT_EQ(FirstText(WslPollJob(JobIdOf(reply)), "JobState"), "7");
  EXPECT_EQ(WmiState("web - Test"), 0);
  reply = Wsl("wslinvoke " + Uri("Msvm_ReplicationService") +
              " InitiateFailover ComputerSystem=FILE:" + VmEprFile(db01_));
  ASSERT_EQ(FirstText(reply, "ReturnValue"), "4096") << reply;
  EXPECT_EQ(FirstText(WslPollJob(JobIdOf(reply)), "JobState"), "7");
  reply = Wsl("wslinvoke " + Uri("Msvm_ReplicationService") +
              " CommitFailover ComputerSystem=FILE:" + VmEprFile(db01_));
  ASSERT_EQ(FirstText(reply, "ReturnValue"), "4096") << reply;
  EXPECT_EQ(FirstText(WslPollJob(JobIdOf(reply)), "JobState"), "7");
  EXPECT_EQ(WmiState("db01"), 6);
}

TEST_F(WsmanInteropTest, WslinvokeSuspendsAVmThatHvdiskWmiSeesAndTheOtherWayRound) {
  const std::string vm_file = VmEprFile(web_);
  std::string reply = Wsl("wslinvoke " + Uri("Msvm_ComputerSystem") +
                          " RequestReplicationStateChange RequestedState=7 -inst " + vm_file);
  EXPECT_EQ(FirstText(reply, "ReturnValue"), "0") << reply;
  EXPECT_EQ(WmiState("web"), 7);
  std::string out;
  ASSERT_EQ(Hvdisk("wmi --store " + Q(store_) +
                       " invoke Msvm_ComputerSystem.RequestReplicationStateChange "
                       "ComputerSystem='Msvm_ComputerSystem.ElementName=\"web\"' RequestedState=3",
                   &out),
            0)
      << out;
  reply = Wsl("wslget " + Uri("Msvm_ComputerSystem") + " Name=" + web_.ToString(false));
  EXPECT_EQ(FirstText(reply, "ReplicationState"), "3");
}

// The lifecycle through python3-winrm, with hvdisk wmi looking at the same store after each step.
TEST_F(WsmanInteropTest, WinrmDrivesFailoverRevertTestAndCommitAsHvdiskWmiSees) {
  std::string reply = Winrm(EnumerateRequest(
      "Msvm_ComputerSystem", "<wsman:EnumerationMode>EnumerateEPR</wsman:EnumerationMode>"));
  std::string ctx = FirstText(reply, "EnumerationContext");
  ASSERT_FALSE(ctx.empty()) << reply;
  std::vector<std::string> names;
  while (!ctx.empty()) {
    reply = Winrm(PullRequest("Msvm_ComputerSystem", ctx, 1));
    for (const auto& s : AllText(reply, "Selector")) {
      if (s != "Msvm_ComputerSystem") names.push_back(s);
    }
    ctx = FirstText(reply, "EnumerationContext");
  }
  EXPECT_THAT(names, ::testing::UnorderedElementsAre(db01_.ToString(false), web_.ToString(false)));
  reply = Winrm(EnumerateRequest(
      "*", "<wsman:OptimizeEnumeration/><wsman:MaxElements>5</wsman:MaxElements>" +
               WqlFilter("SELECT * FROM Msvm_ComputerSystem WHERE ElementName='web'")));
  EXPECT_EQ(FirstText(reply, "Name"), web_.ToString(false)) << reply;

  const auto digests = PointDigests(db01_);
  // Meanwhile another process drives web through hvdisk wmi on the same store.
  std::thread cli([this] {
    for (const char* m : {"InitiateFailover", "RevertFailover"}) {
      std::string out;
      EXPECT_EQ(Hvdisk("wmi --store " + Q(store_) + " invoke Msvm_ReplicationService." + m +
                           " ComputerSystem='Msvm_ComputerSystem.ElementName=\"web\"' --wait",
                       &out),
                0)
          << out;
    }
  });
  reply = Invoke("InitiateFailover", db01_);
  EXPECT_EQ(FirstText(reply, "ReturnValue"), "4096") << reply;  // no ASSERT: cli must be joined
  EXPECT_EQ(FirstText(WinrmPoll(JobIdOf(reply)), "JobState"), "7");
  cli.join();
  EXPECT_EQ(FirstText(Winrm(GetRequest("Msvm_ComputerSystem", {{"Name", web_.ToString(false)}})),
                      "ReplicationState"),
            "3");
  EXPECT_EQ(WmiState("db01"), 5);
  reply = Invoke("RevertFailover", db01_);
  ASSERT_EQ(FirstText(reply, "ReturnValue"), "4096") << reply;
  EXPECT_EQ(FirstText(WinrmPoll(JobIdOf(reply)), "JobState"), "7");
  EXPECT_EQ(WmiState("db01"), 3);
  EXPECT_EQ(FirstText(Invoke("RevertFailover", db01_), "ReturnValue"), "32775");
  EXPECT_EQ(PointDigests(db01_), digests);

  reply = Invoke("TestReplicaSystem", db01_);
  ASSERT_EQ(FirstText(reply, "ReturnValue"), "4096") << reply;
  EXPECT_EQ(FirstText(WinrmPoll(JobIdOf(reply)), "JobState"), "7");
  EXPECT_EQ(WmiState("db01 - Test"), 0);

  reply = Invoke("InitiateFailover", web_);
  EXPECT_EQ(FirstText(WinrmPoll(JobIdOf(reply)), "JobState"), "7");
  reply = Invoke("CommitFailover", web_);
  ASSERT_EQ(FirstText(reply, "ReturnValue"), "4096") << reply;
  EXPECT_EQ(FirstText(WinrmPoll(JobIdOf(reply)), "JobState"), "7");
  EXPECT_EQ(WmiState("web"), 6);
  // A VM of no store of this server's: 32773, nothing changed.
  EXPECT_EQ(FirstText(Invoke("InitiateFailover", Guid::Random()), "ReturnValue"), "32773");
  EXPECT_EQ(WmiState("db01"), 3);
}

// A cancel (RequestStateChange 5) sent right after the job started: either it is in time (4096,
// the job ends 9 Killed and the VM is as before) or the job had already finished (4097, it ended
// 7 and the VM failed over). Never anything in between; every job ends.
TEST_F(WsmanInteropTest, WinrmCancelsAJobOrIsToldItHadFinished) {
  std::string reply = Invoke("InitiateFailover", db01_);
  ASSERT_EQ(FirstText(reply, "ReturnValue"), "4096") << reply;
  const std::string job = JobIdOf(reply);
  reply = Winrm(InvokeRequest("Msvm_ConcreteJob", "RequestStateChange", {{"InstanceID", job}},
                              "<p:RequestedState>5</p:RequestedState>"));
  const std::string rv = FirstText(reply, "ReturnValue");
  const std::string end = FirstText(WinrmPoll(job), "JobState");
  if (rv == "4096") {
    EXPECT_TRUE(end == "9" || end == "7") << end;
    EXPECT_EQ(WmiState("db01"), end == "9" ? 3 : 5);
  } else {
    EXPECT_EQ(rv, "4097") << reply;
    EXPECT_EQ(end, "7");
    EXPECT_EQ(WmiState("db01"), 5);
  }
  // Wrong credentials: refused with 401, the VM untouched.
  std::string out;
  RunCommand("/usr/bin/python3 " + Q(kWinrmClient) + " http://127.0.0.1:" +
                 std::to_string(server_.port()) + "/wsman hvadmin wrong poll " + job,
             &out);
  EXPECT_THAT(out, ::testing::HasSubstr("FAULT InvalidCredentialsError"));
}

// Over HTTPS, as outside tests: wsl verifies the server's certificate (curl --cacert with the
// certificate wsl finds as ADDR:PORT.crt), python3-winrm posts over https; plain HTTP is not
// answered.
TEST(WsmanTlsInteropTest, WslAndWinrmReachTheServerOverHttps) {
  hvdisk::testing::TempDir dir;
  const std::string store = dir.File("store"), work = dir.File("work");
  ASSERT_OK(ops::Store::Create(DefaultFileSystem(), store));
  ASSERT_EQ(RunCommand("mkdir -p " + Q(work) + " " + Q(dir.File("home"))), 0);
  ASSERT_EQ(RunCommand("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
                       "-addext subjectAltName=IP:127.0.0.1 -keyout " +
                       Q(dir.File("k.pem")) + " -out " + Q(dir.File("c.pem"))),
            0)
      << "openssl (Debian: openssl) makes the test certificate";
  std::ofstream(dir.File("password")) << "Pa55word\n";
  WsmanProcess server;
  ASSERT_TRUE(
      server.Start({"--store", store, "--user", "hvadmin", "--password-file", dir.File("password"),
                    "--tls-cert", dir.File("c.pem"), "--tls-key", dir.File("k.pem")},
                   dir.path()))
      << server.error();
  const std::string endpoint = "127.0.0.1:" + std::to_string(server.port());
  ASSERT_EQ(RunCommand("cp " + Q(dir.File("c.pem")) + " " + Q(work + "/" + endpoint + ".crt")), 0);
  std::string out;
  RunCommand("cd " + Q(work) + " && HOME=" + Q(dir.File("home")) + " WSENDPOINT=" + endpoint +
                 " WSUSER=hvadmin WSPASS=Pa55word wslid check",
             &out);
  EXPECT_EQ(FirstText(ReadFile(work + "/response.xml"), "ProductVendor"), "hvdisk") << out;
  std::ofstream(dir.File("identify.xml"))
      << "<s:Envelope xmlns:s=\"" << kSoapNs << "\" xmlns:wsmid=\"" << kIdentityNs
      << "\"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>";
  out.clear();
  RunCommand("env -u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE WSMAN_CA=" + Q(dir.File("c.pem")) +
                 " /usr/bin/python3 " + Q(kWinrmClient) + " https://" + endpoint +
                 "/wsman hvadmin Pa55word send " + Q(dir.File("identify.xml")),
             &out);
  EXPECT_EQ(FirstText(out, "ProductVendor"), "hvdisk") << out;
  out.clear();
  RunCommand("/usr/bin/python3 " + Q(kWinrmClient) + " http://" + endpoint +
                 "/wsman hvadmin Pa55word send " + Q(dir.File("identify.xml")),
             &out);
  EXPECT_THAT(out, ::testing::HasSubstr("FAULT"));
  EXPECT_EQ(server.Stop(), 0);
}

}  // namespace
}  // namespace hvdisk::wsman
