// Repair: check -r (qemu-img's spelling). Fixes in place what Image::Check finds, each change
// through the header update protocol (headers) or the log (everything else), so a crash at any
// I/O point leaves a file that opens, and running the repair again finishes it.
//
// kLeaks: replays a dirty log, rewrites a bad header or region table copy from the good one, and
// gives back leaked space past the last object. kAll also clears the BAT entries Open refuses
// (vhdx/bat_repair.h states which and how), reporting the virtual ranges whose data is lost.
//
// Thread safety: takes the image's write locks for the whole repair (kInUse when another process
// or open holds the image); one call per file at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "platform/file.h"
#include "platform/status.h"

namespace hvdisk::vhdx {

enum class RepairMode { kLeaks, kAll };

struct LostRange {
  uint64_t offset = 0;  // virtual bytes
  uint64_t length = 0;
  std::string why;
};

struct RepairReport {
  std::vector<std::string> actions;  // what was changed, in order
  std::vector<LostRange> lost;       // data dropped by kAll, by virtual range
};

// Repairs `path` (a VHDX file). Errors: the repair could not run (I/O, locks); damage it cannot
// fix (both headers bad, a metadata item, an unreplayable log) is no error: it stops there, and
// the caller's Image::Check afterwards tells what is left.
Result<RepairReport> Repair(FileSystem* fs, const std::string& path, RepairMode mode);

}  // namespace hvdisk::vhdx
