// What `vm list` and `vm show` print of a VM: its record with the facts an admin checks first
// (health and why, retention, each point's creation time, type and size, the failover point, the
// last replication, the size on disk), as a table or as the JSON of docs/json.md ("vm show").
//
// Thread safety: pure functions over a record and the store's files (stat only).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ops/store.h"
#include "ops/vm_record.h"

namespace hvdisk::cli {

// A time as ISO 8601 in UTC ("2026-12-03T14:55:48.123Z"), and as local time for people
// ("2026-12-03 15:55:48").
std::string IsoTime(int64_t ms);
std::string LocalTime(int64_t ms);

// "1.5 GiB"-style size of what the host allocated to the VM's files and to each of its points.
struct VmFacts {
  uint64_t size_on_disk = 0;          // every disk file the record names
  std::vector<uint64_t> point_sizes;  // per record.points[i]
  int64_t last_replication_ms = 0;    // when the head was last written (0: no head)
};
VmFacts GatherFacts(ops::Store& store, const ops::VmRecord& record);

// The record's JSON (docs/json.md "vm show"); with facts, their keys too.
nlohmann::ordered_json RecordJson(const ops::VmRecord& record, const VmFacts* facts);

// vm show's text.
void PrintRecord(const ops::VmRecord& record, const VmFacts& facts);

// vm list's table: a header line, then one line per VM.
void PrintVmTable(const std::vector<ops::VmRecord>& vms, const std::vector<VmFacts>& facts);

}  // namespace hvdisk::cli
