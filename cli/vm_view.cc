#include "cli/vm_view.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "cli/size_parse.h"

namespace hvdisk::cli {
namespace {

using Json = nlohmann::ordered_json;

std::string GuidOrEmpty(const Guid& g) { return g.IsZero() ? "" : g.ToString(false); }

// st_blocks * 512 of `path`, and its modification time in ms; 0 when it cannot be read.
uint64_t AllocatedBytes(const std::string& path, int64_t* mtime_ms = nullptr) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return 0;
  if (mtime_ms != nullptr) {
    *mtime_ms = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
  }
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

std::string FormatTime(int64_t ms, bool local, const char* format) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  if (local) {
    localtime_r(&t, &tm);
  } else {
    gmtime_r(&t, &tm);
  }
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

Json PointsJson(const ops::VmRecord& r, const VmFacts* facts) {
  Json points = Json::array();
  for (size_t i = 0; i < r.points.size(); ++i) {
    const ops::RecoveryPoint& p = r.points[i];
    Json j{{"id", p.id.ToString(false)},
           {"name", p.name()},
           {"file", p.file},
           {"time_ms", p.time_ms},
           {"type", static_cast<int>(p.type)},
           {"type_name", ops::PointTypeName(p.type)}};
    if (facts != nullptr) {
      j["created"] = IsoTime(p.time_ms);
      j["size_on_disk"] = i < facts->point_sizes.size() ? facts->point_sizes[i] : 0;
      j["failover"] = p.id == r.failover_point;
    }
    points.push_back(j);
  }
  return points;
}

}  // namespace

std::string IsoTime(int64_t ms) {
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(((ms % 1000) + 1000) % 1000));
  return FormatTime(ms, false, "%Y-%m-%dT%H:%M:%S") + frac;
}

std::string LocalTime(int64_t ms) { return FormatTime(ms, true, "%Y-%m-%d %H:%M:%S"); }

VmFacts GatherFacts(ops::Store& store, const ops::VmRecord& r) {
  VmFacts f;
  const bool test = r.mode == ops::ReplicationMode::kTestReplica;
  const Guid& owner = test ? r.source_vm : r.id;
  std::vector<std::string> files = r.ChainFiles();
  for (const std::string& n : {r.failover_disk, r.test_disk}) {
    if (!n.empty()) files.push_back(n);
  }
  if (test) files = {r.test_disk};  // its chain belongs to its source
  for (const std::string& n : files) f.size_on_disk += AllocatedBytes(store.DiskPath(owner, n));
  for (const ops::RecoveryPoint& p : r.points) {
    f.point_sizes.push_back(AllocatedBytes(store.DiskPath(owner, p.file)));
  }
  if (!r.head.empty()) AllocatedBytes(store.DiskPath(owner, r.head), &f.last_replication_ms);
  return f;
}

Json RecordJson(const ops::VmRecord& r, const VmFacts* facts) {
  Json j{{"id", r.id.ToString(false)},
         {"name", r.name},
         {"state", static_cast<int>(r.state)},
         {"state_name", ops::StateName(r.state)},
         {"mode", static_cast<int>(r.mode)},
         {"mode_name", ops::ModeName(r.mode)},
         {"health", static_cast<int>(r.health)},
         {"health_name", ops::HealthName(r.health)},
         {"problems", r.problems},
         {"chain", r.ChainFiles()},
         {"recovery_points", PointsJson(r, facts)},
         {"failover_disk", r.failover_disk},
         {"failover_point", GuidOrEmpty(r.failover_point)},
         {"test_vm", GuidOrEmpty(r.test_vm)},
         {"source_vm", GuidOrEmpty(r.source_vm)},
         {"attached", r.attached},
         {"owner_host", r.owner_host},
         {"epoch", r.epoch}};
  if (facts != nullptr) {
    j["retention"] = r.retention;
    j["size_on_disk"] = facts->size_on_disk;
    if (facts->last_replication_ms != 0) {
      j["last_replication"] = IsoTime(facts->last_replication_ms);
    }
  }
  return j;
}

void PrintRecord(const ops::VmRecord& r, const VmFacts& f) {
  std::printf("%s  %s\n", r.id.ToString(false).c_str(), r.name.c_str());
  std::printf("  state:        %s (%d)\n", ops::StateName(r.state).data(),
              static_cast<int>(r.state));
  std::printf("  mode:         %s (%d)\n", ops::ModeName(r.mode).data(), static_cast<int>(r.mode));
  std::printf("  health:       %s (%d)%s\n", ops::HealthName(r.health).data(),
              static_cast<int>(r.health), r.problems.empty() ? "" : ", because:");
  for (const std::string& p : r.problems) std::printf("    - %s\n", p.c_str());
  if (!r.owner_host.empty()) std::printf("  owner host:   %s\n", r.owner_host.c_str());
  std::printf("  retention:    %u recovery points\n", r.retention);
  std::printf("  size on disk: %s\n", FormatSize(f.size_on_disk).c_str());
  if (f.last_replication_ms != 0) {
    std::printf("  last replication: %s\n", LocalTime(f.last_replication_ms).c_str());
  }
  std::string chain;
  for (const std::string& file : r.ChainFiles()) chain += (chain.empty() ? "" : " <- ") + file;
  std::printf("  chain:        %s\n", chain.c_str());
  if (!r.points.empty()) {
    std::printf("  recovery points (oldest first):\n");
    std::printf("    %-8s %-19s %-21s %10s  %s\n", "NAME", "CREATED", "TYPE", "SIZE", "ID");
  }
  for (size_t i = 0; i < r.points.size(); ++i) {
    const ops::RecoveryPoint& p = r.points[i];
    std::printf("    %-8s %-19s %-21s %10s  %s%s\n", p.name().c_str(), LocalTime(p.time_ms).c_str(),
                ops::PointTypeName(p.type).data(),
                FormatSize(i < f.point_sizes.size() ? f.point_sizes[i] : 0).c_str(),
                p.id.ToString(false).c_str(),
                p.id == r.failover_point ? "  <- failover point" : "");
  }
  if (!r.failover_disk.empty()) std::printf("  failover disk: %s\n", r.failover_disk.c_str());
  if (!r.test_vm.IsZero()) std::printf("  test VM:      %s\n", r.test_vm.ToString(false).c_str());
  std::printf("  attached:     %s\n", r.attached.c_str());
}

void PrintVmTable(const std::vector<ops::VmRecord>& vms, const std::vector<VmFacts>& facts) {
  size_t name_width = 4;
  for (const ops::VmRecord& r : vms) name_width = std::max(name_width, r.name.size());
  const int w = static_cast<int>(name_width);
  std::printf("%-*s  %-36s  %-22s  %-8s  %6s  %-19s  %12s\n", w, "NAME", "ID", "STATE", "HEALTH",
              "POINTS", "LAST REPLICATION", "SIZE ON DISK");
  for (size_t i = 0; i < vms.size(); ++i) {
    const ops::VmRecord& r = vms[i];
    const VmFacts& f = facts[i];
    std::printf("%-*s  %-36s  %-22s  %-8s  %6zu  %-19s  %12s%s\n", w, r.name.c_str(),
                r.id.ToString(false).c_str(), ops::StateName(r.state).data(),
                ops::HealthName(r.health).data(), r.points.size(),
                f.last_replication_ms == 0 ? "-" : LocalTime(f.last_replication_ms).c_str(),
                FormatSize(f.size_on_disk).c_str(),
                r.problems.empty() ? "" : ("  " + r.problems.front()).c_str());
  }
}

}  // namespace hvdisk::cli
