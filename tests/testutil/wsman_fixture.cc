#include "tests/testutil/wsman_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <pugixml.hpp>
#include <sstream>
#include <thread>

#include "ops/wmi/cim_reference.h"
#include "tests/testutil/cli_runner.h"
#include "wsman/soap_xml.h"

namespace hvdisk::wsman::testing {
namespace {

void Collect(pugi::xml_node n, std::string_view local, std::vector<std::string>* out) {
  for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element) continue;
    if (LocalName(c.name()) == local) out->push_back(Text(c));
    Collect(c, local, out);
  }
}

}  // namespace

std::string Uri(std::string_view cls) { return std::string(kResourcePrefix) + std::string(cls); }

std::string Envelope(std::string_view action, std::string_view resource_uri,
                     std::string_view extra_headers, std::string_view body) {
  return "<?xml version=\"1.0\"?>\n<s:Envelope xmlns:s=\"" + std::string(kSoapNs) +
         "\" xmlns:wsa=\"" + std::string(kAddressingNs) + "\" xmlns:wsman=\"" +
         std::string(kWsmanNs) + "\" xmlns:wsen=\"" + std::string(kEnumerationNs) +
         "\">\n<s:Header>\n<wsa:Action s:mustUnderstand=\"true\">" + std::string(action) +
         "</wsa:Action>\n<wsa:To s:mustUnderstand=\"true\">http://127.0.0.1/wsman</wsa:To>\n"
         "<wsman:ResourceURI s:mustUnderstand=\"true\">" +
         std::string(resource_uri) +
         "</wsman:ResourceURI>\n<wsa:MessageID s:mustUnderstand=\"true\">uuid:" +
         Guid::Random().ToString(false) + "</wsa:MessageID>\n<wsa:ReplyTo><wsa:Address>" +
         std::string(kAnonymous) + "</wsa:Address></wsa:ReplyTo>\n" + std::string(extra_headers) +
         "</s:Header>\n<s:Body>\n" + std::string(body) + "</s:Body>\n</s:Envelope>\n";
}

std::string SelectorSetXml(const SelectorList& selectors) {
  std::string out = "<wsman:SelectorSet>";
  for (const auto& [k, v] : selectors) {
    out += "<wsman:Selector Name=\"" + XmlEscape(k) + "\">" + XmlEscape(v) + "</wsman:Selector>";
  }
  return out + "</wsman:SelectorSet>\n";
}

std::string GetRequest(std::string_view cls, const SelectorList& selectors) {
  return Envelope(std::string(kTransferNs) + "/Get", Uri(cls), SelectorSetXml(selectors), "");
}

std::string EnumerateRequest(std::string_view cls_or_star, std::string_view children) {
  return Envelope(std::string(kEnumerationNs) + "/Enumerate", Uri(cls_or_star), "",
                  "<wsen:Enumerate>" + std::string(children) + "</wsen:Enumerate>\n");
}

std::string WqlFilter(std::string_view query) {
  return "<wsman:Filter Dialect=\"" + std::string(kWqlDialect) + "\">" + XmlEscape(query) +
         "</wsman:Filter>";
}

std::string PullRequest(std::string_view cls, std::string_view context, int max_elements) {
  std::string max;
  if (max_elements > 0)
    max = "<wsen:MaxElements>" + std::to_string(max_elements) + "</wsen:MaxElements>";
  return Envelope(std::string(kEnumerationNs) + "/Pull", Uri(cls), "",
                  "<wsen:Pull><wsen:EnumerationContext>" + std::string(context) +
                      "</wsen:EnumerationContext>" + max + "</wsen:Pull>\n");
}

std::string InvokeRequest(std::string_view cls, std::string_view method,
                          const SelectorList& selectors, std::string_view params_xml) {
  const std::string uri = Uri(cls);
  return Envelope(uri + "/" + std::string(method), uri, SelectorSetXml(selectors),
                  "<p:" + std::string(method) + "_INPUT xmlns:p=\"" + uri + "\">" +
                      std::string(params_xml) + "</p:" + std::string(method) + "_INPUT>\n");
}

SelectorList ServiceSelectors() {
  return {{"CreationClassName", "Msvm_ReplicationService"},
          {"Name", "vmms"},
          {"SystemCreationClassName", "Msvm_ComputerSystem"},
          {"SystemName", ops::wmi::HostName()}};
}

std::string EprParam(std::string_view name, std::string_view cls, const SelectorList& selectors) {
  return "<p:" + std::string(name) + "><wsa:Address>" + std::string(kAnonymous) +
         "</wsa:Address><wsa:ReferenceParameters><wsman:ResourceURI>" + Uri(cls) +
         "</wsman:ResourceURI>" + SelectorSetXml(selectors) +
         "</wsa:ReferenceParameters></p:" + std::string(name) + ">";
}

std::string VmParam(const Guid& vm) {
  return EprParam("ComputerSystem", "Msvm_ComputerSystem",
                  {{"CreationClassName", "Msvm_ComputerSystem"}, {"Name", vm.ToString(false)}});
}

std::vector<std::string> AllText(std::string_view xml, std::string_view local) {
  pugi::xml_document doc;
  std::vector<std::string> out;
  if (doc.load_buffer(xml.data(), xml.size())) Collect(doc, local, &out);
  return out;
}

std::string FirstText(std::string_view xml, std::string_view local) {
  std::vector<std::string> all = AllText(xml, local);
  return all.empty() ? "" : all[0];
}

std::string FaultSubcodeOf(std::string_view xml) {
  if (AllText(xml, "Fault").empty()) return "";
  std::vector<std::string> values = AllText(xml, "Value");
  return values.size() >= 2 ? values[1] : (values.empty() ? "?" : values[0]);
}

std::string JobIdOf(std::string_view xml) {
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) return "";
  pugi::xpath_node job = doc.select_node("//*[local-name()='Job']//*[local-name()='Selector']");
  return job ? Text(job.node()) : "";
}

bool WsmanProcess::Start(const std::vector<std::string>& args, const std::string& log_dir) {
  const std::string log = log_dir + "/wsman-" + Guid::Random().ToString(false) + ".log";
  std::vector<std::string> all = {"wsman", "--listen", "127.0.0.1:0"};
  all.insert(all.end(), args.begin(), args.end());
  pid_ = hvdisk::testing::SpawnHvdisk(all, log);
  if (pid_ < 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    const std::string s = text.str();
    const size_t at = s.find("127.0.0.1:");
    if (s.find("serving") != std::string::npos && at != std::string::npos) {
      port_ = std::stoi(s.substr(at + 10));
      return true;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      error_ = "hvdisk wsman exited at once: " + s;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  error_ = "hvdisk wsman did not report its port within 20 s";
  return false;
}

int WsmanProcess::Stop() {
  if (pid_ < 0) return 0;
  kill(pid_, SIGTERM);
  const int status = hvdisk::testing::WaitForExit(pid_);
  pid_ = -1;
  return status;
}

}  // namespace hvdisk::wsman::testing
