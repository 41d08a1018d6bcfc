#include "wsman/wsman_handler.h"

#include "ops/wmi/cim_instance.h"
#include "ops/wmi/cim_reference.h"
#include "ops/wmi/wql.h"
#include "wsman/method_invocation.h"
#include "wsman/soap_xml.h"
#include "wsman/wsman_response.h"

namespace hvdisk::wsman {
namespace {

constexpr size_t kEnvelopeOverhead = 2048;     // headers and wrappers around a Pull's items
constexpr uint64_t kDefaultEnvelope = 512000;  // WinRM's MaxEnvelopeSizekb default

HttpReply FaultReply(FaultKind kind, std::string reason, std::string_view relates_to) {
  const Fault f{kind, std::move(reason)};
  return HttpReply{HttpStatusOf(kind), FaultEnvelope(f, relates_to)};
}

// A refusal of the engine before any method runs (a lookup) as the fault that fits it.
HttpReply StatusFault(const Status& st, std::string_view relates_to) {
  switch (st.code()) {
    case Code::kNotFound:
      return FaultReply(FaultKind::kDestinationUnreachable, st.message(), relates_to);
    case Code::kInvalidArgument:
    case Code::kWrongType:
      return FaultReply(FaultKind::kInvalidSelectors, st.message(), relates_to);
    case Code::kAccessDenied:
      return FaultReply(FaultKind::kAccessDenied, st.message(), relates_to);
    default:
      return FaultReply(FaultKind::kInternalError, st.ToString(), relates_to);
  }
}

std::string ItemXml(const ops::wmi::CimInstance& i, EnumerationMode mode) {
  switch (mode) {
    case EnumerationMode::kEpr:
      return EprXml("wsa:EndpointReference", EprOf(i));
    case EnumerationMode::kObjectAndEpr:
      return "<wsman:Item>\n" + InstanceXml(i) + "\n" + EprXml("wsa:EndpointReference", EprOf(i)) +
             "\n</wsman:Item>";
    case EnumerationMode::kObjects:
      break;
  }
  return InstanceXml(i);
}

size_t ItemBudget(const WsmanRequest& r) {
  const uint64_t max = r.max_envelope_size != 0 ? r.max_envelope_size : kDefaultEnvelope;
  return max > kEnvelopeOverhead ? static_cast<size_t>(max - kEnvelopeOverhead) : 0;
}

// A batch of items and where the sequence stands: the context while items remain, the items in
// `ns`:Items (wsman in an optimized EnumerateResponse, wsen in a PullResponse), EndOfSequence at
// the end.
std::string BatchXml(std::string_view ns, std::string_view context, bool end,
                     const std::vector<std::string>& batch) {
  const std::string p(ns);
  std::string body;
  if (!end)
    body += "<wsen:EnumerationContext>" + XmlEscape(context) + "</wsen:EnumerationContext>\n";
  body += "<" + p + ":Items>\n";
  for (const std::string& item : batch) body += item + "\n";
  body += "</" + p + ":Items>\n";
  if (end) body += "<" + p + ":EndOfSequence/>\n";
  return body;
}

// What `found` holds until a branch below assigns it.
Status InternalErrorPlaceholder() { return InvalidState("no selection was made"); }

std::string Action(std::string_view ns, std::string_view name) {
  return std::string(ns) + "/" + std::string(name);
}

}  // namespace

WsmanHandler::WsmanHandler(ops::wmi::ReplicationService* service, HandlerOptions options)
    : service_(service), options_(std::move(options)) {}

HttpReply WsmanHandler::Handle(std::string_view body) {
  Fault fault;
  std::string message_id;
  std::optional<WsmanRequest> r =
      ParseRequest(body, options_.max_request_bytes, &fault, &message_id);
  if (!r) return HttpReply{HttpStatusOf(fault.kind), FaultEnvelope(fault, message_id)};
  return Dispatch(*r);
}

HttpReply WsmanHandler::Dispatch(const WsmanRequest& r) {
  switch (r.op) {
    case Operation::kIdentify:
      return Identify(r);
    case Operation::kGet:
      return Get(r);
    case Operation::kEnumerate:
      return Enumerate(r);
    case Operation::kPull:
      return Pull(r);
    case Operation::kRelease:
      return Release(r);
    case Operation::kInvoke:
      return Invoke(r);
  }
  return FaultReply(FaultKind::kActionNotSupported, "unknown operation", r.message_id);
}

HttpReply WsmanHandler::Reply(const WsmanRequest& r, std::string_view action,
                              std::string_view body) {
  std::string envelope = ReplyEnvelope(action, r.message_id, body);
  if (r.max_envelope_size != 0 && envelope.size() > r.max_envelope_size) {
    return FaultReply(FaultKind::kEncodingLimit,
                      "the reply of " + std::to_string(envelope.size()) +
                          " bytes exceeds MaxEnvelopeSize " + std::to_string(r.max_envelope_size),
                      r.message_id);
  }
  return HttpReply{200, std::move(envelope)};
}

HttpReply WsmanHandler::Identify(const WsmanRequest& r) {
  return Reply(r, "",
               "<wsmid:IdentifyResponse>\n<wsmid:ProtocolVersion>" + std::string(kWsmanNs) +
                   "</wsmid:ProtocolVersion>\n<wsmid:ProductVendor>hvdisk</wsmid:ProductVendor>\n"
                   "<wsmid:ProductVersion>" +
                   XmlEscape(options_.product_version) +
                   "</wsmid:ProductVersion>\n</wsmid:IdentifyResponse>");
}

HttpReply WsmanHandler::Get(const WsmanRequest& r) {
  const std::string cls = ClassOfResourceUri(r.resource_uri);
  if (!ops::wmi::CanonicalClass(cls)) {
    return FaultReply(FaultKind::kDestinationUnreachable,
                      "resource " + r.resource_uri + " is not one hvdisk serves", r.message_id);
  }
  if (r.selectors.empty()) {
    return FaultReply(FaultKind::kInvalidSelectors, "Get needs the selectors of one instance",
                      r.message_id);
  }
  Result<ops::wmi::CimInstance> found = service_->GetInstance(
      ops::wmi::FormatCimPath({.host = "", .class_name = cls, .keys = r.selectors}));
  if (!found.ok()) return StatusFault(found.status(), r.message_id);
  return Reply(r, Action(kTransferNs, "GetResponse"), InstanceXml(*found));
}

std::optional<std::vector<ops::wmi::CimInstance>> WsmanHandler::Select(const WsmanRequest& r,
                                                                       HttpReply* refusal) {
  const std::string cls = ClassOfResourceUri(r.resource_uri);
  Result<std::vector<ops::wmi::CimInstance>> found = InternalErrorPlaceholder();
  if (!r.has_filter) {
    if (!ops::wmi::CanonicalClass(cls)) {
      *refusal =
          FaultReply(FaultKind::kDestinationUnreachable,
                     "resource " + r.resource_uri + " is not one hvdisk serves", r.message_id);
      return std::nullopt;
    }
    found = service_->EnumerateInstances(cls);
  } else if (r.filter_dialect != kWqlDialect && r.filter_dialect != kCqlDialect) {
    *refusal = FaultReply(FaultKind::kFilterDialectUnavailable,
                          "filter dialect '" + r.filter_dialect + "' is not supported (WQL is)",
                          r.message_id);
    return std::nullopt;
  } else {
    Result<ops::wmi::WqlQuery> q = ops::wmi::ParseWql(r.filter);
    if (q.ok() && cls != "*" && !ops::wmi::EqualsNoCase(q->class_name, cls)) {
      found = InvalidArgument("the query selects " + q->class_name + ", the resource is " + cls);
    } else {
      found = service_->ExecQuery(r.filter);
    }
    if (!found.ok() && found.status().code() == Code::kInvalidArgument) {
      *refusal =
          FaultReply(FaultKind::kCannotProcessFilter, found.status().message(), r.message_id);
      return std::nullopt;
    }
  }
  if (!found.ok()) {
    *refusal = StatusFault(found.status(), r.message_id);
    return std::nullopt;
  }
  return std::move(found).value();
}

HttpReply WsmanHandler::Enumerate(const WsmanRequest& r) {
  HttpReply refusal;
  std::optional<std::vector<ops::wmi::CimInstance>> found = Select(r, &refusal);
  if (!found) return refusal;
  std::vector<std::string> items;
  for (const auto& i : *found) items.push_back(ItemXml(i, r.mode));
  const std::string id = contexts_.Open(std::move(items));
  if (!r.optimize) {
    return Reply(r, Action(kEnumerationNs, "EnumerateResponse"),
                 "<wsen:EnumerateResponse>\n<wsen:EnumerationContext>" + id +
                     "</wsen:EnumerationContext>\n</wsen:EnumerateResponse>");
  }
  std::vector<std::string> batch;
  bool end = false, too_big = false;
  contexts_.Pull(id, r.max_elements, ItemBudget(r), &batch, &end, &too_big);
  return Reply(r, Action(kEnumerationNs, "EnumerateResponse"),
               "<wsen:EnumerateResponse>\n" + BatchXml("wsman", id, end, batch) +
                   "</wsen:EnumerateResponse>");
}

HttpReply WsmanHandler::Pull(const WsmanRequest& r) {
  std::vector<std::string> batch;
  bool end = false, too_big = false;
  if (!contexts_.Pull(r.context, r.max_elements, ItemBudget(r), &batch, &end, &too_big)) {
    return FaultReply(FaultKind::kInvalidEnumerationContext,
                      "enumeration context " + r.context + " is unknown, finished or expired",
                      r.message_id);
  }
  if (too_big) {
    return FaultReply(
        FaultKind::kEncodingLimit,
        "the next item does not fit in MaxEnvelopeSize " + std::to_string(r.max_envelope_size),
        r.message_id);
  }
  return Reply(
      r, Action(kEnumerationNs, "PullResponse"),
      "<wsen:PullResponse>\n" + BatchXml("wsen", r.context, end, batch) + "</wsen:PullResponse>");
}

HttpReply WsmanHandler::Release(const WsmanRequest& r) {
  if (!contexts_.Release(r.context)) {
    return FaultReply(FaultKind::kInvalidEnumerationContext,
                      "enumeration context " + r.context + " is unknown, finished or expired",
                      r.message_id);
  }
  return Reply(r, Action(kEnumerationNs, "ReleaseResponse"), "");
}

HttpReply WsmanHandler::Invoke(const WsmanRequest& r) {
  Fault fault;
  std::optional<MethodInvocation> call = ToMethodInvocation(r, &fault);
  if (!call) return FaultReply(fault.kind, fault.reason, r.message_id);
  Result<ops::wmi::MethodResult> result =
      ops::wmi::InvokeMethod(*service_, call->class_method, call->params);
  if (!result.ok()) {
    return FaultReply(FaultKind::kInvalidParameter, result.status().message(), r.message_id);
  }
  return Reply(r, r.action + "Response", MethodOutputXml(r, *result));
}

}  // namespace hvdisk::wsman
