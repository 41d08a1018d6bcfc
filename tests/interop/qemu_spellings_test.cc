// Issue 21, item 1: the qemu-img spellings hvdisk accepts mean what they mean in qemu-img. Each
// test runs the same spelling through `qemu-img` and `hvdisk` on the same kind of files and
// compares the outcome: exit codes, JSON keys (and values where both know them), and the files
// left (compared with `qemu-img compare` / `cmp`).
//
// These tests FAIL (never skip) when qemu-img is missing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using ::testing::HasSubstr;
using testing::Q;
using Json = nlohmann::json;

struct Outcome {
  int rc = -1;
  std::string out;  // stdout only
};

Outcome Shell(const std::string& command) {
  Outcome o;
  o.rc = testing::RunCommand(command + " 2>/dev/null", &o.out, false);
  return o;
}
Outcome Qemu(const std::string& args) { return Shell("qemu-img " + args); }
Outcome Hv(const std::string& args) { return Shell(testing::HvdiskPath() + " " + args); }

Json Info(const std::string& path) {
  Outcome o = Qemu("info --output=json " + Q(path));
  EXPECT_EQ(o.rc, 0) << path;
  return o.rc == 0 ? Json::parse(o.out) : Json::object();
}

class QemuSpellingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(Qemu("--version").rc, 0) << "the interop suite needs qemu-utils (qemu-img)";
    struct stat st;
    ASSERT_EQ(stat(testing::HvdiskPath().c_str(), &st), 0) << "build the hvdisk target";
    src_ = F("src.raw");
    ASSERT_EQ(Qemu("create -q -f raw " + Q(src_) + " 16M").rc, 0);
    ASSERT_EQ(testing::RunCommand("printf 'hvdisk' | dd of=" + Q(src_) +
                                  " bs=1 seek=3145728 conv=notrunc status=none"),
              0);
  }
  std::string F(const std::string& name) const { return dir_.File(name); }
  // `args` with each @ replaced by `tag` (a directory and q- or h-: each tool's own files).
  static std::string With(std::string args, const std::string& tag) {
    for (size_t at = args.find('@'); at != std::string::npos; at = args.find('@', at + 1)) {
      args.replace(at, 1, tag);
    }
    return args;
  }
  // Runs the spelling through both tools (`@` in args becomes q- and h- in file names); both must
  // exit `rc`.
  std::pair<Outcome, Outcome> Both(const std::string& args, int rc) {
    SCOPED_TRACE(args);
    Outcome q = Qemu(With(args, dir_.path() + "/q-")), h = Hv(With(args, dir_.path() + "/h-"));
    EXPECT_EQ(q.rc, rc) << "qemu-img " << args << "\n" << q.out;
    EXPECT_EQ(h.rc, rc) << "hvdisk " << args << "\n" << h.out;
    return {q, h};
  }
  bool Identical(const std::string& a, const std::string& b) {
    return Qemu("compare -q " + Q(a) + " " + Q(b)).rc == 0;
  }
  testing::TempDir dir_;
  std::string src_;
};

TEST_F(QemuSpellingsTest, CreateWithFormatOptionsAndQuiet) {
  auto [q, h] =
      Both("create -q -f vhdx -o subformat=fixed,block_size=1M,log_size=1M @f.vhdx 8M", 0);
  EXPECT_EQ(q.out, "");
  EXPECT_EQ(h.out, "");
  const Json qi = Info(F("q-f.vhdx")), hi = Info(F("h-f.vhdx"));
  for (const char* key : {"format", "virtual-size", "cluster-size"}) {
    EXPECT_EQ(qi[key], hi[key]) << key;
  }
  EXPECT_EQ(hi["cluster-size"], 1 << 20);
  // A bad -o is a bad argument: qemu-img exits 1, hvdisk 2 (its "bad arguments", README).
  EXPECT_EQ(Qemu("create -f vhdx -o no_such_option=1 " + Q(F("q-g.vhdx")) + " 8M").rc, 1);
  EXPECT_EQ(Hv("create -f vhdx -o no_such_option=1 " + Q(F("h-g.vhdx")) + " 8M").rc, 2);
}

TEST_F(QemuSpellingsTest, CreateWithABackingFileAndItsFormat) {
  // qemu's VHDX driver has no backing files: qemu-img makes a qcow2 child, hvdisk an .avhdx.
  ASSERT_EQ(Qemu("create -q -f qcow2 " + Q(F("base.qcow2")) + " 8M").rc, 0);
  ASSERT_EQ(Hv("create -q -f vhdx " + Q(F("base.vhdx")) + " 8M").rc, 0);
  EXPECT_EQ(Qemu("create -q -f qcow2 -b " + Q(F("base.qcow2")) + " -F qcow2 " + Q(F("c.qcow2"))).rc,
            0);
  EXPECT_EQ(Hv("create -q -f vhdx -b " + Q(F("base.vhdx")) + " -F vhdx " + Q(F("c.avhdx"))).rc, 0);
  const Json qi = Info(F("c.qcow2"));
  const Json hi = Json::parse(Hv("info --output=json " + Q(F("c.avhdx"))).out);
  for (const char* key : {"backing-filename", "full-backing-filename", "virtual-size", "format",
                          "actual-size", "cluster-size", "dirty-flag"}) {
    EXPECT_TRUE(qi.contains(key)) << key;
    EXPECT_TRUE(hi.contains(key)) << key;
  }
  EXPECT_EQ(qi["virtual-size"], hi["virtual-size"]);
}

TEST_F(QemuSpellingsTest, InfoJsonCarriesQemuImgsKeysWithItsValues) {
  const std::string img = F("q.vhdx");
  ASSERT_EQ(Qemu("create -q -f vhdx -o block_size=2M " + Q(img) + " 24M").rc, 0);
  const Json qi = Info(img);
  const Outcome h = Hv("info -U --output=json " + Q(img));
  ASSERT_EQ(h.rc, 0);
  const Json hi = Json::parse(h.out);
  for (const auto& [key, value] : qi.items()) {
    ASSERT_TRUE(hi.contains(key)) << key;
    if (key != "actual-size") {
      EXPECT_EQ(hi[key], value) << key;
    }
  }
  EXPECT_EQ(Hv("info --output=human " + Q(img)).rc, 0);
  // The spelling is taken by both, and both find the image consistent (the 4 MiB qemu-img reserves
  // past its BAT is no leak).
  EXPECT_EQ(Qemu("check -U -f vhdx --output=json " + Q(img)).rc, 0);
  const Outcome check = Hv("check -U -f vhdx --output=json " + Q(img));
  EXPECT_EQ(check.rc, 0);
  EXPECT_EQ(Json::parse(check.out)["result"], "consistent");
  EXPECT_EQ(Qemu("info --output=yaml " + Q(img)).rc, 1);
  EXPECT_EQ(Hv("info --output=yaml " + Q(img)).rc, 2);  // hvdisk: a bad argument exits 2
}

TEST_F(QemuSpellingsTest, ConvertWithFormatsCacheProgressAndForceShare) {
  auto [q, h] =
      Both("convert -U -p -f raw -O vhdx -t writeback -o subformat=dynamic,block_size=1M " +
               Q(src_) + " @c.vhdx",
           0);
  EXPECT_TRUE(Identical(F("q-c.vhdx"), src_));
  EXPECT_TRUE(Identical(F("h-c.vhdx"), src_));
  EXPECT_EQ(Info(F("h-c.vhdx"))["cluster-size"], 1 << 20);
  Both("convert -q -f vhdx -O raw -t none @c.vhdx @c.raw", 0);
  EXPECT_EQ(testing::RunCommand("cmp " + Q(F("q-c.raw")) + " " + Q(F("h-c.raw"))), 0);
  Both("convert -f vhdx -O raw -t unsafe @c.vhdx @u.raw", 0);
  EXPECT_TRUE(Identical(F("h-u.raw"), src_));
}

TEST_F(QemuSpellingsTest, ConvertReplacesAnExistingDstAndWithNWritesIntoIt) {
  for (const char* tag : {"q-", "h-"}) {
    testing::RunCommand("head -c 5000000 /dev/urandom > " + Q(F(std::string(tag) + "old.raw")));
    ASSERT_EQ(Qemu("create -q -f raw " + Q(F(std::string(tag) + "n.raw")) + " 16M").rc, 0);
  }
  Both("convert -O raw " + Q(src_) + " @old.raw", 0);
  EXPECT_EQ(testing::RunCommand("cmp " + Q(F("h-old.raw")) + " " + Q(src_)), 0);
  EXPECT_EQ(testing::RunCommand("cmp " + Q(F("q-old.raw")) + " " + Q(src_)), 0);
  Both("convert -n -O raw " + Q(src_) + " @n.raw", 0);
  EXPECT_EQ(testing::RunCommand("cmp " + Q(F("h-n.raw")) + " " + Q(src_)), 0);
  EXPECT_EQ(testing::RunCommand("cmp " + Q(F("q-n.raw")) + " " + Q(src_)), 0);
  Both("convert -n -O raw " + Q(src_) + " @missing.raw", 1);
}

TEST_F(QemuSpellingsTest, CompareStrictQuietAndProgress) {
  const std::string bigger = F("big.raw");
  ASSERT_EQ(
      testing::RunCommand("cp " + Q(src_) + " " + Q(bigger) + " && truncate -s 17M " + Q(bigger)),
      0);
  for (const std::string& tool : std::vector<std::string>{"qemu-img", testing::HvdiskPath()}) {
    SCOPED_TRACE(tool);
    Outcome o = Shell(tool + " compare -f raw -F raw " + Q(src_) + " " + Q(bigger));
    EXPECT_EQ(o.rc, 0) << "a larger B with zeros beyond A is identical";
    o = Shell(tool + " compare -s " + Q(src_) + " " + Q(bigger));
    EXPECT_EQ(o.rc, 1);
    EXPECT_THAT(o.out, HasSubstr("Strict mode: Image size mismatch!"));
    o = Shell(tool + " compare -q -p " + Q(src_) + " " + Q(src_));
    EXPECT_EQ(o.rc, 0);
    EXPECT_EQ(o.out, "");
  }
}

TEST_F(QemuSpellingsTest, MapWithStartOffsetAndMaxLength) {
  auto [q, h] = Both("map -U --output=json --start-offset 2M --max-length 4M " + Q(src_), 0);
  const Json qm = Json::parse(q.out), hm = Json::parse(h.out);
  ASSERT_FALSE(qm.empty());
  ASSERT_FALSE(hm.empty());
  EXPECT_EQ(hm.front()["start"], qm.front()["start"]);
  uint64_t qsum = 0, hsum = 0;
  for (const Json& e : qm) qsum += e["length"].get<uint64_t>();
  for (const Json& e : hm) hsum += e["length"].get<uint64_t>();
  EXPECT_EQ(hsum, qsum);
  EXPECT_EQ(hsum, 4u << 20);
}

// -q: qemu-img bench still prints its two lines; hvdisk prints nothing.
TEST_F(QemuSpellingsTest, BenchWithAioQuietCacheAndFlushInterval) {
  const std::string img = F("b.raw");
  ASSERT_EQ(Qemu("create -q -f raw " + Q(img) + " 8M").rc, 0);
  for (const std::string& tool : std::vector<std::string>{"qemu-img", testing::HvdiskPath()}) {
    SCOPED_TRACE(tool);
    EXPECT_EQ(Shell(tool + " bench -U -q -f raw -c 200 -s 4K -d 4 -i threads " + Q(img)).rc, 0);
    EXPECT_EQ(
        Shell(tool + " bench -w -f raw -c 200 -s 4K -d 4 -t none -n --flush-interval 50 " + Q(img))
            .rc,
        0);
    const int bad = tool == "qemu-img" ? 1 : 2;  // hvdisk: a bad argument exits 2
    EXPECT_EQ(Shell(tool + " bench -w -f raw -c 200 -d 8 --flush-interval 4 " + Q(img)).rc, bad)
        << "a flush interval below the depth";
    EXPECT_EQ(Shell(tool + " bench -f raw -c 20 -d 4 --flush-interval 5 " + Q(img)).rc, bad)
        << "--flush-interval without -w";
  }
  EXPECT_EQ(Hv("bench -q -c 50 " + Q(img)).out, "");
}

}  // namespace
}  // namespace hvdisk
