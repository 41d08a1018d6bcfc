#include "ops/vm_record.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "ops/store_paths.h"

namespace hvdisk::ops {
namespace {

using Json = nlohmann::ordered_json;

std::string GuidText(const Guid& g) { return g.IsZero() ? "" : g.ToString(false); }

Guid GuidFrom(const Json& j, const char* key) {
  std::string text = j.value(key, std::string());
  if (text.empty()) return Guid();
  std::optional<Guid> g = Guid::Parse(text);
  if (!g) throw std::invalid_argument(std::string("bad GUID in ") + key);
  return *g;
}

Json PointToJson(const RecoveryPoint& p) {
  return Json{{"id", GuidText(p.id)},
              {"number", p.number},
              {"file", p.file},
              {"time_ms", p.time_ms},
              {"type", static_cast<uint16_t>(p.type)}};
}

RecoveryPoint PointFromJson(const Json& j) {
  RecoveryPoint p;
  p.id = GuidFrom(j, "id");
  p.number = j.at("number").get<uint32_t>();
  p.file = j.at("file").get<std::string>();
  p.time_ms = j.at("time_ms").get<int64_t>();
  uint16_t type = j.at("type").get<uint16_t>();
  if (type < 1 || type > 3) throw std::invalid_argument("bad point type");
  p.type = static_cast<RecoveryPointType>(type);
  return p;
}

// A disk file name from a record: a plain name, never a path.
std::string FileName(const Json& j, const char* key) {
  std::string name = j.value(key, std::string());
  if (name.find('/') != std::string::npos || name == "." || name == "..") {
    throw std::invalid_argument(std::string("bad file name in ") + key);
  }
  return name;
}

VmRecord RecordFromJson(const Json& j) {
  VmRecord r;
  r.id = GuidFrom(j, "id");
  r.name = j.at("name").get<std::string>();
  r.state = static_cast<ReplicationState>(j.at("state").get<uint16_t>());
  r.mode = static_cast<ReplicationMode>(j.at("mode").get<uint16_t>());
  r.health = static_cast<ReplicationHealth>(j.at("health").get<uint16_t>());
  r.generation = j.at("generation").get<uint64_t>();
  r.retention = j.at("retention").get<uint32_t>();
  r.next_number = j.at("next_number").get<uint32_t>();
  r.base = FileName(j, "base");
  for (const Json& p : j.at("points")) r.points.push_back(PointFromJson(p));
  r.head = FileName(j, "head");
  r.failover_disk = FileName(j, "failover_disk");
  r.failover_point = GuidFrom(j, "failover_point");
  r.test_vm = GuidFrom(j, "test_vm");
  r.test_point = GuidFrom(j, "test_point");
  r.source_vm = GuidFrom(j, "source_vm");
  r.test_disk = FileName(j, "test_disk");
  r.attached = j.value("attached", std::string());
  r.epoch = j.value("epoch", uint64_t{0});
  r.owner_host = j.value("owner_host", std::string());
  if (r.owner_host.size() > 255) throw std::invalid_argument("owner_host longer than 255 bytes");
  if (r.id.IsZero()) throw std::invalid_argument("missing id");
  return r;
}

}  // namespace

std::string_view StateName(ReplicationState state) {
  switch (state) {
    case ReplicationState::kDisabled:
      return "Disabled";
    case ReplicationState::kReplicating:
      return "Replicating";
    case ReplicationState::kRecovered:
      return "Recovered";
    case ReplicationState::kCommitted:
      return "Committed";
    case ReplicationState::kSuspended:
      return "Suspended";
    case ReplicationState::kFailoverInProgress:
      return "Failover in progress";
  }
  return "Unknown";
}

std::string_view ModeName(ReplicationMode mode) {
  static constexpr std::string_view kNames[] = {"None", "Primary", "Replica", "Test Replica"};
  auto i = static_cast<size_t>(mode);
  return i < std::size(kNames) ? kNames[i] : "Unknown";
}

std::string_view HealthName(ReplicationHealth health) {
  static constexpr std::string_view kNames[] = {"N/A", "Ok", "Warning", "Critical"};
  auto i = static_cast<size_t>(health);
  return i < std::size(kNames) ? kNames[i] : "Unknown";
}

std::string_view PointTypeName(RecoveryPointType type) {
  switch (type) {
    case RecoveryPointType::kStandard:
      return "Standard";
    case RecoveryPointType::kApplicationConsistent:
      return "ApplicationConsistent";
    case RecoveryPointType::kPlanned:
      return "Planned";
  }
  return "Unknown";
}

Result<RecoveryPointType> ParsePointType(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "standard" || lower == "1") return RecoveryPointType::kStandard;
  if (lower == "applicationconsistent" || lower == "2") {
    return RecoveryPointType::kApplicationConsistent;
  }
  if (lower == "planned" || lower == "3") return RecoveryPointType::kPlanned;
  return InvalidArgument("unknown recovery point type '" + std::string(text) +
                         "' (Standard, ApplicationConsistent or Planned)");
}

std::string RecoveryPoint::name() const {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "rp-%04u", number);
  return buf;
}

const RecoveryPoint* VmRecord::FindPoint(const Guid& point) const {
  for (const RecoveryPoint& p : points) {
    if (p.id == point) return &p;
  }
  return nullptr;
}

std::vector<std::string> VmRecord::ChainFiles() const {
  std::vector<std::string> out;
  if (!base.empty()) out.push_back(base);
  for (const RecoveryPoint& p : points) out.push_back(p.file);
  if (!head.empty()) out.push_back(head);
  return out;
}

std::string EncodeVmRecord(const VmRecord& r) {
  Json points = Json::array();
  for (const RecoveryPoint& p : r.points) points.push_back(PointToJson(p));
  Json j{{"id", GuidText(r.id)},
         {"name", r.name},
         {"state", static_cast<uint16_t>(r.state)},
         {"mode", static_cast<uint16_t>(r.mode)},
         {"health", static_cast<uint16_t>(r.health)},
         {"generation", r.generation},
         {"retention", r.retention},
         {"next_number", r.next_number},
         {"base", r.base},
         {"points", points},
         {"head", r.head},
         {"failover_disk", r.failover_disk},
         {"failover_point", GuidText(r.failover_point)},
         {"test_vm", GuidText(r.test_vm)},
         {"test_point", GuidText(r.test_point)},
         {"source_vm", GuidText(r.source_vm)},
         {"test_disk", r.test_disk},
         {"attached", r.attached},
         {"epoch", r.epoch},
         {"owner_host", r.owner_host}};
  return j.dump(2) + "\n";
}

Result<VmRecord> DecodeVmRecord(std::string_view text, std::string_view where) {
  RETURN_IF_ERROR(CheckJsonDepth(text, kMaxJsonDepth, where));
  VmRecord record;
  try {
    record = RecordFromJson(Json::parse(text));
  } catch (const std::exception& e) {
    return Corrupt(std::string(where) + ": malformed VM record: " + e.what());
  }
  Status names = CheckRecordNames(record);
  if (!names.ok()) return Corrupt(std::string(where) + ": VM record: " + names.message());
  return record;
}

Result<VmRecord> ReadVmRecord(FileSystem* fs, const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(fs, path, kMaxRecordBytes));
  return DecodeVmRecord(text, path);
}

Status WriteVmRecord(FileSystem* fs, const std::string& path, const VmRecord& record) {
  std::string text = EncodeVmRecord(record);
  return WriteAtomicallyOrClean(fs, path, std::as_bytes(std::span(text)));
}

Status WriteAtomicallyOrClean(FileSystem* fs, const std::string& path,
                              std::span<const std::byte> data) {
  Status st = WriteFileAtomically(fs, path, data);
  if (!st.ok()) (void)fs->Unlink(path + ".tmp");  // best effort; recovery removes what remains
  return st;
}

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace hvdisk::ops
