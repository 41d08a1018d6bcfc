// ContentDigest: the documented definition (checked with coreutils and xxhsum), independence from
// how the bytes are fed, and O(1) cost per whole zero leaf.
#include "platform/content_digest.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

constexpr uint64_t kLeaf = ContentDigest::kLeafSize;

// The recipe of platform/content_digest.h, run by the shell on a raw file.
std::string ShellRecipe(const std::string& path) {
  std::string out;
  const std::string cmd = "split -b 1M --filter='xxhsum -H2 - | cut -c1-32' " + path +
                          " | tr a-f A-F | basenc --base16 -d | xxhsum -H2";
  EXPECT_EQ(testing::RunCommand(cmd, &out, /*merge_stderr=*/false), 0)
      << "coreutils and xxhsum (Debian package xxhash) are required: " << out;
  return out.substr(0, 32);
}

TEST(ContentDigest, EqualsTheShellRecipeOverARawCopyWithAShortLastLeaf) {
  testing::TempDir dir;
  auto data = testing::PatternBytes(3 * kLeaf + 12345, 5);
  std::ofstream(dir.File("blob"), std::ios::binary)
      .write(reinterpret_cast<const char*>(data.data()), data.size());
  EXPECT_EQ(ContentDigestOf(data).ToHex(), ShellRecipe(dir.File("blob")));
}

TEST(ContentDigest, AnEmptyDiskIsTheHashOfNothing) { EXPECT_EQ(ContentDigestOf({}), Xxh3_128({})); }

TEST(ContentDigest, FeedingInPiecesAndAsKnownZerosGivesTheOneShotValue) {
  // Data, zeros across leaf boundaries at unaligned offsets, whole zero leaves, data again.
  std::vector<std::byte> model(7 * kLeaf + 999);
  auto head = testing::PatternBytes(kLeaf / 2 + 7, 1);
  auto tail = testing::PatternBytes(kLeaf + 3, 2);
  std::copy(head.begin(), head.end(), model.begin());
  std::copy(tail.begin(), tail.end(), model.end() - tail.size());
  const uint64_t zeros = model.size() - head.size() - tail.size();

  ContentDigest d;
  std::span<const std::byte> h(head);
  d.Update(h.first(100));
  d.Update(h.subspan(100));
  d.UpdateZeros(zeros);
  d.Update(tail);
  EXPECT_EQ(d.Finish(), ContentDigestOf(model));

  ContentDigest all_bytes;
  all_bytes.Update(std::span<const std::byte>(model).first(kLeaf + 1));
  all_bytes.Update(std::span<const std::byte>(model).subspan(kLeaf + 1));
  EXPECT_EQ(all_bytes.Finish(), ContentDigestOf(model));
}

// 64 TiB of zeros are 64 Mi leaf hashes (1 GiB hashed): a fraction of a second, where the plain
// XXH3-128 of the bytes took an hour. A regression would show as this test's timeout.
TEST(ContentDigest, SixtyFourTebibytesOfZerosCostOnlyTheirLeafHashes) {
  ContentDigest zeros;
  zeros.UpdateZeros(uint64_t{64} << 40);
  ContentDigest same;
  for (int i = 0; i < 64; ++i) same.UpdateZeros(uint64_t{1} << 40);
  EXPECT_EQ(zeros.Finish(), same.Finish());
}

}  // namespace
}  // namespace hvdisk
