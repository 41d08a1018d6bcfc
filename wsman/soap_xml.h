// The XML vocabulary of WS-Management (SOAP 1.2, WS-Addressing 2004/08, WS-Enumeration 2004/09,
// WS-Transfer, DSP0226) and helpers over pugixml's DOM, which has no namespace support of its own:
// an element is matched by its namespace URI (resolved through the xmlns declarations of it and
// its ancestors) and its local name, never by its prefix.
//
// Thread safety: pure functions.
#pragma once

#include <pugixml.hpp>
#include <string>
#include <string_view>

namespace hvdisk::wsman {

inline constexpr std::string_view kSoapNs = "http://www.w3.org/2003/05/soap-envelope";
inline constexpr std::string_view kAddressingNs =
    "http://schemas.xmlsoap.org/ws/2004/08/addressing";
inline constexpr std::string_view kWsmanNs = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
inline constexpr std::string_view kEnumerationNs =
    "http://schemas.xmlsoap.org/ws/2004/09/enumeration";
inline constexpr std::string_view kTransferNs = "http://schemas.xmlsoap.org/ws/2004/09/transfer";
inline constexpr std::string_view kIdentityNs =
    "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd";
inline constexpr std::string_view kCimCommonNs = "http://schemas.dmtf.org/wbem/wscim/1/common";
inline constexpr std::string_view kXsiNs = "http://www.w3.org/2001/XMLSchema-instance";
inline constexpr std::string_view kAnonymous =
    "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";
// Resource URIs: kResourcePrefix + class name (or "*" with a WQL filter).
inline constexpr std::string_view kResourcePrefix =
    "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/";
inline constexpr std::string_view kWqlDialect = "http://schemas.microsoft.com/wbem/wsman/1/WQL";
inline constexpr std::string_view kCqlDialect = "http://schemas.dmtf.org/wbem/cql/1/dsp0202.pdf";

// Text escaped for element content and double-quoted attribute values.
std::string XmlEscape(std::string_view text);

// The part of a qualified name after its prefix.
std::string_view LocalName(std::string_view qname);
// The namespace URI bound to the prefix of `node`'s name (or of `attr_qname` on `node`), looked
// up through `node` and its ancestors; empty when undeclared.
std::string NamespaceOf(pugi::xml_node node);
std::string AttributeNamespace(pugi::xml_node node, std::string_view attr_qname);
bool Is(pugi::xml_node node, std::string_view ns, std::string_view local);
// The first element child of `parent` in `ns` named `local`; empty if none.
pugi::xml_node Child(pugi::xml_node parent, std::string_view ns, std::string_view local);
// The element's text with surrounding white space removed.
std::string Text(pugi::xml_node node);

}  // namespace hvdisk::wsman
