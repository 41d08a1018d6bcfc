#include "platform/crc32c.h"

#include <gtest/gtest.h>

#include <boost/endian/conversion.hpp>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

std::vector<std::byte> ReadTestData(const std::string& name) {
  std::ifstream in(testing::TestDataPath(name), std::ios::binary);
  EXPECT_TRUE(in) << "missing test data " << testing::TestDataPath(name);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), {});
  std::vector<std::byte> out(chars.size());
  std::memcpy(out.data(), chars.data(), chars.size());
  return out;
}

uint32_t StoredChecksum(const std::vector<std::byte>& bytes) {
  return boost::endian::load_little_u32(reinterpret_cast<const unsigned char*>(&bytes[4]));
}

TEST(Crc32cTest, CheckValueOf123456789) {
  std::string s = "123456789";
  EXPECT_EQ(Crc32c(std::as_bytes(std::span(s))), 0xE3069283u);
}

TEST(Crc32cTest, ExtendEqualsWholeBuffer) {
  auto data = testing::PatternBytes(100000, 3);
  std::span<const std::byte> all(data);
  EXPECT_EQ(Crc32cExtend(Crc32c(all.first(777)), all.subspan(777)), Crc32c(all));
}

TEST(Crc32cTest, TheTableFallbackAgreesWithTheBuildsCrcOnEveryLengthAndSeed) {
  std::string s = "123456789";
  EXPECT_EQ(Crc32cExtendByTable(0, std::as_bytes(std::span(s))), 0xE3069283u);
  auto data = testing::PatternBytes(70000, 9);
  std::span<const std::byte> all(data);
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{64}, size_t{4097}, all.size()}) {
    for (uint32_t seed : {0u, 0xE3069283u, 0xFFFFFFFFu}) {
      EXPECT_EQ(Crc32cExtendByTable(seed, all.first(n)), Crc32cExtend(seed, all.first(n)))
          << n << " bytes, seed " << seed;
    }
  }
}

TEST(Crc32cTest, ReproducesWindowsHeaderChecksum) {
  auto header = ReadTestData("image_header.1");
  ASSERT_EQ(header.size(), 4096u);
  EXPECT_EQ(StoredChecksum(header), 0x9F69B235u);
  EXPECT_EQ(Crc32cWithZeroedField(header, 4), 0x9F69B235u);
}

TEST(Crc32cTest, ReproducesWindowsRegionTableChecksumOver64KiB) {
  auto table = ReadTestData("region_table.1");
  ASSERT_EQ(table.size(), 80u);
  EXPECT_EQ(StoredChecksum(table), 0xC66B8CAEu);
  table.resize(64 * 1024);
  EXPECT_EQ(Crc32cWithZeroedField(table, 4), 0xC66B8CAEu);
}

}  // namespace
}  // namespace hvdisk
