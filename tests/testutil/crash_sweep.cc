#include "tests/testutil/crash_sweep.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace hvdisk::testing {

void CrashEverywhere(uint64_t ops, const std::function<void(const CrashRun&)>& trial, bool rotate) {
#if defined(__SANITIZE_ADDRESS__)
  rotate = true;
#endif
  const bool every_mode = !rotate || std::getenv("HVDISK_LONG_CRASH") != nullptr;
  const CrashRun modes[] = {{.seed = 1, .mode = CrashMode::kRandom},
                            {.seed = 2, .mode = CrashMode::kRandom},
                            {.seed = 0, .mode = CrashMode::kDropAll},
                            {.seed = 0, .mode = CrashMode::kKeepAll}};
  for (uint64_t point = 1; point <= ops + 1; ++point) {
    for (size_t m = 0; m < 4; ++m) {
      if (!every_mode && m != point % 4) continue;
      CrashRun run = modes[m];
      run.point = point;
      run.where = "point " + std::to_string(point) + " seed " + std::to_string(run.seed) +
                  " mode " + std::to_string(static_cast<int>(run.mode));
      trial(run);
      if (::testing::Test::HasFailure()) return;
    }
  }
}

}  // namespace hvdisk::testing
