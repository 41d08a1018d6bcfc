#include "wsman/wsman_fault.h"

#include "platform/guid.h"
#include "wsman/soap_xml.h"

namespace hvdisk::wsman {
namespace {

struct FaultInfo {
  std::string_view code;     // s:Sender, s:Receiver, s:MustUnderstand
  std::string_view subcode;  // QName with one of the envelope's prefixes
  std::string_view action;   // the fault's wsa:Action
};

constexpr std::string_view kAddressingFault =
    "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault";
constexpr std::string_view kWsmanFault = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault";
constexpr std::string_view kEnumerationFault =
    "http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault";

FaultInfo InfoOf(FaultKind kind) {
  switch (kind) {
    case FaultKind::kMalformed:
      return {"s:Sender", "wsman:SchemaValidationError", kWsmanFault};
    case FaultKind::kInvalidHeader:
      return {"s:Sender", "wsa:InvalidMessageInformationHeader", kAddressingFault};
    case FaultKind::kMustUnderstand:
      return {"s:MustUnderstand", "", kAddressingFault};
    case FaultKind::kActionNotSupported:
      return {"s:Sender", "wsa:ActionNotSupported", kAddressingFault};
    case FaultKind::kDestinationUnreachable:
      return {"s:Sender", "wsa:DestinationUnreachable", kAddressingFault};
    case FaultKind::kInvalidSelectors:
      return {"s:Sender", "wsman:InvalidSelectors", kWsmanFault};
    case FaultKind::kInvalidParameter:
      return {"s:Sender", "wsman:InvalidParameter", kWsmanFault};
    case FaultKind::kEncodingLimit:
      return {"s:Sender", "wsman:EncodingLimit", kWsmanFault};
    case FaultKind::kInvalidEnumerationContext:
      return {"s:Receiver", "wsen:InvalidEnumerationContext", kEnumerationFault};
    case FaultKind::kFilterDialectUnavailable:
      return {"s:Sender", "wsen:FilterDialectRequestedUnavailable", kEnumerationFault};
    case FaultKind::kCannotProcessFilter:
      return {"s:Sender", "wsen:CannotProcessFilter", kEnumerationFault};
    case FaultKind::kAccessDenied:
      return {"s:Sender", "wsman:AccessDenied", kWsmanFault};
    case FaultKind::kInternalError:
      break;
  }
  return {"s:Receiver", "wsman:InternalError", kWsmanFault};
}

}  // namespace

std::string_view FaultSubcode(FaultKind kind) { return InfoOf(kind).subcode; }

int HttpStatusOf(FaultKind kind) { return InfoOf(kind).code == "s:Sender" ? 400 : 500; }

std::string FaultEnvelope(const Fault& fault, std::string_view relates_to) {
  const FaultInfo info = InfoOf(fault.kind);
  std::string subcode;
  if (!info.subcode.empty()) {
    subcode = "<s:Subcode><s:Value>" + std::string(info.subcode) + "</s:Value></s:Subcode>";
  }
  std::string relates;
  if (!relates_to.empty()) relates = "<wsa:RelatesTo>" + XmlEscape(relates_to) + "</wsa:RelatesTo>";
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<s:Envelope xmlns:s=\"" +
         std::string(kSoapNs) + "\" xmlns:wsa=\"" + std::string(kAddressingNs) +
         "\" xmlns:wsman=\"" + std::string(kWsmanNs) + "\" xmlns:wsen=\"" +
         std::string(kEnumerationNs) +
         "\">"
         "<s:Header><wsa:Action>" +
         std::string(info.action) +
         "</wsa:Action>"
         "<wsa:MessageID>uuid:" +
         Guid::Random().ToString(false) + "</wsa:MessageID>" + relates + "<wsa:To>" +
         std::string(kAnonymous) +
         "</wsa:To></s:Header>"
         "<s:Body><s:Fault><s:Code><s:Value>" +
         std::string(info.code) + "</s:Value>" + subcode +
         "</s:Code><s:Reason><s:Text xml:lang=\"en-US\">" + XmlEscape(fault.reason) +
         "</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>\n";
}

}  // namespace hvdisk::wsman
