#include "platform/guid.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <set>

#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

TEST(GuidTest, BatRegionGuidHasMixedEndianDiskBytes) {
  // MS-VHDX 2.2.3.1: BAT region 2DC27766-F623-4200-9D64-115E9BFD4A08.
  const uint8_t kDisk[16] = {0x66, 0x77, 0xC2, 0x2D, 0x23, 0xF6, 0x00, 0x42,
                             0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08};
  auto bytes = std::as_bytes(std::span(kDisk));
  Guid g = Guid::Decode(bytes.first<16>());
  EXPECT_EQ(g.ToString(), "{2DC27766-F623-4200-9D64-115E9BFD4A08}");
  std::array<std::byte, 16> out;
  g.EncodeTo(out);
  EXPECT_EQ(std::memcmp(out.data(), kDisk, 16), 0);
}

TEST(GuidTest, WindowsRegionTableEntryGuidRoundTrips) {
  std::ifstream in(testing::TestDataPath("region_table_entry.1"), std::ios::binary);
  ASSERT_TRUE(in);
  std::array<char, 32> raw;
  in.read(raw.data(), raw.size());
  auto bytes = std::as_bytes(std::span(raw));
  Guid g = Guid::Decode(bytes.first<16>());
  auto parsed = Guid::Parse(g.ToString());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, g);
  std::array<std::byte, 16> out;
  parsed->EncodeTo(out);
  EXPECT_EQ(std::memcmp(out.data(), raw.data(), 16), 0);
}

TEST(GuidTest, ParseAcceptsBracesAndAnyCaseRejectsJunk) {
  auto a = Guid::Parse("{8b7ca206-4790-4b9a-b8fe-575f050f886e}");
  auto b = Guid::Parse("8B7CA206-4790-4B9A-B8FE-575F050F886E");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  EXPECT_FALSE(Guid::Parse("8B7CA206-4790-4B9A-B8FE-575F050F886"));
  EXPECT_FALSE(Guid::Parse("{8B7CA206-4790-4B9A-B8FE-575F050F886E"));
  EXPECT_FALSE(Guid::Parse("8B7CA206x4790-4B9A-B8FE-575F050F886E"));
  EXPECT_FALSE(Guid::Parse("8B7CA206-4790-4B9A-B8FE-575F050F886G"));
}

TEST(GuidTest, RandomGuidsAreVersion4AndDistinct) {
  std::set<Guid> seen;
  for (int i = 0; i < 1000; ++i) {
    Guid g = Guid::Random();
    EXPECT_EQ(g.data3 >> 12, 4);
    EXPECT_FALSE(g.IsZero());
    seen.insert(g);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace hvdisk
