// The request parser alone (wsman/wsman_request.h): what it reads from the envelopes real clients
// send, and the limits it keeps on untrusted input.
#include "wsman/wsman_request.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/testutil/wsman_fixture.h"
#include "wsman/soap_xml.h"

namespace hvdisk::wsman {
namespace {

using namespace testing;  // NOLINT: the envelope helpers

std::optional<WsmanRequest> Parse(const std::string& body, Fault* fault) {
  std::string id;
  return ParseRequest(body, 1 << 20, fault, &id);
}

TEST(WsmanRequestTest, AnInvokeAsWslinvokeSendsItIsReadWhole) {
  Fault fault;
  const Guid vm = Guid::Random();
  std::optional<WsmanRequest> r = Parse(
      InvokeRequest("Msvm_ReplicationService", "RevertFailover", ServiceSelectors(), VmParam(vm)),
      &fault);
  ASSERT_TRUE(r) << fault.reason;
  EXPECT_EQ(r->op, Operation::kInvoke);
  EXPECT_EQ(r->method, "RevertFailover");
  EXPECT_EQ(r->selectors.size(), 4u);
  ASSERT_EQ(r->params.size(), 1u);
  ASSERT_TRUE(r->params[0].epr);
  EXPECT_EQ(r->params[0].epr->resource_uri, Uri("Msvm_ComputerSystem"));
  EXPECT_EQ(r->params[0].epr->selectors[1].second, vm.ToString(false));
}

TEST(WsmanRequestTest, PrefixesDoNotMatterNamespacesDo) {
  Fault fault;
  std::string body = "<E:Envelope xmlns:E=\"" + std::string(kSoapNs) +
                     "\"><E:Header><A:Action xmlns:A=\"" + std::string(kAddressingNs) + "\">" +
                     std::string(kTransferNs) + "/Get</A:Action><A:MessageID xmlns:A=\"" +
                     std::string(kAddressingNs) + "\">1</A:MessageID><ResourceURI xmlns=\"" +
                     std::string(kWsmanNs) + "\">" + Uri("Msvm_ConcreteJob") +
                     "</ResourceURI></E:Header><E:Body/></E:Envelope>";
  std::optional<WsmanRequest> r = Parse(body, &fault);
  ASSERT_TRUE(r) << fault.reason;
  EXPECT_EQ(r->op, Operation::kGet);
  // The same names in another namespace are not WS-Addressing's.
  std::string wrong = body;
  for (size_t at; (at = wrong.find(kAddressingNs)) != std::string::npos;) {
    wrong.replace(at, kAddressingNs.size(), "urn:other");
  }
  EXPECT_FALSE(Parse(wrong, &fault));
  EXPECT_EQ(fault.kind, FaultKind::kInvalidHeader);
}

TEST(WsmanRequestTest, LimitsOnSelectorsParametersAndCounts) {
  Fault fault;
  SelectorList many;
  for (size_t i = 0; i <= kMaxSelectors; ++i) many.emplace_back("K" + std::to_string(i), "v");
  EXPECT_FALSE(Parse(GetRequest("Msvm_ComputerSystem", many), &fault));
  EXPECT_EQ(fault.kind, FaultKind::kInvalidSelectors);
  std::string params;
  for (size_t i = 0; i <= kMaxParams; ++i)
    params += "<p:P" + std::to_string(i) + ">1</p:P" + std::to_string(i) + ">";
  EXPECT_FALSE(
      Parse(InvokeRequest("Msvm_ReplicationService", "RevertFailover", {}, params), &fault));
  EXPECT_EQ(fault.kind, FaultKind::kInvalidParameter);
  EXPECT_FALSE(Parse(
      EnumerateRequest("Msvm_ComputerSystem", "<wsman:MaxElements>99999999999</wsman:MaxElements>"),
      &fault));
  EXPECT_FALSE(Parse(PullRequest("Msvm_ComputerSystem", ""), &fault));
  EXPECT_EQ(fault.kind, FaultKind::kInvalidEnumerationContext);
  std::string nested = GetRequest("Msvm_ComputerSystem", {{"Name", "x"}});
  nested.replace(nested.find(">x<") + 1, 1, "<wsa:EndpointReference/>");
  EXPECT_FALSE(Parse(nested, &fault));
  EXPECT_EQ(fault.kind, FaultKind::kInvalidSelectors);
}

TEST(WsmanRequestTest, TheNamespaceSelectorIsAcceptedForThisNamespaceOnly) {
  Fault fault;
  std::optional<WsmanRequest> r =
      Parse(GetRequest("Msvm_ComputerSystem",
                       {{"Name", "x"}, {"__cimnamespace", "root\\virtualization\\v2"}}),
            &fault);
  ASSERT_TRUE(r) << fault.reason;
  EXPECT_EQ(r->selectors, (Selectors{{"Name", "x"}}));
  EXPECT_FALSE(
      Parse(GetRequest("Msvm_ComputerSystem", {{"Name", "x"}, {"__cimnamespace", "root/cimv2"}}),
            &fault));
  EXPECT_EQ(fault.kind, FaultKind::kInvalidSelectors);
}

TEST(WsmanRequestTest, ABodyOverTheLimitIsRefusedBeforeParsing) {
  Fault fault;
  std::string id;
  EXPECT_FALSE(ParseRequest(std::string(10000, '<'), 9999, &fault, &id));
  EXPECT_EQ(fault.kind, FaultKind::kEncodingLimit);
}

TEST(WsmanRequestTest, DeeplyNestedXmlIsParsedWithoutRecursionLimitsBeingHit) {
  Fault fault;
  std::string body;
  for (int i = 0; i < 100000; ++i) body += "<a>";
  for (int i = 0; i < 100000; ++i) body += "</a>";
  EXPECT_FALSE(Parse(body, &fault));
  EXPECT_EQ(fault.kind, FaultKind::kMalformed);
}

}  // namespace
}  // namespace hvdisk::wsman
