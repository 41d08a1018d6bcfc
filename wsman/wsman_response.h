// The XML a WS-Management reply carries: the envelope (a new MessageID, RelatesTo the request's),
// an instance as WinRM serializes a WMI object (each property an element in the class's resource
// URI namespace; NULL as xsi:nil; datetimes and intervals in cim:Datetime / cim:Interval;
// references as endpoint references), and endpoint references themselves, with the prefixes
// `wsa:` and `wsman:` (each EPR's SelectorSet declares its own, so a client that copies an EPR's
// lines into another request, as `wsl` does, copies a self-contained fragment).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "ops/wmi/cim_instance.h"
#include "wsman/wsman_request.h"

namespace hvdisk::wsman {

// kResourcePrefix + class.
std::string ResourceUriOf(std::string_view class_name);
// The class a resource URI names (its last segment after kResourcePrefix); empty if the URI is
// not under root/virtualization/v2.
std::string ClassOfResourceUri(std::string_view uri);

// An endpoint reference's content (Address and ReferenceParameters) inside <tag>...</tag>.
std::string EprXml(std::string_view tag, const Epr& epr);
// The EPR of an instance, or of a CIM path (ops/wmi/cim_reference.h); empty if it does not parse.
Epr EprOf(const ops::wmi::CimInstance& instance);
std::string EprXmlOfPath(std::string_view tag, std::string_view cim_path);
// The instance as <p:CLASS xmlns:p="URI">...</p:CLASS>.
std::string InstanceXml(const ops::wmi::CimInstance& instance);

// A reply envelope: `action`, RelatesTo `relates_to`, and `body` inside s:Body.
std::string ReplyEnvelope(std::string_view action, std::string_view relates_to,
                          std::string_view body);

// CIM "yyyymmddHHMMSS.mmmmmm+000" as xs:dateTime "yyyy-mm-ddTHH:MM:SS.mmmmmmZ", and CIM interval
// "ddddddddHHMMSS.mmmmmm:000" as xs:duration "PnDTnHnMn.mmmmmmS"; other text unchanged.
std::string XsDateTime(std::string_view cim);
std::string XsDuration(std::string_view cim);

}  // namespace hvdisk::wsman
