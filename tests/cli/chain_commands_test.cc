// End-to-end tests of hvdisk on differencing chains: create -p, info, read/write/digest/map,
// compare/convert/bench through a chain, merge, reparent, check, and parent confinement.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "platform/content_digest.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using testing::AsString;
using ::testing::HasSubstr;
using testing::Hvdisk;
using testing::Q;

constexpr uint64_t kMiB = 1 << 20;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The locator writes GUIDs in lower case (as Hyper-V does), info prints DataWriteGuid in upper.
bool SameGuid(const nlohmann::json& a, const nlohmann::json& b) {
  return Lower(a.get<std::string>()) == Lower(b.get<std::string>());
}
constexpr uint64_t kDisk = 8 * kMiB;
const std::string& kHvdisk = testing::HvdiskPath();

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// A depth-4 chain base.vhdx <- d1.avhdx <- d2.avhdx <- d3.avhdx (1 MiB blocks, 8 MiB) built with
// the CLI, and the flat content the leaf must show (model_).
class ChainCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Exists(kHvdisk)) << kHvdisk << " is missing: build the hvdisk target";
    model_.assign(kDisk, std::byte{0});
    base_ = dir_.File("base.vhdx");
    ASSERT_EQ(Hvdisk("create --block-size 1M " + Q(base_) + " 8M"), 0);
    ASSERT_NO_FATAL_FAILURE(Write(base_, 0, 0x11, 3 * kMiB));
    std::string parent = base_;
    for (int i = 1; i <= 3; ++i) {
      layers_.push_back(dir_.File("d" + std::to_string(i) + ".avhdx"));
      std::string out;
      ASSERT_EQ(Hvdisk("create -p " + Q(parent) + " " + Q(layers_.back()), &out), 0) << out;
      // A whole block, a sub-block write (PARTIALLY_PRESENT) and an unaligned straddling one.
      ASSERT_NO_FATAL_FAILURE(Write(layers_.back(), i * kMiB, 0x20 + i, kMiB));
      ASSERT_NO_FATAL_FAILURE(Write(layers_.back(), 4 * kMiB + i * 4096, 0x30 + i, 4096));
      ASSERT_NO_FATAL_FAILURE(Write(layers_.back(), 6 * kMiB - 700 * i, 0x40 + i, 3000));
      parent = layers_.back();
    }
    leaf_ = layers_.back();
  }

  // Writes `length` bytes of `byte` at `offset` into `path` with hvdisk write; the model follows
  // when `path` is a layer of the leaf's chain (all of them are, below the leaf).
  void Write(const std::string& path, uint64_t offset, int byte, uint64_t length) {
    std::string out;
    ASSERT_EQ(Hvdisk("write " + Q(path) + " " + std::to_string(offset) + " --pattern " +
                         std::to_string(byte) + " --length " + std::to_string(length),
                     &out),
              0)
        << out;
    std::fill_n(model_.begin() + static_cast<ptrdiff_t>(offset), length, std::byte(byte));
  }

  std::string Digest(const std::string& path, const std::string& flags = "") {
    std::string out;
    EXPECT_EQ(Hvdisk("digest " + flags + " " + Q(path), &out, false), 0) << path;
    return out.substr(0, 32);
  }

  nlohmann::json InfoJson(const std::string& path) {
    std::string out;
    EXPECT_EQ(Hvdisk("info --json " + Q(path), &out, false), 0);
    return nlohmann::json::parse(out);
  }

  std::string ModelDigest() const { return ContentDigestOf(model_).ToHex(); }

  testing::TempDir dir_;
  std::string base_;
  std::vector<std::string> layers_;  // d1, d2, d3
  std::string leaf_;
  std::vector<std::byte> model_;
};

TEST_F(ChainCommandsTest, InfoJsonListsEveryLayerWithItsLinkage) {
  nlohmann::json j = InfoJson(leaf_);
  EXPECT_EQ(j["type"], "differencing");
  EXPECT_EQ(j["virtual-size"], kDisk);
  ASSERT_TRUE(j["chain"].is_array());
  ASSERT_EQ(j["chain"].size(), 4u);
  EXPECT_EQ(j["chain"][0]["filename"], leaf_);
  EXPECT_EQ(j["chain"][3]["type"], "dynamic");
  EXPECT_FALSE(j["chain"][3].contains("parent-locator"));
  for (size_t i = 0; i < 3; ++i) {
    const nlohmann::json& layer = j["chain"][i];
    EXPECT_EQ(layer["type"], "differencing");
    EXPECT_EQ(layer["block-size"], kMiB);
    EXPECT_TRUE(
        SameGuid(layer["parent-locator"]["parent_linkage"], j["chain"][i + 1]["data-write-guid"]));
    const std::string parent = j["chain"][i + 1]["filename"];
    EXPECT_EQ(layer["parent-locator"]["relative_path"],
              ".\\" + parent.substr(parent.rfind('/') + 1));
  }
  EXPECT_EQ(j["backing-filename"], j["chain"][1]["filename"]);
  std::string text;
  ASSERT_EQ(Hvdisk("info " + Q(leaf_), &text), 0);
  EXPECT_THAT(text, HasSubstr("chain (leaf first):"));
  EXPECT_THAT(text, HasSubstr("[3] " + j["chain"][3]["filename"].get<std::string>()));
  EXPECT_THAT(text, HasSubstr("parent_linkage: " +
                              Lower(j["chain"][1]["data-write-guid"].get<std::string>())));
}

TEST_F(ChainCommandsTest, CreateChildTakesABlockSizeButNoSizeOrType) {
  const std::string child = dir_.File("c.avhdx");
  EXPECT_EQ(Hvdisk("create -p " + Q(base_) + " " + Q(child) + " 8M"), 2);
  EXPECT_EQ(Hvdisk("create -p " + Q(base_) + " -t fixed " + Q(child)), 2);
  EXPECT_EQ(Hvdisk("create " + Q(child)), 2) << "SIZE is required without -p";
  EXPECT_FALSE(Exists(child));
  std::string out;
  ASSERT_EQ(Hvdisk("create -p " + Q(base_) + " --block-size 4M " + Q(child), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("differencing"));
  nlohmann::json j = InfoJson(child);
  EXPECT_EQ(j["block-size"], 4 * kMiB);
  EXPECT_EQ(j["virtual-disk-id"], InfoJson(base_)["virtual-disk-id"]);
  EXPECT_EQ(Hvdisk("create -p " + Q(base_) + " " + Q(child)), 1) << "exists";
  EXPECT_EQ(Hvdisk("create -p " + Q(dir_.File("none.vhdx")) + " " + Q(dir_.File("x.avhdx"))), 1);
}

TEST_F(ChainCommandsTest, ReadWriteAndDigestThroughTheChainEqualTheFlatContent) {
  EXPECT_EQ(Digest(leaf_), ModelDigest());
  const std::string d2_before = Digest(layers_[1]);
  ASSERT_NO_FATAL_FAILURE(Write(leaf_, 2 * kMiB + 100, 0x77, 5000));  // over the parents' data
  EXPECT_EQ(Digest(leaf_), ModelDigest());
  EXPECT_EQ(Digest(layers_[1]), d2_before) << "writes go to the leaf only";
  for (uint64_t offset :
       std::vector<uint64_t>{0, kMiB - 512, 2 * kMiB, 4 * kMiB + 4000, 6 * kMiB - 3000}) {
    std::string data;
    ASSERT_EQ(Hvdisk("read " + Q(leaf_) + " " + std::to_string(offset) + " 12000", &data, false),
              0);
    EXPECT_TRUE(data == AsString({model_.begin() + static_cast<ptrdiff_t>(offset),
                                  model_.begin() + static_cast<ptrdiff_t>(offset + 12000)}))
        << "at " << offset;
  }
  std::string out;
  EXPECT_EQ(Hvdisk("check " + Q(leaf_), &out), 0) << out;
}

TEST_F(ChainCommandsTest, CompareConvertAndBenchSeeTheWholeChain) {
  const std::string raw = dir_.File("flat.raw");
  testing::WriteBinaryFile(raw, model_);
  std::string out;
  EXPECT_EQ(Hvdisk("compare " + Q(leaf_) + " " + Q(raw), &out), 0) << out;
  EXPECT_EQ(Hvdisk("compare " + Q(layers_[1]) + " " + Q(raw), &out), 1) << out;
  for (const std::string name : {"out.raw", "out.vhdx"}) {
    const std::string dst = dir_.File(name);
    ASSERT_EQ(Hvdisk("convert " + Q(leaf_) + " " + Q(dst), &out), 0) << out;
    EXPECT_EQ(Digest(dst), ModelDigest()) << name;
  }
  EXPECT_EQ(InfoJson(dir_.File("out.vhdx"))["type"], "dynamic") << "a flat copy";
  EXPECT_EQ(Hvdisk("bench -c 200 -s 64K -S 64K " + Q(leaf_), &out), 0) << out;
  EXPECT_EQ(Hvdisk("bench -i native -c 200 -s 64K " + Q(leaf_), &out), 0) << out;
  EXPECT_EQ(Hvdisk("bench -w --pattern 0x5A -c 8 -s 4K -S 1M " + Q(leaf_), &out), 0) << out;
  for (uint64_t i = 0; i < 8; ++i) {
    std::fill_n(model_.begin() + static_cast<ptrdiff_t>(i * kMiB), 4096, std::byte{0x5A});
  }
  EXPECT_EQ(Digest(leaf_), ModelDigest());
}

TEST_F(ChainCommandsTest, MapNamesTheLayerEachExtentComesFrom) {
  std::string out;
  ASSERT_EQ(Hvdisk("map --json " + Q(leaf_), &out, false), 0);
  nlohmann::json j = nlohmann::json::parse(out);
  uint64_t next = 0;
  std::vector<std::string> files = {leaf_, layers_[1], layers_[0], base_};
  std::vector<bool> seen(4);
  for (const nlohmann::json& e : j) {
    EXPECT_EQ(e["start"].get<uint64_t>(), next);
    next += e["length"].get<uint64_t>();
    const int depth = e["depth"];
    ASSERT_GE(depth, 0);
    ASSERT_LE(depth, 3);
    if (e["data"].get<bool>()) {
      seen[static_cast<size_t>(depth)] = true;
      EXPECT_EQ(e["filename"], files[static_cast<size_t>(depth)]);
    }
    if (e["start"] == 3 * kMiB) {
      EXPECT_EQ(depth, 0) << "d3 wrote block 3 whole";
    }
    if (e["start"] == 0) {
      EXPECT_EQ(depth, 3) << "block 0 comes from the base";
    }
  }
  EXPECT_EQ(next, kDisk);
  EXPECT_EQ(seen, std::vector<bool>(4, true));
  ASSERT_EQ(Hvdisk("map " + Q(leaf_), &out), 0);
  EXPECT_THAT(out, HasSubstr(base_));
}

TEST_F(ChainCommandsTest, MergeIntoTheParentReparentsTheDependent) {
  const std::string leaf_digest = Digest(leaf_);
  std::string out;
  ASSERT_EQ(Hvdisk("merge " + Q(layers_[1]), &out), 0) << out;  // d2 into d1; d3 sat on d2
  EXPECT_THAT(out, HasSubstr("Removed: " + layers_[1]));
  EXPECT_THAT(out, HasSubstr("Reparented: " + leaf_ + " onto " + layers_[0]));
  EXPECT_FALSE(Exists(layers_[1]));
  EXPECT_EQ(Digest(leaf_), leaf_digest);
  EXPECT_EQ(InfoJson(leaf_)["chain"].size(), 3u);
  EXPECT_EQ(Hvdisk("check " + Q(leaf_), &out), 0) << out;
}

TEST_F(ChainCommandsTest, MergeIntoAnAncestorRemovesEveryMergedFile) {
  const std::string leaf_digest = Digest(leaf_);
  std::string out;
  ASSERT_EQ(Hvdisk("merge --json --into " + Q(layers_[0]) + " " + Q(leaf_), &out, false), 0) << out;
  nlohmann::json j = nlohmann::json::parse(out);
  EXPECT_EQ(j["target"], layers_[0]);
  EXPECT_EQ(j["removed"], nlohmann::json({leaf_, layers_[1]}));
  EXPECT_EQ(j["reparented"], nlohmann::json::array());
  EXPECT_GT(j["bytes-copied"].get<uint64_t>(), 0u);
  EXPECT_FALSE(Exists(leaf_));
  EXPECT_FALSE(Exists(layers_[1]));
  EXPECT_EQ(Digest(layers_[0]), leaf_digest);
  EXPECT_EQ(Hvdisk("check " + Q(layers_[0]), &out), 0) << out;
  EXPECT_EQ(Hvdisk("merge " + Q(base_), &out), 1) << "not a differencing disk";
}

TEST_F(ChainCommandsTest, MergeRefusesToDeleteTheParentOfASibling) {
  const std::string sibling = dir_.File("sib.avhdx");
  ASSERT_EQ(Hvdisk("create -p " + Q(layers_[1]) + " " + Q(sibling)), 0);  // d2 has two children
  std::string out;
  EXPECT_EQ(Hvdisk("merge --into " + Q(layers_[0]) + " " + Q(leaf_), &out), 1);
  EXPECT_THAT(out, HasSubstr("sib.avhdx"));
  EXPECT_TRUE(Exists(leaf_));
  EXPECT_EQ(Digest(leaf_), ModelDigest());
  // Merging d2 itself reparents both of its children.
  ASSERT_EQ(Hvdisk("merge " + Q(layers_[1]), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("Reparented: " + sibling));
  EXPECT_THAT(out, HasSubstr("Reparented: " + leaf_));
  EXPECT_EQ(Digest(leaf_), ModelDigest());
}

TEST_F(ChainCommandsTest, ReparentOntoACopyAndRepairAMismatch) {
  const std::string copy = dir_.File("d1-copy.avhdx");
  ASSERT_EQ(testing::RunCommand("cp " + Q(layers_[0]) + " " + Q(copy)), 0);
  std::string out;
  ASSERT_EQ(Hvdisk("reparent " + Q(layers_[1]) + " " + Q(copy), &out), 0) << out;
  EXPECT_EQ(InfoJson(layers_[1])["parent-locator"]["relative_path"], ".\\d1-copy.avhdx");
  ASSERT_EQ(unlink(layers_[0].c_str()), 0);
  EXPECT_EQ(Digest(leaf_), ModelDigest());
  // A different image of the same size: refused, unless --ignore-id-mismatch.
  const std::string other = dir_.File("other.vhdx");
  ASSERT_EQ(Hvdisk("create --block-size 1M " + Q(other) + " 8M"), 0);
  EXPECT_EQ(Hvdisk("reparent " + Q(layers_[1]) + " " + Q(other), &out), 1);
  EXPECT_THAT(out, HasSubstr("corrupt"));
  EXPECT_EQ(Digest(leaf_), ModelDigest()) << "a refused reparent changes nothing";
  ASSERT_EQ(Hvdisk("reparent --ignore-id-mismatch " + Q(layers_[1]) + " " + Q(other), &out), 0);
  EXPECT_NE(Digest(leaf_), ModelDigest());
  EXPECT_EQ(Hvdisk("check " + Q(leaf_), &out), 0) << out;
}

TEST_F(ChainCommandsTest, CheckExitCodesCoverTheWholeChain) {
  std::string out;
  EXPECT_EQ(Hvdisk("check " + Q(leaf_), &out), 0) << out;
  ASSERT_EQ(truncate(layers_[0].c_str(), 64 * kMiB), 0);  // leaked space in a parent
  EXPECT_EQ(Hvdisk("check " + Q(leaf_), &out), 3) << out;
  EXPECT_THAT(out, HasSubstr(layers_[0]));
  ASSERT_EQ(unlink(layers_[0].c_str()), 0);  // a deleted parent breaks the chain
  EXPECT_EQ(Hvdisk("check " + Q(leaf_), &out), 2) << out;
  EXPECT_THAT(out, HasSubstr("parent not found"));
  EXPECT_EQ(Hvdisk("check " + Q(dir_.File("missing.avhdx")), &out), 1) << out;
  // The other commands refuse the broken chain; info still shows the leaf and its locator.
  EXPECT_EQ(Hvdisk("digest " + Q(leaf_), &out), 1);
  EXPECT_THAT(out, HasSubstr("not found"));
  EXPECT_EQ(Hvdisk("info " + Q(layers_[1]), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("relative_path: .\\d1.avhdx"));
  EXPECT_THAT(out, HasSubstr("warning: the chain does not open"));
}

TEST_F(ChainCommandsTest, AParentOutsideTheRootsIsRefusedUnlessAllowed) {
  testing::TempDir elsewhere;  // outside dir_'s tree
  const std::string other_dir = elsewhere.path();
  const std::string sub_dir = dir_.File("sub");
  ASSERT_EQ(mkdir(sub_dir.c_str(), 0755), 0);
  const std::string child = sub_dir + "/child.avhdx";
  std::string out;
  EXPECT_EQ(Hvdisk("create -p " + Q(leaf_) + " " + Q(child), &out), 1);
  EXPECT_THAT(out, HasSubstr("outside the allowed roots"));
  EXPECT_THAT(out, HasSubstr("--allow-root"));
  EXPECT_FALSE(Exists(child)) << "a child that cannot open is removed again";
  const std::string allow = " --allow-root " + Q(dir_.path());
  ASSERT_EQ(Hvdisk("create -p " + Q(leaf_) + allow + " " + Q(child), &out), 0) << out;
  for (const auto& [cmd, rc] : std::vector<std::pair<std::string, int>>{
           {"digest", 1}, {"map", 1}, {"check", 2}, {"info", 0}}) {
    EXPECT_EQ(Hvdisk(cmd + " " + Q(child), &out), rc) << cmd << ": " << out;
    EXPECT_THAT(out, HasSubstr("outside the allowed roots")) << cmd;
  }
  EXPECT_EQ(Digest(child, allow), ModelDigest());
  EXPECT_EQ(Hvdisk("check" + allow + " " + Q(child), &out), 0) << out;
  // A parent symlinked from inside the roots to outside them is refused too.
  const std::string moved = other_dir + "/base.vhdx";
  ASSERT_EQ(rename(base_.c_str(), moved.c_str()), 0);
  ASSERT_EQ(symlink(moved.c_str(), base_.c_str()), 0);
  EXPECT_EQ(Hvdisk("digest " + Q(leaf_), &out), 1);
  EXPECT_THAT(out, HasSubstr("outside the allowed roots"));
  EXPECT_EQ(Digest(leaf_, "--allow-root " + Q(other_dir)), ModelDigest());
}

// chain::Reparent bug (reported to the chain owner): with --ignore-id-mismatch it writes a new
// parent whose chain holds the child itself, so the chain no longer opens (cycle). The issue asks
// for a clear error and nothing written. Enable when chain::Reparent refuses it.
TEST_F(ChainCommandsTest, ReparentOntoADescendantIsRefused) {
  std::string out;
  EXPECT_EQ(Hvdisk("reparent --ignore-id-mismatch " + Q(layers_[0]) + " " + Q(leaf_), &out), 1)
      << out;
  EXPECT_THAT(out, HasSubstr("cycle"));
  EXPECT_EQ(Hvdisk("check " + Q(leaf_), &out), 0) << out;
  EXPECT_EQ(Digest(leaf_), ModelDigest());
}

}  // namespace
}  // namespace hvdisk
