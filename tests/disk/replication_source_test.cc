// Replication sources (disk/replication_source.h): the window check every source answer passes
// (an untrusted peer's extents), and the changes a file names: a raw file's data, a dynamic VHDX's
// allocated blocks (the rest zero changes), a differencing image's present sectors only.
#include "disk/replication_source.h"

#include <gtest/gtest.h>

#include "chain/chain.h"
#include "disk/open.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::disk {
namespace {

constexpr uint64_t kMiB = 1 << 20;

TEST(SourceWindowCheck, ExtentsOutOfOrderEmptyOrOutsideTheWindowAreCorrupt) {
  const std::string s = "nbd://peer";
  EXPECT_OK(CheckWindow({.extents = {{0, 10, false}, {20, 5, true}}, .end = 100}, 0, 100, s));
  EXPECT_OK(CheckWindow({.extents = {}, .end = 50}, 0, 100, s));  // a shorter window
  EXPECT_CODE(CheckWindow({.extents = {}, .end = 0}, 0, 100, s), Code::kCorrupt)
      << "a window that does not advance would loop forever";
  EXPECT_CODE(CheckWindow({.extents = {}, .end = 101}, 0, 100, s), Code::kCorrupt);
  EXPECT_CODE(CheckWindow({.extents = {{10, 0, false}}, .end = 100}, 0, 100, s), Code::kCorrupt);
  EXPECT_CODE(CheckWindow({.extents = {{20, 5, false}, {10, 5, false}}, .end = 100}, 0, 100, s),
              Code::kCorrupt);
  EXPECT_CODE(CheckWindow({.extents = {{0, 10, false}, {5, 10, false}}, .end = 100}, 0, 100, s),
              Code::kCorrupt);
  EXPECT_CODE(CheckWindow({.extents = {{90, 20, false}}, .end = 100}, 0, 100, s), Code::kCorrupt);
  EXPECT_CODE(CheckWindow({.extents = {{5, UINT64_MAX}}, .end = 100}, 0, 100, s), Code::kCorrupt)
      << "a length that overflows";
}

TEST(SourceUri, NbdSchemesAreUrisAndEverythingElseIsAPath) {
  EXPECT_TRUE(IsNbdUri("nbd://127.0.0.1:10809/x"));
  EXPECT_TRUE(IsNbdUri("nbd+unix:///x?socket=/tmp/s"));
  EXPECT_TRUE(IsNbdUri("nbds://h/x"));
  EXPECT_FALSE(IsNbdUri("/var/disks/nbd://x"));
  EXPECT_FALSE(IsNbdUri("disk.raw"));
}

class FileSourceTest : public ::testing::Test {
 protected:
  Result<SourceWindow> Changes(const std::string& path, uint64_t offset, uint64_t length) {
    ASSIGN_OR_RETURN(auto source, OpenSource(&fs_, path, {}));
    return source->Changes(offset, length);
  }
  MemFileSystem fs_;
};

TEST_F(FileSourceTest, DynamicVhdxNamesItsBlocksAsDataAndTheRestAsZeros) {
  ASSERT_OK_AND_ASSIGN(auto d,
                       CreateVhdx(&fs_, "/d.vhdx", {.virtual_size = 8 * kMiB, .block_size = kMiB}));
  ASSERT_OK(d->Write(2 * kMiB, hvdisk::testing::PatternBytes(kMiB, 3)));
  ASSERT_OK(d->Close());
  ASSERT_OK_AND_ASSIGN(SourceWindow w, Changes("/d.vhdx", 0, 8 * kMiB));
  EXPECT_EQ(w.end, 8 * kMiB);
  ASSERT_EQ(w.extents.size(), 3u);
  EXPECT_TRUE(w.extents[0].zero);
  EXPECT_EQ(w.extents[1].offset, 2 * kMiB);
  EXPECT_EQ(w.extents[1].length, kMiB);
  EXPECT_FALSE(w.extents[1].zero);
  EXPECT_TRUE(w.extents[2].zero);
}

TEST_F(FileSourceTest, DifferencingImageNamesOnlyItsPresentSectorsWhateverItsParentHolds) {
  ASSERT_OK_AND_ASSIGN(auto p,
                       CreateVhdx(&fs_, "/p.vhdx", {.virtual_size = 8 * kMiB, .block_size = kMiB}));
  ASSERT_OK(p->Write(0, hvdisk::testing::PatternBytes(8 * kMiB, 1)));
  ASSERT_OK(p->Close());
  ASSERT_OK(chain::CreateChild(&fs_, "/p.vhdx", "/c.avhdx"));
  {
    ASSERT_OK_AND_ASSIGN(auto c, Open(&fs_, "/c.avhdx", {.writable = true}));
    ASSERT_OK(c->Write(3 * kMiB + 4096, hvdisk::testing::PatternBytes(1024, 2)));
    ASSERT_OK(c->Flush());
    ASSERT_OK(c->Close());
  }
  ASSERT_OK(fs_.Unlink("/p.vhdx"));  // the delta is read alone: its parent is not needed
  ASSERT_OK_AND_ASSIGN(SourceWindow w, Changes("/c.avhdx", 0, 8 * kMiB));
  ASSERT_EQ(w.extents.size(), 1u);
  EXPECT_EQ(w.extents[0].offset, 3 * kMiB + 4096);
  EXPECT_EQ(w.extents[0].length, 1024u);
  EXPECT_FALSE(w.extents[0].zero);
}

TEST_F(FileSourceTest, BitmapOfAFileIsRefusedAndAMissingFileIsNotFound) {
  EXPECT_CODE(OpenSource(&fs_, "/gone.raw", {}), Code::kNotFound);
  ASSERT_OK(fs_.Open("/x.raw", hvdisk::OpenOptions::CreateOrTruncate()).status());
  EXPECT_CODE(OpenSource(&fs_, "/x.raw", {.bitmap = "b0"}), Code::kInvalidArgument);
}

}  // namespace
}  // namespace hvdisk::disk
