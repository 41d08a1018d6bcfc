// BatRepair: which BAT entries check -r all clears, and why (MS-VHDX 2.5). An entry is changed
// only when Open's validation would refuse it, so every block a read could return before the
// repair reads the same after it:
//   - reserved bits set: cleared, the entry kept;
//   - a reserved payload state (4, 5): NOT_PRESENT;
//   - an allocated block outside the file, at offset 0, past the virtual size, into the header
//     section, log, metadata or BAT region, or on another entry's block (the later entry in file
//     order, the higher index on a tie): NOT_PRESENT, its virtual range reported lost;
//   - a sector bitmap entry that is not valid (state, offset, a non-differencing file):
//   NOT_PRESENT;
//   - PARTIALLY_PRESENT without a PRESENT sector bitmap (or outside a differencing file):
//     NOT_PRESENT in a differencing image (the parent shows through), ZERO in a base; lost.
//
// Thread safety: none; the caller owns the state and the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "platform/status.h"
#include "vhdx/image.h"

namespace hvdisk::vhdx {

struct BatFix {
  uint64_t index = 0;
  uint64_t raw = 0;  // the entry's new value
  std::string why;   // "BAT entry 5: ..."
  // The virtual range whose data the change drops (length 0: none).
  uint64_t lost_offset = 0;
  uint64_t lost_length = 0;
};

// Plans the fixes for the BAT of `s` (params, regions and header read; bat not used), reading
// the BAT from s->file in 1 MiB windows; memory follows the allocated blocks. `file_size`: the
// file's size. Fixes are ordered by index.
Result<std::vector<BatFix>> PlanBatRepair(Image::State* s, uint64_t file_size);

}  // namespace hvdisk::vhdx
