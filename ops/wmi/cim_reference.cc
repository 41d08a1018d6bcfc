#include "ops/wmi/cim_reference.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>

namespace hvdisk::ops::wmi {
namespace {

bool IsIdentifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// `s` in single quotes. Messages start from this string rather than from `"'" + std::string(s)`:
// g++ 12 at -O3 misreads that inlined insert as an overlapping memcpy (-Wrestrict, GCC PR105651).
std::string Quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.append(1, '\'').append(s).append(1, '\'');
  return out;
}

Status Malformed(std::string_view text, std::string_view why) {
  return InvalidArgument("malformed CIM reference " + Quoted(text) + ": " + std::string(why));
}

// "\\HOST\root\virtualization\v2:" (or with '/'); consumes it from *rest and returns HOST.
Result<std::string> ParsePrefix(std::string_view text, std::string_view* rest) {
  const char sep = (*rest)[0];
  if (rest->size() < 2 || (*rest)[1] != sep) return Malformed(text, "expected \\\\HOST\\");
  rest->remove_prefix(2);
  const size_t host_end = rest->find(sep);
  const size_t colon = rest->find(':');
  if (host_end == 0 || host_end == std::string_view::npos || colon == std::string_view::npos ||
      colon < host_end) {
    return Malformed(text, "expected \\\\HOST\\NAMESPACE:");
  }
  std::string host(rest->substr(0, host_end));
  std::string ns(rest->substr(host_end + 1, colon - host_end - 1));
  if (sep == '/') std::replace(ns.begin(), ns.end(), '/', '\\');
  if (!EqualsNoCase(ns, kNamespace) || host.find_first_of("\\/:") != std::string::npos) {
    return Malformed(text, "namespace must be " + std::string(kNamespace));
  }
  rest->remove_prefix(colon + 1);
  return host;
}

// A double-quoted value with \" and \\ escapes; consumes it from *rest.
Result<std::string> ParseQuoted(std::string_view text, std::string_view* rest) {
  if (rest->empty() || (*rest)[0] != '"') return Malformed(text, "values must be double-quoted");
  std::string out;
  for (size_t i = 1; i < rest->size(); ++i) {
    const char c = (*rest)[i];
    if (c == '"') {
      rest->remove_prefix(i + 1);
      return out;
    }
    if (c == '\\') {
      if (++i == rest->size() || ((*rest)[i] != '"' && (*rest)[i] != '\\')) {
        return Malformed(text, "bad escape in a value");
      }
    }
    out.push_back((*rest)[i]);
  }
  return Malformed(text, "unterminated value");
}

Status ParseKeys(std::string_view text, std::string_view rest, CimPath* path) {
  while (true) {
    const size_t eq = rest.find('=');
    if (eq == std::string_view::npos) return Malformed(text, "expected KEY=\"VALUE\"");
    const std::string key(rest.substr(0, eq));
    if (!IsIdentifier(key)) return Malformed(text, "bad key name '" + key + "'");
    for (const auto& [k, v] : path->keys) {
      if (EqualsNoCase(k, key)) return Malformed(text, "key " + key + " repeats");
    }
    rest.remove_prefix(eq + 1);
    ASSIGN_OR_RETURN(std::string value, ParseQuoted(text, &rest));
    path->keys.emplace_back(key, std::move(value));
    if (rest.empty()) return Status::Ok();
    if (rest[0] != ',') return Malformed(text, "expected ',' between keys");
    rest.remove_prefix(1);
  }
}

// The keys of `path`, which must be of class `cls` with exactly the keys `allowed`.
Status ExpectClass(std::string_view text, const CimPath& path, std::string_view cls,
                   std::initializer_list<std::string_view> allowed) {
  if (!EqualsNoCase(path.class_name, cls)) {
    return WrongType(Quoted(text) + " is a " + path.class_name + " reference, not " +
                     std::string(cls));
  }
  for (const auto& key : path.keys) {
    const std::string& k = key.first;  // a named reference: clang 14 cannot capture a binding
    if (std::none_of(allowed.begin(), allowed.end(),
                     [&](std::string_view a) { return EqualsNoCase(a, k); })) {
      return Malformed(text, "unknown key " + k + " for " + std::string(cls));
    }
  }
  return Status::Ok();
}

const std::string* FindKey(const CimPath& path, std::string_view key) {
  for (const auto& [k, v] : path.keys) {
    if (EqualsNoCase(k, key)) return &v;
  }
  return nullptr;
}

Result<Guid> GuidKey(std::string_view text, const CimPath& path, std::string_view key,
                     std::string_view prefix = "") {
  const std::string* value = FindKey(path, key);
  if (value == nullptr) return Malformed(text, "missing key " + std::string(key));
  if (!EqualsNoCase(std::string_view(*value).substr(0, prefix.size()), prefix)) {
    return Malformed(text, std::string(key) + " must start with " + std::string(prefix));
  }
  std::optional<Guid> id = Guid::Parse(std::string_view(*value).substr(prefix.size()));
  if (!id) return Malformed(text, std::string(key) + " is not a GUID");
  return *id;
}

std::string Quote(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

std::string FullPath(std::string_view cls, std::string_view keys) {
  return "\\\\" + HostName() + "\\" + std::string(kNamespace) + ":" + std::string(cls) + "." +
         std::string(keys);
}

}  // namespace

Result<CimPath> ParseCimPath(std::string_view text) {
  CimPath path;
  std::string_view rest = text;
  if (rest.empty()) return Malformed(text, "empty");
  if (rest[0] == '\\' || rest[0] == '/') {
    ASSIGN_OR_RETURN(path.host, ParsePrefix(text, &rest));
  }
  const size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return Malformed(text, "expected CLASS.KEY=\"VALUE\"");
  path.class_name = std::string(rest.substr(0, dot));
  if (!IsIdentifier(path.class_name)) return Malformed(text, "bad class name");
  RETURN_IF_ERROR(ParseKeys(text, rest.substr(dot + 1), &path));
  return path;
}

Result<ComputerSystemKey> ComputerSystemKeyOf(std::string_view text, const CimPath& path) {
  RETURN_IF_ERROR(
      ExpectClass(text, path, kComputerSystemClass, {"CreationClassName", "Name", "ElementName"}));
  const std::string* ccn = FindKey(path, "CreationClassName");
  if (ccn != nullptr && !EqualsNoCase(*ccn, kComputerSystemClass)) {
    return WrongType(Quoted(text) + " has CreationClassName " + *ccn);
  }
  const std::string* name = FindKey(path, "Name");
  const std::string* element_name = FindKey(path, "ElementName");
  if ((name == nullptr) == (element_name == nullptr)) {
    return Malformed(text, "give exactly one of Name (the VM's GUID) and ElementName");
  }
  ComputerSystemKey key;
  if (element_name != nullptr) {
    if (element_name->empty()) return Malformed(text, "ElementName is empty");
    key.element_name = *element_name;
    return key;
  }
  key.id = Guid::Parse(*name);
  if (!key.id) {
    return Malformed(text, "Name is not a GUID (a VM is named by its GUID; ElementName=\"" + *name +
                               "\" names it by its name)");
  }
  return key;
}

Result<ComputerSystemKey> ParseComputerSystemKey(std::string_view text) {
  if (text.empty()) return InvalidArgument("ComputerSystem is NULL; a VM reference is needed");
  ASSIGN_OR_RETURN(CimPath path, ParseCimPath(text));
  return ComputerSystemKeyOf(text, path);
}

Result<Guid> ParseComputerSystemRef(std::string_view text) {
  ASSIGN_OR_RETURN(ComputerSystemKey key, ParseComputerSystemKey(text));
  if (!key.id) return Malformed(text, "an ElementName reference needs a store to resolve it");
  return *key.id;
}

Status CheckReplicationServicePath(std::string_view text, const CimPath& path) {
  RETURN_IF_ERROR(
      ExpectClass(text, path, kReplicationServiceClass,
                  {"CreationClassName", "Name", "SystemCreationClassName", "SystemName"}));
  const std::pair<std::string_view, std::string> expected[] = {
      {"CreationClassName", std::string(kReplicationServiceClass)},
      {"Name", std::string(kReplicationServiceName)},
      {"SystemCreationClassName", std::string(kComputerSystemClass)},
      {"SystemName", HostName()}};
  for (const auto& [key, value] : expected) {
    const std::string* got = FindKey(path, key);
    if (got == nullptr) return Malformed(text, "missing key " + std::string(key));
    if (!EqualsNoCase(*got, value)) {
      return Malformed(text, std::string(key) + " must be \"" + value + "\" on this host");
    }
  }
  return Status::Ok();
}

Result<std::optional<Guid>> ParseSnapshotRef(std::string_view text) {
  if (text.empty()) return std::optional<Guid>();
  ASSIGN_OR_RETURN(CimPath path, ParseCimPath(text));
  RETURN_IF_ERROR(ExpectClass(text, path, kSettingDataClass, {"InstanceID"}));
  ASSIGN_OR_RETURN(Guid point, GuidKey(text, path, "InstanceID", "Microsoft:"));
  return std::optional<Guid>(point);
}

Result<Guid> ParseReplicationSettingDataRef(std::string_view text) {
  ASSIGN_OR_RETURN(CimPath path, ParseCimPath(text));
  RETURN_IF_ERROR(ExpectClass(text, path, kReplicationSettingDataClass, {"InstanceID"}));
  return GuidKey(text, path, "InstanceID", "Microsoft:");
}

Result<Guid> ParseJobRef(std::string_view text) {
  if (std::optional<Guid> bare = Guid::Parse(text)) return *bare;
  if (text.empty()) return InvalidArgument("Job is NULL; a job reference is needed");
  ASSIGN_OR_RETURN(CimPath path, ParseCimPath(text));
  RETURN_IF_ERROR(ExpectClass(text, path, kConcreteJobClass, {"InstanceID"}));
  return GuidKey(text, path, "InstanceID");
}

std::string ComputerSystemPath(const Guid& vm) {
  return FullPath(kComputerSystemClass, "CreationClassName=" + Quote(kComputerSystemClass) +
                                            ",Name=" + Quote(vm.ToString(false)));
}

std::string SnapshotPath(const Guid& point) {
  return FullPath(kSettingDataClass, "InstanceID=" + Quote("Microsoft:" + point.ToString(false)));
}

std::string JobPath(const Guid& job) {
  return FullPath(kConcreteJobClass, "InstanceID=" + Quote(job.ToString(false)));
}

std::string ReplicationServicePath() {
  return FullPath(kReplicationServiceClass,
                  "CreationClassName=" + Quote(kReplicationServiceClass) +
                      ",Name=" + Quote(kReplicationServiceName) + ",SystemCreationClassName=" +
                      Quote(kComputerSystemClass) + ",SystemName=" + Quote(HostName()));
}

std::string ReplicationSettingDataPath(const Guid& vm) {
  return FullPath(kReplicationSettingDataClass,
                  "InstanceID=" + Quote("Microsoft:" + vm.ToString(false)));
}

std::string FormatCimPath(const CimPath& path) {
  std::string out = path.class_name + ".";
  for (size_t i = 0; i < path.keys.size(); ++i) {
    if (i > 0) out += ",";
    out += path.keys[i].first + "=" + Quote(path.keys[i].second);
  }
  return out;
}

std::string DisplayReference(std::string_view text) {
  Result<CimPath> path = ParseCimPath(text);
  if (!path.ok()) return std::string(text);
  std::string out = path->class_name + " (";
  for (size_t i = 0; i < path->keys.size(); ++i) {
    if (i > 0) out += ", ";
    out += path->keys[i].first + " = " + Quote(path->keys[i].second);
  }
  return out + ")";
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace hvdisk::ops::wmi
