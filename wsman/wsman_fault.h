// Fault: what a WS-Management request is answered with when it is refused before (or instead of)
// reaching the engine, as DSP0226 names the faults, and its SOAP 1.2 envelope.
//
//   kind                       SOAP code  subcode                          HTTP
//   kMalformed                 Sender     wsman:SchemaValidationError      400
//   kInvalidHeader             Sender     wsa:InvalidMessageInformationHeader 400
//   kMustUnderstand            MustUnderstand (no subcode)                 500
//   kActionNotSupported        Sender     wsa:ActionNotSupported           400
//   kDestinationUnreachable    Sender     wsa:DestinationUnreachable       400
//   kInvalidSelectors          Sender     wsman:InvalidSelectors           400
//   kInvalidParameter          Sender     wsman:InvalidParameter           400
//   kEncodingLimit             Sender     wsman:EncodingLimit              400
//   kInvalidEnumerationContext Receiver   wsen:InvalidEnumerationContext   500
//   kFilterDialectUnavailable  Sender     wsen:FilterDialectRequestedUnavailable 400
//   kCannotProcessFilter       Sender     wsen:CannotProcessFilter         400
//   kAccessDenied              Sender     wsman:AccessDenied               400
//   kInternalError             Receiver   wsman:InternalError              500
//
// Thread safety: values and pure functions.
#pragma once

#include <string>
#include <string_view>

namespace hvdisk::wsman {

enum class FaultKind {
  kMalformed,
  kInvalidHeader,
  kMustUnderstand,
  kActionNotSupported,
  kDestinationUnreachable,
  kInvalidSelectors,
  kInvalidParameter,
  kEncodingLimit,
  kInvalidEnumerationContext,
  kFilterDialectUnavailable,
  kCannotProcessFilter,
  kAccessDenied,
  kInternalError,
};

struct Fault {
  FaultKind kind = FaultKind::kMalformed;
  std::string reason;  // for the reader: what was wrong
};

// "wsman:InvalidSelectors" and the others (the subcode QName; "" for kMustUnderstand).
std::string_view FaultSubcode(FaultKind kind);
int HttpStatusOf(FaultKind kind);
// The fault envelope, relating to `relates_to` (the request's MessageID; may be empty).
std::string FaultEnvelope(const Fault& fault, std::string_view relates_to);

}  // namespace hvdisk::wsman
