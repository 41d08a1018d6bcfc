// `hvdisk convert` against qemu: raw -> VHDX -> raw round trips are byte-identical, qemu agrees
// that our VHDX output matches its source, and VHDX files travel between the two tools.
//
// These tests FAIL (never skip) when qemu-img is missing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "platform/file.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using testing::Q;

using ::testing::HasSubstr;

constexpr uint64_t kMiB = 1 << 20;
const std::string& kHvdisk = testing::HvdiskPath();

int Sh(const std::string& command, std::string* out) {
  out->clear();
  return testing::RunCommand(command, out);
}

// A 40 MiB + 3 KiB raw disk: patterned runs, a sparse hole, a zero-filled (allocated) run.
void MakeSource(const std::string& path) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<File> f,
                       DefaultFileSystem()->Open(path, OpenOptions::CreateNew()));
  ASSERT_OK(f->Truncate(40 * kMiB + 3072));
  ASSERT_OK(f->WriteAt(0, testing::PatternBytes(3 * kMiB + 100, 1)));
  ASSERT_OK(f->WriteAt(9 * kMiB, std::vector<std::byte>(2 * kMiB)));  // allocated zeros
  ASSERT_OK(f->WriteAt(17 * kMiB - 10, testing::PatternBytes(20, 2)));
  ASSERT_OK(f->WriteAt(33 * kMiB + 4096, testing::PatternBytes(5 * kMiB, 3)));
  ASSERT_OK(f->WriteAt(40 * kMiB + 1000, testing::PatternBytes(2072, 4)));
  ASSERT_OK(f->Flush());
}

bool SameFiles(const std::string& a, const std::string& b) {
  std::string out;
  return testing::RunCommand("cmp " + Q(a) + " " + Q(b), &out) == 0;
}

class ConvertInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string out;
    ASSERT_EQ(Sh("qemu-img --version", &out), 0) << "the interop suite needs qemu-utils: " << out;
    struct stat st;
    ASSERT_EQ(stat(kHvdisk.c_str(), &st), 0) << kHvdisk << " is missing: build the hvdisk target";
    src_ = dir_.File("src.raw");
    ASSERT_NO_FATAL_FAILURE(MakeSource(src_));
  }
  testing::TempDir dir_;
  std::string src_;
};

TEST_F(ConvertInteropTest, RawToVhdxToRawRoundTrips) {
  for (const std::string opts :
       {"--type dynamic --block-size 1M", "--type dynamic --block-size 32M",
        "--type fixed --block-size 8M", "--type dynamic --block-size 2M --physical-sector 512"}) {
    SCOPED_TRACE(opts);
    const std::string img = dir_.File("mid.vhdx");
    const std::string back = dir_.File("back.raw");
    std::remove(img.c_str());
    std::remove(back.c_str());
    std::string out;
    ASSERT_EQ(Sh(kHvdisk + " convert " + opts + " " + Q(src_) + " " + Q(img), &out), 0) << out;
    EXPECT_EQ(Sh("qemu-img check -f vhdx " + Q(img), &out), 0) << out;
    EXPECT_EQ(Sh("qemu-img compare -f raw -F vhdx " + Q(src_) + " " + Q(img), &out), 0) << out;
    ASSERT_EQ(Sh(kHvdisk + " convert -O raw " + Q(img) + " " + Q(back), &out), 0) << out;
    EXPECT_TRUE(SameFiles(src_, back)) << "raw -> vhdx -> raw is not byte-identical";
    EXPECT_EQ(Sh("qemu-img compare -f raw -F raw " + Q(src_) + " " + Q(back), &out), 0) << out;
  }
}

TEST_F(ConvertInteropTest, DynamicOutputSkipsZeroBlocks) {
  const std::string img = dir_.File("sparse.vhdx");
  std::string out;
  ASSERT_EQ(Sh(kHvdisk + " convert --block-size 1M " + Q(src_) + " " + Q(img), &out), 0) << out;
  ASSERT_EQ(Sh(kHvdisk + " info --json " + Q(img) + " 2>/dev/null", &out), 0);
  // Data in MiB 0-3, 16-17, 33-38 and 40: 4 + 2 + 6 + 1 blocks; the allocated zeros are skipped.
  EXPECT_THAT(out, HasSubstr("\"allocated-blocks\": 13"));
}

TEST_F(ConvertInteropTest, QemuReadsOurConversionAndWeReadQemus) {
  const std::string ours = dir_.File("ours.vhdx");
  const std::string qemus = dir_.File("qemus.vhdx");
  const std::string via_qemu = dir_.File("via-qemu.raw");
  const std::string via_us = dir_.File("via-us.raw");
  std::string out;
  ASSERT_EQ(Sh(kHvdisk + " convert " + Q(src_) + " " + Q(ours), &out), 0) << out;
  ASSERT_EQ(Sh("qemu-img convert -f vhdx -O raw " + Q(ours) + " " + Q(via_qemu), &out), 0) << out;
  EXPECT_TRUE(SameFiles(src_, via_qemu)) << "qemu read our VHDX differently";
  ASSERT_EQ(Sh("qemu-img convert -f raw -O vhdx -o subformat=dynamic,block_size=8M " + Q(src_) +
                   " " + Q(qemus),
               &out),
            0)
      << out;
  ASSERT_EQ(Sh(kHvdisk + " convert " + Q(qemus) + " " + Q(via_us), &out), 0) << out;
  EXPECT_TRUE(SameFiles(src_, via_us)) << "we read qemu's VHDX differently";
  EXPECT_EQ(Sh(kHvdisk + " compare " + Q(ours) + " " + Q(qemus), &out), 0) << out;
  std::string a, b;
  ASSERT_EQ(testing::RunCommand(kHvdisk + " digest " + Q(ours), &a, false), 0);
  ASSERT_EQ(testing::RunCommand(kHvdisk + " digest " + Q(qemus), &b, false), 0);
  EXPECT_EQ(a.substr(0, 32), b.substr(0, 32));
  // The definition of the digest (platform/content_digest.h), by coreutils and xxhsum.
  const std::string recipe = "split -b 1M --filter='xxhsum -H2 - | cut -c1-32' " + Q(src_) +
                             " | tr a-f A-F | basenc --base16 -d | xxhsum -H2";
  ASSERT_EQ(
      testing::RunCommand("if command -v xxhsum >/dev/null; then " + recipe + "; fi", &b, false),
      0);
  if (!b.empty()) {  // xxhsum is optional here: the digest format is checked in platform_tests
    EXPECT_EQ(a.substr(0, 32), b.substr(0, 32)) << "the digest recipe over the raw source";
  }
}

TEST_F(ConvertInteropTest, CompareAgreesWithQemuOnADifference) {
  const std::string img = dir_.File("d.vhdx");
  std::string out;
  ASSERT_EQ(Sh(kHvdisk + " convert " + Q(src_) + " " + Q(img), &out), 0) << out;
  ASSERT_EQ(Sh(kHvdisk + " write " + Q(img) + " 12345678 --pattern 7 --length 3", &out), 0);
  std::string ours, qemus;
  EXPECT_EQ(Sh(kHvdisk + " compare " + Q(img) + " " + Q(src_), &ours), 1);
  EXPECT_EQ(Sh("qemu-img compare " + Q(img) + " " + Q(src_), &qemus), 1);
  EXPECT_EQ(ours, qemus);
}

}  // namespace
}  // namespace hvdisk
