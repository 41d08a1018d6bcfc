// What `vm show` and `vm stats VM` print of a replica's replication statistics and health
// (ops/replication_stats.h), as Hyper-V's Measure-VMReplication reports them: as text lines or as
// the "replication" object of docs/json.md.
//
// Thread safety: pure functions over a report.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "ops/replication_stats.h"

namespace hvdisk::cli {

// docs/json.md "vm stats" (also vm show's "replication").
nlohmann::ordered_json ReplicationJson(const ops::ReplicationReport& report);

// The lines of vm stats (and of vm show's replication part), each starting with `indent`.
void PrintReplication(const ops::ReplicationReport& report, const std::string& indent);

}  // namespace hvdisk::cli
