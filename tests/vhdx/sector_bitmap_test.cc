#include "vhdx/sector_bitmap.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/testutil/testutil.h"

namespace hvdisk::vhdx {
namespace {

bool NaiveTest(const std::vector<std::byte>& b, uint64_t i) {
  return ((static_cast<uint8_t>(b[i / 8]) >> (i % 8)) & 1) != 0;
}

std::vector<SectorRun> NaiveRuns(const std::vector<std::byte>& b, uint64_t first, uint64_t count) {
  std::vector<SectorRun> runs;
  for (uint64_t i = first; i < first + count; ++i) {
    bool v = NaiveTest(b, i);
    if (runs.empty() || runs.back().present != v) {
      runs.push_back({i, 1, v});
    } else {
      ++runs.back().count;
    }
  }
  return runs;
}

// Deterministic pseudo-random numbers for ranges.
uint64_t Next(uint64_t* state) {
  *state = *state * 6364136223846793005ull + 1442695040888963407ull;
  return *state >> 33;
}

TEST(SectorBitmapTest, BitsAreLsbFirst) {
  std::vector<std::byte> b(8);
  SectorBitmap bm(b);
  ASSERT_OK(bm.Set(0, 1));
  ASSERT_OK(bm.Set(9, 1));
  ASSERT_OK(bm.Set(63, 1));
  EXPECT_EQ(b[0], std::byte{0x01});
  EXPECT_EQ(b[1], std::byte{0x02});
  EXPECT_EQ(b[7], std::byte{0x80});
  EXPECT_TRUE(bm.Test(9));
  EXPECT_FALSE(bm.Test(8));
}

TEST(SectorBitmapTest, SetAndClearMatchANaiveModel) {
  std::vector<std::byte> b(512);
  std::vector<bool> model(b.size() * 8);
  SectorBitmap bm(b);
  uint64_t rng = 1;
  for (int round = 0; round < 2000; ++round) {
    uint64_t first = Next(&rng) % model.size();
    uint64_t count = Next(&rng) % (model.size() - first + 1);
    bool value = Next(&rng) % 2;
    ASSERT_OK(bm.Assign(first, count, value));
    for (uint64_t i = first; i < first + count; ++i) model[i] = value;
  }
  for (uint64_t i = 0; i < model.size(); ++i) ASSERT_EQ(NaiveTest(b, i), model[i]) << i;
}

TEST(SectorBitmapTest, RunsMatchANaiveModel) {
  for (uint64_t seed = 0; seed < 4; ++seed) {
    std::vector<std::byte> b = testing::PatternBytes(1024, seed);
    // Long runs too: clear and fill whole stretches.
    SectorBitmap bm(b);
    ASSERT_OK(bm.Clear(1000, 3000));
    ASSERT_OK(bm.Set(5000, 1500));
    SectorBitmapView v(b);
    uint64_t rng = seed + 7;
    for (int round = 0; round < 300; ++round) {
      uint64_t first = Next(&rng) % v.bit_count();
      uint64_t count = Next(&rng) % (v.bit_count() - first + 1);
      ASSERT_OK_AND_ASSIGN(std::vector<SectorRun> runs, v.Runs(first, count));
      ASSERT_EQ(runs, NaiveRuns(b, first, count)) << first << "+" << count;
      uint64_t set = 0;
      for (const SectorRun& r : runs) set += r.present ? r.count : 0;
      ASSERT_OK_AND_ASSIGN(uint64_t counted, v.CountSet(first, count));
      EXPECT_EQ(counted, set);
    }
  }
}

TEST(SectorBitmapTest, ReadPlanOfAPartialBlock) {
  std::vector<std::byte> b(SectorBitmapView::kBlockSize);
  SectorBitmap bm(b);
  ASSERT_OK(bm.Set(8, 8));
  ASSERT_OK(bm.Set(100, 1));
  ASSERT_OK_AND_ASSIGN(std::vector<SectorRun> runs, bm.view().Runs(0, 128));
  std::vector<SectorRun> want = {
      {0, 8, false}, {8, 8, true}, {16, 84, false}, {100, 1, true}, {101, 27, false}};
  EXPECT_EQ(runs, want);
}

TEST(SectorBitmapTest, WholeBlockIsOneRun) {
  std::vector<std::byte> b(SectorBitmapView::kBlockSize);
  SectorBitmap bm(b);
  EXPECT_EQ(bm.bit_count(), kSectorsPerChunk);
  ASSERT_OK_AND_ASSIGN(std::vector<SectorRun> runs, bm.view().Runs(0, kSectorsPerChunk));
  EXPECT_EQ(runs, (std::vector<SectorRun>{{0, kSectorsPerChunk, false}}));
  ASSERT_OK(bm.Set(0, kSectorsPerChunk));
  ASSERT_OK_AND_ASSIGN(runs, bm.view().Runs(0, kSectorsPerChunk));
  EXPECT_EQ(runs, (std::vector<SectorRun>{{0, kSectorsPerChunk, true}}));
  ASSERT_OK_AND_ASSIGN(uint64_t n, bm.view().CountSet(0, kSectorsPerChunk));
  EXPECT_EQ(n, kSectorsPerChunk);
}

TEST(SectorBitmapTest, AllEqual) {
  std::vector<std::byte> b(64);
  SectorBitmap bm(b);
  ASSERT_OK(bm.Set(70, 200));
  SectorBitmapView v = bm.view();
  EXPECT_TRUE(v.AllEqual(70, 200, true).value());
  EXPECT_FALSE(v.AllEqual(69, 200, true).value());
  EXPECT_FALSE(v.AllEqual(70, 201, true).value());
  EXPECT_TRUE(v.AllEqual(0, 70, false).value());
  EXPECT_TRUE(v.AllEqual(270, 512 - 270, false).value());
  EXPECT_TRUE(v.AllEqual(5, 0, true).value());
}

TEST(SectorBitmapTest, OutOfRangeIsInvalidArgument) {
  std::vector<std::byte> b(16);
  SectorBitmap bm(b);
  EXPECT_CODE(bm.Set(100, 29), Code::kInvalidArgument);
  EXPECT_CODE(bm.Clear(129, 0), Code::kInvalidArgument);
  EXPECT_OK(bm.Set(100, 28));
  EXPECT_CODE(bm.view().Runs(0, 129), Code::kInvalidArgument);
  EXPECT_CODE(bm.view().AllEqual(1, ~uint64_t{0}, true), Code::kInvalidArgument);
  EXPECT_CODE(bm.view().CountSet(128, 1), Code::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(auto runs, bm.view().Runs(128, 0));
  EXPECT_TRUE(runs.empty());
}

}  // namespace
}  // namespace hvdisk::vhdx
