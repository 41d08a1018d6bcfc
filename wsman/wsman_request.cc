#include "wsman/wsman_request.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "wsman/soap_xml.h"

namespace hvdisk::wsman {
namespace {

// Header elements read (or read and ignored); anything else marked mustUnderstand is refused.
struct KnownHeader {
  std::string_view ns;
  std::string_view local;
};
constexpr KnownHeader kKnownHeaders[] = {
    {kAddressingNs, "Action"},
    {kAddressingNs, "To"},
    {kAddressingNs, "MessageID"},
    {kAddressingNs, "ReplyTo"},
    {kAddressingNs, "FaultTo"},
    {kWsmanNs, "ResourceURI"},
    {kWsmanNs, "SelectorSet"},
    {kWsmanNs, "MaxEnvelopeSize"},
    {kWsmanNs, "OperationTimeout"},
    {kWsmanNs, "Locale"},
    {kWsmanNs, "OptionSet"},
    {"http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd", "DataLocale"},
    {"http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd", "SessionId"},
};

bool IsTrue(std::string_view v) { return v == "true" || v == "1"; }

bool MustUnderstand(pugi::xml_node n) {
  for (pugi::xml_attribute a = n.first_attribute(); a; a = a.next_attribute()) {
    if (LocalName(a.name()) == "mustUnderstand" && AttributeNamespace(n, a.name()) == kSoapNs) {
      return IsTrue(a.value());
    }
  }
  return false;
}

bool IsKnownHeader(pugi::xml_node n) {
  return std::any_of(std::begin(kKnownHeaders), std::end(kKnownHeaders),
                     [&](const KnownHeader& h) { return Is(n, h.ns, h.local); });
}

bool ParseUint(std::string_view text, uint64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

// The parse of one envelope; the first refusal wins and is kept in fault_.
class Parser {
 public:
  Parser(Fault* fault, std::string* message_id) : fault_(fault), message_id_(message_id) {}

  std::optional<WsmanRequest> Run(std::string_view body, size_t max_bytes);

 private:
  bool Fail(FaultKind kind, std::string reason) {
    *fault_ = Fault{kind, std::move(reason)};
    return false;
  }
  bool ParseHeader(pugi::xml_node header, WsmanRequest* r);
  bool ParseHeaderElement(pugi::xml_node n, WsmanRequest* r);
  bool ParseOperation(pugi::xml_node body, WsmanRequest* r);
  bool ParseEnumerate(pugi::xml_node e, WsmanRequest* r);
  bool ParsePull(pugi::xml_node e, WsmanRequest* r);
  bool ParseInvoke(pugi::xml_node body, WsmanRequest* r);
  bool ParseParam(pugi::xml_node n, InvokeParam* p);
  bool ParseSelectorSet(pugi::xml_node set, Selectors* out);
  bool ParseEpr(pugi::xml_node n, Epr* out);
  bool ParseMaxElements(pugi::xml_node n, uint32_t* out);

  Fault* fault_;
  std::string* message_id_;
};

std::optional<WsmanRequest> Parser::Run(std::string_view body, size_t max_bytes) {
  if (body.size() > max_bytes) {
    Fail(FaultKind::kEncodingLimit, "the envelope of " + std::to_string(body.size()) +
                                        " bytes exceeds the server's limit of " +
                                        std::to_string(max_bytes));
    return std::nullopt;
  }
  pugi::xml_document doc;
  const unsigned options = pugi::parse_default | pugi::parse_doctype;
  pugi::xml_parse_result parsed =
      doc.load_buffer(body.data(), body.size(), options, pugi::encoding_utf8);
  if (!parsed) {
    Fail(FaultKind::kMalformed, std::string("the envelope is not well-formed XML: ") +
                                    parsed.description() + " at byte " +
                                    std::to_string(parsed.offset));
    return std::nullopt;
  }
  for (pugi::xml_node n = doc.first_child(); n; n = n.next_sibling()) {
    if (n.type() == pugi::node_doctype) {
      Fail(FaultKind::kMalformed, "a SOAP envelope must not carry a DOCTYPE");
      return std::nullopt;
    }
  }
  pugi::xml_node env = doc.document_element();
  if (!Is(env, kSoapNs, "Envelope")) {
    Fail(FaultKind::kMalformed, "the document is not a SOAP 1.2 envelope");
    return std::nullopt;
  }
  WsmanRequest r;
  pugi::xml_node body_node = Child(env, kSoapNs, "Body");
  if (!body_node) {
    Fail(FaultKind::kMalformed, "the envelope has no Body");
    return std::nullopt;
  }
  if (!ParseHeader(Child(env, kSoapNs, "Header"), &r) || !ParseOperation(body_node, &r)) {
    return std::nullopt;
  }
  return r;
}

bool Parser::ParseHeader(pugi::xml_node header, WsmanRequest* r) {
  for (pugi::xml_node n = header.first_child(); n; n = n.next_sibling()) {
    if (n.type() != pugi::node_element) continue;
    if (!IsKnownHeader(n)) {
      if (MustUnderstand(n)) {
        return Fail(FaultKind::kMustUnderstand, "header " + std::string(n.name()) +
                                                    " is marked mustUnderstand and is not "
                                                    "one hvdisk understands");
      }
      continue;
    }
    if (!ParseHeaderElement(n, r)) return false;
  }
  *message_id_ = r->message_id;
  return true;
}

bool Parser::ParseHeaderElement(pugi::xml_node n, WsmanRequest* r) {
  const std::string_view local = LocalName(n.name());
  if (local == "Action") r->action = Text(n);
  if (local == "MessageID") r->message_id = Text(n);
  if (local == "ResourceURI") r->resource_uri = Text(n);
  if (local == "SelectorSet") return ParseSelectorSet(n, &r->selectors);
  if (local == "MaxEnvelopeSize") {
    uint64_t size = 0;
    if (!ParseUint(Text(n), &size)) {
      return Fail(FaultKind::kInvalidHeader, "MaxEnvelopeSize is not a number");
    }
    if (size < kMinEnvelopeSize) {
      return Fail(FaultKind::kEncodingLimit,
                  "MaxEnvelopeSize " + std::to_string(size) + " is below the minimum 8192");
    }
    r->max_envelope_size = size;
  }
  if (local == "OperationTimeout" && Text(n).rfind("P", 0) != 0) {
    return Fail(FaultKind::kInvalidHeader, "OperationTimeout is not an xs:duration");
  }
  return true;
}

bool Parser::ParseSelectorSet(pugi::xml_node set, Selectors* out) {
  for (pugi::xml_node s = set.first_child(); s; s = s.next_sibling()) {
    if (s.type() != pugi::node_element) continue;
    if (!Is(s, kWsmanNs, "Selector")) {
      return Fail(FaultKind::kInvalidSelectors, "a SelectorSet holds only Selector elements");
    }
    const std::string name = s.attribute("Name").value();
    if (name.empty()) return Fail(FaultKind::kInvalidSelectors, "a Selector has no Name");
    for (pugi::xml_node c = s.first_child(); c; c = c.next_sibling()) {
      if (c.type() == pugi::node_element) {
        return Fail(FaultKind::kInvalidSelectors, "selector " + name +
                                                      " holds an element: "
                                                      "endpoint references as selectors are not "
                                                      "supported");
      }
    }
    if (name == "__cimnamespace") {  // the namespace as a selector (wsl -ns, some WinRM clients)
      std::string ns = Text(s);
      std::replace(ns.begin(), ns.end(), '\\', '/');
      if (ns != "root/virtualization/v2") {
        return Fail(FaultKind::kInvalidSelectors, "namespace " + Text(s) +
                                                      " is not served "
                                                      "(root/virtualization/v2 is)");
      }
      continue;
    }
    for (const auto& [k, v] : *out) {
      if (k == name) return Fail(FaultKind::kInvalidSelectors, "selector " + name + " repeats");
    }
    if (out->size() == kMaxSelectors) {
      return Fail(FaultKind::kInvalidSelectors, "more than 16 selectors");
    }
    out->emplace_back(name, Text(s));
  }
  return true;
}

bool Parser::ParseOperation(pugi::xml_node body, WsmanRequest* r) {
  pugi::xml_node first =
      body.find_child([](pugi::xml_node n) { return n.type() == pugi::node_element; });
  if (r->action.empty() && Is(first, kIdentityNs, "Identify")) {
    r->op = Operation::kIdentify;
    return true;
  }
  if (r->action.empty()) return Fail(FaultKind::kInvalidHeader, "the header has no Action");
  if (r->message_id.empty()) return Fail(FaultKind::kInvalidHeader, "the header has no MessageID");
  if (r->resource_uri.empty()) {
    return Fail(FaultKind::kDestinationUnreachable, "the header has no ResourceURI");
  }
  const std::string& a = r->action;
  if (a == std::string(kTransferNs) + "/Get") {
    r->op = Operation::kGet;
    return true;
  }
  if (a == std::string(kEnumerationNs) + "/Enumerate") {
    r->op = Operation::kEnumerate;
    return ParseEnumerate(Child(body, kEnumerationNs, "Enumerate"), r);
  }
  if (a == std::string(kEnumerationNs) + "/Pull" || a == std::string(kEnumerationNs) + "/Release") {
    r->op = a.ends_with("/Pull") ? Operation::kPull : Operation::kRelease;
    return ParsePull(Child(body, kEnumerationNs, a.ends_with("/Pull") ? "Pull" : "Release"), r);
  }
  if (a.size() > r->resource_uri.size() + 1 && a.rfind(r->resource_uri + "/", 0) == 0) {
    r->op = Operation::kInvoke;
    r->method = a.substr(r->resource_uri.size() + 1);
    return ParseInvoke(body, r);
  }
  return Fail(FaultKind::kActionNotSupported, "action " + a + " is not supported");
}

bool Parser::ParseMaxElements(pugi::xml_node n, uint32_t* out) {
  uint64_t v = 0;
  if (!ParseUint(Text(n), &v) || v == 0 || v > kMaxElementsLimit) {
    return Fail(FaultKind::kMalformed,
                "MaxElements must be 1.." + std::to_string(kMaxElementsLimit));
  }
  *out = static_cast<uint32_t>(v);
  return true;
}

bool Parser::ParseEnumerate(pugi::xml_node e, WsmanRequest* r) {
  if (!e) return Fail(FaultKind::kMalformed, "an Enumerate request has no wsen:Enumerate body");
  for (pugi::xml_node n = e.first_child(); n; n = n.next_sibling()) {
    if (Is(n, kWsmanNs, "OptimizeEnumeration")) r->optimize = true;
    if (Is(n, kWsmanNs, "MaxElements") && !ParseMaxElements(n, &r->max_elements)) return false;
    if (Is(n, kWsmanNs, "EnumerationMode")) {
      const std::string mode = Text(n);
      if (mode == "EnumerateEPR") {
        r->mode = EnumerationMode::kEpr;
      } else if (mode == "EnumerateObjectAndEPR") {
        r->mode = EnumerationMode::kObjectAndEpr;
      } else {
        return Fail(FaultKind::kMalformed, "EnumerationMode " + mode + " is not known");
      }
    }
    if (Is(n, kWsmanNs, "Filter") || Is(n, kEnumerationNs, "Filter")) {
      r->has_filter = true;
      r->filter_dialect = n.attribute("Dialect").value();
      r->filter = Text(n);
    }
  }
  return true;
}

bool Parser::ParsePull(pugi::xml_node e, WsmanRequest* r) {
  if (!e) return Fail(FaultKind::kMalformed, "the request has no Pull or Release body");
  r->context = Text(Child(e, kEnumerationNs, "EnumerationContext"));
  if (r->context.empty()) {
    return Fail(FaultKind::kInvalidEnumerationContext, "no EnumerationContext");
  }
  pugi::xml_node max = Child(e, kEnumerationNs, "MaxElements");
  return !max || ParseMaxElements(max, &r->max_elements);
}

bool Parser::ParseInvoke(pugi::xml_node body, WsmanRequest* r) {
  const std::string input = r->method + "_INPUT";
  pugi::xml_node in = Child(body, r->resource_uri, input);
  if (!in) {
    return Fail(FaultKind::kMalformed,
                "the body has no " + input + " in the namespace " + r->resource_uri);
  }
  for (pugi::xml_node n = in.first_child(); n; n = n.next_sibling()) {
    if (n.type() != pugi::node_element) continue;
    if (NamespaceOf(n) != r->resource_uri) {
      return Fail(FaultKind::kInvalidParameter,
                  "parameter " + std::string(n.name()) + " is not in the method's namespace");
    }
    InvokeParam p{.name = std::string(LocalName(n.name()))};
    for (const InvokeParam& q : r->params) {
      if (q.name == p.name) return Fail(FaultKind::kInvalidParameter, p.name + " repeats");
    }
    if (r->params.size() == kMaxParams) {
      return Fail(FaultKind::kInvalidParameter, "more than 16 parameters");
    }
    if (!ParseParam(n, &p)) return false;
    r->params.push_back(std::move(p));
  }
  return true;
}

bool Parser::ParseParam(pugi::xml_node n, InvokeParam* p) {
  for (pugi::xml_attribute a = n.first_attribute(); a; a = a.next_attribute()) {
    if (LocalName(a.name()) == "nil" && AttributeNamespace(n, a.name()) == kXsiNs &&
        IsTrue(a.value())) {
      return true;  // NULL
    }
  }
  if (Child(n, kAddressingNs, "ReferenceParameters") || Child(n, kAddressingNs, "Address")) {
    Epr epr;
    if (!ParseEpr(n, &epr)) return false;
    p->epr = std::move(epr);
    return true;
  }
  for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element) {
      return Fail(FaultKind::kInvalidParameter,
                  "parameter " + p->name + " holds elements that are not an endpoint reference");
    }
  }
  p->text = Text(n);
  return true;
}

bool Parser::ParseEpr(pugi::xml_node n, Epr* out) {
  pugi::xml_node refs = Child(n, kAddressingNs, "ReferenceParameters");
  out->resource_uri = Text(Child(refs, kWsmanNs, "ResourceURI"));
  if (out->resource_uri.empty()) {
    return Fail(FaultKind::kInvalidParameter, "an endpoint reference has no ResourceURI");
  }
  return ParseSelectorSet(Child(refs, kWsmanNs, "SelectorSet"), &out->selectors);
}

}  // namespace

std::optional<WsmanRequest> ParseRequest(std::string_view body, size_t max_bytes, Fault* fault,
                                         std::string* message_id) {
  message_id->clear();
  Parser parser(fault, message_id);
  return parser.Run(body, max_bytes);
}

}  // namespace hvdisk::wsman
