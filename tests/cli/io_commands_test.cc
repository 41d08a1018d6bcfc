// End-to-end tests of `hvdisk read`, `write`, `digest` and `map`.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "platform/content_digest.h"
#include "platform/file.h"
#include "platform/image_lock.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"
#include "vhdx/image.h"

namespace hvdisk {
namespace {

using testing::AsString;
using testing::Hvdisk;
using testing::Q;
using testing::WriteBinaryFile;

using ::testing::HasSubstr;

const std::string& kHvdisk = testing::HvdiskPath();

class IoCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct stat st;
    ASSERT_EQ(stat(kHvdisk.c_str(), &st), 0) << kHvdisk << " is missing: build the hvdisk target";
    img_ = dir_.File("io.vhdx");
    ASSERT_EQ(Hvdisk("create --block-size 1M " + Q(img_) + " 16M"), 0);
  }
  testing::TempDir dir_;
  std::string img_;
};

TEST_F(IoCommandsTest, WritePatternThenReadItBack) {
  std::string out;
  ASSERT_EQ(Hvdisk("write " + Q(img_) + " 1M --pattern 0xA5 --length 6K", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("wrote 6144 bytes at offset 1048576"));
  std::string data;
  ASSERT_EQ(Hvdisk("read " + Q(img_) + " 1020K 12K", &data, false), 0);
  ASSERT_EQ(data.size(), 12u << 10);
  EXPECT_EQ(data.substr(0, 4096), std::string(4096, '\0'));
  EXPECT_EQ(data.substr(4096, 6144), std::string(6144, '\xA5'));
  EXPECT_EQ(data.substr(10240), std::string(2048, '\0'));
}

TEST_F(IoCommandsTest, WriteFromStdinAtAnUnalignedOffset) {
  const std::vector<std::byte> bytes = testing::PatternBytes(300000, 7);
  const std::string input = dir_.File("in.bin");
  WriteBinaryFile(input, bytes);
  ASSERT_EQ(Hvdisk("write " + Q(img_) + " 1048000 < " + Q(input)), 0);  // straddles blocks 0/1
  std::string data;
  ASSERT_EQ(Hvdisk("read " + Q(img_) + " 1048000 300000", &data, false), 0);
  EXPECT_TRUE(data == AsString(bytes));
  std::string check;
  EXPECT_EQ(Hvdisk("check " + Q(img_), &check), 0) << check;
}

TEST_F(IoCommandsTest, WriteToARawFile) {
  const std::string raw = dir_.File("disk.raw");
  WriteBinaryFile(raw, std::vector<std::byte>(8192));
  ASSERT_EQ(Hvdisk("write " + Q(raw) + " 100 --pattern 255 --length 10"), 0);
  std::string data;
  ASSERT_EQ(Hvdisk("read " + Q(raw) + " 98 14", &data, false), 0);
  EXPECT_EQ(data, std::string(2, '\0') + std::string(10, '\xff') + std::string(2, '\0'));
}

TEST_F(IoCommandsTest, OutOfRangeAndMalformedArgumentsExit2) {
  for (const std::string& args : std::vector<std::string>{
           "read " + Q(img_) + " 16M 1",
           "read " + Q(img_) + " 15M 2M",
           "read " + Q(img_) + " x 1",
           "read " + Q(img_) + " 0",
           "write " + Q(img_) + " 16M --pattern 1 --length 1",
           "write " + Q(img_) + " 0 --pattern 1",
           "write " + Q(img_) + " 0 --length 1",
           "write " + Q(img_) + " 0 --pattern 256 --length 1",
           "digest",
           "map --json",
       }) {
    std::string out;
    EXPECT_EQ(Hvdisk(args + " < /dev/null", &out), 2) << args << "\n" << out;
  }
}

TEST_F(IoCommandsTest, DigestIsTheContentDigestOfTheVirtualContent) {
  std::vector<std::byte> model(16 << 20);
  const std::vector<std::byte> bytes = testing::PatternBytes(5000, 3);
  std::copy(bytes.begin(), bytes.end(), model.begin() + (9 << 20) + 77);
  const std::string input = dir_.File("in.bin");
  WriteBinaryFile(input, bytes);
  ASSERT_EQ(Hvdisk("write " + Q(img_) + " " + std::to_string((9 << 20) + 77) + " < " + Q(input)),
            0);
  std::string out;
  ASSERT_EQ(Hvdisk("digest " + Q(img_), &out, false), 0);
  EXPECT_EQ(out, ContentDigestOf(model).ToHex() + "  " + img_ + "\n") << "hex as xxhsum -H2 prints";
  const std::string raw = dir_.File("model.raw");
  WriteBinaryFile(raw, model);
  std::string raw_out;
  ASSERT_EQ(Hvdisk("digest " + Q(raw), &raw_out, false), 0);
  EXPECT_EQ(raw_out.substr(0, 32), out.substr(0, 32));
}

// One content, three forms: a sparse raw file, a VHDX with other block boundaries, and a chain
// whose leaf overwrites part of its base. Their digests agree with each other and with the
// digest of the bytes (data at unaligned offsets, known zeros from holes and unallocated blocks).
TEST_F(IoCommandsTest, DigestOfTheSameContentAgreesAsRawVhdxAndChain) {
  constexpr uint64_t kSize = 40 << 20;
  std::vector<std::byte> model(kSize);
  const std::string raw = dir_.File("d.raw"), vhdx = dir_.File("d.vhdx");
  const std::string base = dir_.File("base.vhdx"), leaf = dir_.File("leaf.avhdx");
  ASSERT_EQ(testing::RunCommand("truncate -s " + std::to_string(kSize) + " " + Q(raw)), 0);
  ASSERT_EQ(Hvdisk("create --block-size 4M " + Q(vhdx) + " 40M"), 0);
  ASSERT_EQ(Hvdisk("create --block-size 1M " + Q(base) + " 40M"), 0);
  struct Piece {
    uint64_t offset;
    size_t length;
    bool leaf_only;  // in the chain, written to the leaf (over the base's data)
  };
  const Piece pieces[] = {{77, 5000, false},
                          {(9 << 20) + 3, 3 << 20, false},
                          {(10 << 20) + 11, 100000, true},
                          {kSize - 4096, 4096, true}};
  int n = 0;
  for (const Piece& p : pieces) {
    if (p.leaf_only && !std::filesystem::exists(leaf)) {
      ASSERT_EQ(Hvdisk("create -p " + Q(base) + " " + Q(leaf)), 0);
    }
    const std::vector<std::byte> bytes = testing::PatternBytes(p.length, 40 + n);
    std::copy(bytes.begin(), bytes.end(), model.begin() + static_cast<ptrdiff_t>(p.offset));
    const std::string input = dir_.File("piece" + std::to_string(n++));
    WriteBinaryFile(input, bytes);
    for (const std::string& target : {raw, vhdx, p.leaf_only ? leaf : base}) {
      ASSERT_EQ(Hvdisk("write " + Q(target) + " " + std::to_string(p.offset) + " < " + Q(input)), 0)
          << target;
    }
  }
  const std::string expected = ContentDigestOf(model).ToHex();
  for (const std::string& disk : {raw, vhdx, leaf}) {
    std::string out;
    ASSERT_EQ(Hvdisk("digest " + Q(disk), &out, false), 0) << disk;
    EXPECT_EQ(out.substr(0, 32), expected) << disk;
  }
}

// An empty 64 TiB dynamic disk digests through its allocation map: every block is known zero, so
// nothing is read and each MiB costs one precomputed leaf hash. It took about an hour (the zeros
// were hashed as bytes), and hung on sparse disks over 64 GiB (the chunk reader's queue of zero
// runs filled up); `timeout 60` is the watchdog (exit 124 when it fires).
TEST_F(IoCommandsTest, EmptySixtyFourTebibyteDiskDigestsThroughItsAllocationMap) {
  constexpr uint64_t kSize = uint64_t{64} << 40;
  const std::string e = dir_.File("e.vhdx");
  ASSERT_EQ(Hvdisk("create " + Q(e) + " 64T"), 0);
  std::string out;
  ASSERT_EQ(testing::RunCommand("timeout 60 " + kHvdisk + " digest " + Q(e), &out, false), 0)
      << "124: the watchdog fired";
  ContentDigest zeros;
  zeros.UpdateZeros(kSize);
  EXPECT_EQ(out, zeros.Finish().ToHex() + "  " + e + "\n");
}

// More zero runs than the chunk reader queues ahead (finding: digest slept forever at 0% CPU on
// an empty dynamic disk over 64 GiB). `timeout` kills a hang, so the test fails instead.
TEST_F(IoCommandsTest, DigestOfAnEmpty128GDynamicDiskEnds) {
  const std::string empty = dir_.File("e.vhdx");
  ASSERT_EQ(Hvdisk("create " + Q(empty) + " 128G"), 0);
  std::string out;
  const int rc =
      testing::RunCommand("timeout -s KILL 120 " + kHvdisk + " digest " + Q(empty), &out, false);
  ASSERT_EQ(rc, 0) << "digest did not end (137: killed after 120 s)";
  ContentDigest zeros;
  zeros.UpdateZeros(uint64_t{128} << 30);
  EXPECT_EQ(out, zeros.Finish().ToHex() + "  " + empty + "\n");
}

TEST_F(IoCommandsTest, MapJsonCoversTheDiskLikeQemuImgMap) {
  ASSERT_EQ(Hvdisk("write " + Q(img_) + " 2M --pattern 1 --length 1M"), 0);
  ASSERT_EQ(Hvdisk("write " + Q(img_) + " 3M --pattern 2 --length 512"), 0);
  ASSERT_EQ(Hvdisk("write " + Q(img_) + " 10M --pattern 3 --length 1"), 0);
  std::string out;
  ASSERT_EQ(Hvdisk("map --json " + Q(img_), &out, false), 0);
  nlohmann::json j = nlohmann::json::parse(out);
  ASSERT_TRUE(j.is_array());
  uint64_t next = 0;
  uint64_t data_bytes = 0;
  for (const nlohmann::json& e : j) {
    EXPECT_EQ(e["start"].get<uint64_t>(), next);
    next += e["length"].get<uint64_t>();
    EXPECT_NE(e["data"].get<bool>(), e["zero"].get<bool>());
    EXPECT_EQ(e.contains("offset"), e["data"].get<bool>());
    EXPECT_TRUE(e["present"].get<bool>());
    if (e["data"].get<bool>()) {
      data_bytes += e["length"].get<uint64_t>();
      EXPECT_EQ(e["offset"].get<uint64_t>() % (1 << 20), 0u) << "blocks are MiB-aligned";
    }
  }
  EXPECT_EQ(next, 16u << 20);
  EXPECT_EQ(data_bytes, 3u << 20) << "blocks 2, 3 and 10";
  ASSERT_GE(j.size(), 4u);
  EXPECT_EQ(j[0]["zero"], true);
  EXPECT_EQ(j[1]["start"], 2 << 20);
  EXPECT_EQ(j[1]["length"], 2 << 20);
}

TEST_F(IoCommandsTest, MapTextListsRuns) {
  ASSERT_EQ(Hvdisk("write " + Q(img_) + " 0 --pattern 1 --length 1"), 0);
  std::string out;
  ASSERT_EQ(Hvdisk("map " + Q(img_), &out), 0);
  EXPECT_THAT(out, HasSubstr("Offset"));
  EXPECT_THAT(out, HasSubstr("Mapped to"));
  EXPECT_THAT(out, HasSubstr("data"));
  EXPECT_THAT(out, HasSubstr("zero"));
  EXPECT_THAT(out, HasSubstr("0x100000"));
}

TEST_F(IoCommandsTest, MapOfASparseRawFileShowsTheHole) {
  const std::string raw = dir_.File("sparse.raw");
  ASSERT_EQ(Hvdisk("convert -O raw " + Q(img_) + " " + Q(raw)), 0);  // all zeros: all hole
  ASSERT_EQ(Hvdisk("write " + Q(raw) + " 8M --pattern 9 --length 64K"), 0);
  std::string out;
  ASSERT_EQ(Hvdisk("map --json " + Q(raw), &out, false), 0);
  nlohmann::json j = nlohmann::json::parse(out);
  bool found = false;
  for (const nlohmann::json& e : j) {
    if (e["data"].get<bool>()) {
      found = true;
      EXPECT_LE(e["start"].get<uint64_t>(), 8u << 20);
      EXPECT_EQ(e["offset"], e["start"]);
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(j[0]["zero"], true);
}

// Whether another open file holds byte `byte` of `path` (qemu's image-lock bytes: 101, a writer).
bool LockedByOther(const std::string& path, uint64_t byte) {
  auto probe = DefaultFileSystem()->Open(path, OpenOptions::ReadOnly());
  if (!probe.ok()) return false;
  Result<std::optional<RangeLock>> r = (*probe)->TestLock(byte, 1, LockMode::kExclusive);
  return r.ok() && r->has_value();
}

// Issue 16: one `hvdisk write` of 1 GiB from stdin plus 20 concurrent `hvdisk write` calls on the
// same image all exited 0 and left it corrupt ("BAT entry 0 ... overlaps BAT entry 1032"). Now
// the 20 are refused (kInUse, exit 1) while the first holds the image, and check finds it clean.
TEST_F(IoCommandsTest, ConcurrentWritersAreRefusedWhileOneWritesAndTheImageStaysConsistent) {
  const std::string img = dir_.File("big.vhdx"), fifo = dir_.File("stdin");
  ASSERT_EQ(Hvdisk("create " + Q(img) + " 2G"), 0);
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  int big_rc = -1;
  std::string big_out;
  std::thread big([&] { big_rc = Hvdisk("write " + Q(img) + " 0 < " + Q(fifo), &big_out); });
  const int fd = open(fifo.c_str(), O_WRONLY);  // once the shell opens it for hvdisk
  ASSERT_GE(fd, 0);
  const std::vector<std::byte> chunk = testing::PatternBytes(1 << 20, 16);
  auto feed = [&](int chunks) {
    for (int i = 0; i < chunks; ++i) {
      ASSERT_EQ(write(fd, chunk.data(), chunk.size()), static_cast<ssize_t>(chunk.size()));
    }
  };
  feed(64);  // the writer is mid-copy, waiting for more of stdin
  for (int i = 0; i < 500 && !LockedByOther(img, 101); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(LockedByOther(img, 101)) << "the first writer does not hold the image";
  std::string ignored;
  ASSERT_EQ(testing::RunCommand("for i in $(seq 1 20); do (" + Q(kHvdisk) + " write " + Q(img) +
                                    " $((i * 1048576)) --pattern $i --length 1M >/dev/null 2>" +
                                    Q(dir_.path()) + "/err.$i; echo $? >" + Q(dir_.path()) +
                                    "/rc.$i) & done; wait",
                                &ignored),
            0);
  feed(1024 - 64);
  close(fd);
  big.join();
  EXPECT_EQ(big_rc, 0) << big_out;
  for (int i = 1; i <= 20; ++i) {
    const std::string n = std::to_string(i);
    EXPECT_EQ(AsString(testing::ReadBinaryFile(dir_.File("rc." + n))), "1\n") << "writer " << n;
    EXPECT_THAT(AsString(testing::ReadBinaryFile(dir_.File("err." + n))),
                HasSubstr("in use: " + img + " is in use by another process"));
  }
  std::string out;
  EXPECT_EQ(Hvdisk("check " + Q(img), &out), 0) << out;
  std::string data;
  ASSERT_EQ(Hvdisk("read " + Q(img) + " 5M 1M", &data, false), 0);
  EXPECT_TRUE(data == AsString(chunk)) << "a refused writer's pattern landed";
}

TEST_F(IoCommandsTest, ReadOnlyCommandsRefuseADiskBeingWrittenUnlessForceShared) {
  const std::string raw = dir_.File("disk.raw");
  ASSERT_EQ(Hvdisk("convert " + Q(img_) + " " + Q(raw)), 0);
  for (const std::string& disk : {img_, raw}) {
    ASSERT_OK_AND_ASSIGN(auto writer, DefaultFileSystem()->Open(disk, OpenOptions::ReadWrite()));
    ASSERT_OK(LockImage(*writer, ImageAccess::kWrite));
    const std::string d = Q(disk), out_file = Q(dir_.File("out"));
    for (const std::string& args :
         {"read " + d + " 0 4K", "map " + d, "digest " + d, "info " + d,
          "compare " + d + " " + Q(img_), "convert " + d + " " + out_file}) {
      std::string out;
      EXPECT_NE(Hvdisk(args, &out), 0) << args << "\n" << out;
      EXPECT_THAT(out, HasSubstr("--force-share")) << args;
      EXPECT_EQ(Hvdisk(args.substr(0, args.find(' ')) + " -U" + args.substr(args.find(' ')), &out),
                0)
          << args << "\n"
          << out;
      std::remove(dir_.File("out").c_str());
    }
  }
  ASSERT_OK_AND_ASSIGN(auto writer, DefaultFileSystem()->Open(img_, OpenOptions::ReadWrite()));
  ASSERT_OK(LockImage(*writer, ImageAccess::kWrite));
  std::string out;
  EXPECT_EQ(Hvdisk("check " + Q(img_), &out), 1) << out;
  EXPECT_EQ(Hvdisk("check -U " + Q(img_), &out), 0) << out;
  EXPECT_EQ(Hvdisk("bench -c 10 -U " + Q(img_), &out), 0) << out;
}

}  // namespace
}  // namespace hvdisk
