// Interoperability of `hvdisk resize` and `hvdisk compact`: qemu-img (info, check, compare) and
// libvhdi (pyvhdi) read the resized or compacted file with its new size and the same content.
// The references are raw files qemu-img converts from the image before the change.
//
// These tests FAIL (never skip) when qemu-img or /usr/bin/python3's pyvhdi is missing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using testing::Hvdisk;
using testing::Q;
using testing::RunCommand;

// Prints the media size pyvhdi reads, then the SHA-256 of the whole media.
constexpr const char* kPyvhdiScript = R"(
import sys, hashlib, pyvhdi
f = pyvhdi.file()
f.open(sys.argv[1])
size = f.get_media_size()
h = hashlib.sha256()
offset = 0
while offset < size:
    n = min(4 << 20, size - offset)
    h.update(f.read_buffer_at_offset(n, offset))
    offset += n
f.close()
print(size, h.hexdigest())
)";

class ResizeCompactInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string out;
    ASSERT_EQ(RunCommand("qemu-img --version", &out), 0) << "needs qemu-utils: " << out;
    ASSERT_EQ(RunCommand("/usr/bin/python3 -c 'import pyvhdi'", &out), 0)
        << "needs Debian's python3-libvhdi (import pyvhdi): " << out;
  }
  void Run(const std::string& args) {
    std::string out;
    ASSERT_EQ(Hvdisk(args, &out), 0) << "hvdisk " << args << ": " << out;
  }
  uint64_t QemuVirtualSize(const std::string& img) {
    std::string out;
    EXPECT_EQ(RunCommand("qemu-img info --output=json -f vhdx " + Q(img), &out, false), 0) << out;
    return nlohmann::json::parse(out, nullptr, false).value("virtual-size", uint64_t{0});
  }
  // pyvhdi's "size sha256" of the image, and the same of a raw file.
  std::string Pyvhdi(const std::string& img) {
    std::string out;
    EXPECT_EQ(RunCommand("/usr/bin/python3 -c '" + std::string(kPyvhdiScript) + "' " + Q(img), &out,
                         false),
              0)
        << out;
    return out;
  }
  std::string RawDigest(const std::string& raw) {
    std::string out;
    RunCommand("echo $(stat -c %s " + Q(raw) + ") $(sha256sum < " + Q(raw) + " | cut -d' ' -f1)",
               &out, false);
    return out;
  }
  // qemu-img check and compare against `raw`, and pyvhdi's view equal to raw's.
  void ExpectPeersRead(const std::string& img, const std::string& raw) {
    std::string out;
    EXPECT_EQ(RunCommand("qemu-img check -f vhdx " + Q(img), &out), 0) << out;
    EXPECT_EQ(RunCommand("qemu-img compare -f vhdx -F raw " + Q(img) + " " + Q(raw), &out), 0)
        << out;
    EXPECT_EQ(Pyvhdi(img), RawDigest(raw));
  }
  void ToRaw(const std::string& img, const std::string& raw) {
    std::string out;
    ASSERT_EQ(RunCommand("qemu-img convert -f vhdx -O raw " + Q(img) + " " + Q(raw), &out), 0)
        << out;
  }
  uint64_t FileSize(const std::string& path) {
    std::string out;
    RunCommand("stat -c %s " + Q(path), &out, false);
    return std::stoull(out);
  }
  testing::TempDir dir_;
};

TEST_F(ResizeCompactInterop, QemuAndLibvhdiReadGrownFixedAndDynamicDisksWithTheirNewSize) {
  for (const std::string type : {"fixed", "dynamic"}) {
    SCOPED_TRACE(type);
    const std::string img = dir_.File(type + ".vhdx"), raw = dir_.File(type + ".raw");
    Run("create --type " + type + " --block-size 1M " + Q(img) + " 24M");
    Run("write " + Q(img) + " 3M --pattern 0xA5 --length 1M");
    Run("write " + Q(img) + " 25165312 --pattern 0x5A --length 512");
    if (type == "fixed") ToRaw(img, raw);
    const uint64_t size = type == "fixed" ? 40 * (1ull << 20) : 130ull << 30;  // BAT relocated
    Run("resize " + Q(img) + " " + std::to_string(size));
    EXPECT_EQ(QemuVirtualSize(img), size);
    if (type == "fixed") {
      ASSERT_EQ(RunCommand("truncate -s " + std::to_string(size) + " " + Q(raw)), 0);
      ExpectPeersRead(img, raw);
      continue;
    }
    // 130 GiB: qemu checks it and reads the old data and the new range through qemu-io (a whole
    // compare or hash would read all of it).
    std::string out;
    EXPECT_EQ(RunCommand("qemu-img check -f vhdx " + Q(img), &out), 0) << out;
    EXPECT_EQ(RunCommand("qemu-io -f vhdx -r -c 'read -P 0xa5 3M 1M' -c 'read -P 0x5a 25165312 "
                         "512' -c 'read -P 0 129G 1M' " +
                             Q(img),
                         &out),
              0)
        << out;
    EXPECT_EQ(out.find("Pattern verification failed"), std::string::npos) << out;
  }
}

TEST_F(ResizeCompactInterop, QemuAndLibvhdiReadAShrunkDynamicDisk) {
  const std::string img = dir_.File("d.vhdx"), raw = dir_.File("d.raw");
  Run("create --type dynamic --block-size 1M " + Q(img) + " 64M");
  Run("write " + Q(img) + " 1M --pattern 0xA5 --length 2M");
  std::string out;
  EXPECT_EQ(Hvdisk("resize " + Q(img) + " 2M --shrink", &out), 2) << out;
  EXPECT_NE(out.find("0x200000"), std::string::npos) << out;
  Run("resize " + Q(img) + " 3M --shrink");
  ToRaw(img, raw);
  EXPECT_EQ(QemuVirtualSize(img), 3u << 20);
  EXPECT_EQ(FileSize(raw), 3u << 20);
  ExpectPeersRead(img, raw);
}

TEST_F(ResizeCompactInterop, QemuAndLibvhdiReadACompactedDiskAndItShrank) {
  const std::string img = dir_.File("c.vhdx"), raw = dir_.File("c.raw");
  Run("create --type dynamic --block-size 1M " + Q(img) + " 64M");
  for (int b = 0; b < 32; ++b) {
    const std::string byte = b % 3 == 0 ? "0x" + std::to_string(10 + b) : "0";
    Run("write " + Q(img) + " " + std::to_string(b) + "M --pattern " + byte + " --length 1M");
  }
  ToRaw(img, raw);
  const uint64_t before = FileSize(img);
  std::string out;
  ASSERT_EQ(Hvdisk("compact --json --zero-scan " + Q(img), &out, false), 0) << out;
  auto j = nlohmann::json::parse(out, nullptr, false);
  EXPECT_EQ(j.value("blocks-trimmed", 0), 21) << out;
  const uint64_t after = FileSize(img);
  EXPECT_LE(after, before - 21 * (1ull << 20) * 9 / 10) << before << " -> " << after;
  ExpectPeersRead(img, raw);
}

}  // namespace
}  // namespace hvdisk
