// FirstMismatch: equal contents compare equal whatever stores them; the first differing 512-byte
// unit is named; a longer disk's extra part must read as zeros.
#include "disk/compare.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <vector>

#include "disk/open.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/chain_fixture.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::disk {
namespace {

using chain::testing::kBlock;
using chain::testing::kDisk;

class CompareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(paths_, chain::testing::MakeChain(&fs_, "/c", 2));
    ASSERT_OK_AND_ASSIGN(chain_, Open(&fs_, paths_.back(), {}));
    std::vector<std::byte> all(kDisk);
    ASSERT_OK(chain_->Read(0, all));
    ASSERT_OK(fs_.PutFile("/flat.img",
                          std::string(reinterpret_cast<const char*>(all.data()), all.size())));
    std::string longer(reinterpret_cast<const char*>(all.data()), all.size());
    longer.append(kBlock, '\0');
    ASSERT_OK(fs_.PutFile("/longer.img", longer));
  }
  std::unique_ptr<VirtualDisk> Raw(const std::string& path) {
    auto d = Open(&fs_, path, {.format = Format::kRaw, .writable = true});
    EXPECT_TRUE(d.ok());
    return std::move(d).value();
  }

  MemFileSystem fs_;
  std::vector<std::string> paths_;
  std::unique_ptr<VirtualDisk> chain_;
};

TEST_F(CompareTest, AChainAndItsFlatCopyAreTheSameAndAZeroTailIsNoDifference) {
  auto flat = Raw("/flat.img");
  auto longer = Raw("/longer.img");
  EXPECT_EQ(*FirstMismatch(chain_.get(), flat.get(), {.chunk_size = kBlock}), std::nullopt);
  EXPECT_EQ(*FirstMismatch(longer.get(), chain_.get()), std::nullopt);
}

TEST_F(CompareTest, TheFirstDifferingSectorIsNamed) {
  auto flat = Raw("/flat.img");
  const uint64_t at = 6 * kBlock + 3 * 512 + 7;
  std::vector<std::byte> b(1);
  ASSERT_OK(flat->Read(at, b));
  b[0] = ~b[0];
  ASSERT_OK(flat->Write(at, b));
  auto m = FirstMismatch(chain_.get(), flat.get(), {.chunk_size = kBlock});
  ASSERT_OK(m);
  ASSERT_TRUE(m->has_value());
  EXPECT_EQ(**m, 6 * kBlock + 3 * 512);
  auto longer = Raw("/longer.img");
  ASSERT_OK(longer->Write(kDisk + 1024, std::vector<std::byte>(1, std::byte{1})));
  auto tail = FirstMismatch(chain_.get(), longer.get());
  ASSERT_OK(tail);
  EXPECT_EQ(*tail, std::optional<uint64_t>(kDisk + 1024));
}

}  // namespace
}  // namespace hvdisk::disk
