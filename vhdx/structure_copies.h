// StructureCopies: the two copies of the header (MS-VHDX 2.2.2) and of the region table (2.2.3),
// each verified on its own. A reader needs only one good copy, so a bad second copy is silent to
// Open; check reports it (a warning: repairable) and check -r rewrites it from the good one.
//
// Thread safety: pure functions over a File the caller owns; no state.
#pragma once

#include <string>
#include <vector>

#include "platform/file.h"
#include "platform/status.h"

namespace hvdisk::vhdx {

struct DamagedCopy {
  enum class Kind { kHeader, kRegionTable };
  Kind kind = Kind::kHeader;
  int slot = 1;       // 1 or 2: the bad copy
  int good_slot = 2;  // the copy it is rewritten from
  std::string why;    // what is wrong with it
  // "header 2 @0x20000: <why>; repair rewrites it from header 1 (...)"
  std::string Describe() const;
};

// The bad copies of the header and the region table. A header copy is bad when its signature or
// checksum is wrong or its fields break 2.2.2 while the other copy is good; a region table copy
// when it does not decode or, with `compare_tables`, differs from a good copy 1 (pass false when
// the log is dirty: replay may still change the tables). Nothing is reported when no copy is good
// (that is corruption, which Open reports). Reads the header section only.
Result<std::vector<DamagedCopy>> FindDamagedCopies(File* file, bool compare_tables);

}  // namespace hvdisk::vhdx
