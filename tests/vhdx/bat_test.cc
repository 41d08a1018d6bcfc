#include "vhdx/bat.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/testutil/testutil.h"
#include "vhdx/metadata.h"

namespace hvdisk::vhdx {
namespace {

constexpr uint8_t kZero = 2, kFully = 6, kPartial = 7;

BatEntry Entry(uint8_t state, uint64_t mb) { return BatEntry{state, mb}; }

TEST(BatTest, EntryRoundTrips) {
  uint64_t raw = (uint64_t{0xABCDE} << 20) | 6;
  ASSERT_OK_AND_ASSIGN(BatEntry e, BatEntry::FromRaw(raw));
  EXPECT_EQ(e.state, 6);
  EXPECT_EQ(e.file_offset_mb, 0xABCDEu);
  EXPECT_EQ(e.file_offset(), 0xABCDEull * kMiB);
  EXPECT_EQ(e.ToRaw(), raw);
  std::vector<std::byte> b(8);
  e.EncodeTo(b);
  EXPECT_EQ(LoadU64(b, 0), raw);
  ASSERT_OK_AND_ASSIGN(BatEntry d, BatEntry::Decode(b));
  EXPECT_EQ(d, e);
  // The top of the 44-bit FileOffsetMB field.
  ASSERT_OK_AND_ASSIGN(BatEntry top, BatEntry::FromRaw(~uint64_t{0} << 20 | 6));
  EXPECT_EQ(top.file_offset_mb, (uint64_t{1} << 44) - 1);
}

TEST(BatTest, ReservedBitsAreCorrupt) {
  for (int bit = 3; bit < 20; ++bit) {
    EXPECT_CODE(BatEntry::FromRaw((uint64_t{1} << bit) | 6 | (uint64_t{5} << 20)), Code::kCorrupt);
  }
}

TEST(BatTest, AnEntryOfAValidatedBatUnpacksToItsStateAndOffsetWhateverItsReservedBits) {
  const uint64_t raw = (uint64_t{0xABCDE} << 20) | (1u << 3) | 7;
  const BatEntry e = BatEntry::Unpack(raw);
  EXPECT_EQ(e.payload_state(), PayloadState::kPartiallyPresent);
  EXPECT_EQ(e.file_offset(), 0xABCDEull * kMiB);
  EXPECT_EQ(e.ToRaw(), raw & ~BatEntry::kReservedMask);
}

TEST(BatTest, OnlyFullyAndPartiallyPresentBlocksAndPresentSectorBitmapsHaveFileSpace) {
  for (uint8_t state = 0; state < 8; ++state) {
    const BatEntry e = Entry(state, 3);
    EXPECT_EQ(e.payload_allocated(), state == kFully || state == kPartial) << int{state};
    EXPECT_EQ(e.sector_bitmap_present(), state == 6) << int{state};
  }
}

TEST(BatTest, PayloadEntriesOfStates0To3CarryNoOffset) {
  EXPECT_EQ(BatEntry::Payload(PayloadState::kZero, 5 * kMiB).ToRaw(), 2u);
  EXPECT_EQ(BatEntry::Payload(PayloadState::kUnmapped, 5 * kMiB).ToRaw(), 3u);
  EXPECT_EQ(BatEntry::Payload(PayloadState::kFullyPresent, 5 * kMiB).ToRaw(), (5u << 20) | 6);
  EXPECT_EQ(BatEntry::SectorBitmap(SectorBitmapState::kPresent, 9 * kMiB).ToRaw(), (9u << 20) | 6);
  EXPECT_EQ(BatEntry::SectorBitmap(SectorBitmapState::kNotPresent, 9 * kMiB).ToRaw(), 0u);
}

TEST(BatTest, ChunkRatioExamples) {
  EXPECT_EQ(ChunkRatio(512, 1 * kMiB), 4096u);
  EXPECT_EQ(ChunkRatio(512, 32 * kMiB), 128u);
  EXPECT_EQ(ChunkRatio(512, 256 * kMiB), 16u);
  EXPECT_EQ(ChunkRatio(4096, 32 * kMiB), 1024u);
  EXPECT_EQ(ChunkRatio(4096, 256 * kMiB), 128u);
}

TEST(BatTest, IndexArithmeticInterleavesSectorBitmaps) {
  BatGeometry g(64 * kTiB, 256 * kMiB, 512, DiskType::kDifferencing);  // chunk ratio 16
  EXPECT_EQ(g.PayloadIndex(0), 0u);
  EXPECT_EQ(g.PayloadIndex(15), 15u);
  EXPECT_EQ(g.PayloadIndex(16), 17u);
  EXPECT_EQ(g.SectorBitmapIndex(0), 16u);
  EXPECT_EQ(g.SectorBitmapIndex(1), 33u);
  for (uint64_t b = 0; b < 100; ++b) {
    uint64_t i = g.PayloadIndex(b);
    EXPECT_FALSE(g.IsSectorBitmapIndex(i));
    EXPECT_EQ(g.BlockOfIndex(i), b);
  }
  for (uint64_t c = 0; c < 10; ++c) EXPECT_TRUE(g.IsSectorBitmapIndex(g.SectorBitmapIndex(c)));
  EXPECT_EQ(g.sectors_per_block(), 256 * kMiB / 512);
  EXPECT_EQ(g.ChunkOfBlock(17), 1u);
  EXPECT_EQ(g.SectorBitmapBit(17, 3), 1 * g.sectors_per_block() + 3);
  EXPECT_EQ(g.SectorBitmapBit(15, g.sectors_per_block() - 1), kSectorsPerChunk - 1);
}

TEST(BatTest, EntryCountsFollowTheReferenceFormulas) {
  // 4 MiB, 2 MiB blocks, 512-byte sectors: N = 2, chunk ratio 2048.
  EXPECT_EQ(BatGeometry(4 * kMiB, 2 * kMiB, 512, DiskType::kDynamic).total_entries(), 2u);
  EXPECT_EQ(BatGeometry(4 * kMiB, 2 * kMiB, 512, DiskType::kDifferencing).total_entries(), 2049u);
  // Chunk ratio 16: N = 16 fills one chunk; N = 17 spills into a second.
  uint64_t bs = 256 * kMiB;
  EXPECT_EQ(BatGeometry(16 * bs, bs, 512, DiskType::kFixed).total_entries(), 16u);
  EXPECT_EQ(BatGeometry(17 * bs, bs, 512, DiskType::kDynamic).total_entries(), 18u);
  EXPECT_EQ(BatGeometry(17 * bs, bs, 512, DiskType::kDifferencing).total_entries(), 34u);
  // A partial last block counts.
  BatGeometry partial(3 * kMiB, 2 * kMiB, 512, DiskType::kDynamic);
  EXPECT_EQ(partial.payload_blocks(), 2u);
  EXPECT_EQ(partial.bat_bytes(), 16u);
  // 64 TiB, 1 MiB blocks: N = 2^26, ratio 4096: 2^26 + (2^26 - 1) / 4096.
  BatGeometry big(64 * kTiB, kMiB, 512, DiskType::kDynamic);
  EXPECT_EQ(big.total_entries(), (uint64_t{1} << 26) + ((uint64_t{1} << 26) - 1) / 4096);
  EXPECT_EQ(big.chunks(), (uint64_t{1} << 26) / 4096);
}

TEST(BatTest, GeometryFromDiskParameters) {
  DiskParameters p;
  p.file_parameters = {32 * kMiB, false, true};
  p.virtual_disk_size = 100 * kGiB;
  p.logical_sector_size = 4096;
  BatGeometry g = BatGeometry::For(p);
  EXPECT_EQ(g.chunk_ratio(), 1024u);
  EXPECT_EQ(g.type(), DiskType::kDifferencing);
  EXPECT_EQ(g.payload_blocks(), 3200u);
}

TEST(BatTest, RegionTooSmallIsCorrupt) {
  BatGeometry g(17 * 256 * kMiB, 256 * kMiB, 512, DiskType::kDifferencing);
  EXPECT_OK(g.CheckRegionLength(34 * 8));
  EXPECT_CODE(g.CheckRegionLength(33 * 8), Code::kCorrupt);
}

TEST(BatTest, PartiallyPresentInDynamicIsCorrupt) {
  EXPECT_CODE(ValidatePayloadEntry(Entry(kPartial, 4), DiskType::kDynamic, 0), Code::kCorrupt);
  EXPECT_CODE(ValidatePayloadEntry(Entry(kPartial, 4), DiskType::kFixed, 0), Code::kCorrupt);
  EXPECT_OK(ValidatePayloadEntry(Entry(kPartial, 4), DiskType::kDifferencing, 0));
}

TEST(BatTest, ReservedPayloadStatesAreCorrupt) {
  EXPECT_CODE(ValidatePayloadEntry(Entry(4, 0), DiskType::kDynamic, 0), Code::kCorrupt);
  EXPECT_CODE(ValidatePayloadEntry(Entry(5, 0), DiskType::kDifferencing, 0), Code::kCorrupt);
  for (uint8_t s : {0, 1, 2, 3}) EXPECT_OK(ValidatePayloadEntry(Entry(s, 0), DiskType::kFixed, 0));
}

TEST(BatTest, PresentBlockAtOffsetZeroIsCorrupt) {
  EXPECT_CODE(ValidatePayloadEntry(Entry(kFully, 0), DiskType::kDynamic, 7), Code::kCorrupt);
  EXPECT_CODE(ValidateSectorBitmapEntry(Entry(6, 0), DiskType::kDifferencing, 7), Code::kCorrupt);
}

TEST(BatTest, SectorBitmapPresentOnlyInDifferencing) {
  EXPECT_CODE(ValidateSectorBitmapEntry(Entry(6, 9), DiskType::kDynamic, 0), Code::kCorrupt);
  EXPECT_OK(ValidateSectorBitmapEntry(Entry(6, 9), DiskType::kDifferencing, 0));
  EXPECT_OK(ValidateSectorBitmapEntry(Entry(0, 0), DiskType::kFixed, 0));
  for (uint8_t s : {1, 2, 3, 4, 5, 7}) {
    EXPECT_CODE(ValidateSectorBitmapEntry(Entry(s, 9), DiskType::kDifferencing, 0), Code::kCorrupt);
  }
}

TEST(BatTest, ZeroStateWithOffsetIsReadableButNotWritable) {
  BatGeometry g(4 * kMiB, 2 * kMiB, 512, DiskType::kDynamic);
  EXPECT_OK(ValidatePayloadEntry(Entry(kZero, 12), DiskType::kDynamic, 0));
  EXPECT_CODE(CheckEntryForWrite(Entry(kZero, 12), g, 0), Code::kInvalidArgument);
  EXPECT_OK(CheckEntryForWrite(Entry(kZero, 0), g, 0));
  EXPECT_OK(CheckEntryForWrite(Entry(kFully, 12), g, 1));
  EXPECT_CODE(CheckEntryForWrite(Entry(kPartial, 12), g, 1), Code::kInvalidArgument);
  EXPECT_CODE(CheckEntryForWrite(Entry(kFully, 12), g, 2), Code::kInvalidArgument);  // beyond
}

TEST(BatTest, CheckEntryForWriteKnowsSectorBitmapSlots) {
  BatGeometry g(4 * kMiB, 2 * kMiB, 512, DiskType::kDifferencing);
  EXPECT_OK(CheckEntryForWrite(Entry(6, 40), g, g.SectorBitmapIndex(0)));
  EXPECT_CODE(CheckEntryForWrite(Entry(kPartial, 40), g, g.SectorBitmapIndex(0)),
              Code::kInvalidArgument);
  EXPECT_CODE(CheckEntryForWrite(Entry(0, 40), g, g.SectorBitmapIndex(0)), Code::kInvalidArgument);
}

std::vector<std::byte> BatFor(const BatGeometry& g) {
  return std::vector<std::byte>(g.bat_bytes());
}

void Put(std::vector<std::byte>& bat, uint64_t index, BatEntry e) {
  e.EncodeTo(std::span(bat).subspan(index * 8));
}

TEST(BatTest, PartiallyPresentBlockNeedsItsSectorBitmap) {
  BatGeometry g(17 * 256 * kMiB, 256 * kMiB, 512, DiskType::kDifferencing);
  std::vector<std::byte> bat = BatFor(g);
  EXPECT_OK(ValidateBat(bat, g));
  Put(bat, g.PayloadIndex(16), Entry(kPartial, 300));
  EXPECT_CODE(ValidateBat(bat, g), Code::kCorrupt);
  Put(bat, g.SectorBitmapIndex(0), Entry(6, 299));  // the wrong chunk
  EXPECT_CODE(ValidateBat(bat, g), Code::kCorrupt);
  Put(bat, g.SectorBitmapIndex(1), Entry(6, 298));
  EXPECT_OK(ValidateBat(bat, g));
}

TEST(BatTest, ValidateBatChecksEveryEntry) {
  BatGeometry g(17 * 256 * kMiB, 256 * kMiB, 512, DiskType::kDynamic);
  std::vector<std::byte> bat = BatFor(g);
  Put(bat, g.PayloadIndex(16), Entry(kFully, 300));
  EXPECT_OK(ValidateBat(bat, g));
  StoreU64(bat, g.PayloadIndex(3) * 8, uint64_t{1} << 10);  // a reserved bit
  EXPECT_CODE(ValidateBat(bat, g), Code::kCorrupt);
  bat = BatFor(g);
  Put(bat, g.SectorBitmapIndex(0), Entry(6, 299));  // PRESENT in a dynamic disk
  EXPECT_CODE(ValidateBat(bat, g), Code::kCorrupt);
  EXPECT_CODE(ValidateBat(std::span(bat).first(bat.size() - 8), g), Code::kCorrupt);
}

}  // namespace
}  // namespace hvdisk::vhdx
