#include "ops/wmi/method_call.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>

namespace hvdisk::ops::wmi {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The parameters of one call, checked against the names the method takes.
class Args {
 public:
  Args(std::string_view method, const MethodParams& params) : method_(method), params_(params) {}

  Status Expect(const std::vector<MethodParamInfo>& signature) const {
    for (const auto& param : params_) {
      const auto& name = param.first;  // a named reference: clang 14 cannot capture a binding
      if (std::none_of(signature.begin(), signature.end(), [&](const MethodParamInfo& p) {
            return !p.out && Lower(p.name) == Lower(name);
          })) {
        return InvalidArgument(std::string(method_) + " has no parameter " + name);
      }
    }
    return Status::Ok();
  }
  // The value, or empty (NULL) when absent.
  std::string Get(std::string_view name) const {
    for (const auto& [n, value] : params_) {
      if (Lower(n) == Lower(name)) return value;
    }
    return "";
  }
  Result<uint16_t> GetUint16(std::string_view name) const {
    const std::string text = Get(name);
    uint16_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
      return InvalidArgument(std::string(name) + " must be a uint16, not '" + text + "'");
    }
    return value;
  }

 private:
  std::string_view method_;
  const MethodParams& params_;
};

using Handler = std::function<Result<MethodResult>(ReplicationService&, const Args&)>;

struct Method {
  std::string_view name;  // CLASS.METHOD
  std::vector<MethodParamInfo> params;
  Handler run;
};

constexpr MethodParamInfo kVmIn{"ComputerSystem", "CIM_ComputerSystem REF", false};
constexpr MethodParamInfo kPointIn{"SnapshotSettingData", "CIM_VirtualSystemSettingData REF",
                                   false};
constexpr MethodParamInfo kStateIn{"RequestedState", "uint16", false};
constexpr MethodParamInfo kJobOut{"Job", "CIM_ConcreteJob REF", true};

const std::vector<Method>& Methods() {
  static const std::vector<Method> kMethods = {
      {"Msvm_ReplicationService.InitiateFailover",
       {kVmIn, kPointIn, kJobOut},
       [](ReplicationService& s, const Args& a) -> Result<MethodResult> {
         return s.InitiateFailover(a.Get("ComputerSystem"), a.Get("SnapshotSettingData"));
       }},
      {"Msvm_ReplicationService.RevertFailover",
       {kVmIn, kJobOut},
       [](ReplicationService& s, const Args& a) -> Result<MethodResult> {
         return s.RevertFailover(a.Get("ComputerSystem"));
       }},
      {"Msvm_ReplicationService.CommitFailover",
       {kVmIn, kJobOut},
       [](ReplicationService& s, const Args& a) -> Result<MethodResult> {
         return s.CommitFailover(a.Get("ComputerSystem"));
       }},
      {"Msvm_ReplicationService.TestReplicaSystem",
       {kVmIn, kPointIn, {"ResultingSystem", "CIM_ComputerSystem REF", true}, kJobOut},
       [](ReplicationService& s, const Args& a) -> Result<MethodResult> {
         return s.TestReplicaSystem(a.Get("ComputerSystem"), a.Get("SnapshotSettingData"));
       }},
      {"Msvm_ComputerSystem.RequestReplicationStateChange",
       {kVmIn, kStateIn, kJobOut},
       [](ReplicationService& s, const Args& a) -> Result<MethodResult> {
         ASSIGN_OR_RETURN(uint16_t state, a.GetUint16("RequestedState"));
         return s.RequestReplicationStateChange(a.Get("ComputerSystem"), state);
       }},
      {"Msvm_VirtualSystemManagementService.DestroySystem",
       {{"AffectedSystem", "CIM_ComputerSystem REF", false}, kJobOut},
       [](ReplicationService& s, const Args& a) -> Result<MethodResult> {
         return s.DestroySystem(a.Get("AffectedSystem"));
       }},
      {"Msvm_ConcreteJob.RequestStateChange",
       {{"Job", "CIM_ConcreteJob REF", false}, kStateIn},
       [](ReplicationService& s, const Args& a) -> Result<MethodResult> {
         ASSIGN_OR_RETURN(uint16_t state, a.GetUint16("RequestedState"));
         return MethodResult{.return_value = s.RequestJobStateChange(a.Get("Job"), state)};
       }},
  };
  return kMethods;
}

}  // namespace

Result<MethodParams> ParseMethodParams(const std::vector<std::string>& args) {
  MethodParams out;
  for (const std::string& arg : args) {
    const size_t eq = arg.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgument("parameter '" + arg + "' is not NAME=VALUE");
    }
    std::string name = arg.substr(0, eq);
    for (const auto& [n, v] : out) {
      if (Lower(n) == Lower(name)) return InvalidArgument("parameter " + name + " repeats");
    }
    out.emplace_back(std::move(name), arg.substr(eq + 1));
  }
  return out;
}

std::vector<MethodInfo> DescribeMethods() {
  std::vector<MethodInfo> out;
  for (const Method& m : Methods()) out.push_back({m.name, m.params});
  return out;
}

Result<MethodResult> InvokeMethod(ReplicationService& service, std::string_view class_method,
                                  const MethodParams& params) {
  for (const Method& m : Methods()) {
    if (Lower(m.name) != Lower(class_method)) continue;
    Args args(m.name, params);
    RETURN_IF_ERROR(args.Expect(m.params));
    return m.run(service, args);
  }
  std::string known;
  for (const Method& m : Methods()) known += "\n  " + std::string(m.name);
  return InvalidArgument("unknown method '" + std::string(class_method) + "'; known:" + known);
}

}  // namespace hvdisk::ops::wmi
