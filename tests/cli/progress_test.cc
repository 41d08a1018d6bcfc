// Issue 21, item 5: the progress line says how far, how much, how fast and how long to go.
#include "cli/progress.h"

#include <gtest/gtest.h>

namespace hvdisk::cli {
namespace {

constexpr uint64_t kMiB = 1 << 20;

TEST(ProgressLine, ACopyShowsPercentBytesRateAndEta) {
  // 1.2 of 2.7 GiB in 1.92 s: 640 MiB/s, 1.5 GiB to go at that rate: 2.4 s.
  const uint64_t done = 1229 * kMiB, total = 2765 * kMiB;
  EXPECT_EQ(ProgressLine("convert", done, total, 1.92),
            "convert:  44% 1.2/2.7 GiB 640 MiB/s ETA 0:02");
}

TEST(ProgressLine, SmallDisksCountInMiBAndTheStartHasNoRate) {
  EXPECT_EQ(ProgressLine("digest", 0, 64 * kMiB, 0.0), "digest:   0% 0.0/64.0 MiB");
  EXPECT_EQ(ProgressLine("digest", 64 * kMiB, 64 * kMiB, 0.5),
            "digest: 100% 64.0/64.0 MiB 128 MiB/s ETA 0:00");
}

TEST(ProgressLine, LongCopiesShowHours) {
  EXPECT_EQ(ProgressLine("convert", 1024 * kMiB, 1024 * 1024 * kMiB, 100.0),
            "convert:   0% 1.0/1024.0 GiB 10 MiB/s ETA 28:25:00");
}

}  // namespace
}  // namespace hvdisk::cli
