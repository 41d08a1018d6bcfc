#include "wsman/wsman_response.h"

#include "ops/wmi/cim_reference.h"
#include "platform/guid.h"
#include "wsman/soap_xml.h"

namespace hvdisk::wsman {
namespace {

bool AllDigits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

std::string Trimmed(std::string_view digits) {  // "00000003" -> "3"
  const size_t nz = digits.find_first_not_of('0');
  return nz == std::string_view::npos ? "0" : std::string(digits.substr(nz));
}

std::string PropertyXml(const ops::wmi::CimProperty& p) {
  const std::string tag = "p:" + p.name;
  const bool is_time =
      p.type == ops::wmi::CimType::kDateTime || p.type == ops::wmi::CimType::kInterval;
  if (!p.value || (is_time && p.value->empty())) return "<" + tag + " xsi:nil=\"true\"/>";
  std::string inner;
  switch (p.type) {
    case ops::wmi::CimType::kDateTime:
      inner = "<cim:Datetime>" + XmlEscape(XsDateTime(*p.value)) + "</cim:Datetime>";
      break;
    case ops::wmi::CimType::kInterval:
      inner = "<cim:Interval>" + XmlEscape(XsDuration(*p.value)) + "</cim:Interval>";
      break;
    case ops::wmi::CimType::kReference:
      return EprXmlOfPath(tag, *p.value);
    default:
      inner = XmlEscape(*p.value);
  }
  return "<" + tag + ">" + inner + "</" + tag + ">";
}

}  // namespace

std::string ResourceUriOf(std::string_view class_name) {
  return std::string(kResourcePrefix) + std::string(class_name);
}

std::string ClassOfResourceUri(std::string_view uri) {
  if (uri.rfind(kResourcePrefix, 0) != 0) return "";
  std::string_view rest = uri.substr(kResourcePrefix.size());
  return rest.find('/') == std::string_view::npos ? std::string(rest) : "";
}

std::string EprXml(std::string_view tag, const Epr& epr) {
  std::string out = "<" + std::string(tag) + ">\n<wsa:Address>" + std::string(kAnonymous) +
                    "</wsa:Address>\n<wsa:ReferenceParameters>\n<wsman:ResourceURI>" +
                    XmlEscape(epr.resource_uri) +
                    "</wsman:ResourceURI>\n<wsman:SelectorSet xmlns:wsman=\"" +
                    std::string(kWsmanNs) + "\">\n";
  for (const auto& [name, value] : epr.selectors) {
    out += "<wsman:Selector Name=\"" + XmlEscape(name) + "\">" + XmlEscape(value) +
           "</wsman:Selector>\n";
  }
  return out + "</wsman:SelectorSet>\n</wsa:ReferenceParameters>\n</" + std::string(tag) + ">";
}

Epr EprOf(const ops::wmi::CimInstance& instance) {
  return Epr{ResourceUriOf(instance.class_name), instance.keys};
}

std::string EprXmlOfPath(std::string_view tag, std::string_view cim_path) {
  Result<ops::wmi::CimPath> path = ops::wmi::ParseCimPath(cim_path);
  if (!path.ok()) return "<" + std::string(tag) + " xsi:nil=\"true\"/>";
  return EprXml(tag, Epr{ResourceUriOf(path->class_name), path->keys});
}

std::string InstanceXml(const ops::wmi::CimInstance& instance) {
  std::string out = "<p:" + instance.class_name + " xmlns:p=\"" +
                    XmlEscape(ResourceUriOf(instance.class_name)) + "\" xmlns:xsi=\"" +
                    std::string(kXsiNs) + "\" xmlns:cim=\"" + std::string(kCimCommonNs) + "\">\n";
  for (const auto& p : instance.properties) out += PropertyXml(p) + "\n";
  return out + "</p:" + instance.class_name + ">";
}

std::string ReplyEnvelope(std::string_view action, std::string_view relates_to,
                          std::string_view body) {
  std::string relates;
  if (!relates_to.empty())
    relates = "<wsa:RelatesTo>" + XmlEscape(relates_to) + "</wsa:RelatesTo>\n";
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<s:Envelope xmlns:s=\"" +
                    std::string(kSoapNs) + "\" xmlns:wsa=\"" + std::string(kAddressingNs) +
                    "\" xmlns:wsman=\"" + std::string(kWsmanNs) + "\" xmlns:wsen=\"" +
                    std::string(kEnumerationNs) + "\" xmlns:wsmid=\"" + std::string(kIdentityNs) +
                    "\">\n<s:Header>\n";
  if (!action.empty()) out += "<wsa:Action>" + XmlEscape(action) + "</wsa:Action>\n";
  out += "<wsa:MessageID>uuid:" + Guid::Random().ToString(false) + "</wsa:MessageID>\n" + relates +
         "<wsa:To>" + std::string(kAnonymous) + "</wsa:To>\n</s:Header>\n<s:Body>\n";
  out.append(body);
  return out + "\n</s:Body>\n</s:Envelope>\n";
}

std::string XsDateTime(std::string_view c) {
  // yyyymmddHHMMSS.mmmmmm+000
  if (c.size() != 25 || !AllDigits(c.substr(0, 14)) || c[14] != '.' || c.substr(21) != "+000") {
    return std::string(c);
  }
  return std::string(c.substr(0, 4)) + "-" + std::string(c.substr(4, 2)) + "-" +
         std::string(c.substr(6, 2)) + "T" + std::string(c.substr(8, 2)) + ":" +
         std::string(c.substr(10, 2)) + ":" + std::string(c.substr(12, 2)) + "." +
         std::string(c.substr(15, 6)) + "Z";
}

std::string XsDuration(std::string_view c) {
  // ddddddddHHMMSS.mmmmmm:000
  if (c.size() != 25 || !AllDigits(c.substr(0, 14)) || c[14] != '.' || c.substr(21) != ":000") {
    return std::string(c);
  }
  return "P" + Trimmed(c.substr(0, 8)) + "DT" + Trimmed(c.substr(8, 2)) + "H" +
         Trimmed(c.substr(10, 2)) + "M" + Trimmed(c.substr(12, 2)) + "." +
         std::string(c.substr(15, 6)) + "S";
}

}  // namespace hvdisk::wsman
