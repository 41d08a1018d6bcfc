// Hex: the one hex form of every message, whatever layer prints it.
#include "platform/hex.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace hvdisk {
namespace {

TEST(Hex, NumbersPrintInLowerCaseWithoutPaddingAsQemuImgMapPrintsOffsets) {
  EXPECT_EQ(Hex(0), "0x0");
  EXPECT_EQ(Hex(0x1F00000), "0x1f00000");
  EXPECT_EQ(Hex(UINT64_MAX), "0xffffffffffffffff");
}

}  // namespace
}  // namespace hvdisk
