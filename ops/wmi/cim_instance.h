// CimInstance: one instance of a root/virtualization/v2 class as the facade shows it (to
// `hvdisk wmi query`, to WS-Management's Get and Enumerate), and the instances of the classes it
// serves, built from the store's records:
//
//   Msvm_ComputerSystem            a replica or test VM (keys CreationClassName, Name)
//   Msvm_VirtualSystemSettingData  a recovery point (key InstanceID "Microsoft:<point-guid>")
//   Msvm_ReplicationSettingData    a replica VM's replication settings (key InstanceID)
//   Msvm_ConcreteJob               a job (key InstanceID)
//   Msvm_ReplicationService        the service itself, one instance (four keys)
//
// Property names and numbers are WMI's; values are kept in their text form (uints in decimal,
// booleans "true"/"false", datetimes and intervals in CIM form, references as CIM paths), NULL
// as no value. Only the properties listed in cim_instance.cc are served.
//
// Thread safety: values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ops/vm_record.h"
#include "ops/wmi/job.h"

namespace hvdisk::ops::wmi {

enum class CimType { kString, kUint16, kUint32, kBoolean, kDateTime, kInterval, kReference };

struct CimProperty {
  std::string name;
  CimType type = CimType::kString;
  std::optional<std::string> value;  // nullopt: NULL
};

struct CimInstance {
  std::string class_name;
  std::vector<std::pair<std::string, std::string>> keys;  // the selectors naming it, in order
  std::vector<CimProperty> properties;

  // The property, by name compared case-insensitively; null if the class has none such.
  const CimProperty* Find(std::string_view name) const;
  // Its full CIM path (\\HOST\root\virtualization\v2:CLASS.KEY="VALUE",...).
  std::string Path() const;
};

// The classes served, in the order `wmi methods`/help lists them; IsServedClass compares
// case-insensitively and CanonicalClass gives WMI's spelling.
const std::vector<std::string_view>& ServedClasses();
std::optional<std::string_view> CanonicalClass(std::string_view class_name);

CimInstance ComputerSystemInstance(const VmRecord& vm);
CimInstance RecoveryPointInstance(const VmRecord& vm, const RecoveryPoint& point);
CimInstance ReplicationSettingDataInstance(const VmRecord& vm);
CimInstance JobInstance(const Job& job, int64_t now_ms);
CimInstance ReplicationServiceInstance();
// An instance of `class_name` (served) with every property it has and no meaningful values:
// what a query's property names are checked against.
CimInstance SchemaInstance(std::string_view class_name);

// "Microsoft:Hyper-V:Snapshot:Replica:Standard" and the others, by point type.
std::string_view VirtualSystemTypeOf(RecoveryPointType type);

}  // namespace hvdisk::ops::wmi
