// `hvdisk resize` and `hvdisk compact` end to end: exit codes, --json, the differencing rule, and
// the content (digest) unchanged by a compact of a chain's leaf, whose parent is not touched.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using ::testing::HasSubstr;
using testing::Q;
using Json = nlohmann::ordered_json;

class MaintainCommandsTest : public ::testing::Test {
 protected:
  int Run(const std::string& args) {
    out_.clear();
    return testing::Hvdisk(args, &out_);
  }
  std::string Digest(const std::string& path) {
    EXPECT_EQ(Run("digest " + Q(path)), 0) << out_;
    return out_.substr(0, out_.find(' '));
  }
  std::string FileSha(const std::string& path) {
    std::string out;
    testing::RunCommand("sha256sum < " + Q(path), &out, false);
    return out;
  }
  testing::TempDir tmp_;
  std::string out_;
};

TEST_F(MaintainCommandsTest, ResizeGrowsReportsJsonAndShrinksOnlyWithTheFlag) {
  const std::string img = tmp_.File("d.vhdx");
  ASSERT_EQ(Run("create --type dynamic --block-size 1M " + Q(img) + " 8M"), 0) << out_;
  ASSERT_EQ(Run("write " + Q(img) + " 1M --pattern 0x11 --length 4096"), 0) << out_;
  ASSERT_EQ(Run("resize --json " + Q(img) + " 1G"), 0) << out_;
  Json j = Json::parse(out_);
  EXPECT_EQ(j["old-size"], 8u << 20);
  EXPECT_EQ(j["virtual-size"], 1u << 30);
  EXPECT_EQ(Run("resize " + Q(img) + " 4M"), 2) << out_;
  EXPECT_THAT(out_, HasSubstr("--shrink"));
  EXPECT_EQ(Run("resize " + Q(img) + " 1M --shrink"), 2) << out_;
  EXPECT_THAT(out_, HasSubstr("data at virtual offset 0x100000"));
  EXPECT_EQ(Run("resize " + Q(img) + " 2M --shrink"), 0) << out_;
  EXPECT_EQ(Run("info --json " + Q(img)), 0) << out_;
  EXPECT_EQ(Json::parse(out_)["virtual-size"], 2u << 20);
  EXPECT_EQ(Run("check " + Q(img)), 0) << out_;
}

TEST_F(MaintainCommandsTest, ADifferencingChildIsResizedOnlyToItsParentsSize) {
  const std::string base = tmp_.File("base.vhdx"), child = tmp_.File("child.avhdx");
  ASSERT_EQ(Run("create --type dynamic --block-size 1M " + Q(base) + " 8M"), 0) << out_;
  ASSERT_EQ(Run("create --parent " + Q(base) + " " + Q(child)), 0) << out_;
  EXPECT_EQ(Run("resize " + Q(child) + " 16M"), 2) << out_;
  EXPECT_THAT(out_, HasSubstr("resize the parent first"));
  ASSERT_EQ(Run("resize " + Q(base) + " 16M"), 0) << out_;
  EXPECT_EQ(Run("check " + Q(child)), 2) << out_;  // the link is broken until the child follows
  ASSERT_EQ(Run("resize " + Q(child) + " 16M"), 0) << out_;
  EXPECT_EQ(Run("check " + Q(child)), 0) << out_;
}

TEST_F(MaintainCommandsTest, CompactOfAChainsLeafKeepsItsContentAndLeavesTheParentAlone) {
  const std::string base = tmp_.File("base.vhdx"), child = tmp_.File("child.avhdx");
  ASSERT_EQ(Run("create --type dynamic --block-size 1M " + Q(base) + " 16M"), 0) << out_;
  ASSERT_EQ(Run("write " + Q(base) + " 0 --pattern 0x22 --length 16M"), 0) << out_;
  ASSERT_EQ(Run("create --parent " + Q(base) + " " + Q(child)), 0) << out_;
  for (int b = 0; b < 8; ++b) {
    const std::string byte = b % 2 == 0 ? "0" : "0x3" + std::to_string(b);
    ASSERT_EQ(
        Run("write " + Q(child) + " " + std::to_string(b) + "M --pattern " + byte + " --length 1M"),
        0)
        << out_;
  }
  const std::string content = Digest(child), parent = FileSha(base);
  ASSERT_EQ(Run("compact --json --zero-scan " + Q(child)), 0) << out_;
  Json j = Json::parse(out_);
  EXPECT_EQ(j["blocks-trimmed"], 4);
  EXPECT_LT(j["file-size-after"].get<uint64_t>(), j["file-size-before"].get<uint64_t>());
  EXPECT_EQ(Digest(child), content);  // the zero blocks still hide the parent's bytes
  EXPECT_EQ(FileSha(base), parent);
  EXPECT_EQ(Run("check " + Q(child)), 0) << out_;
  EXPECT_EQ(Run("compact " + Q(base)), 0) << out_;  // nothing to free: a clean no-op
  EXPECT_THAT(out_, HasSubstr("0 zero blocks freed"));
}

TEST_F(MaintainCommandsTest, CompactRefusesAFixedDisk) {
  const std::string img = tmp_.File("f.vhdx");
  ASSERT_EQ(Run("create --type fixed " + Q(img) + " 4M"), 0) << out_;
  EXPECT_EQ(Run("compact " + Q(img)), 1) << out_;
  EXPECT_THAT(out_, HasSubstr("unsupported: "));
}

}  // namespace
}  // namespace hvdisk
