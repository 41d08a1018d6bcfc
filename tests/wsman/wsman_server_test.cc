// WsmanServer over real sockets on 127.0.0.1 (cpp-httplib's client): authentication, transport
// limits, slow clients, TLS, and 8 concurrent clients driving failovers with every job accounted
// for.
#include "wsman/wsman_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <set>
#include <thread>

#include "platform/mem_file_system.h"
#include "tests/testutil/store_fixture.h"
#include "tests/testutil/testutil.h"
#include "tests/testutil/wmi_fixture.h"
#include "tests/testutil/wsman_fixture.h"
#include "wsman/soap_xml.h"

namespace hvdisk::wsman {
namespace {

using namespace testing;  // NOLINT: the envelope helpers

constexpr const char* kSoap = "application/soap+xml;charset=UTF-8";

class WsmanServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, env_.Create());
    service_ = std::make_unique<ops::wmi::ReplicationService>(&mem_, "/store");
    handler_ = std::make_unique<WsmanHandler>(service_.get(),
                                              HandlerOptions{.max_request_bytes = 64 * 1024});
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Stop();
    if (runner_.joinable()) runner_.join();
  }
  void Serve(ServerOptions o) {
    o.port = 0;
    o.max_request_bytes = 64 * 1024;
    server_ = std::make_unique<WsmanServer>(handler_.get(), BasicAuth("admin", "pw"), o);
    ASSERT_OK(server_->Start());
    runner_ = std::thread([this] { server_->Run(); });
  }
  httplib::Client Client() {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_basic_auth("admin", "pw");
    c.set_read_timeout(30, 0);
    return c;
  }
  std::string Identify() {
    return "<s:Envelope xmlns:s=\"" + std::string(kSoapNs) + "\" xmlns:wsmid=\"" +
           std::string(kIdentityNs) +
           "\"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>";
  }

  MemFileSystem mem_;
  ops::testing::StoreEnv env_{&mem_};
  std::unique_ptr<ops::Store> store_;
  std::unique_ptr<ops::wmi::ReplicationService> service_;
  std::unique_ptr<WsmanHandler> handler_;
  std::unique_ptr<WsmanServer> server_;
  std::thread runner_;
};

TEST_F(WsmanServerTest, PlainHttpIsRefusedUnlessAllowedAsWinrmDoes) {
  WsmanServer plain(handler_.get(), BasicAuth("admin", "pw"), ServerOptions{.port = 0});
  EXPECT_CODE(plain.Start(), Code::kInvalidArgument);
  WsmanServer half(handler_.get(), BasicAuth("admin", "pw"),
                   ServerOptions{.port = 0, .tls_cert = "/nonexistent.crt"});
  EXPECT_CODE(half.Start(), Code::kInvalidArgument);
}

TEST_F(WsmanServerTest, WrongOrMissingCredentialsAre401AndChangeNothing) {
  ASSERT_OK_AND_ASSIGN(Guid vm, ops::wmi::testing::MakeReplica(*store_, "/b.vhdx", 1));
  Serve({.allow_unencrypted = true});
  const std::string failover =
      InvokeRequest("Msvm_ReplicationService", "InitiateFailover", ServiceSelectors(), VmParam(vm));
  httplib::Client anonymous("127.0.0.1", server_->port());
  auto r = anonymous.Post("/wsman", failover, kSoap);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Basic realm=\"WSMAN\"");
  for (const char* password : {"PW", "pw ", "p", ""}) {
    httplib::Client wrong("127.0.0.1", server_->port());
    wrong.set_basic_auth("admin", password);
    r = wrong.Post("/wsman", failover, kSoap);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << password;
  }
  EXPECT_EQ(store_->GetVm(vm)->state, ops::ReplicationState::kReplicating);
  r = Client().Post("/wsman", Identify(), kSoap);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(FirstText(r->body, "ProductVendor"), "hvdisk");
}

TEST_F(WsmanServerTest, OnlyPostsOfSoapToWsmanUnderTheSizeCapAreRead) {
  Serve({.allow_unencrypted = true});
  auto r = Client().Post("/wsman", std::string(65 * 1024, 'x'), kSoap);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  r = Client().Post("/wsman", Identify(), "text/xml");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  r = Client().Post("/other", Identify(), kSoap);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = Client().Get("/wsman");
  ASSERT_TRUE(r);
  EXPECT_NE(r->status, 200);
}

// A client that sends half a request and stalls is dropped after the timeout; others are served
// meanwhile.
TEST_F(WsmanServerTest, AStalledClientIsDroppedAfterTheTimeoutAndOthersAreServed) {
  Serve({.allow_unencrypted = true, .timeout = std::chrono::seconds(1)});
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string partial = "POST /wsman HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n";
  ASSERT_EQ(send(fd, partial.data(), partial.size(), 0), static_cast<ssize_t>(partial.size()));
  auto r = Client().Post("/wsman", Identify(), kSoap);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  timeval tv{.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const auto start = std::chrono::steady_clock::now();
  // The server gives up on it: an error status at most, then the connection is closed.
  char buf[256];
  std::string answer;
  ssize_t n = 0;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) answer.append(buf, static_cast<size_t>(n));
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(n, 0) << "the stalled connection was not closed";
  EXPECT_TRUE(answer.empty() || answer.rfind("HTTP/1.1 4", 0) == 0) << answer;
  EXPECT_LT(waited, std::chrono::seconds(4)) << "the stalled connection was kept";
  close(fd);
}

TEST_F(WsmanServerTest, TlsServesWithTheGivenCertificate) {
  hvdisk::testing::TempDir dir;
  const std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout " +
      dir.File("k.pem") + " -out " + dir.File("c.pem") + " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl (Debian: openssl) makes the test certificate";
  Serve({.tls_cert = dir.File("c.pem"), .tls_key = dir.File("k.pem")});
  httplib::SSLClient c("127.0.0.1", server_->port());
  c.set_ca_cert_path(dir.File("c.pem").c_str());
  c.enable_server_certificate_verification(true);
  c.set_basic_auth("admin", "pw");
  auto r = c.Post("/wsman", Identify(), kSoap);
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  // Plain HTTP to the TLS port gets no SOAP reply.
  httplib::Client plain("127.0.0.1", server_->port());
  plain.set_basic_auth("admin", "pw");
  auto p = plain.Post("/wsman", Identify(), kSoap);
  EXPECT_TRUE(!p || p->status != 200);
}

// Eight clients at once, each driving its own VM through failover and revert three times and
// polling every job to its end: every job is accounted for, every call answered.
TEST_F(WsmanServerTest, EightConcurrentClientsEveryJobAccountedFor) {
  std::vector<Guid> vms;
  for (int i = 0; i < 8; ++i) {
    ASSERT_OK_AND_ASSIGN(
        Guid vm, ops::wmi::testing::MakeReplica(*store_, "/b" + std::to_string(i) + ".vhdx", 1,
                                                "vm" + std::to_string(i), i + 1));
    vms.push_back(vm);
  }
  Serve({.allow_unencrypted = true});
  std::mutex mu;
  std::set<std::string> jobs;
  std::atomic<int> failures{0};
  auto drive = [&](const Guid& vm) {
    httplib::Client c = Client();
    auto call = [&](const std::string& method) {
      auto r = c.Post(
          "/wsman",
          InvokeRequest("Msvm_ReplicationService", method, ServiceSelectors(), VmParam(vm)), kSoap);
      if (!r || r->status != 200 || FirstText(r->body, "ReturnValue") != "4096")
        return ++failures, std::string();
      const std::string job = JobIdOf(r->body);
      for (int i = 0; i < 3000; ++i) {
        auto g = c.Post("/wsman", GetRequest("Msvm_ConcreteJob", {{"InstanceID", job}}), kSoap);
        if (!g || g->status != 200) return ++failures, std::string();
        const std::string state = FirstText(g->body, "JobState");
        if (state == "7") return job;
        if (state != "2" && state != "3" && state != "4") return ++failures, std::string();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      return ++failures, std::string();
    };
    for (int round = 0; round < 3; ++round) {
      for (const char* m : {"InitiateFailover", "RevertFailover"}) {
        std::string job = call(m);
        std::lock_guard<std::mutex> guard(mu);
        if (!job.empty()) jobs.insert(job);
      }
    }
  };
  std::vector<std::thread> clients;
  for (const Guid& vm : vms) clients.emplace_back(drive, vm);
  for (auto& t : clients) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(jobs.size(), 48u);
  // The server lists them all, each completed.
  auto r = Client().Post(
      "/wsman",
      EnumerateRequest("Msvm_ConcreteJob",
                       "<wsman:OptimizeEnumeration/><wsman:MaxElements>100</wsman:MaxElements>"),
      kSoap);
  ASSERT_TRUE(r);
  std::vector<std::string> states = AllText(r->body, "JobState");
  EXPECT_EQ(states.size(), 48u);
  EXPECT_EQ(std::count(states.begin(), states.end(), "7"), 48);
  for (const Guid& vm : vms)
    EXPECT_EQ(store_->GetVm(vm)->state, ops::ReplicationState::kReplicating);
}

}  // namespace
}  // namespace hvdisk::wsman
