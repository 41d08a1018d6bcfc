// MethodInvocation: a WS-Management Invoke as the facade's method call (ops/wmi/method_call.h),
// and the method's out parameters as <Method>_OUTPUT.
//
//   ResourceURI class          methods                          the instance (selectors)
//   Msvm_ReplicationService    InitiateFailover, RevertFailover,  the service's four keys
//                              CommitFailover, TestReplicaSystem
//   Msvm_ComputerSystem        RequestReplicationStateChange      the VM: ComputerSystem
//   Msvm_ConcreteJob           RequestStateChange                 the job: Job
//
// EPR parameters become CIM paths (class from their ResourceURI, keys from their selectors), a
// nil parameter is NULL, TimeoutPeriod is accepted and ignored (every call answers at once).
// Refusals before the engine are faults: another class or method (wsa:ActionNotSupported), the
// service's selectors wrong (wsman:InvalidSelectors), a parameter the method does not take or an
// EPR outside root/virtualization/v2 (wsman:InvalidParameter).
//
// Thread safety: pure functions over values.
#pragma once

#include <optional>
#include <string>

#include "ops/wmi/method_call.h"
#include "wsman/wsman_fault.h"
#include "wsman/wsman_request.h"

namespace hvdisk::wsman {

struct MethodInvocation {
  std::string class_method;  // CLASS.METHOD
  ops::wmi::MethodParams params;
};

std::optional<MethodInvocation> ToMethodInvocation(const WsmanRequest& r, Fault* fault);
// The s:Body content of the reply: <p:Method_OUTPUT> with Job, ResultingSystem, ReturnValue.
std::string MethodOutputXml(const WsmanRequest& r, const ops::wmi::MethodResult& result);

}  // namespace hvdisk::wsman
