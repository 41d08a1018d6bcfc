// End-to-end tests of `hvdisk check` telling the truth and of `check -r leaks|all` (qemu-img's
// spelling and exit codes: 0 fixed or clean, 2 corruption left, 3 leaks or repairable findings
// left), text and JSON. Images from `hvdisk create --block-size 1M X 8M`: headers @64K/128K,
// region tables @192K/256K, BAT @3 MiB.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
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

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

void Poke(const std::string& path, uint64_t offset, const std::string& bytes) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string U64(uint64_t v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, 8);
  return s;
}

class CheckRepairTest : public ::testing::Test {
 protected:
  std::string Image(const std::string& name) {
    const std::string img = dir_.File(name);
    EXPECT_EQ(Cmd("create --block-size 1M " + Q(img) + " 8M").rc, 0);
    EXPECT_EQ(Cmd("write " + Q(img) + " 5M --pattern 0x55 --length 4K").rc, 0);
    return img;
  }
  testing::TempDir dir_;
};

TEST_F(CheckRepairTest, ASingleBadImageIsReportedOnceAndNotAsABrokenChain) {
  const std::string img = Image("bad.vhdx");
  Poke(img, 64 << 10, std::string(128 << 10, '\0'));  // both headers
  CmdResult r = Cmd("check " + Q(img));
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_EQ(Count(r.out, "neither header is valid"), 1u) << r.out;
  EXPECT_THAT(r.out, Not(HasSubstr("chain is broken")));
  EXPECT_THAT(r.out, Not(HasSubstr("link errors")));
}

TEST_F(CheckRepairTest, ABadHeaderCopyExits3AndCheckRLeaksRewritesItToExit0) {
  const std::string img = Image("h.vhdx");
  Poke(img, (64 << 10) + 100, "\x5a");
  CmdResult r = Cmd("check " + Q(img));
  EXPECT_EQ(r.rc, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("Warning: header 1 @0x10000"));
  EXPECT_THAT(r.out, HasSubstr("repair rewrites it from header 2"));
  r = Cmd("check -r leaks " + Q(img));
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("Repaired: header 1 rewritten from header 2"));
  EXPECT_EQ(Cmd("check " + Q(img)).rc, 0);
}

TEST_F(CheckRepairTest, AnInvalidBatEntryIsLeftByLeaksAndClearedByAllWithTheLostRange) {
  const std::string img = Image("b.vhdx");
  Poke(img, (3 << 20) + 8 * 2, U64((64ull << 20) | 6));  // block 2 past the end of the file
  EXPECT_EQ(Cmd("check " + Q(img)).rc, 2);
  CmdResult r = Cmd("check -r leaks " + Q(img));
  EXPECT_EQ(r.rc, 2) << "leaks does not touch the BAT:\n" << r.out;
  r = Cmd("check -r all --json " + Q(img), /*merge_stderr=*/false);
  EXPECT_EQ(r.rc, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["result"], "consistent");
  EXPECT_EQ(j["repair"]["mode"], "all");
  ASSERT_EQ(j["repair"]["lost"].size(), 1u) << r.out;
  EXPECT_EQ(j["repair"]["lost"][0]["offset"], 2 << 20);
  EXPECT_EQ(j["repair"]["lost"][0]["length"], 1 << 20);
  EXPECT_THAT(j["repair"]["lost"][0]["reason"].get<std::string>(), HasSubstr("BAT entry 2"));
}

TEST_F(CheckRepairTest, LeakedSpaceIsFreedAndTheJsonCountsWarnings) {
  const std::string img = Image("l.vhdx");
  ASSERT_EQ(truncate(img.c_str(), 16 << 20), 0);
  Poke(img, (256 << 10) + 20, "\x5a");  // region table 2
  CmdResult r = Cmd("check --json " + Q(img), false);
  EXPECT_EQ(r.rc, 3) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["result"], "leaks");
  EXPECT_EQ(j["warnings"], 1);
  EXPECT_EQ(j["images"][0]["warnings"].size(), 1u);
  r = Cmd("check -r leaks " + Q(img));
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("Repaired: region table 2 rewritten"));
  EXPECT_THAT(r.out, HasSubstr("leaked bytes past the last object"));
}

TEST_F(CheckRepairTest, AStaleRelativeParentPathIsRewrittenByAll) {
  ASSERT_EQ(mkdir(dir_.File("a").c_str(), 0755), 0);
  const std::string base = dir_.File("a/base.vhdx"), child = dir_.File("a/child.vhdx");
  ASSERT_EQ(Cmd("create --block-size 1M " + Q(base) + " 8M").rc, 0);
  ASSERT_EQ(Cmd("create --parent " + Q(base) + " " + Q(child)).rc, 0);
  const std::string moved = dir_.File("child.vhdx");  // ".\base.vhdx" no longer beside it
  ASSERT_EQ(rename(child.c_str(), moved.c_str()), 0);
  CmdResult r = Cmd("check -r all " + Q(moved));
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("relative_path .\\base.vhdx rewritten as .\\a\\base.vhdx"));
  r = Cmd("check -r all " + Q(moved));
  EXPECT_THAT(r.out, Not(HasSubstr("rewritten"))) << "the second run finds nothing stale";
}

TEST_F(CheckRepairTest, RepairRefusesForceShareAndABadMode) {
  const std::string img = Image("u.vhdx");
  EXPECT_EQ(Cmd("check -r all --force-share " + Q(img)).rc, 2);
  EXPECT_EQ(Cmd("check -r some " + Q(img)).rc, 2);
}

}  // namespace
}  // namespace hvdisk
