// End-to-end tests of `hvdisk convert --salvage SRC DST` (cli/salvage.h): what can be read is
// copied, corrupt ranges become zeros and are reported (text and JSON), SRC is never written and
// no temporary is left behind. Images from `hvdisk create --block-size 1M X 8M` (BAT @3 MiB).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using ::testing::HasSubstr;
using testing::Q;

struct CmdResult {
  int rc = -1;
  std::string out;
};

CmdResult Cmd(const std::string& args, bool merge_stderr = true) {
  CmdResult r;
  r.rc = testing::Hvdisk(args, &r.out, merge_stderr);
  return r;
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

class SalvageTest : public ::testing::Test {
 protected:
  // Blocks 0 (0x11) and 5 (0x55 at 5 MiB) written; then BAT entry 0 points past the end.
  std::string Damaged() {
    const std::string img = dir_.File("src.vhdx");
    EXPECT_EQ(Cmd("create --block-size 1M " + Q(img) + " 8M").rc, 0);
    EXPECT_EQ(Cmd("write " + Q(img) + " 0 --pattern 0x11 --length 1M").rc, 0);
    EXPECT_EQ(Cmd("write " + Q(img) + " 5M --pattern 0x55 --length 4K").rc, 0);
    std::fstream f(img, std::ios::in | std::ios::out | std::ios::binary);
    const uint64_t entry = (uint64_t{64} << 20) | 6;
    f.seekp(3 << 20);
    f.write(reinterpret_cast<const char*>(&entry), 8);
    return img;
  }
  size_t Entries() {
    return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(dir_.path()),
                                             std::filesystem::directory_iterator()));
  }
  testing::TempDir dir_;
};

TEST_F(SalvageTest, ACorruptRangeBecomesZerosAndIsReportedWhileTheRestIsCopied) {
  const std::string src = Damaged(), dst = dir_.File("out.vhdx"), raw = dir_.File("out.raw");
  const std::string before = Slurp(src);
  EXPECT_EQ(Cmd("convert " + Q(src) + " " + Q(dst)).rc, 1) << "without --salvage: refused";
  CmdResult r = Cmd("convert --salvage " + Q(src) + " " + Q(dst));
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("Lost: bytes 0..1048576 (BAT entry 0"));
  EXPECT_EQ(Cmd("check " + Q(dst)).rc, 0);
  EXPECT_EQ(Slurp(src), before) << "SRC is never written";
  EXPECT_EQ(Entries(), 2u) << "no temporary left beside SRC";
  ASSERT_EQ(Cmd("convert -O raw " + Q(dst) + " " + Q(raw)).rc, 0);
  const std::string data = Slurp(raw);
  ASSERT_EQ(data.size(), 8u << 20);
  EXPECT_EQ(data.substr(0, 1 << 20), std::string(1 << 20, '\0'));
  EXPECT_EQ(data.substr(5 << 20, 4096), std::string(4096, '\x55'));
}

TEST_F(SalvageTest, TheJsonListsEachLostRange) {
  const std::string src = Damaged(), dst = dir_.File("j.vhdx");
  CmdResult r = Cmd("convert --salvage --json " + Q(src) + " " + Q(dst), false);
  ASSERT_EQ(r.rc, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["lost"].size(), 1u);
  EXPECT_EQ(j["lost"][0]["offset"], 0);
  EXPECT_EQ(j["lost"][0]["length"], 1 << 20);
  EXPECT_THAT(j["lost"][0]["reason"].get<std::string>(), HasSubstr("outside the file"));
}

TEST_F(SalvageTest, AHealthyImageLosesNothingAndAHopelessOneIsRefused) {
  const std::string src = dir_.File("ok.vhdx");
  ASSERT_EQ(Cmd("create --block-size 1M " + Q(src) + " 8M").rc, 0);
  CmdResult r = Cmd("convert --salvage --json " + Q(src) + " " + Q(dir_.File("a.vhdx")), false);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(nlohmann::json::parse(r.out)["lost"].empty());
  {
    std::fstream f(src, std::ios::in | std::ios::out | std::ios::binary);
    const std::string zeros(128 << 10, '\0');
    f.seekp(64 << 10);  // both headers
    f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
  r = Cmd("convert --salvage " + Q(src) + " " + Q(dir_.File("b.vhdx")));
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("too damaged to salvage"));
  EXPECT_EQ(Entries(), 2u) << "neither DST nor a temporary";
}

}  // namespace
}  // namespace hvdisk
