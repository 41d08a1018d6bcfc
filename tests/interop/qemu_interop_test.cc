// Interoperability with qemu (qemu-img 7.2, qemu-io): images we write must satisfy
// `qemu-img check` and `qemu-img compare` against a raw file given the same writes, and images
// qemu creates and writes must read back byte-identically through ours, and stay valid for qemu
// after we write into them. qemu supports 512-byte logical sectors only, so all cases use those.
//
// These tests FAIL (never skip) when qemu-img or qemu-io is missing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "platform/file.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"
#include "vhdx/image.h"

namespace hvdisk {
namespace {

using testing::Q;

using ::testing::HasSubstr;
using vhdx::DiskType;
using vhdx::Image;

constexpr uint64_t kMiB = 1 << 20;

void RequireTool(const std::string& probe) {
  std::string out;
  ASSERT_EQ(testing::RunCommand(probe, &out), 0)
      << "'" << probe << "' failed: the interop suite needs qemu-utils installed\n"
      << out;
}

struct WriteOp {
  uint64_t offset;
  size_t length;
};

// Writes that hit the first block, straddle the first block boundary (unaligned), fill a
// sector-unaligned run in the middle and touch the last bytes of the disk.
std::vector<WriteOp> PatternWrites(uint64_t size, uint64_t block) {
  std::vector<WriteOp> ops = {{0, 64 << 10}, {size - 4096, 4096}, {size / 2 + 777, 300000}};
  if (block + 5000 < size) ops.push_back({block - 1000, 6000});
  if (3 * block < size) ops.push_back({2 * block + 12345, 1});
  return ops;
}

// Applies `ops` (content from seed) to both the image and the raw reference.
void ApplyWrites(Image* image, File* raw, const std::vector<WriteOp>& ops, uint64_t seed) {
  for (const WriteOp& op : ops) {
    std::vector<std::byte> data = testing::PatternBytes(op.length, seed++);
    ASSERT_OK(image->Write(op.offset, data));
    ASSERT_OK(raw->WriteAt(op.offset, data));
  }
}

Result<std::unique_ptr<File>> CreateRaw(const std::string& path, uint64_t size) {
  ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                   DefaultFileSystem()->Open(path, OpenOptions::CreateOrTruncate()));
  RETURN_IF_ERROR(f->Truncate(size));
  return f;
}

void ExpectQemuAgrees(const std::string& img, const std::string& raw) {
  std::string out;
  EXPECT_EQ(testing::RunCommand("qemu-img check -f vhdx " + Q(img), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("No errors were found on the image."));
  out.clear();
  EXPECT_EQ(testing::RunCommand("qemu-img compare -f vhdx -F raw " + Q(img) + " " + Q(raw), &out),
            0)
      << out;
}

// Reads the whole image through our API and compares it with the raw file.
void ExpectSameContent(const std::string& img, const std::string& raw) {
  FileSystem* fs = DefaultFileSystem();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Image> image, Image::Open(fs, img, {}));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<File> file, fs->Open(raw, OpenOptions::ReadOnly()));
  ASSERT_OK_AND_ASSIGN(uint64_t raw_size, file->Size());
  ASSERT_EQ(image->virtual_size(), raw_size);
  std::vector<std::byte> a(4 * kMiB), b(4 * kMiB);
  for (uint64_t off = 0; off < raw_size; off += a.size()) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(a.size(), raw_size - off));
    ASSERT_OK(image->Read(off, std::span(a).first(n)));
    ASSERT_OK(file->ReadExactAt(off, std::span(b).first(n)));
    ASSERT_EQ(std::memcmp(a.data(), b.data(), n), 0)
        << img << ": differs in [" << off << ", +" << n << ")";
  }
}

// ---- our images, read by qemu ------------------------------------------------------------------

struct OurCase {
  DiskType type;
  uint32_t block_mib;
  uint32_t physical_sector;
  uint64_t size;
};

std::string CaseName(const ::testing::TestParamInfo<OurCase>& info) {
  const OurCase& c = info.param;
  return std::string(c.type == DiskType::kFixed ? "Fixed" : "Dynamic") + "Block" +
         std::to_string(c.block_mib) + "MPhys" + std::to_string(c.physical_sector) + "Size" +
         std::to_string(c.size);
}

class OurImagesTest : public ::testing::TestWithParam<OurCase> {
 protected:
  void SetUp() override { RequireTool("qemu-img --version"); }
  testing::TempDir dir_;
};

TEST_P(OurImagesTest, PassQemuCheckAndCompare) {
  const OurCase& c = GetParam();
  const std::string img = dir_.File("ours.vhdx");
  const std::string raw = dir_.File("ref.raw");
  vhdx::CreateOptions o;
  o.type = c.type;
  o.virtual_size = c.size;
  o.block_size = c.block_mib * static_cast<uint32_t>(kMiB);
  o.physical_sector_size = c.physical_sector;
  FileSystem* fs = DefaultFileSystem();
  ASSERT_OK(Image::Create(fs, img, o));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<File> ref, CreateRaw(raw, c.size));
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Image> image, Image::Open(fs, img, {.read_only = false}));
    ASSERT_NO_FATAL_FAILURE(
        ApplyWrites(image.get(), ref.get(), PatternWrites(c.size, o.block_size), 1));
    ASSERT_OK(image->Flush());
    const std::vector<WriteOp> after_flush = {{c.size / 3, 5000}, {0, 100}};
    ASSERT_NO_FATAL_FAILURE(ApplyWrites(image.get(), ref.get(), after_flush, 50));
    ASSERT_OK(image->Close());
  }
  ASSERT_OK(ref->Flush());
  ExpectQemuAgrees(img, raw);
  std::string out;
  EXPECT_EQ(testing::RunCommand("qemu-io -f vhdx -r -c 'read -P 0 " +
                                    std::to_string(c.size - 8192) + " 4096' " + Q(img),
                                &out),
            0)
      << out;
  EXPECT_THAT(out, ::testing::Not(HasSubstr("Pattern verification failed"))) << out;
}

INSTANTIATE_TEST_SUITE_P(Qemu, OurImagesTest,
                         ::testing::Values(OurCase{DiskType::kDynamic, 1, 512, 20 * kMiB + 65536},
                                           OurCase{DiskType::kDynamic, 1, 4096, 9 * kMiB},
                                           OurCase{DiskType::kFixed, 1, 4096, 10 * kMiB + 512},
                                           OurCase{DiskType::kDynamic, 8, 512, 40 * kMiB},
                                           OurCase{DiskType::kFixed, 8, 512, 24 * kMiB + 4096},
                                           OurCase{DiskType::kDynamic, 32, 4096, 100 * kMiB},
                                           OurCase{DiskType::kFixed, 32, 512, 64 * kMiB},
                                           OurCase{DiskType::kDynamic, 256, 512, 600 * kMiB},
                                           OurCase{DiskType::kDynamic, 256, 4096,
                                                   600 * kMiB + 1536},
                                           OurCase{DiskType::kFixed, 256, 4096, 300 * kMiB}),
                         CaseName);

// ---- qemu's images, read and written by us -----------------------------------------------------

struct QemuCase {
  const char* subformat;
  uint32_t block_mib;
};

class QemuImagesTest : public ::testing::TestWithParam<QemuCase> {
 protected:
  void SetUp() override {
    RequireTool("qemu-img --version");
    RequireTool("qemu-io --version");
  }
  testing::TempDir dir_;
};

// qemu-io writes: 512-aligned, as qemu-io wants them.
std::string QemuWrites(uint64_t block) {
  auto w = [](int pattern, uint64_t off, uint64_t len) {
    return " -c 'write -P " + std::to_string(pattern) + " " + std::to_string(off) + " " +
           std::to_string(len) + "'";
  };
  return w(0x11, 0, 64 << 10) + w(0x22, block - 512, 4096) + w(0x33, 20 * kMiB + 512, 3 * kMiB) +
         w(0x44, 48 * kMiB - 4096, 4096);
}

TEST_P(QemuImagesTest, ReadIdenticallyAndStayValidAfterOurWrites) {
  const QemuCase& c = GetParam();
  const uint64_t size = 48 * kMiB;
  const uint64_t block = c.block_mib * kMiB;
  const std::string img = dir_.File("qemu.vhdx");
  const std::string raw = dir_.File("ref.raw");
  std::string out;
  ASSERT_EQ(
      testing::RunCommand("qemu-img create -q -f vhdx -o subformat=" + std::string(c.subformat) +
                              ",block_size=" + std::to_string(c.block_mib) + "M " + Q(img) + " 48M",
                          &out),
      0)
      << out;
  ASSERT_EQ(testing::RunCommand("qemu-img create -q -f raw " + Q(raw) + " 48M", &out), 0) << out;
  ASSERT_EQ(testing::RunCommand("qemu-io -f vhdx" + QemuWrites(block) + " " + Q(img), &out), 0);
  ASSERT_EQ(testing::RunCommand("qemu-io -f raw" + QemuWrites(block) + " " + Q(raw), &out), 0);
  ASSERT_NO_FATAL_FAILURE(ExpectSameContent(img, raw));
  {
    FileSystem* fs = DefaultFileSystem();
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Image> image, Image::Open(fs, img, {.read_only = false}));
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<File> ref, fs->Open(raw, OpenOptions::ReadWrite()));
    ASSERT_NO_FATAL_FAILURE(ApplyWrites(image.get(), ref.get(), PatternWrites(size, block), 7));
    const std::vector<WriteOp> more = {{30 * kMiB + 3, 2 * kMiB}, {64 << 10, 1}};
    ASSERT_NO_FATAL_FAILURE(ApplyWrites(image.get(), ref.get(), more, 70));
    ASSERT_OK(image->Close());
    ASSERT_OK(ref->Flush());
  }
  ASSERT_NO_FATAL_FAILURE(ExpectSameContent(img, raw));
  ExpectQemuAgrees(img, raw);
}

INSTANTIATE_TEST_SUITE_P(Qemu, QemuImagesTest,
                         ::testing::Values(QemuCase{"dynamic", 1}, QemuCase{"dynamic", 8},
                                           QemuCase{"dynamic", 32}, QemuCase{"fixed", 1},
                                           QemuCase{"fixed", 8}, QemuCase{"fixed", 32}),
                         [](const ::testing::TestParamInfo<QemuCase>& info) {
                           return std::string(info.param.subformat) + "Block" +
                                  std::to_string(info.param.block_mib) + "M";
                         });

}  // namespace
}  // namespace hvdisk
