// check against real qemu-img: every image `qemu-img create -f vhdx` makes (dynamic and fixed,
// block sizes 1 to 256 MiB, the default log and a 1 MiB one, ZERO-state and fully allocated fixed
// BATs) checks 0, with no leak reported for qemu's reserve or a fixed disk's preallocated area;
// check -r all leaves them valid for qemu-img check with the same content; and an image whose BAT
// entry points past the end is repaired into one qemu-img check accepts; so is each structure
// check -r rebuilds (both headers, both region tables, the log location, the file identifier),
// with the content qemu-img and libvhdi read unchanged. Fails (never skips) without qemu-utils
// or pyvhdi.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <fstream>
#include <string>

#include "platform/crc32c.h"
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

// Damage at hvdisk's layout (headers @64K/128K, region tables @192K/256K, log @1 MiB).
void Damage(const std::string& path, const std::string& kind) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  auto flip = [&f](uint64_t at) {
    char c = 0;
    f.seekg(static_cast<std::streamoff>(at));
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(static_cast<std::streamoff>(at));
    f.write(&c, 1);
  };
  if (kind == "headers") flip(64 << 10), flip(128 << 10);  // both signatures
  if (kind == "region-tables") flip((192 << 10) + 20), flip(256 << 10);
  if (kind == "file-identifier") flip(2);
  if (kind != "log-outside") return;
  for (uint64_t h : {uint64_t{64} << 10, uint64_t{128} << 10}) {
    std::string header(4096, '\0');
    f.seekg(static_cast<std::streamoff>(h));
    f.read(header.data(), 4096);
    const uint64_t far = uint64_t{1} << 40;  // LogOffset past the end
    std::memcpy(header.data() + 72, &far, 8);
    const uint32_t crc = Crc32cWithZeroedField(std::as_bytes(std::span(header)), 4);
    std::memcpy(header.data() + 4, &crc, 4);
    f.seekp(static_cast<std::streamoff>(h));
    f.write(header.data(), 4096);
  }
}

constexpr const char* kSameMediaScript = R"(
import sys, pyvhdi
def media(path):
    f = pyvhdi.file()
    f.open(path)
    return f.read_buffer_at_offset(f.get_media_size(), 0)
sys.exit(0 if media(sys.argv[1]) == media(sys.argv[2]) else 1)
)";

TEST(QemuRepairInterop, EveryRebuiltStructureMakesAnImageQemuAndLibvhdiReadUnchanged) {
  testing::TempDir dir;
  const std::string good = dir.File("good.vhdx"), script = dir.File("same.py");
  std::ofstream(script) << kSameMediaScript;
  std::string out;
  ASSERT_EQ(testing::Hvdisk("create --block-size 1M " + Q(good) + " 16M", &out), 0) << out;
  ASSERT_EQ(testing::Hvdisk("write " + Q(good) + " 0 --pattern 0x11 --length 1M", &out), 0);
  ASSERT_EQ(testing::Hvdisk("write " + Q(good) + " 3M --pattern 0x22 --length 1M", &out), 0);
  for (const char* kind : {"headers", "region-tables", "log-outside", "file-identifier"}) {
    SCOPED_TRACE(kind);
    const std::string bad = dir.File(std::string(kind) + ".vhdx");
    ASSERT_EQ(Shell("cp " + Q(good) + " " + Q(bad), &out), 0) << out;
    Damage(bad, kind);
    EXPECT_EQ(testing::Hvdisk("check " + Q(bad), &out), 2) << out;
    EXPECT_EQ(testing::Hvdisk("check -r all " + Q(bad), &out), 0) << out;
    EXPECT_EQ(Shell("qemu-img check -f vhdx " + Q(bad), &out), 0) << out;
    EXPECT_EQ(Shell("qemu-img compare -f vhdx -F vhdx " + Q(good) + " " + Q(bad), &out), 0) << out;
    EXPECT_EQ(Shell("/usr/bin/python3 " + Q(script) + " " + Q(good) + " " + Q(bad), &out), 0)
        << "libvhdi (pyvhdi) must read the repaired image as the original: " << out;
  }
}

// A file cut inside its BAT (hvdisk's layout: BAT @3 MiB, blocks after it): the blocks went with
// the cut; the repaired file opens in qemu-img and libvhdi, reading zeros.
TEST(QemuRepairInterop, AFileCutInsideItsBatIsRepairedIntoAnImageQemuAndLibvhdiAccept) {
  testing::TempDir dir;
  const std::string img = dir.File("cut.vhdx"), script = dir.File("read.py");
  std::ofstream(script) << "import sys, pyvhdi\nf = pyvhdi.file()\nf.open(sys.argv[1])\n"
                           "sys.exit(0 if f.read_buffer_at_offset(4096, 0) == bytes(4096) "
                           "else 1)\n";
  std::string out;
  ASSERT_EQ(testing::Hvdisk("create --block-size 1M " + Q(img) + " 16M", &out), 0) << out;
  ASSERT_EQ(testing::Hvdisk("write " + Q(img) + " 0 --pattern 0x11 --length 4K", &out), 0);
  ASSERT_EQ(testing::Hvdisk("write " + Q(img) + " 3M --pattern 0x22 --length 4K", &out), 0);
  ASSERT_EQ(truncate(img.c_str(), (3 << 20) + 8), 0);
  EXPECT_EQ(testing::Hvdisk("check " + Q(img), &out), 2) << out;
  EXPECT_EQ(testing::Hvdisk("check -r all " + Q(img), &out), 0) << out;
  EXPECT_NE(out.find("Lost: virtual bytes 0x100000..0x1000000"), std::string::npos) << out;
  EXPECT_EQ(Shell("qemu-img check -f vhdx " + Q(img), &out), 0) << out;
  EXPECT_EQ(Shell("/usr/bin/python3 " + Q(script) + " " + Q(img), &out), 0) << out;
}

}  // namespace
}  // namespace hvdisk
