#include "wsman/method_invocation.h"

#include "ops/wmi/cim_instance.h"
#include "ops/wmi/cim_reference.h"
#include "wsman/soap_xml.h"
#include "wsman/wsman_response.h"

namespace hvdisk::wsman {
namespace {

using ops::wmi::EqualsNoCase;

struct Target {
  std::string_view cls;
  std::vector<std::string_view> methods;
  std::string_view instance_param;  // the parameter the selectors fill; empty: the service
};

const std::vector<Target>& Targets() {
  static const std::vector<Target> kTargets = {
      {ops::wmi::kReplicationServiceClass,
       {"InitiateFailover", "RevertFailover", "CommitFailover", "TestReplicaSystem"},
       ""},
      {ops::wmi::kComputerSystemClass, {"RequestReplicationStateChange"}, "ComputerSystem"},
      {ops::wmi::kConcreteJobClass, {"RequestStateChange"}, "Job"},
  };
  return kTargets;
}

std::optional<MethodInvocation> Refuse(Fault* fault, FaultKind kind, std::string reason) {
  *fault = Fault{kind, std::move(reason)};
  return std::nullopt;
}

// The selectors of the instance a method is invoked on, as the parameter or service check wants.
bool CheckInstance(const Target& t, const WsmanRequest& r, MethodInvocation* call, Fault* fault) {
  const std::string path =
      ops::wmi::FormatCimPath({.host = "", .class_name = std::string(t.cls), .keys = r.selectors});
  if (r.selectors.empty()) {
    *fault = Fault{FaultKind::kInvalidSelectors,
                   "the request names no instance of " + std::string(t.cls) + " (no SelectorSet)"};
    return false;
  }
  if (t.instance_param.empty()) {
    Result<ops::wmi::CimPath> parsed = ops::wmi::ParseCimPath(path);
    Status st =
        parsed.ok() ? ops::wmi::CheckReplicationServicePath(path, *parsed) : parsed.status();
    if (!st.ok()) *fault = Fault{FaultKind::kInvalidSelectors, st.message()};
    return st.ok();
  }
  call->params.emplace_back(std::string(t.instance_param), path);
  return true;
}

bool AddParam(const InvokeParam& p, const Target& t, MethodInvocation* call, Fault* fault) {
  if (EqualsNoCase(p.name, "TimeoutPeriod")) return true;
  if (!t.instance_param.empty() && EqualsNoCase(p.name, t.instance_param)) {
    *fault = Fault{FaultKind::kInvalidParameter,
                   p.name + " is the instance the method is invoked on: name it by the selectors"};
    return false;
  }
  if (p.epr) {
    const std::string cls = ClassOfResourceUri(p.epr->resource_uri);
    if (cls.empty() || p.epr->selectors.empty()) {
      *fault = Fault{FaultKind::kInvalidParameter,
                     p.name + " is not a reference into root/virtualization/v2"};
      return false;
    }
    call->params.emplace_back(
        p.name, ops::wmi::FormatCimPath({.host = "", .class_name = cls, .keys = p.epr->selectors}));
  } else if (p.text) {
    call->params.emplace_back(p.name, *p.text);
  }
  return true;
}

}  // namespace

std::optional<MethodInvocation> ToMethodInvocation(const WsmanRequest& r, Fault* fault) {
  const std::string cls = ClassOfResourceUri(r.resource_uri);
  for (const Target& t : Targets()) {
    if (cls != t.cls) continue;
    bool known = false;
    for (std::string_view m : t.methods) known = known || m == r.method;
    if (!known) break;
    MethodInvocation call{.class_method = std::string(t.cls) + "." + r.method};
    if (!CheckInstance(t, r, &call, fault)) return std::nullopt;
    for (const InvokeParam& p : r.params) {
      if (!AddParam(p, t, &call, fault)) return std::nullopt;
    }
    return call;
  }
  return Refuse(fault, FaultKind::kActionNotSupported,
                "method " + r.method + " of " + r.resource_uri + " is not one hvdisk serves");
}

std::string MethodOutputXml(const WsmanRequest& r, const ops::wmi::MethodResult& result) {
  std::string out = "<p:" + r.method + "_OUTPUT xmlns:p=\"" + XmlEscape(r.resource_uri) + "\">\n";
  if (!result.job.empty()) out += EprXmlOfPath("p:Job", result.job) + "\n";
  if (!result.resulting_system.empty()) {
    out += EprXmlOfPath("p:ResultingSystem", result.resulting_system) + "\n";
  }
  out += "<p:ReturnValue>" + std::to_string(result.return_value) + "</p:ReturnValue>\n";
  return out + "</p:" + r.method + "_OUTPUT>";
}

}  // namespace hvdisk::wsman
