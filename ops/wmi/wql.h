// A WQL subset, as WMI clients (libvirt's hyperv driver, Get-CimInstance -Query, WS-Management's
// WQL filter dialect) query instances:
//
//   SELECT * FROM Class [WHERE Prop = literal [AND Prop = literal ...]]
//
// Keywords, class and property names compare case-insensitively; a literal is 'text' or "text"
// (with \\, \' and \" escapes), a decimal integer, TRUE or FALSE. String values match
// case-insensitively, as WMI's do; numbers numerically; a NULL property matches nothing.
// Nothing else of WQL is accepted (no projection, OR, NOT, <, LIKE, ISA, IS NULL, ASSOCIATORS):
// kInvalidArgument saying what is not supported. Input is untrusted: at most kMaxWqlBytes, at
// most kMaxWqlConditions conditions, no control characters; parsing is linear in its length.
//
// Thread safety: pure functions over values.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "ops/wmi/cim_instance.h"
#include "platform/status.h"

namespace hvdisk::ops::wmi {

inline constexpr size_t kMaxWqlBytes = 4096;
inline constexpr size_t kMaxWqlConditions = 16;

struct WqlCondition {
  std::string property;
  std::string value;  // unescaped
  bool quoted = false;
};

struct WqlQuery {
  std::string class_name;  // as written
  std::vector<WqlCondition> where;
};

Result<WqlQuery> ParseWql(std::string_view text);
// kInvalidArgument naming the first condition's property the class does not have.
Status CheckWqlProperties(const WqlQuery& query, const CimInstance& schema);
// Whether `instance` satisfies every condition of `query`.
bool WqlMatches(const WqlQuery& query, const CimInstance& instance);

}  // namespace hvdisk::ops::wmi
