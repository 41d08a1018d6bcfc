#include "cli/replication_view.h"

#include <cstdio>

#include "cli/size_parse.h"
#include "cli/vm_view.h"

namespace hvdisk::cli {
namespace {

using Json = nlohmann::ordered_json;

// ISO 8601, or "" for "never".
std::string TimeJson(int64_t ms) { return ms == 0 ? "" : IsoTime(ms); }
std::string TimeText(int64_t ms) { return ms == 0 ? "never" : LocalTime(ms); }

}  // namespace

Json ReplicationJson(const ops::ReplicationReport& r) {
  const ops::ReplicationStats& s = r.stats;
  return Json{{"health", ops::ReplicationHealthName(r.health)},
              {"health_number", static_cast<int>(r.health)},
              {"health_reason", r.health_reason},
              {"last_replication", TimeJson(s.last_ms)},
              {"last_success", TimeJson(s.last_success_ms)},
              {"last_succeeded", s.last_succeeded},
              {"last_error", s.last_error},
              {"last_bytes", s.last_bytes},
              {"last_duration_ms", s.last_duration_ms},
              {"cycles", s.cycles},
              {"failed_cycles", s.failed_cycles},
              {"consecutive_failures", s.consecutive_failures},
              {"total_bytes", s.total_bytes},
              {"average_bytes", s.AverageBytes()},
              {"source", s.source},
              {"bitmap", s.bitmap},
              {"interval_s", s.Interval().count()}};
}

void PrintReplication(const ops::ReplicationReport& r, const std::string& indent) {
  const ops::ReplicationStats& s = r.stats;
  const char* in = indent.c_str();
  std::printf("%sreplication health: %s%s%s\n", in, ops::ReplicationHealthName(r.health).data(),
              r.health_reason.empty() ? "" : ": ", r.health_reason.c_str());
  std::printf("%slast replication:   %s (%s)\n", in, TimeText(s.last_ms).c_str(),
              s.cycles == 0 ? "no cycle yet" : (s.last_succeeded ? "succeeded" : "failed"));
  if (s.cycles == 0) return;
  if (!s.last_succeeded) {
    std::printf("%slast error:         %s\n", in, s.last_error.c_str());
    std::printf("%slast success:       %s\n", in, TimeText(s.last_success_ms).c_str());
  }
  std::printf("%slast cycle:         %s in %.3f s\n", in, FormatSize(s.last_bytes).c_str(),
              static_cast<double>(s.last_duration_ms) / 1000.0);
  std::printf("%scycles:             %llu (%llu failed, %u in a row)\n", in,
              static_cast<unsigned long long>(s.cycles),
              static_cast<unsigned long long>(s.failed_cycles), s.consecutive_failures);
  std::printf("%sreplicated:         %s in all, %s on average\n", in,
              FormatSize(s.total_bytes).c_str(), FormatSize(s.AverageBytes()).c_str());
  std::printf("%ssource:             %s%s%s\n", in, s.source.c_str(),
              s.bitmap.empty() ? "" : ", bitmap ", s.bitmap.c_str());
  std::printf("%sinterval:           %lld s\n", in, static_cast<long long>(s.Interval().count()));
}

}  // namespace hvdisk::cli
