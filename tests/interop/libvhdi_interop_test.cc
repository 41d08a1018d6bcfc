// Interoperability with libvhdi (Debian's python3-libvhdi, pyvhdi): an independent reader must see
// exactly the content we wrote. Python dumps the media through pyvhdi into a raw file; the test
// digests that file (ContentDigest, the definition of `hvdisk digest`) and compares it with
// `hvdisk digest` of the image and with the digest of the reference content. libvhdi reads
// 4096-byte logical sectors too, so those are covered here (qemu cannot read them).
//
// These tests FAIL (never skip) when /usr/bin/python3 cannot import pyvhdi.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "platform/content_digest.h"
#include "platform/file.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"
#include "vhdx/image.h"

namespace hvdisk {
namespace {

using testing::Q;

using vhdx::DiskType;
using vhdx::Image;

constexpr uint64_t kMiB = 1 << 20;
const std::string& kHvdisk = testing::HvdiskPath();

// Dumps argv[1]'s media through pyvhdi to argv[2], 4 MiB at a time.
constexpr const char* kDumpScript = R"(
import sys, pyvhdi
f = pyvhdi.file()
f.open(sys.argv[1])
size = f.get_media_size()
with open(sys.argv[2], "wb") as out:
    offset = 0
    while offset < size:
        n = min(4 << 20, size - offset)
        out.write(f.read_buffer_at_offset(n, offset))
        offset += n
f.close()
print(size)
)";

Result<Hash128> HashFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<File> f, DefaultFileSystem()->Open(path, {}));
  ASSIGN_OR_RETURN(uint64_t size, f->Size());
  ContentDigest digest;
  std::vector<std::byte> buf(4 * kMiB);
  for (uint64_t off = 0; off < size; off += buf.size()) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - off));
    RETURN_IF_ERROR(f->ReadExactAt(off, std::span(buf).first(n)));
    digest.Update(std::span(buf).first(n));
  }
  return digest.Finish();
}

struct LibvhdiCase {
  DiskType type;
  uint32_t block_mib;
  uint32_t logical_sector;
  uint32_t physical_sector;
  uint64_t size;
};

class LibvhdiTest : public ::testing::TestWithParam<LibvhdiCase> {
 protected:
  void SetUp() override {
    std::string out;
    ASSERT_EQ(testing::RunCommand("/usr/bin/python3 -c 'import pyvhdi'", &out), 0)
        << "the interop suite needs Debian's python3-libvhdi (import pyvhdi): " << out;
    struct stat st;
    ASSERT_EQ(stat(kHvdisk.c_str(), &st), 0) << kHvdisk << " is missing: build the hvdisk target";
  }
  testing::TempDir dir_;
};

// Writes patterns at aligned, unaligned and block-straddling offsets into the image and `model`.
void FillImage(Image* image, std::vector<std::byte>* model, uint64_t block) {
  const uint64_t size = model->size();
  const std::vector<std::pair<uint64_t, size_t>> ops = {
      {0, 8192}, {block - 700, 5000}, {size / 2 + 33, 123456}, {size - 4096, 4096}};
  uint64_t seed = 11;
  for (const auto& [offset, length] : ops) {
    if (offset + length > size) continue;
    std::vector<std::byte> data = testing::PatternBytes(length, seed++);
    ASSERT_OK(image->Write(offset, data));
    std::copy(data.begin(), data.end(), model->begin() + static_cast<ptrdiff_t>(offset));
  }
}

TEST_P(LibvhdiTest, ReadsOurImagesIdentically) {
  const LibvhdiCase& c = GetParam();
  const std::string img = dir_.File("ours.vhdx");
  vhdx::CreateOptions o;
  o.type = c.type;
  o.virtual_size = c.size;
  o.block_size = c.block_mib * static_cast<uint32_t>(kMiB);
  o.logical_sector_size = c.logical_sector;
  o.physical_sector_size = c.physical_sector;
  FileSystem* fs = DefaultFileSystem();
  ASSERT_OK(Image::Create(fs, img, o));
  std::vector<std::byte> model(c.size);
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Image> image, Image::Open(fs, img, {.read_only = false}));
    ASSERT_NO_FATAL_FAILURE(FillImage(image.get(), &model, o.block_size));
    ASSERT_OK(image->Close());
  }
  const std::string dump = dir_.File("pyvhdi.raw");
  std::string out;
  ASSERT_EQ(
      testing::RunCommand(
          "/usr/bin/python3 -c '" + std::string(kDumpScript) + "' " + Q(img) + " " + Q(dump), &out),
      0)
      << out;
  EXPECT_EQ(out, std::to_string(c.size) + "\n") << "pyvhdi's media size";
  ASSERT_OK_AND_ASSIGN(Hash128 libvhdi, HashFile(dump));
  EXPECT_EQ(libvhdi.ToHex(), ContentDigestOf(model).ToHex()) << "libvhdi read other bytes";
  std::string ours;
  ASSERT_EQ(testing::RunCommand(kHvdisk + " digest " + Q(img), &ours, false), 0);
  EXPECT_EQ(ours, libvhdi.ToHex() + "  " + img + "\n");
}

INSTANTIATE_TEST_SUITE_P(
    Libvhdi, LibvhdiTest,
    ::testing::Values(LibvhdiCase{DiskType::kDynamic, 1, 512, 512, 12 * kMiB},
                      LibvhdiCase{DiskType::kDynamic, 8, 512, 4096, 40 * kMiB + 512},
                      LibvhdiCase{DiskType::kFixed, 1, 512, 4096, 6 * kMiB},
                      LibvhdiCase{DiskType::kDynamic, 32, 4096, 4096, 80 * kMiB},
                      LibvhdiCase{DiskType::kFixed, 2, 4096, 4096, 16 * kMiB + 8192},
                      LibvhdiCase{DiskType::kDynamic, 256, 512, 4096, 300 * kMiB}),
    [](const ::testing::TestParamInfo<LibvhdiCase>& info) {
      const LibvhdiCase& c = info.param;
      return std::string(c.type == DiskType::kFixed ? "Fixed" : "Dynamic") + "Block" +
             std::to_string(c.block_mib) + "MLss" + std::to_string(c.logical_sector) + "Pss" +
             std::to_string(c.physical_sector);
    });

}  // namespace
}  // namespace hvdisk
