// MethodCall: a method invoked by name with NAME=VALUE parameters, as `hvdisk wmi invoke` (and
// any front end speaking Invoke-CimMethod's language) passes it, dispatched to a
// ReplicationService.
//
//   Msvm_ReplicationService.InitiateFailover   ComputerSystem=REF [SnapshotSettingData=REF]
//   Msvm_ReplicationService.RevertFailover     ComputerSystem=REF
//   Msvm_ReplicationService.CommitFailover     ComputerSystem=REF
//   Msvm_ReplicationService.TestReplicaSystem  ComputerSystem=REF [SnapshotSettingData=REF]
//   Msvm_ComputerSystem.RequestReplicationStateChange  ComputerSystem=REF RequestedState=N
//   Msvm_VirtualSystemManagementService.DestroySystem  AffectedSystem=REF
//   Msvm_ConcreteJob.RequestStateChange        Job=REF RequestedState=N
//
// Class, method and parameter names compare case-insensitively. An unknown method or parameter,
// a repeated parameter, or a RequestedState that is not a uint16 is kInvalidArgument (a usage
// error, as the CIM layer rejects it before any method runs); a missing REF is passed as NULL.
//
// Thread safety: as the service.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ops/wmi/replication_service.h"

namespace hvdisk::ops::wmi {

using MethodParams = std::vector<std::pair<std::string, std::string>>;

// Splits "NAME=VALUE" arguments; kInvalidArgument for one without '=' or a repeated name.
Result<MethodParams> ParseMethodParams(const std::vector<std::string>& args);

// A method's signature, as `hvdisk wmi methods` lists it: each parameter's name, CIM type and
// direction, in the documented order (the return value is a uint32 for every method).
struct MethodParamInfo {
  std::string_view name;
  std::string_view type;  // "CIM_ComputerSystem REF", "uint16", ...
  bool out = false;
};
struct MethodInfo {
  std::string_view name;  // CLASS.METHOD
  std::vector<MethodParamInfo> params;
};
std::vector<MethodInfo> DescribeMethods();

Result<MethodResult> InvokeMethod(ReplicationService& service, std::string_view class_method,
                                  const MethodParams& params);

}  // namespace hvdisk::ops::wmi
