// WsmanRequest: one WS-Management request envelope, parsed and checked (the server's only reader
// of untrusted XML; a fuzz target runs over it: tests/fuzz/wsman_request_fuzzer.cc).
//
// Accepted: a SOAP 1.2 envelope with a WS-Addressing header (Action, To, MessageID, ReplyTo),
// wsman:ResourceURI, wsman:SelectorSet, wsman:MaxEnvelopeSize, wsman:OperationTimeout, and
// Locale/DataLocale/SessionId/OptionSet (read and ignored); in the body one of
//   Identify (wsmid:Identify, no Action), WS-Transfer Get (empty body), WS-Enumeration Enumerate
//   (OptimizeEnumeration, MaxElements, EnumerationMode, Filter with a Dialect), Pull and Release
//   (EnumerationContext, MaxElements), or an Invoke (Action = ResourceURI/Method, body
//   <Method>_INPUT in the ResourceURI's namespace, one element per parameter: text, xsi:nil, or an
//   endpoint reference).
// Refused with a Fault (wsman_fault.h), never obeyed: a body over the size given, anything that
// is not well-formed XML, a DOCTYPE (SOAP forbids it; so no entity is ever declared or expanded,
// and pugixml resolves no external entity), a header marked mustUnderstand that is not one of the
// above, a missing Action/MessageID/ResourceURI, an Action that is none of the above, selectors
// that repeat, nest or exceed kMaxSelectors (a __cimnamespace selector is accepted when it names
// root/virtualization/v2, and dropped), parameters that repeat or exceed kMaxParams, a
// MaxEnvelopeSize below 8192, counts out of range.
//
// Thread safety: pure functions over values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wsman/wsman_fault.h"

namespace hvdisk::wsman {

inline constexpr size_t kMaxSelectors = 16;
inline constexpr size_t kMaxParams = 16;
inline constexpr uint32_t kMaxElementsLimit = 1000;
inline constexpr uint64_t kMinEnvelopeSize = 8192;

using Selectors = std::vector<std::pair<std::string, std::string>>;

// An endpoint reference: a resource URI and the selectors naming one instance.
struct Epr {
  std::string resource_uri;
  Selectors selectors;
};

struct InvokeParam {
  std::string name;                 // local name
  std::optional<Epr> epr;           // an endpoint reference parameter
  std::optional<std::string> text;  // a value; neither: xsi:nil (NULL)
};

enum class Operation { kIdentify, kGet, kEnumerate, kPull, kRelease, kInvoke };
enum class EnumerationMode { kObjects, kEpr, kObjectAndEpr };

struct WsmanRequest {
  Operation op = Operation::kIdentify;
  std::string action;
  std::string message_id;
  std::string resource_uri;
  Selectors selectors;
  uint64_t max_envelope_size = 0;  // 0: none given
  // Enumerate
  EnumerationMode mode = EnumerationMode::kObjects;
  bool optimize = false;
  uint32_t max_elements = 1;  // Enumerate (when optimized) and Pull
  bool has_filter = false;
  std::string filter_dialect;
  std::string filter;
  // Pull, Release
  std::string context;
  // Invoke
  std::string method;
  std::vector<InvokeParam> params;
};

// Parses `body` (at most `max_bytes`); on refusal fills *fault (and *message_id when the header
// was read that far, so the fault can relate to it) and returns nullopt.
std::optional<WsmanRequest> ParseRequest(std::string_view body, size_t max_bytes, Fault* fault,
                                         std::string* message_id);

}  // namespace hvdisk::wsman
