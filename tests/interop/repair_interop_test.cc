// check against real qemu-img: every image `qemu-img create -f vhdx` makes (dynamic and fixed,
// block sizes 1 to 256 MiB, the default log and a 1 MiB one, ZERO-state and fully allocated fixed
// BATs) checks 0, with no leak reported for qemu's reserve or a fixed disk's preallocated area;
// check -r all leaves them valid for qemu-img check with the same content; and an image whose BAT
// entry points past the end is repaired into one qemu-img check accepts. Fails (never skips)
// without qemu-utils.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <fstream>
#include <string>

#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using testing::Q;

struct QemuMade {
  const char* options;  // qemu-img create -o
  const char* size;
};

std::string Name(const ::testing::TestParamInfo<QemuMade>& info) {
  std::string n;
  for (const char* c = info.param.options; *c; ++c) n += std::isalnum(*c) ? *c : '_';
  return n + "_" + info.param.size;
}

class QemuMadeImagesTest : public ::testing::TestWithParam<QemuMade> {
 protected:
  testing::TempDir dir_;
};

int Shell(const std::string& command, std::string* out) {
  return testing::RunCommand(command, out);
}

TEST_P(QemuMadeImagesTest, CheckExits0AndRepairKeepsThemValidForQemu) {
  const std::string img = dir_.File("q.vhdx");
  std::string out;
  ASSERT_EQ(Shell("qemu-img create -q -f vhdx -o " + std::string(GetParam().options) + " " +
                      Q(img) + " " + GetParam().size,
                  &out),
            0)
      << "qemu-img is needed (qemu-utils): " << out;
  ASSERT_EQ(Shell("qemu-io -f vhdx -c 'write -P 0x5a 1M 64k' " + Q(img), &out), 0) << out;
  EXPECT_EQ(testing::Hvdisk("check " + Q(img), &out), 0) << out;
  std::string digest_before, digest_after;
  ASSERT_EQ(testing::Hvdisk("digest " + Q(img), &digest_before, false), 0) << digest_before;
  EXPECT_EQ(testing::Hvdisk("check -r all " + Q(img), &out), 0) << out;
  EXPECT_EQ(Shell("qemu-img check -f vhdx " + Q(img), &out), 0) << out;
  ASSERT_EQ(testing::Hvdisk("digest " + Q(img), &digest_after, false), 0);
  EXPECT_EQ(digest_before, digest_after);
}

INSTANTIATE_TEST_SUITE_P(
    Qemu, QemuMadeImagesTest,
    ::testing::Values(QemuMade{"subformat=dynamic", "100M"},
                      QemuMade{"subformat=dynamic,block_size=1M,log_size=1M", "1G"},
                      QemuMade{"subformat=dynamic,block_size=32M", "3G"},
                      QemuMade{"subformat=dynamic,block_size=256M", "600M"},
                      QemuMade{"subformat=fixed", "64M"},
                      QemuMade{"subformat=fixed,block_size=1M,log_size=1M", "40M"},
                      QemuMade{"subformat=fixed,block_size=256M", "300M"},
                      QemuMade{"subformat=fixed,block_state_zero=off", "48M"}),
    Name);

TEST(QemuRepairInterop, ABatEntryPastTheEndIsRepairedIntoAnImageQemuAccepts) {
  testing::TempDir dir;
  const std::string img = dir.File("b.vhdx");
  std::string out;
  ASSERT_EQ(
      Shell("qemu-img create -q -f vhdx -o subformat=dynamic,block_size=1M " + Q(img) + " 16M",
            &out),
      0)
      << "qemu-img is needed (qemu-utils): " << out;
  ASSERT_EQ(
      Shell("qemu-io -f vhdx -c 'write -P 0x11 0 1M' -c 'write -P 0x22 3M 1M' " + Q(img), &out), 0)
      << out;
  {  // qemu's BAT is at 2 MiB: entry 0 now names a block far past the end of the file
    std::fstream f(img, std::ios::in | std::ios::out | std::ios::binary);
    const uint64_t entry = (uint64_t{512} << 20) | 6;
    f.seekp(2 << 20);
    f.write(reinterpret_cast<const char*>(&entry), 8);
  }
  EXPECT_EQ(testing::Hvdisk("check " + Q(img), &out), 2) << out;
  EXPECT_EQ(testing::Hvdisk("check -r all " + Q(img), &out), 0) << out;
  EXPECT_NE(out.find("Lost: virtual bytes 0x0..0x100000"), std::string::npos) << out;
  EXPECT_EQ(Shell("qemu-img check -f vhdx " + Q(img), &out), 0) << out;
  EXPECT_EQ(Shell("qemu-io -f vhdx -r -c 'read -P 0x22 3M 1M' " + Q(img), &out), 0) << out;
}

}  // namespace
}  // namespace hvdisk
