// Interoperability of our differencing chains: libvhdi (Debian's python3-libvhdi, pyvhdi, with
// set_parent) must read chains made by hvdisk (depth 1, 2, 3 and 8, 512 and 4096 logical sectors,
// with PARTIALLY_PRESENT blocks from sub-block writes, transparent and zeroing trims) as the same
// bytes as `hvdisk digest` and as the model, also after `hvdisk merge` and `hvdisk reparent`;
// vhdiinfo shows our parent locator; qemu-img identifies our .avhdx as VHDX (and refuses it as
// differencing, which it does not support) and reads a chain merged into its base.
//
// These tests FAIL (never skip) when /usr/bin/python3 cannot import pyvhdi or qemu-img is missing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chain/chain.h"
#include "platform/content_digest.h"
#include "platform/file.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using ::testing::HasSubstr;
using testing::Q;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kDisk = 12 * kMiB;
const std::string& kHvdisk = testing::HvdiskPath();

// argv[1]: the raw output; argv[2:]: the chain, leaf first. Each file gets its parent with
// set_parent (bottom up); the leaf's media is dumped 4 MiB at a time.
constexpr const char* kDumpChainScript = R"(
import sys, pyvhdi
files = []
for path in sys.argv[2:]:
    f = pyvhdi.file()
    f.open(path)
    files.append(f)
for i in range(len(files) - 2, -1, -1):
    files[i].set_parent(files[i + 1])
leaf = files[0]
size = leaf.get_media_size()
with open(sys.argv[1], "wb") as out:
    offset = 0
    while offset < size:
        n = min(4 << 20, size - offset)
        out.write(leaf.read_buffer_at_offset(n, offset))
        offset += n
print(size)
)";

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A chain base.vhdx <- d1.avhdx <- ... built with hvdisk, and the content seen through each layer.
class LibvhdiChainTest : public ::testing::TestWithParam<uint32_t> {
 protected:
  void SetUp() override {
    std::string out;
    ASSERT_EQ(testing::RunCommand("/usr/bin/python3 -c 'import pyvhdi'", &out), 0)
        << "the interop suite needs Debian's python3-libvhdi (import pyvhdi): " << out;
    ASSERT_TRUE(Exists(kHvdisk)) << kHvdisk << " is missing: build the hvdisk target";
  }

  void Run(const std::string& args, std::string* out = nullptr) {
    std::string ignored;
    ASSERT_EQ(testing::Hvdisk(args, out ? out : &ignored), 0) << "hvdisk " << args;
  }

  // Writes pattern bytes through `hvdisk write` (stdin) into the top layer and its model.
  void Write(uint64_t offset, size_t length) {
    std::vector<std::byte> data = testing::PatternBytes(length, ++seed_);
    const std::string input = dir_.File("in.bin");
    testing::WriteBinaryFile(input, data);
    ASSERT_NO_FATAL_FAILURE(
        Run("write " + Q(paths_.back()) + " " + std::to_string(offset) + " < " + Q(input)));
    std::copy(data.begin(), data.end(), models_.back().begin() + static_cast<ptrdiff_t>(offset));
  }

  // Trims the top layer through the library (the CLI has no trim): transparent, whole blocks
  // read the parent again and the edges stay; zeroing, the whole range reads zeros.
  void Trim(uint64_t offset, uint64_t length, bool transparent) {
    FileSystem* fs = DefaultFileSystem();
    ASSERT_OK_AND_ASSIGN(auto chain,
                         chain::Chain::Open(fs, paths_.back(), {.writable_leaf = true}));
    ASSERT_OK(chain->Trim(offset, length, transparent));
    ASSERT_OK(chain->Close());
    auto& model = models_.back();
    uint64_t begin = offset, end = offset + length;
    if (transparent) {
      begin = (offset + kMiB - 1) / kMiB * kMiB;
      end = end / kMiB * kMiB;
      if (begin >= end) return;
      const auto& parent = models_[models_.size() - 2];
      std::copy(parent.begin() + static_cast<ptrdiff_t>(begin),
                parent.begin() + static_cast<ptrdiff_t>(end),
                model.begin() + static_cast<ptrdiff_t>(begin));
      return;
    }
    std::fill(model.begin() + static_cast<ptrdiff_t>(begin),
              model.begin() + static_cast<ptrdiff_t>(end), std::byte{0});
  }

  void MakeBase() {
    paths_ = {dir_.File("base.vhdx")};
    models_ = {std::vector<std::byte>(kDisk)};
    ASSERT_NO_FATAL_FAILURE(Run("create --block-size 1M --logical-sector " +
                                std::to_string(GetParam()) + " " + Q(paths_[0]) + " 12M"));
    ASSERT_NO_FATAL_FAILURE(Write(0, 3 * kMiB));
    ASSERT_NO_FATAL_FAILURE(Write(9 * kMiB, 2 * kMiB));
  }

  // Layer i: a whole block, sub-block and straddling writes, a transparent trim of a block it
  // wrote (and of a larger unaligned range), a zeroing trim over the parents' data.
  void AddLayer(int i) {
    const std::string path = dir_.File("d" + std::to_string(i) + ".avhdx");
    ASSERT_NO_FATAL_FAILURE(Run("create -p " + Q(paths_.back()) + " " + Q(path)));
    paths_.push_back(path);
    models_.push_back(models_.back());
    const uint64_t u = static_cast<uint64_t>(i);
    const uint64_t v = (u - 1) % 4 + 1;  // keeps deep layers' sub-block writes inside the disk
    ASSERT_NO_FATAL_FAILURE(Write(u * kMiB, kMiB));
    ASSERT_NO_FATAL_FAILURE(Write((4 + v) * kMiB + 4096 * u, 8192));
    ASSERT_NO_FATAL_FAILURE(Write(8 * kMiB - 4096 * u - 512, 5120));
    ASSERT_NO_FATAL_FAILURE(Write(10 * kMiB, kMiB));
    ASSERT_NO_FATAL_FAILURE(Trim(10 * kMiB - 8192, kMiB + 16384, true));
    ASSERT_NO_FATAL_FAILURE(Trim(9 * kMiB + 4096 * u, 12288, false));
  }

  void MakeChain(int children) {
    ASSERT_NO_FATAL_FAILURE(MakeBase());
    for (int i = 1; i <= children; ++i) ASSERT_NO_FATAL_FAILURE(AddLayer(i));
  }

  // pyvhdi's bytes of the chain `leaf_first` equal `model` and `hvdisk digest` of the leaf.
  void ExpectLibvhdiReads(const std::vector<std::string>& leaf_first,
                          const std::vector<std::byte>& model) {
    std::string args;
    for (const std::string& p : leaf_first) args += " " + Q(p);
    const std::string dump = dir_.File("pyvhdi.raw");
    std::string out;
    ASSERT_EQ(
        testing::RunCommand(
            "/usr/bin/python3 -c '" + std::string(kDumpChainScript) + "' " + Q(dump) + args, &out),
        0)
        << out;
    EXPECT_EQ(out, std::to_string(kDisk) + "\n") << "pyvhdi's media size";
    const std::vector<std::byte> bytes = testing::ReadBinaryFile(dump);
    const std::string libvhdi = ContentDigestOf(bytes).ToHex();
    EXPECT_EQ(libvhdi, ContentDigestOf(model).ToHex()) << "libvhdi read other bytes than the model";
    std::string ours;
    ASSERT_EQ(testing::Hvdisk("digest " + Q(leaf_first[0]), &ours, false), 0);
    EXPECT_EQ(ours, libvhdi + "  " + leaf_first[0] + "\n");
  }

  std::vector<std::string> LeafFirst() const { return {paths_.rbegin(), paths_.rend()}; }

  testing::TempDir dir_;
  std::vector<std::string> paths_;              // base first
  std::vector<std::vector<std::byte>> models_;  // content through each layer, base first
  uint64_t seed_ = 0;
};

TEST_P(LibvhdiChainTest, ReadsADepth1Chain) {
  ASSERT_NO_FATAL_FAILURE(MakeChain(1));
  ExpectLibvhdiReads(LeafFirst(), models_.back());
}

TEST_P(LibvhdiChainTest, ReadsADepth3ChainAndEveryLayerOfIt) {
  ASSERT_NO_FATAL_FAILURE(MakeChain(3));
  for (size_t top = paths_.size(); top-- > 0;) {
    std::vector<std::string> chain(
        paths_.rbegin() + static_cast<ptrdiff_t>(paths_.size() - 1 - top), paths_.rend());
    SCOPED_TRACE(chain[0]);
    ExpectLibvhdiReads(chain, models_[top]);
  }
}

TEST_P(LibvhdiChainTest, ReadsADepth8Chain) {
  ASSERT_NO_FATAL_FAILURE(MakeChain(8));
  ExpectLibvhdiReads(LeafFirst(), models_.back());
}

TEST_P(LibvhdiChainTest, ReadsTheChainAfterMerges) {
  ASSERT_NO_FATAL_FAILURE(MakeChain(3));
  const std::vector<std::byte> leaf_model = models_.back();
  ASSERT_NO_FATAL_FAILURE(Run("merge " + Q(paths_[2])));  // d2 into d1; d3 reparented onto d1
  ASSERT_FALSE(Exists(paths_[2]));
  ExpectLibvhdiReads({paths_[3], paths_[1], paths_[0]}, leaf_model);
  ASSERT_NO_FATAL_FAILURE(Run("merge --into " + Q(paths_[0]) + " " + Q(paths_[3])));
  ExpectLibvhdiReads({paths_[0]}, leaf_model);
}

TEST_P(LibvhdiChainTest, ReadsTheChainAfterAReparent) {
  ASSERT_NO_FATAL_FAILURE(MakeChain(3));
  const std::string moved = dir_.File("d1-moved.avhdx");
  ASSERT_EQ(rename(paths_[1].c_str(), moved.c_str()), 0);
  std::string out;
  EXPECT_EQ(testing::Hvdisk("digest " + Q(paths_[3]), &out), 1) << "d2's parent is gone";
  ASSERT_NO_FATAL_FAILURE(Run("reparent " + Q(paths_[2]) + " " + Q(moved)));
  ExpectLibvhdiReads({paths_[3], paths_[2], moved, paths_[0]}, models_.back());
}

TEST_P(LibvhdiChainTest, VhdiinfoShowsOurParentLocator) {
  ASSERT_NO_FATAL_FAILURE(MakeChain(1));
  std::string info, vhdiinfo;
  ASSERT_NO_FATAL_FAILURE(Run("info --json " + Q(paths_[1]), &info));
  ASSERT_EQ(testing::RunCommand("vhdiinfo " + Q(paths_[1]), &vhdiinfo), 0) << vhdiinfo;
  EXPECT_THAT(vhdiinfo, HasSubstr("Differential"));
  const auto j = nlohmann::json::parse(info);
  std::string linkage = j["parent-locator"]["parent_linkage"];
  linkage = Lower(linkage.substr(1, linkage.size() - 2));  // without the braces
  EXPECT_THAT(vhdiinfo, HasSubstr("Parent identifier\t: " + linkage));
  EXPECT_THAT(vhdiinfo, HasSubstr("Parent filename\t\t: " +
                                  j["parent-locator"]["absolute_win32_path"].get<std::string>()));
}

INSTANTIATE_TEST_SUITE_P(Sectors, LibvhdiChainTest, ::testing::Values(512u, 4096u),
                         [](const ::testing::TestParamInfo<uint32_t>& info) {
                           return "Lss" + std::to_string(info.param);
                         });

// qemu-img: probes our .avhdx as VHDX and refuses it for its parent (qemu has no differencing
// VHDX support), rather than calling it corrupt or another format; reads a chain merged into base.
TEST(QemuChainTest, IdentifiesOurAvhdxAsVhdxAndReadsTheMergedBase) {
  std::string out;
  ASSERT_EQ(testing::RunCommand("qemu-img --version", &out), 0) << "qemu-img is missing: " << out;
  testing::TempDir dir;
  const std::string base = dir.File("base.vhdx"), child = dir.File("child.avhdx");
  ASSERT_EQ(testing::Hvdisk("create --block-size 1M " + Q(base) + " 8M"), 0);
  ASSERT_EQ(testing::Hvdisk("write " + Q(base) + " 0 --pattern 1 --length 3M"), 0);
  ASSERT_EQ(testing::Hvdisk("create -p " + Q(base) + " " + Q(child)), 0);
  ASSERT_EQ(testing::Hvdisk("write " + Q(child) + " 1M --pattern 2 --length 5000"), 0);
  for (const std::string& format : {std::string(), std::string("-f vhdx ")}) {
    EXPECT_EQ(testing::RunCommand("qemu-img info " + format + Q(child), &out), 1) << out;
    EXPECT_THAT(out, HasSubstr("Operation not supported")) << "qemu's vhdx driver, HAS_PARENT";
  }
  EXPECT_EQ(testing::RunCommand("qemu-img info -f raw " + Q(child), &out), 0) << out;
  const std::string flat = dir.File("flat.raw");
  ASSERT_EQ(testing::Hvdisk("convert " + Q(child) + " " + Q(flat)), 0);
  ASSERT_EQ(testing::Hvdisk("merge " + Q(child)), 0);
  EXPECT_EQ(testing::RunCommand("qemu-img check -f vhdx " + Q(base), &out), 0) << out;
  EXPECT_EQ(testing::RunCommand("qemu-img compare -f vhdx -F raw " + Q(base) + " " + Q(flat), &out),
            0)
      << out;
}

}  // namespace
}  // namespace hvdisk
