// End-to-end tests of `hvdisk bench`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <regex>
#include <string>

#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using testing::Hvdisk;
using testing::Q;

using ::testing::HasSubstr;

const std::string& kHvdisk = testing::HvdiskPath();

const std::regex kRunLine(R"(Run completed in [0-9]+\.[0-9]{3} seconds\.\n$)");

class BenchDemoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct stat st;
    ASSERT_EQ(stat(kHvdisk.c_str(), &st), 0) << kHvdisk << " is missing: build the hvdisk target";
    img_ = dir_.File("b.vhdx");
    ASSERT_EQ(Hvdisk("create --block-size 1M " + Q(img_) + " 32M"), 0);
  }
  testing::TempDir dir_;
  std::string img_;
};

TEST_F(BenchDemoTest, ReadBenchPrintsLikeQemuImgBench) {
  std::string out;
  ASSERT_EQ(Hvdisk("bench -c 5000 " + Q(img_), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("Sending 5000 read requests, 4096 bytes each, 64 in parallel "
                             "(starting at offset 0, step size 4096)\n"));
  EXPECT_TRUE(std::regex_search(out, kRunLine)) << out;
}

TEST_F(BenchDemoTest, WriteBenchLeavesAConsistentImage) {
  std::string out;
  ASSERT_EQ(Hvdisk("bench -w -c 3000 -d 8 -s 8K -S 12K -o 1M --pattern 0x5A " + Q(img_), &out), 0)
      << out;
  EXPECT_THAT(out, HasSubstr("Sending 3000 write requests, 8192 bytes each, 8 in parallel "
                             "(starting at offset 1048576, step size 12288)"));
  EXPECT_TRUE(std::regex_search(out, kRunLine)) << out;
  std::string check;
  EXPECT_EQ(Hvdisk("check " + Q(img_), &check), 0) << check;
  std::string data;
  ASSERT_EQ(testing::RunCommand(kHvdisk + " read " + Q(img_) + " 1M 8K", &data, false), 0);
  EXPECT_EQ(data, std::string(8192, '\x5A'));
}

TEST_F(BenchDemoTest, NativeAioAndDirectIo) {
  ASSERT_EQ(Hvdisk("write " + Q(img_) + " 0 --pattern 1 --length 4M"), 0);
  for (const std::string opts : {"-i native", "-t none", "-i native -t none", "-i threads"}) {
    std::string out;
    EXPECT_EQ(Hvdisk("bench -c 4000 -d 16 " + opts + " " + Q(img_), &out), 0) << opts << out;
    EXPECT_TRUE(std::regex_search(out, kRunLine)) << opts << out;
  }
  std::string out;
  EXPECT_EQ(Hvdisk("bench -w -i native -t none -c 500 " + Q(img_), &out), 0) << out;
  EXPECT_EQ(Hvdisk("check " + Q(img_)), 0);
}

// -i native plans VHDX writes through the chain (disk::RunQueued -> Image::PlanWrite of the leaf);
// the parent is opened read-only and stays as it was.
TEST_F(BenchDemoTest, NativeWriteBenchOnAChildPlansItsWritesIntoTheLeafOnly) {
  ASSERT_EQ(Hvdisk("write " + Q(img_) + " 0 --pattern 1 --length 4M"), 0);
  const std::string child = dir_.File("c.avhdx");
  ASSERT_EQ(Hvdisk("create -p " + Q(img_) + " " + Q(child)), 0);
  std::string before, after, out;
  ASSERT_EQ(Hvdisk("digest " + Q(img_), &before), 0) << before;
  ASSERT_EQ(
      Hvdisk("bench -w -i native -c 256 -d 16 -s 64K -S 128K --pattern 0x33 " + Q(child), &out), 0)
      << out;
  EXPECT_EQ(Hvdisk("check " + Q(child), &out), 0) << out;
  ASSERT_EQ(Hvdisk("digest " + Q(img_), &after), 0) << after;
  EXPECT_EQ(after, before) << "the parent changed";
  std::string data;
  ASSERT_EQ(testing::RunCommand(kHvdisk + " read " + Q(child) + " 128K 64K", &data, false), 0);
  EXPECT_EQ(data, std::string(65536, '\x33'));
  std::string between;
  ASSERT_EQ(testing::RunCommand(kHvdisk + " read " + Q(child) + " 64K 4K", &between, false), 0);
  EXPECT_EQ(between, std::string(4096, '\x01')) << "the parent shows through between the writes";
}

TEST_F(BenchDemoTest, BenchOnRawFiles) {
  const std::string raw = dir_.File("r.raw");
  ASSERT_EQ(Hvdisk("convert -O raw " + Q(img_) + " " + Q(raw)), 0);
  for (const std::string opts : {"-w", "-w -i native", "-i native", ""}) {
    std::string out;
    EXPECT_EQ(Hvdisk("bench -c 2000 " + opts + " " + Q(raw), &out), 0) << opts << out;
  }
}

TEST_F(BenchDemoTest, BenchBadArgumentsExit2) {
  for (const std::string opts : {"-d 0", "-c 0", "-s 0", "-s 64M", "-o 32M", "-t directsync",
                                 "-i uring", "-s 4K -t none -o 512", "-s 1x"}) {
    std::string out;
    EXPECT_EQ(Hvdisk("bench " + opts + " " + Q(img_), &out), 2) << opts << "\n" << out;
  }
  std::string out;
  EXPECT_EQ(Hvdisk("bench " + Q(dir_.File("missing")), &out), 1);
  EXPECT_THAT(out, HasSubstr("not found"));
}

}  // namespace
}  // namespace hvdisk
