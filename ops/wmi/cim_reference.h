// CIM object paths in string form, as WMI clients pass REF parameters:
//
//   \\HOST\root\virtualization\v2:Msvm_ComputerSystem.CreationClassName="Msvm_ComputerSystem",Name="<vm-guid>"
//   Msvm_ComputerSystem.Name="<vm-guid>"                               (no host and namespace)
//   Msvm_VirtualSystemSettingData.InstanceID="Microsoft:<point-guid>"  (a recovery point)
//   Msvm_ConcreteJob.InstanceID="<job-guid>"                           (a job)
//   Msvm_ComputerSystem.ElementName="db01"         (hvdisk's extension: a VM by its name)
//   Msvm_ReplicationService.CreationClassName="Msvm_ReplicationService",Name="vmms",
//       SystemCreationClassName="Msvm_ComputerSystem",SystemName="<host>"   (the service)
//
// Parsing is strict: the namespace must be root\virtualization\v2 (the separators all '\' or all
// '/', as os-win rewrites them), class and key names compare case-insensitively, values are
// double-quoted with \" and \\ escapes, no key may repeat and no unknown key is accepted.
// Errors: a well-formed path of another class is kWrongType (32776); anything malformed (syntax,
// missing or unknown key, a value that is not a GUID) is kInvalidArgument (32773).
//
// Thread safety: pure functions over values.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "platform/guid.h"
#include "platform/status.h"

namespace hvdisk::ops::wmi {

inline constexpr std::string_view kNamespace = "root\\virtualization\\v2";
inline constexpr std::string_view kComputerSystemClass = "Msvm_ComputerSystem";
inline constexpr std::string_view kSettingDataClass = "Msvm_VirtualSystemSettingData";
inline constexpr std::string_view kConcreteJobClass = "Msvm_ConcreteJob";
inline constexpr std::string_view kReplicationServiceClass = "Msvm_ReplicationService";
inline constexpr std::string_view kReplicationSettingDataClass = "Msvm_ReplicationSettingData";
inline constexpr std::string_view kReplicationServiceName = "vmms";  // its Name key, as Hyper-V's

struct CimPath {
  std::string host;  // empty in the short form
  std::string class_name;
  std::vector<std::pair<std::string, std::string>> keys;  // unescaped values, in order
};

// Any well-formed path; kInvalidArgument otherwise.
Result<CimPath> ParseCimPath(std::string_view text);

// The short form CLASS.KEY="VALUE",... of `path` (values escaped), which ParseCimPath reads back.
std::string FormatCimPath(const CimPath& path);

// What a Msvm_ComputerSystem reference names: the VM's GUID (the documented Name key) or, as
// hvdisk's extension, its ElementName (resolved against a store by the service). Exactly one of
// Name and ElementName; CreationClassName, when given, must be Msvm_ComputerSystem.
struct ComputerSystemKey {
  std::optional<Guid> id;    // Name
  std::string element_name;  // ElementName, when id is empty
};
Result<ComputerSystemKey> ComputerSystemKeyOf(std::string_view text, const CimPath& path);
Result<ComputerSystemKey> ParseComputerSystemKey(std::string_view text);
// A CIM_ComputerSystem REF by its Name key: the VM's GUID (an ElementName reference is
// kInvalidArgument here: only a store can resolve it).
Result<Guid> ParseComputerSystemRef(std::string_view text);
// The Msvm_ReplicationService's own keys: CreationClassName, Name ("vmms"),
// SystemCreationClassName and SystemName (this host), all required; kInvalidArgument otherwise.
Status CheckReplicationServicePath(std::string_view text, const CimPath& path);
// A CIM_VirtualSystemSettingData REF: the recovery point's GUID; nullopt for NULL (empty text).
Result<std::optional<Guid>> ParseSnapshotRef(std::string_view text);
// A Msvm_ReplicationSettingData REF (InstanceID="Microsoft:<vm-guid>"): the VM's GUID.
Result<Guid> ParseReplicationSettingDataRef(std::string_view text);
// A CIM_ConcreteJob REF, or a bare job GUID (a convenience for the CLI).
Result<Guid> ParseJobRef(std::string_view text);

// Full paths (\\HOST\root\virtualization\v2:...) naming this host.
std::string ComputerSystemPath(const Guid& vm);
std::string SnapshotPath(const Guid& point);
std::string JobPath(const Guid& job);
std::string ReplicationServicePath();
std::string ReplicationSettingDataPath(const Guid& vm);
// How PowerShell prints a reference: Msvm_ConcreteJob (InstanceID = "<GUID>").
std::string DisplayReference(std::string_view path);

// CIM names (classes, keys, properties) compare case-insensitively (ASCII).
bool EqualsNoCase(std::string_view a, std::string_view b);

// This host's name (gethostname), "localhost" if it has none.
std::string HostName();

}  // namespace hvdisk::ops::wmi
