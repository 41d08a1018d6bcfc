// Helpers for the WS-Management tests: request envelopes as `wsl` and python3-winrm send them, a
// look into replies (by local name, as a client's XPath would), and WsmanProcess, a real
// `hvdisk wsman` on 127.0.0.1 and a free port, stopped by pid.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "platform/guid.h"

namespace hvdisk::wsman::testing {

using SelectorList = std::vector<std::pair<std::string, std::string>>;

// kResourcePrefix + cls.
std::string Uri(std::string_view cls);
// A whole envelope: Action, To, ResourceURI, MessageID, ReplyTo, `extra_headers`, `body`.
std::string Envelope(std::string_view action, std::string_view resource_uri,
                     std::string_view extra_headers, std::string_view body);
std::string SelectorSetXml(const SelectorList& selectors);
std::string GetRequest(std::string_view cls, const SelectorList& selectors);
// `enumerate_children`: OptimizeEnumeration, MaxElements, EnumerationMode, Filter, ...
std::string EnumerateRequest(std::string_view cls_or_star, std::string_view enumerate_children);
std::string WqlFilter(std::string_view query);
std::string PullRequest(std::string_view cls, std::string_view context, int max_elements = 0);
std::string InvokeRequest(std::string_view cls, std::string_view method,
                          const SelectorList& selectors, std::string_view params_xml);
// The selectors of this host's Msvm_ReplicationService.
SelectorList ServiceSelectors();
// <p:NAME> with a VM's (or another instance's) EPR inside, for InvokeRequest's params.
std::string EprParam(std::string_view name, std::string_view cls, const SelectorList& selectors);
std::string VmParam(const Guid& vm);

// The text of the first (or every) element named `local` (any namespace) in `xml`.
std::string FirstText(std::string_view xml, std::string_view local);
std::vector<std::string> AllText(std::string_view xml, std::string_view local);
// The fault subcode of a fault reply ("wsman:InvalidSelectors"), "" if it is not a fault.
std::string FaultSubcodeOf(std::string_view xml);
// The InstanceID selector of the Job EPR of a <Method>_OUTPUT.
std::string JobIdOf(std::string_view xml);

// `hvdisk wsman` in a child process, on 127.0.0.1 and a free port.
class WsmanProcess {
 public:
  WsmanProcess() = default;
  ~WsmanProcess() { Stop(); }
  WsmanProcess(const WsmanProcess&) = delete;
  WsmanProcess& operator=(const WsmanProcess&) = delete;

  // Starts it with `args` after `wsman` (--listen 127.0.0.1:0 is added) and waits (up to 20 s)
  // for its "serving" line; false (with the reason in error()) when it does not come.
  bool Start(const std::vector<std::string>& args, const std::string& log_dir);
  // SIGTERM, then waits; returns the exit status (-N for signal N), or 0 when not running.
  int Stop();
  int port() const { return port_; }
  int pid() const { return pid_; }
  const std::string& error() const { return error_; }

 private:
  int pid_ = -1;
  int port_ = 0;
  std::string error_;
};

}  // namespace hvdisk::wsman::testing
