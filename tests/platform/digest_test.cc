#include "platform/digest.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

TEST(DigestTest, StreamingEqualsOneShot) {
  auto data = testing::PatternBytes(3 << 20, 9);
  Digest128 d;
  std::span<const std::byte> all(data);
  d.Update(all.first(12345));
  d.Update(all.subspan(12345));
  EXPECT_EQ(d.Finish(), Xxh3_128(all));
}

TEST(DigestTest, Streaming64EqualsOneShot) {
  auto data = testing::PatternBytes(3 << 20, 4);
  Digest64 d;
  std::span<const std::byte> all(data);
  d.Update(all.first(24));
  d.Update(all.subspan(24, 1 << 20));
  d.Update(all.subspan(24 + (1 << 20)));
  EXPECT_EQ(d.Finish(), Xxh3_64(all));
}

TEST(DigestTest, UpdateZerosEqualsZeroBytes) {
  std::vector<std::byte> zeros(5'000'000);
  Digest128 d;
  d.UpdateZeros(zeros.size());
  EXPECT_EQ(d.Finish(), Xxh3_128(zeros));
}

TEST(DigestTest, HexMatchesXxhsumH2) {
  testing::TempDir dir;
  auto data = testing::PatternBytes(1 << 20, 5);
  std::ofstream(dir.File("blob"), std::ios::binary)
      .write(reinterpret_cast<const char*>(data.data()), data.size());
  std::string out;
  ASSERT_EQ(testing::RunCommand("xxhsum -H2 " + dir.File("blob"), &out, /*merge_stderr=*/false), 0)
      << "xxhsum (Debian package xxhash) is required: " << out;
  EXPECT_EQ(out.substr(0, 32), Xxh3_128(data).ToHex()) << out;
}

}  // namespace
}  // namespace hvdisk
