// End-to-end tests of `hvdisk convert` and `compare`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using testing::Hvdisk;
using testing::Q;
using testing::ReadBinaryFile;
using testing::WriteBinaryFile;

using ::testing::HasSubstr;

const std::string& kHvdisk = testing::HvdiskPath();
constexpr size_t kMiB = 1 << 20;

uint64_t AllocatedBytes(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
}

nlohmann::json Info(const std::string& path) {
  std::string out;
  if (Hvdisk("info --json " + Q(path), &out, false) != 0) return {};
  return nlohmann::json::parse(out);
}

// 20 MiB: data in MiB 0, 3 (partly), 4 (one byte) and 19, zeros elsewhere.
std::vector<std::byte> SampleDisk() {
  std::vector<std::byte> disk(20 * kMiB);
  auto put = [&](size_t offset, size_t length, uint64_t seed) {
    std::vector<std::byte> p = testing::PatternBytes(length, seed);
    std::copy(p.begin(), p.end(), disk.begin() + static_cast<ptrdiff_t>(offset));
  };
  put(0, kMiB, 1);
  put(3 * kMiB + 4096, 70000, 2);
  disk[4 * kMiB + 12345] = std::byte{1};
  put(19 * kMiB, kMiB, 3);
  return disk;
}

class ConvertCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct stat st;
    ASSERT_EQ(stat(kHvdisk.c_str(), &st), 0) << kHvdisk << " is missing: build the hvdisk target";
    content_ = SampleDisk();
    raw_ = dir_.File("src.raw");
    WriteBinaryFile(raw_, content_);
  }
  testing::TempDir dir_;
  std::vector<std::byte> content_;
  std::string raw_;
};

TEST_F(ConvertCommandsTest, RawToDynamicVhdxAndBackIsByteIdentical) {
  const std::string img = dir_.File("out.vhdx");
  std::string out;
  ASSERT_EQ(Hvdisk("convert --block-size 1M " + Q(raw_) + " " + Q(img), &out), 0) << out;
  nlohmann::json j = Info(img);
  EXPECT_EQ(j["type"], "dynamic");
  EXPECT_EQ(j["virtual-size"], content_.size());
  EXPECT_EQ(j["allocated-blocks"], 4) << "only the blocks holding data";
  EXPECT_EQ(Hvdisk("check " + Q(img)), 0);
  const std::string back = dir_.File("back.raw");
  ASSERT_EQ(Hvdisk("convert " + Q(img) + " " + Q(back), &out), 0) << out;
  EXPECT_TRUE(ReadBinaryFile(back) == content_);
  EXPECT_LE(AllocatedBytes(back), 6 * kMiB) << "the raw output is sparse";
}

TEST_F(ConvertCommandsTest, RawToFixedVhdx) {
  const std::string img = dir_.File("fixed.vhdx");
  ASSERT_EQ(Hvdisk("convert -O vhdx --type fixed --block-size 2M " + Q(raw_) + " " + Q(img)), 0);
  nlohmann::json j = Info(img);
  EXPECT_EQ(j["type"], "fixed");
  EXPECT_EQ(j["block-size"], 2 * kMiB);
  EXPECT_EQ(Hvdisk("compare " + Q(raw_) + " " + Q(img)), 0);
  EXPECT_EQ(Hvdisk("check " + Q(img)), 0);
}

TEST_F(ConvertCommandsTest, VhdxToVhdxKeepsSectorSizesAndChangesBlockSize) {
  const std::string a = dir_.File("a.vhdx");
  const std::string b = dir_.File("b.vhdx");
  ASSERT_EQ(Hvdisk("convert --block-size 1M --physical-sector 512 " + Q(raw_) + " " + Q(a)), 0);
  ASSERT_EQ(Hvdisk("convert --block-size 8M " + Q(a) + " " + Q(b)), 0);
  nlohmann::json j = Info(b);
  EXPECT_EQ(j["block-size"], 8 * kMiB);
  EXPECT_EQ(j["physical-sector-size"], 512) << "inherited from the source";
  EXPECT_EQ(j["allocated-blocks"], 2) << "blocks 0 and 2 of 8 MiB";
  EXPECT_EQ(Hvdisk("compare " + Q(a) + " " + Q(b)), 0);
}

TEST_F(ConvertCommandsTest, UnalignedRawSizeIsPaddedToASector) {
  const std::string odd = dir_.File("odd.raw");
  WriteBinaryFile(odd, testing::PatternBytes(1000, 5));
  const std::string img = dir_.File("odd.vhdx");
  ASSERT_EQ(Hvdisk("convert " + Q(odd) + " " + Q(img)), 0);
  EXPECT_EQ(Info(img)["virtual-size"], 1024);
  std::string out;
  EXPECT_EQ(Hvdisk("compare " + Q(odd) + " " + Q(img), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("Warning: Image size mismatch!"));
}

// 100 MiB in 1 MiB blocks (13 chunks of 8 MiB): data in every third MiB, each block only partly
// written (the rest of the block reads as zeros), and an unaligned tail past the last 4 KiB.
TEST_F(ConvertCommandsTest, ManyChunksWithHolesAndPartlyWrittenBlocksComeBackIdentical) {
  std::vector<std::byte> content(100 * kMiB + 1000);
  for (size_t mib = 0; mib < 100; mib += 3) {
    std::vector<std::byte> p = testing::PatternBytes(kMiB / 2 + mib * 512, mib);
    std::copy(p.begin(), p.end(), content.begin() + static_cast<ptrdiff_t>(mib * kMiB + 4096));
  }
  std::fill(content.end() - 1000, content.end(), std::byte{7});
  const std::string src = dir_.File("many.raw");
  WriteBinaryFile(src, content);
  const std::string img = dir_.File("many.vhdx");
  const std::string back = dir_.File("many.back");
  std::string out;
  ASSERT_EQ(Hvdisk("convert --block-size 1M " + Q(src) + " " + Q(img), &out), 0) << out;
  ASSERT_EQ(Hvdisk("convert -O raw " + Q(img) + " " + Q(back), &out), 0) << out;
  std::vector<std::byte> expected = content;
  expected.resize((content.size() + 511) / 512 * 512);  // the VHDX is padded to a sector
  EXPECT_TRUE(ReadBinaryFile(back) == expected);
  EXPECT_LE(AllocatedBytes(back), 40 * kMiB) << "the holes stay holes";
}

TEST_F(ConvertCommandsTest, RawToRawWithAnUnalignedSizeIsByteIdentical) {
  for (size_t size : {size_t{1000}, 9 * kMiB + 1000, 8 * kMiB - 4096 + 1}) {
    const std::vector<std::byte> content = testing::PatternBytes(size, size);
    const std::string src = dir_.File("odd.raw");
    const std::string dst = dir_.File("odd.out");
    WriteBinaryFile(src, content);
    std::remove(dst.c_str());
    std::string out;
    ASSERT_EQ(Hvdisk("convert -O raw " + Q(src) + " " + Q(dst), &out), 0) << out;
    EXPECT_TRUE(ReadBinaryFile(dst) == content) << size;
  }
}

// Issue 21, item 1: convert replaces an existing DST as qemu-img convert does, through the atomic
// output: a convert that fails leaves the old DST as it was.
TEST_F(ConvertCommandsTest, ConvertReplacesAnExistingDestinationOnlyWhenTheCopyIsComplete) {
  const std::string dst = dir_.File("exists.raw");
  WriteBinaryFile(dst, std::vector<std::byte>(10));
  std::string out;
  EXPECT_EQ(Hvdisk("convert " + Q(dir_.File("gone.raw")) + " " + Q(dst), &out), 1);
  EXPECT_EQ(ReadBinaryFile(dst).size(), 10u) << "left untouched by a failed convert";
  EXPECT_EQ(Hvdisk("convert " + Q(raw_) + " " + Q(dst), &out), 0) << out;
  EXPECT_TRUE(ReadBinaryFile(dst) == ReadBinaryFile(raw_));
}

// Issue 16, item 3: convert created, and on failure unlinked, DST itself, so a dangling symbolic
// link at DST (which exists, though stat says it does not) was removed.
TEST_F(ConvertCommandsTest, ADanglingSymbolicLinkAtDstIsAnExistingDstAndStaysAsItWas) {
  const std::string dst = dir_.File("link.raw");
  std::filesystem::create_symlink(dir_.File("nowhere.raw"), dst);
  std::string out;
  EXPECT_EQ(Hvdisk("convert " + Q(raw_) + " " + Q(dst), &out), 2);  // not a file to replace
  EXPECT_THAT(out, HasSubstr("exists"));
  EXPECT_TRUE(std::filesystem::is_symlink(dst)) << "the link was removed";
  EXPECT_FALSE(std::filesystem::exists(dir_.File("nowhere.raw")));
}

// Issue 16, item 3: an I/O error while writing the output (EFBIG past RLIMIT_FSIZE, SIGXFSZ
// ignored: the VHDX output's first block cannot be reserved) fails the convert with kIoError,
// never shows the DST name and leaves nothing behind.
TEST_F(ConvertCommandsTest, AnIoErrorWhileWritingTheOutputNeverShowsDstAndLeavesNothing) {
  const std::string dst = dir_.File("out.vhdx");
  testing::NameWatch watch(dir_.path());
  std::string out;
  EXPECT_EQ(testing::RunCommand("trap '' XFSZ; ulimit -f 16384; exec " + kHvdisk +
                                    " convert --block-size 1M " + Q(raw_) + " " + Q(dst),
                                &out),
            1)
      << out;
  EXPECT_THAT(out, HasSubstr("I/O error"));
  for (const std::string& seen : watch.Names()) EXPECT_NE(seen, "out.vhdx") << "DST appeared";
  EXPECT_THAT(testing::DirNames(dir_.path()), ::testing::ElementsAre("src.raw"));
}

TEST_F(ConvertCommandsTest, ConvertBadArgumentsExit2) {
  const std::string dst = Q(dir_.File("x.vhdx"));
  for (const std::string& args : std::vector<std::string>{
           "convert " + Q(raw_),
           "convert -O qcow2 " + Q(raw_) + " " + dst,
           "convert --type thin " + Q(raw_) + " " + dst,
           "convert --block-size 3M " + Q(raw_) + " " + dst,
           "convert --block-size 2 " + Q(raw_) + " " + dst,
       }) {
    std::string out;
    EXPECT_EQ(Hvdisk(args, &out), 2) << args << "\n" << out;
  }
  struct stat st;
  EXPECT_NE(stat(dir_.File("x.vhdx").c_str(), &st), 0) << "no output left behind";
}

TEST_F(ConvertCommandsTest, ConvertMissingSourceExits1) {
  std::string out;
  EXPECT_EQ(Hvdisk("convert " + Q(dir_.File("none.raw")) + " " + Q(dir_.File("o.raw")), &out), 1);
  EXPECT_THAT(out, HasSubstr("not found"));
}

TEST_F(ConvertCommandsTest, CompareIdentical) {
  const std::string img = dir_.File("same.vhdx");
  ASSERT_EQ(Hvdisk("convert " + Q(raw_) + " " + Q(img)), 0);
  std::string out;
  EXPECT_EQ(Hvdisk("compare " + Q(img) + " " + Q(raw_), &out), 0);
  EXPECT_EQ(out, "Images are identical.\n");
}

TEST_F(ConvertCommandsTest, CompareReportsTheFirstDifferingSector) {
  const std::string img = dir_.File("diff.vhdx");
  ASSERT_EQ(Hvdisk("convert " + Q(raw_) + " " + Q(img)), 0);
  ASSERT_EQ(Hvdisk("write " + Q(img) + " 7340100 --pattern 0x42 --length 3"), 0);  // in a zero MiB
  std::string out;
  EXPECT_EQ(Hvdisk("compare " + Q(img) + " " + Q(raw_), &out), 1);
  EXPECT_EQ(out, "Content mismatch at offset 7340032!\n") << "7340100 rounded down to 512";
  const int flipped = std::to_integer<int>(content_[1000]) ^ 0xFF;  // in a data MiB
  ASSERT_EQ(
      Hvdisk("write " + Q(img) + " 1000 --pattern " + std::to_string(flipped) + " --length 1"), 0);
  out.clear();
  EXPECT_EQ(Hvdisk("compare " + Q(raw_) + " " + Q(img), &out), 1);
  EXPECT_EQ(out, "Content mismatch at offset 512!\n");
}

TEST_F(ConvertCommandsTest, CompareDifferentSizesNeedsAZeroTail) {
  std::vector<std::byte> longer = content_;
  longer.resize(content_.size() + 3 * kMiB);
  const std::string big = dir_.File("big.raw");
  WriteBinaryFile(big, longer);
  std::string out;
  EXPECT_EQ(Hvdisk("compare " + Q(raw_) + " " + Q(big), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("Warning: Image size mismatch!"));
  EXPECT_THAT(out, HasSubstr("Images are identical."));
  longer[content_.size() + 2 * kMiB + 700] = std::byte{1};
  WriteBinaryFile(big, longer);
  out.clear();
  EXPECT_EQ(Hvdisk("compare " + Q(big) + " " + Q(raw_), &out), 1);
  EXPECT_THAT(out, HasSubstr("Content mismatch at offset " +
                             std::to_string(content_.size() + 2 * kMiB + 512) + "!"));
}

TEST_F(ConvertCommandsTest, CompareSparseDisksWhoseRunsDoNotLineUp) {
  // A 3 GiB sparse raw file and a dynamic VHDX of it: the raw side arrives as long zero runs and
  // single data chunks, the VHDX side in 32 MiB blocks.
  const std::string big = dir_.File("big.raw");
  ASSERT_EQ(testing::RunCommand("truncate -s 3G " + Q(big)), 0);
  ASSERT_EQ(Hvdisk("write " + Q(big) + " 2049M --pattern 0x77 --length 100K"), 0);
  const std::string img = dir_.File("big.vhdx");
  ASSERT_EQ(Hvdisk("convert " + Q(big) + " " + Q(img)), 0);
  EXPECT_EQ(Info(img)["allocated-blocks"], 1);
  std::string out;
  EXPECT_EQ(Hvdisk("compare " + Q(big) + " " + Q(img), &out), 0) << out;
  ASSERT_EQ(Hvdisk("write " + Q(img) + " 2500M --pattern 1 --length 1"), 0);
  out.clear();
  EXPECT_EQ(Hvdisk("compare " + Q(big) + " " + Q(img), &out), 1);
  EXPECT_EQ(out, "Content mismatch at offset " + std::to_string(2500ull << 20) + "!\n");
  std::string a, b;
  ASSERT_EQ(Hvdisk("digest " + Q(big), &a, false), 0);
  ASSERT_EQ(Hvdisk("digest " + Q(img), &b, false), 0);
  EXPECT_NE(a.substr(0, 32), b.substr(0, 32));
}

// Empty 64 TiB dynamic disks (different block sizes) compare and convert through their
// allocation maps: nothing is read or written but metadata. Both hung on sparse disks over
// 64 GiB (the chunk reader's queue of zero runs filled up); `timeout 60` is the watchdog.
TEST_F(ConvertCommandsTest, EmptySixtyFourTebibyteDisksCompareAndConvertThroughTheirMaps) {
  const std::string a = dir_.File("a.vhdx"), b = dir_.File("b.vhdx"), c = dir_.File("c.vhdx");
  ASSERT_EQ(Hvdisk("create " + Q(a) + " 64T"), 0);
  ASSERT_EQ(Hvdisk("create --block-size 256M " + Q(b) + " 64T"), 0);
  const std::string watchdog = "timeout 60 " + kHvdisk;
  std::string out;
  EXPECT_EQ(testing::RunCommand(watchdog + " compare " + Q(a) + " " + Q(a), &out), 0) << out;
  EXPECT_EQ(testing::RunCommand(watchdog + " compare " + Q(a) + " " + Q(b), &out), 0) << out;
  EXPECT_EQ(testing::RunCommand(watchdog + " convert " + Q(a) + " " + Q(c), &out), 0) << out;
  EXPECT_EQ(Info(c)["allocated-blocks"], 0);
  EXPECT_EQ(testing::RunCommand(watchdog + " compare " + Q(c) + " " + Q(b), &out), 0) << out;
}

TEST_F(ConvertCommandsTest, CacheUnsafeSkipsOnlyTheFlush) {
  const std::string img = dir_.File("u.vhdx");
  const std::string back = dir_.File("u.raw");
  ASSERT_EQ(Hvdisk("convert --cache unsafe --block-size 1M " + Q(raw_) + " " + Q(img)), 0);
  ASSERT_EQ(Hvdisk("convert --cache unsafe " + Q(img) + " " + Q(back)), 0);
  EXPECT_TRUE(ReadBinaryFile(back) == content_);
  EXPECT_EQ(Hvdisk("check " + Q(img)), 0);
  EXPECT_EQ(Hvdisk("convert -t none " + Q(raw_) + " " + Q(dir_.File("n.raw"))), 0);  // qemu-img's
  EXPECT_TRUE(ReadBinaryFile(dir_.File("n.raw")) == content_);
  EXPECT_EQ(Hvdisk("convert -t directsync " + Q(raw_) + " " + Q(dir_.File("d.raw"))), 2);
}

TEST_F(ConvertCommandsTest, CompareErrorsExit2) {
  std::string out;
  EXPECT_EQ(Hvdisk("compare " + Q(raw_) + " " + Q(dir_.File("none")), &out), 2);
  EXPECT_THAT(out, HasSubstr("not found"));
  EXPECT_EQ(Hvdisk("compare " + Q(raw_)), 2);
}

}  // namespace
}  // namespace hvdisk
