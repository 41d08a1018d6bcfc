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
  std::vector<std::string> left;     // damage repair did not fix, and why (it refuses to guess)
};

// Repairs `path` (a VHDX file). Errors: the repair could not run (I/O, locks); damage it cannot
// fix (headers whose copies disagree, an unknown version, a metadata item, an unreplayable log
// with kLeaks) is no error: it stops there, says why in `left`, and the caller's Image::Check
// afterwards tells what is left. Both headers or both region tables bad, or a log the file
// cannot hold, are rebuilt from what the file proves (vhdx/structure_rebuild.h).
Result<RepairReport> Repair(FileSystem* fs, const std::string& path, RepairMode mode);

// Whether `path` holds a VHDX header copy (signature "head" at 64 KiB or 128 KiB): a VHDX whose
// file identifier may be damaged, which Repair can give its signature back. False on any error.
bool HasHeaderCopy(FileSystem* fs, const std::string& path);

}  // namespace hvdisk::vhdx
