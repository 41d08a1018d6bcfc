#include "ops/wmi/cim_instance.h"

#include <algorithm>

#include "ops/wmi/cim_reference.h"

namespace hvdisk::ops::wmi {
namespace {

using Props = std::vector<CimProperty>;

CimProperty Str(std::string name, std::string value) {
  return {std::move(name), CimType::kString, std::move(value)};
}
CimProperty U16(std::string name, uint64_t value) {
  return {std::move(name), CimType::kUint16, std::to_string(value)};
}
CimProperty Bool(std::string name, bool value) {
  return {std::move(name), CimType::kBoolean, value ? "true" : "false"};
}
CimProperty Time(std::string name, int64_t ms) {
  if (ms == 0) return {std::move(name), CimType::kDateTime, std::nullopt};
  return {std::move(name), CimType::kDateTime, CimDateTime(ms)};
}
CimProperty Ref(std::string name, std::optional<std::string> path) {
  return {std::move(name), CimType::kReference, std::move(path)};
}

std::string Id(const Guid& id) { return id.ToString(false); }

const RecoveryPoint* LatestPoint(const VmRecord& vm) {
  return vm.points.empty() ? nullptr : &vm.points.back();
}

}  // namespace

const CimProperty* CimInstance::Find(std::string_view name) const {
  for (const CimProperty& p : properties) {
    if (EqualsNoCase(p.name, name)) return &p;
  }
  return nullptr;
}

std::string CimInstance::Path() const {
  CimPath path{.host = "", .class_name = class_name, .keys = keys};
  return "\\\\" + HostName() + "\\" + std::string(kNamespace) + ":" + FormatCimPath(path);
}

const std::vector<std::string_view>& ServedClasses() {
  static const std::vector<std::string_view> kClasses = {
      kComputerSystemClass, kSettingDataClass, kReplicationSettingDataClass, kConcreteJobClass,
      kReplicationServiceClass};
  return kClasses;
}

std::optional<std::string_view> CanonicalClass(std::string_view class_name) {
  for (std::string_view c : ServedClasses()) {
    if (EqualsNoCase(c, class_name)) return c;
  }
  return std::nullopt;
}

std::string_view VirtualSystemTypeOf(RecoveryPointType type) {
  switch (type) {
    case RecoveryPointType::kApplicationConsistent:
      return "Microsoft:Hyper-V:Snapshot:Replica:ApplicationConsistent";
    case RecoveryPointType::kPlanned:
      return "Microsoft:Hyper-V:Snapshot:Replica:PlannedFailover";
    case RecoveryPointType::kStandard:
      break;
  }
  return "Microsoft:Hyper-V:Snapshot:Replica:Standard";
}

// Replication properties as Msvm_ComputerSystem carries them; LastReplication* from the latest
// point, FailedOverReplicationType from the point a failover sits on (0 None otherwise).
CimInstance ComputerSystemInstance(const VmRecord& vm) {
  const RecoveryPoint* latest = LatestPoint(vm);
  const RecoveryPoint* failover =
      vm.failover_point.IsZero() ? nullptr : vm.FindPoint(vm.failover_point);
  CimInstance i{
      .class_name = std::string(kComputerSystemClass),
      .keys = {{"CreationClassName", std::string(kComputerSystemClass)}, {"Name", Id(vm.id)}}};
  i.properties = {
      Str("Caption", "Virtual Machine"),
      Str("CreationClassName", std::string(kComputerSystemClass)),
      Str("Description", "Microsoft Virtual Machine"),
      Str("ElementName", vm.name),
      Str("Name", Id(vm.id)),
      U16("ReplicationState", static_cast<uint16_t>(vm.state)),
      U16("ReplicationHealth", static_cast<uint16_t>(vm.health)),
      U16("ReplicationMode", static_cast<uint16_t>(vm.mode)),
      Time("LastReplicationTime", latest ? latest->time_ms : 0),
      U16("LastReplicationType", latest ? static_cast<uint16_t>(latest->type) : 0),
      U16("FailedOverReplicationType", failover ? static_cast<uint16_t>(failover->type) : 0),
  };
  return i;
}

CimInstance RecoveryPointInstance(const VmRecord& vm, const RecoveryPoint& point) {
  const std::string id = "Microsoft:" + Id(point.id);
  CimInstance i{.class_name = std::string(kSettingDataClass), .keys = {{"InstanceID", id}}};
  i.properties = {
      Str("InstanceID", id),
      Str("ElementName", point.name()),
      Str("VirtualSystemIdentifier", Id(vm.id)),
      Str("VirtualSystemType", std::string(VirtualSystemTypeOf(point.type))),
      Time("CreationTime", point.time_ms),
  };
  return i;
}

// AdditionalRecoveryPoints carries the store's retention: the recovery points kept.
CimInstance ReplicationSettingDataInstance(const VmRecord& vm) {
  const std::string id = "Microsoft:" + Id(vm.id);
  CimInstance i{.class_name = std::string(kReplicationSettingDataClass),
                .keys = {{"InstanceID", id}}};
  i.properties = {
      Str("InstanceID", id),
      Str("ElementName", vm.name),
      Str("VirtualSystemIdentifier", Id(vm.id)),
      U16("AdditionalRecoveryPoints", std::min<uint32_t>(vm.retention, 0xffff)),
  };
  return i;
}

CimInstance JobInstance(const Job& j, int64_t now_ms) {
  CimInstance i{.class_name = std::string(kConcreteJobClass), .keys = {{"InstanceID", Id(j.id)}}};
  i.properties = {
      Str("InstanceID", Id(j.id)),
      U16("JobType", static_cast<uint16_t>(j.type)),
      U16("JobState", static_cast<uint16_t>(j.state)),
      U16("PercentComplete", j.percent),
      U16("ErrorCode", j.error_code),
      Str("ErrorDescription", j.error_description),
      {"TimeSubmitted", CimType::kDateTime, CimDateTime(j.submitted_ms)},
      {"StartTime", CimType::kDateTime, CimDateTime(j.started_ms)},
      {"ElapsedTime", CimType::kInterval, CimInterval(j.ElapsedMs(now_ms))},
      Bool("Cancellable", j.cancellable),
  };
  if (!j.resulting_system.IsZero()) {
    i.properties.push_back(Ref("ResultingSystem", ComputerSystemPath(j.resulting_system)));
  }
  return i;
}

CimInstance ReplicationServiceInstance() {
  CimInstance i{.class_name = std::string(kReplicationServiceClass),
                .keys = {{"CreationClassName", std::string(kReplicationServiceClass)},
                         {"Name", std::string(kReplicationServiceName)},
                         {"SystemCreationClassName", std::string(kComputerSystemClass)},
                         {"SystemName", HostName()}}};
  i.properties = {
      Str("Caption", "Hyper-V Virtual Machine Replication Service"),
      Str("CreationClassName", std::string(kReplicationServiceClass)),
      Str("ElementName", "hvdisk replica store"),
      U16("EnabledState", 2),
      Str("Name", std::string(kReplicationServiceName)),
      Str("SystemCreationClassName", std::string(kComputerSystemClass)),
      Str("SystemName", HostName()),
  };
  return i;
}

CimInstance SchemaInstance(std::string_view class_name) {
  VmRecord vm;
  vm.points.push_back(RecoveryPoint{});
  Job job;
  job.resulting_system = Guid::Random();
  if (EqualsNoCase(class_name, kSettingDataClass)) return RecoveryPointInstance(vm, vm.points[0]);
  if (EqualsNoCase(class_name, kReplicationSettingDataClass)) {
    return ReplicationSettingDataInstance(vm);
  }
  if (EqualsNoCase(class_name, kConcreteJobClass)) return JobInstance(job, 0);
  if (EqualsNoCase(class_name, kReplicationServiceClass)) return ReplicationServiceInstance();
  return ComputerSystemInstance(vm);
}

}  // namespace hvdisk::ops::wmi
