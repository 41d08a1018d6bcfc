// WsmanHandler: answers one WS-Management request envelope for root/virtualization/v2 from a
// ReplicationService. It parses (wsman_request.h), calls the service and serializes
// (wsman_response.h); every decision about VMs, points and jobs is the engine's.
//
//   Identify                 IdentifyResponse (protocol version, vendor hvdisk, version)
//   Get                      the instance the ResourceURI's class and the selectors name
//                            (ReplicationService::GetInstance); none: wsa:DestinationUnreachable;
//                            bad selectors: wsman:InvalidSelectors
//   Enumerate / Pull / Release   every instance of the class, or those a WQL (or the same subset
//                            in the CQL dialect) filter selects (ResourceURI .../v2/* or the
//                            query's class); objects, EPRs (EnumerateEPR) or both; optimized or not
//   Invoke                   Msvm_ReplicationService: InitiateFailover, RevertFailover,
//                            CommitFailover, TestReplicaSystem (the service's own selectors);
//                            Msvm_ComputerSystem (selectors: the VM):
//                            RequestReplicationStateChange; Msvm_ConcreteJob (selectors: the
//                            job): RequestStateChange. <Method>_OUTPUT carries the Job and
//                            ResultingSystem EPRs when set and ReturnValue; a refusal of the
//                            engine is its return value (32773, 32775, ...), not a fault.
//
// A reply larger than the request's MaxEnvelopeSize is wsman:EncodingLimit (a Pull returns fewer
// items instead when it can).
//
// Thread safety: Handle may be called from any number of threads at once. The service must
// outlive the handler.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ops/wmi/replication_service.h"
#include "wsman/enumeration_contexts.h"
#include "wsman/wsman_request.h"

namespace hvdisk::wsman {

struct HandlerOptions {
  size_t max_request_bytes = 512 * 1024;  // the largest envelope read (WinRM: 500 KiB)
  std::string product_version = "0";
};

struct HttpReply {
  int status = 200;
  std::string body;
};

class WsmanHandler {
 public:
  WsmanHandler(ops::wmi::ReplicationService* service, HandlerOptions options);

  HttpReply Handle(std::string_view body);

 private:
  HttpReply Dispatch(const WsmanRequest& r);
  HttpReply Identify(const WsmanRequest& r);
  HttpReply Get(const WsmanRequest& r);
  HttpReply Enumerate(const WsmanRequest& r);
  // The instances an Enumerate selects; nullopt with *refusal set when it is refused.
  std::optional<std::vector<ops::wmi::CimInstance>> Select(const WsmanRequest& r,
                                                           HttpReply* refusal);
  HttpReply Pull(const WsmanRequest& r);
  HttpReply Release(const WsmanRequest& r);
  HttpReply Invoke(const WsmanRequest& r);
  // The reply, or EncodingLimit when it exceeds the request's MaxEnvelopeSize.
  HttpReply Reply(const WsmanRequest& r, std::string_view action, std::string_view body);

  ops::wmi::ReplicationService* service_;
  HandlerOptions options_;
  EnumerationContexts contexts_;
};

}  // namespace hvdisk::wsman
