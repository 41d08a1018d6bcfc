#include "ops/replication_stats.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "ops/store_files.h"
#include "ops/store_paths.h"

namespace hvdisk::ops {
namespace {

using Json = nlohmann::ordered_json;

// Times later than this (year 9999) are not times this store wrote.
constexpr int64_t kMaxTimeMs = 253402300799999;
constexpr std::chrono::milliseconds kStatsLockWait{5000};

std::string Cut(std::string_view text) {
  return std::string(text.substr(0, std::min(text.size(), kMaxStatsText)));
}

// A field checked for its type and range; throws std::invalid_argument naming it.
uint64_t Unsigned(const Json& j, const char* key, uint64_t max) {
  const Json& v = j.at(key);
  if (!v.is_number_unsigned() || v.get<uint64_t>() > max) {
    throw std::invalid_argument(std::string(key) + " is not a count in 0.." + std::to_string(max));
  }
  return v.get<uint64_t>();
}

int64_t Time(const Json& j, const char* key) {
  return static_cast<int64_t>(Unsigned(j, key, kMaxTimeMs));
}

std::string Text(const Json& j, const char* key) {
  const Json& v = j.at(key);
  if (!v.is_string() || v.get_ref<const std::string&>().size() > kMaxStatsText) {
    throw std::invalid_argument(std::string(key) + " is not a text of at most " +
                                std::to_string(kMaxStatsText) + " bytes");
  }
  return v.get<std::string>();
}

void Require(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(what);
}

ReplicationStats StatsFromJson(const Json& j, const Guid& vm) {
  Require(j.is_object(), "not an object");
  Require(Unsigned(j, "version", UINT32_MAX) == 1, "version is not 1");
  std::optional<Guid> id = Guid::Parse(Text(j, "vm"));
  Require(id.has_value() && *id == vm, "vm is not this VM's id");
  ReplicationStats s;
  s.cycles = Unsigned(j, "cycles", UINT64_MAX);
  s.failed_cycles = Unsigned(j, "failed_cycles", s.cycles);
  s.total_bytes = Unsigned(j, "total_bytes", UINT64_MAX);
  s.first_ms = Time(j, "first_ms");
  s.last_ms = Time(j, "last_ms");
  s.last_bytes = Unsigned(j, "last_bytes", UINT64_MAX);
  s.last_duration_ms = Time(j, "last_duration_ms");
  Require(j.at("last_succeeded").is_boolean(), "last_succeeded is not true or false");
  s.last_succeeded = j.at("last_succeeded").get<bool>();
  s.last_error = Text(j, "last_error");
  s.last_success_ms = Time(j, "last_success_ms");
  s.consecutive_failures = static_cast<uint32_t>(
      Unsigned(j, "consecutive_failures", std::min<uint64_t>(s.failed_cycles, UINT32_MAX)));
  s.source = Text(j, "source");
  s.bitmap = Text(j, "bitmap");
  s.interval_s = static_cast<int64_t>(
      Unsigned(j, "interval_s", static_cast<uint64_t>(kMaxReplicationInterval.count())));
  Require(s.first_ms <= s.last_ms && s.last_success_ms <= s.last_ms,
          "first_ms, last_success_ms and last_ms are out of order");
  Require((s.cycles == 0) == (s.last_ms == 0), "cycles and last_ms disagree");
  Require(s.last_succeeded == (s.consecutive_failures == 0) || s.cycles == 0,
          "last_succeeded and consecutive_failures disagree");
  Require((s.last_success_ms != 0) || s.failed_cycles == s.cycles,
          "succeeded cycles without a last_success_ms");
  return s;
}

Status CheckWritable(Store& store) {
  if (store.options().read_only) {
    return AccessDenied("the store is open read-only; replication statistics are not recorded");
  }
  return Status::Ok();
}

// Rewrites the record with `change` applied, under kStatsSlot (steps in the header).
template <typename Change>
Status UpdateStats(Store& store, const Guid& vm, Change change) {
  RETURN_IF_ERROR(CheckWritable(store));
  RETURN_IF_ERROR(store.GetVm(vm).status());
  ASSIGN_OR_RETURN(
      std::unique_ptr<FileLock> lock,
      AcquireLock(store.fs(), store.layout().VmLockPath(vm), LockMode::kExclusive, kStatsLockWait,
                  "the replication statistics of VM " + vm.ToString(), kStatsSlot));
  Result<ReplicationStats> old = LoadReplicationStats(store, vm);
  ReplicationStats stats = old.ok() ? *old : ReplicationStats{};
  if (!old.ok() && old.status().code() != Code::kCorrupt) return old.status();
  change(stats);
  std::string text = EncodeReplicationStats(vm, stats);
  const std::string path = store.layout().Abs(ReplicationStatsRel(vm));
  RETURN_IF_ERROR(WriteAtomicallyOrClean(store.fs(), path, std::as_bytes(std::span(text))));
  return store.fs()->SyncDir(store.layout().Abs(StoreLayout::VmDirRel(vm)));
}

}  // namespace

uint64_t ReplicationStats::AverageBytes() const {
  uint64_t ok = cycles - failed_cycles;
  return ok == 0 ? 0 : total_bytes / ok;
}

std::chrono::seconds ReplicationStats::Interval() const {
  return interval_s > 0 ? std::chrono::seconds(interval_s) : kDefaultReplicationInterval;
}

std::string_view ReplicationHealthName(ReplicationHealth health) {
  switch (health) {
    case ReplicationHealth::kOk:
      return "Normal";
    case ReplicationHealth::kWarning:
      return "Warning";
    case ReplicationHealth::kCritical:
      return "Critical";
    case ReplicationHealth::kNotApplicable:
      break;
  }
  return "N/A";
}

ReplicationReport AssessReplication(const ReplicationStats& stats, int64_t now_ms) {
  ReplicationReport r{stats, ReplicationHealth::kOk, ""};
  if (stats.consecutive_failures >= 2) {
    r.health = ReplicationHealth::kCritical;
    r.health_reason = std::to_string(stats.consecutive_failures) +
                      " cycles failed in a row; last error: " + stats.last_error;
    return r;
  }
  if (stats.cycles == 0) return r;
  const int64_t since = stats.last_success_ms != 0 ? stats.last_success_ms : stats.first_ms;
  const int64_t interval_ms = stats.Interval().count() * 1000;
  if (now_ms - since > interval_ms) {
    r.health = ReplicationHealth::kWarning;
    r.health_reason = std::string(stats.last_success_ms != 0 ? "no cycle succeeded"
                                                             : "no cycle has succeeded yet") +
                      " within the replication interval (" +
                      std::to_string(stats.Interval().count()) + " s)";
  }
  return r;
}

std::string EncodeReplicationStats(const Guid& vm, const ReplicationStats& s) {
  Json j{{"version", 1},
         {"vm", vm.ToString(false)},
         {"cycles", s.cycles},
         {"failed_cycles", s.failed_cycles},
         {"total_bytes", s.total_bytes},
         {"first_ms", s.first_ms},
         {"last_ms", s.last_ms},
         {"last_bytes", s.last_bytes},
         {"last_duration_ms", s.last_duration_ms},
         {"last_succeeded", s.last_succeeded},
         {"last_error", s.last_error},
         {"last_success_ms", s.last_success_ms},
         {"consecutive_failures", s.consecutive_failures},
         {"source", s.source},
         {"bitmap", s.bitmap},
         {"interval_s", s.interval_s}};
  return j.dump(2) + "\n";
}

Result<ReplicationStats> DecodeReplicationStats(std::string_view text, const Guid& vm,
                                                std::string_view where) {
  RETURN_IF_ERROR(CheckJsonDepth(text, kMaxJsonDepth, where));
  try {
    return StatsFromJson(Json::parse(text), vm);
  } catch (const std::exception& e) {
    return Corrupt(std::string(where) + ": malformed replication statistics: " + e.what());
  }
}

std::string ReplicationStatsRel(const Guid& vm) {
  return StoreLayout::VmDirRel(vm) + "/" + std::string(kReplicationStatsName);
}

Result<ReplicationStats> LoadReplicationStats(FileSystem* fs, const StoreLayout& layout,
                                              const Guid& vm) {
  const std::string rel = ReplicationStatsRel(vm);
  Result<std::string> text = ReadStoreFile(fs, layout.Abs(rel), kMaxStatsBytes);
  if (text.status().code() == Code::kNotFound) return ReplicationStats{};
  if (!text.ok()) return text.status();
  return DecodeReplicationStats(*text, vm, rel);
}

Result<ReplicationStats> LoadReplicationStats(Store& store, const Guid& vm) {
  return LoadReplicationStats(store.fs(), store.layout(), vm);
}

Result<ReplicationReport> MeasureReplication(Store& store, const Guid& vm, int64_t now_ms) {
  ASSIGN_OR_RETURN(ReplicationStats stats, LoadReplicationStats(store, vm));
  return AssessReplication(stats, now_ms != 0 ? now_ms : NowMs());
}

Status RecordReplicationCycle(Store& store, const Guid& vm, const ReplicationCycle& cycle) {
  return RecordReplicationCycle(store, vm, cycle, 0);
}

Status RecordReplicationCycle(Store& store, const Guid& vm, const ReplicationCycle& cycle,
                              int64_t now_ms) {
  const int64_t end = std::clamp<int64_t>(now_ms != 0 ? now_ms : NowMs(), 1, kMaxTimeMs);
  return UpdateStats(store, vm, [&](ReplicationStats& s) {
    ++s.cycles;
    if (s.first_ms == 0) s.first_ms = end;
    s.last_ms = std::max(s.last_ms, end);
    s.last_bytes = cycle.bytes;
    s.last_duration_ms = std::clamp<int64_t>(cycle.duration.count(), 0, kMaxTimeMs);
    s.last_succeeded = cycle.succeeded;
    s.last_error = cycle.succeeded ? "" : Cut(cycle.error.empty() ? "failed" : cycle.error);
    s.source = Cut(cycle.source);
    s.bitmap = Cut(cycle.bitmap);
    if (cycle.succeeded) {
      s.total_bytes =
          cycle.bytes > UINT64_MAX - s.total_bytes ? UINT64_MAX : s.total_bytes + cycle.bytes;
      s.last_success_ms = s.last_ms;
      s.consecutive_failures = 0;
    } else {
      ++s.failed_cycles;
      if (s.consecutive_failures < UINT32_MAX) ++s.consecutive_failures;
    }
  });
}

Status SetReplicationInterval(Store& store, const Guid& vm, std::chrono::seconds interval) {
  if (interval.count() < 1 || interval > kMaxReplicationInterval) {
    return InvalidArgument("the replication interval must be 1 s to " +
                           std::to_string(kMaxReplicationInterval.count()) + " s (got " +
                           std::to_string(interval.count()) + " s)");
  }
  return UpdateStats(store, vm, [&](ReplicationStats& s) { s.interval_s = interval.count(); });
}

}  // namespace hvdisk::ops
