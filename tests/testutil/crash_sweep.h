// A sweep over every crash point of a workload on a CrashFileSystem, in several crash modes: the
// loop the crash suites share (run the workload once to count its mutating operations, then once
// per point with the crash armed there).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "platform/crash_file_system.h"

namespace hvdisk::testing {

struct CrashRun {
  uint64_t point = 0;  // the mutating operation that does not happen (1-based)
  uint64_t seed = 0;
  CrashMode mode = CrashMode::kRandom;
  std::string where;  // "point P seed S mode M", for failure messages
};

// Calls trial(run) for every point 1..ops+1 (ops + 1: the crash after the last operation) in the
// modes random (two seeds), drop-all and keep-all; sanitizer builds (10x slower) rotate one mode
// per point unless HVDISK_LONG_CRASH is set. Stops at the first failing trial.
// `rotate`: one mode per point in every build (for slow trials), unless HVDISK_LONG_CRASH is set.
void CrashEverywhere(uint64_t ops, const std::function<void(const CrashRun&)>& trial,
                     bool rotate = false);

}  // namespace hvdisk::testing
