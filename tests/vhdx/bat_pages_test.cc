// BatPages: pages read on demand, the clean-page bound, dirty and pending pages pinned until
// applied, and full scans that do not fill the cache.
#include "vhdx/bat_pages.h"

#include <gtest/gtest.h>

#include "tests/testutil/testutil.h"
#include "vhdx/format.h"

namespace hvdisk::vhdx {
namespace {

constexpr uint64_t kPage = BatPages::kEntriesPerPage;

// A BAT of `entries` entries whose entry i reads as i * 8 (so a stale read is visible), with a
// count of the bytes read.
class BatPagesTest : public ::testing::Test {
 protected:
  void Start(uint64_t entries) {
    bat_.Reset(
        [this](uint64_t offset, std::span<std::byte> dst) {
          bytes_read_ += dst.size();
          for (size_t i = 0; i < dst.size(); i += 8) {
            StoreU64(dst, i, (offset - kOffset + i) / 8 * 8 + file_bias_);
          }
          return Status::Ok();
        },
        kOffset, entries);
  }
  static constexpr uint64_t kOffset = 3 * kMiB;
  BatPages bat_;
  uint64_t bytes_read_ = 0;
  uint64_t file_bias_ = 0;  // what the "file" adds to every entry
};

TEST_F(BatPagesTest, ALookupReadsOnlyItsPage) {
  Start(64 * kPage);
  ASSERT_OK_AND_ASSIGN(uint64_t e, bat_.Get(5 * kPage + 3));
  EXPECT_EQ(e, (5 * kPage + 3) * 8);
  EXPECT_EQ(bytes_read_, BatPages::kPageBytes);
  ASSERT_OK(bat_.Get(5 * kPage + 100).status());
  EXPECT_EQ(bytes_read_, BatPages::kPageBytes) << "cached";
  EXPECT_EQ(bat_.resident_pages(), 1u);
}

TEST_F(BatPagesTest, CleanPagesStayWithinTheBoundWhateverIsRead) {
  const uint64_t pages = 3 * BatPages::kMaxCleanPages;
  Start(pages * kPage);
  for (uint64_t p = 0; p < pages; ++p) ASSERT_OK(bat_.Get(p * kPage).status());
  EXPECT_EQ(bat_.resident_pages(), BatPages::kMaxCleanPages);
}

TEST_F(BatPagesTest, DirtyAndPendingPagesArePinnedUntilApplied) {
  const uint64_t pages = 2 * BatPages::kMaxCleanPages;
  Start(pages * kPage);
  ASSERT_OK(bat_.Set(7, 0xabc00001));
  file_bias_ = 1;  // from now on the file reads differently: a reloaded page would show it
  for (uint64_t p = 1; p < pages; ++p) ASSERT_OK(bat_.Get(p * kPage).status());
  EXPECT_EQ(*bat_.Get(7), 0xabc00001u) << "the dirty page was not evicted";
  auto dirty = bat_.TakeDirty();
  ASSERT_EQ(dirty.size(), 1u);
  EXPECT_EQ(dirty[0].first, 0u);
  EXPECT_EQ(dirty[0].second[7], 0xabc00001u);
  for (uint64_t p = 1; p < pages; ++p) ASSERT_OK(bat_.Get(p * kPage).status());
  EXPECT_EQ(*bat_.Get(7), 0xabc00001u) << "the pending page was not evicted";
  bat_.Applied({0});
  for (uint64_t p = 1; p < pages; ++p) ASSERT_OK(bat_.Get(p * kPage).status());
  EXPECT_EQ(*bat_.Get(7), 7 * 8 + 1u) << "applied, evicted, read again from the file";
}

TEST_F(BatPagesTest, ReadRangeSeesCachedChangesAndDoesNotFillTheCache) {
  Start(10 * kPage);
  ASSERT_OK(bat_.Set(3 * kPage + 1, 42));
  std::vector<uint64_t> all(10 * kPage - 5);
  ASSERT_OK(bat_.ReadRange(5, all));
  for (uint64_t i = 0; i < all.size(); ++i) {
    const uint64_t index = i + 5;
    ASSERT_EQ(all[i], index == 3 * kPage + 1 ? 42 : index * 8) << index;
  }
  EXPECT_EQ(bat_.resident_pages(), 1u);
}

TEST_F(BatPagesTest, AScanSkipsWhatTheProbeReportsAsAHoleButKeepsCachedChanges) {
  const uint64_t entries = 64 * kPage;
  bat_.Reset(
      [this](uint64_t, std::span<std::byte> dst) {
        bytes_read_ += dst.size();
        std::fill(dst.begin(), dst.end(), std::byte{0});
        return Status::Ok();
      },
      kOffset, entries, [](uint64_t) { return UINT64_MAX; });
  ASSERT_OK(bat_.Set(9 * kPage, 5));
  const uint64_t read_by_set = bytes_read_;
  std::vector<uint64_t> all(entries);
  ASSERT_OK(bat_.ReadRange(0, all));
  EXPECT_EQ(bytes_read_, read_by_set) << "the hole was read";
  for (uint64_t i = 0; i < entries; ++i) ASSERT_EQ(all[i], i == 9 * kPage ? 5u : 0u) << i;
}

TEST_F(BatPagesTest, RelocatedMakesEveryPageCleanAndGrows) {
  Start(kPage);
  ASSERT_OK(bat_.Set(1, 9));
  bat_.Relocated(8 * kMiB, 4 * kPage);
  EXPECT_FALSE(bat_.dirty());
  EXPECT_EQ(bat_.capacity(), 4 * kPage);
  EXPECT_EQ(bat_.offset(), 8 * kMiB);
  EXPECT_TRUE(bat_.TakeDirty().empty());
}

// A zero run steps over a hole of the file without reading it or caching a page, and over a
// dirty page by its entries (memory, not the file, is the truth there); a page of data ends the
// run where its first non-zero entry is, read only when asked to load.
TEST(BatPagesZeroRun, AHoleIsSkippedUnreadAndADirtyPageOrDataEndsTheRun) {
  constexpr uint64_t kOffset = kMiB, kPages = 4096;
  const uint64_t data_page = kPages - 2;  // the file holds entries only in this page
  uint64_t bytes_read = 0, probes = 0;
  BatPages bat;
  bat.Reset(
      [&](uint64_t offset, std::span<std::byte> dst) {
        bytes_read += dst.size();
        for (size_t i = 0; i < dst.size(); i += 8) {
          const bool data = offset + i >= kOffset + data_page * BatPages::kPageBytes + 80;
          StoreU64(dst, i, data ? 6 : 0);
        }
        return Status::Ok();
      },
      kOffset, kPages * kPage,
      [&](uint64_t offset) {
        ++probes;
        const uint64_t data = kOffset + data_page * BatPages::kPageBytes;
        return offset < data ? data : offset;
      });
  ASSERT_OK_AND_ASSIGN(uint64_t run, bat.ZeroRun(0, kPages * kPage, /*load=*/false));
  EXPECT_EQ(run, data_page * kPage) << "the run ends at the page of data, unread";
  EXPECT_EQ(bytes_read, 0u);
  EXPECT_EQ(bat.resident_pages(), 0u);
  EXPECT_LE(probes, 2u) << "the hole is probed once, not once per page";
  ASSERT_OK_AND_ASSIGN(run, bat.ZeroRun(0, kPages * kPage, /*load=*/true));
  EXPECT_EQ(run, data_page * kPage + 10);
  EXPECT_EQ(bytes_read, BatPages::kPageBytes) << "only the page of data";
  ASSERT_OK(bat.Set(3 * kPage + 5, 0x100006));
  ASSERT_OK_AND_ASSIGN(run, bat.ZeroRun(kPage, kPages * kPage - kPage, /*load=*/false));
  EXPECT_EQ(run, 2 * kPage + 5) << "the dirty entry ends it";
}

}  // namespace
}  // namespace hvdisk::vhdx
