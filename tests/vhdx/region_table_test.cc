#include "vhdx/region_table.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "platform/crc32c.h"
#include "platform/file.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::vhdx {
namespace {

// The Windows table zero-padded to 64 KiB, as it is on disk.
std::vector<std::byte> WindowsTable() {
  std::vector<std::byte> table = testing::ReadTestData("region_table.1");
  table.resize(RegionTable::kSize);
  return table;
}

RegionTable Standard() { return RegionTable::ForRegions(3 * kMiB, kMiB, 2 * kMiB, kMiB); }

TEST(RegionTableTest, WindowsRegionTableRoundTripsByteIdentical) {
  std::vector<std::byte> bytes = WindowsTable();
  EXPECT_EQ(LoadU32(bytes, 4), 0xC66B8CAEu);
  ASSERT_OK_AND_ASSIGN(RegionTable t, RegionTable::Decode(bytes));
  ASSERT_EQ(t.entries.size(), 2u);
  ASSERT_NE(t.Bat(), nullptr);
  EXPECT_EQ(t.Bat()->file_offset, 3 * kMiB);
  EXPECT_EQ(t.Bat()->length, kMiB);
  EXPECT_TRUE(t.Bat()->required);
  ASSERT_NE(t.Metadata(), nullptr);
  EXPECT_EQ(t.Metadata()->file_offset, 2 * kMiB);
  EXPECT_EQ(t.Metadata()->length, kMiB);
  EXPECT_EQ(t.Encode(), bytes);
  EXPECT_EQ(Standard(), t);  // ForRegions writes what Windows writes
}

TEST(RegionTableTest, WindowsHeaderAndEntryFragmentsRoundTrip) {
  std::vector<std::byte> hb = testing::ReadTestData("region_table_header.1");
  ASSERT_OK_AND_ASSIGN(RegionTableHeader h, RegionTableHeader::Decode(hb));
  EXPECT_EQ(h.entry_count, 2u);
  EXPECT_EQ(h.checksum, 0xC66B8CAEu);
  std::vector<std::byte> hout(RegionTableHeader::kSize);
  h.EncodeTo(hout);
  EXPECT_EQ(hout, hb);

  std::vector<std::byte> eb = testing::ReadTestData("region_table_entry.1");
  ASSERT_OK_AND_ASSIGN(RegionTableEntry e, RegionTableEntry::Decode(eb));
  EXPECT_EQ(e.guid, kBatRegionGuid);
  std::vector<std::byte> eout(RegionTableEntry::kSize);
  e.EncodeTo(eout);
  EXPECT_EQ(eout, eb);
}

TEST(RegionTableTest, BatGuidBytesMatchTheSpec) {
  std::vector<std::byte> b(16);
  kBatRegionGuid.EncodeTo(std::span(b).first<16>());
  const uint8_t want[] = {0x66, 0x77, 0xC2, 0x2D, 0x23, 0xF6, 0x00, 0x42,
                          0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08};
  EXPECT_EQ(std::memcmp(b.data(), want, 16), 0);
}

TEST(RegionTableTest, BadChecksumIsCorrupt) {
  std::vector<std::byte> bytes = WindowsTable();
  bytes[60000] = std::byte{1};  // the CRC covers the reserved tail too
  EXPECT_CODE(RegionTable::Decode(bytes), Code::kCorrupt);
}

TEST(RegionTableTest, BadSignatureIsCorrupt) {
  std::vector<std::byte> bytes = WindowsTable();
  StoreSignature(bytes, 0, "igeR");
  StoreU32(bytes, 4, Crc32cWithZeroedField(bytes, 4));
  EXPECT_CODE(RegionTable::Decode(bytes), Code::kCorrupt);
}

TEST(RegionTableTest, ShortBufferIsCorrupt) {
  std::vector<std::byte> bytes = testing::ReadTestData("region_table.1");
  EXPECT_CODE(RegionTable::Decode(bytes), Code::kCorrupt);
}

TEST(RegionTableTest, EntryCountOver2047IsCorrupt) {
  std::vector<std::byte> bytes = WindowsTable();
  StoreU32(bytes, 8, 5000);
  StoreU32(bytes, 4, Crc32cWithZeroedField(bytes, 4));
  Result<RegionTable> r = RegionTable::Decode(bytes);
  EXPECT_CODE(r, Code::kCorrupt);
  EXPECT_NE(r.status().message().find("5000 exceeds 2047"), std::string::npos);
}

TEST(RegionTableTest, MisalignedOffsetIsCorrupt) {
  RegionTable t = Standard();
  t.entries[0].file_offset += 4096;
  EXPECT_CODE(RegionTable::Decode(t.Encode()), Code::kCorrupt);
}

TEST(RegionTableTest, OffsetInsideTheHeaderSectionIsCorrupt) {
  RegionTable t = Standard();
  t.entries[0].file_offset = 0;
  EXPECT_CODE(RegionTable::Decode(t.Encode()), Code::kCorrupt);
}

TEST(RegionTableTest, ZeroOrMisalignedLengthIsCorrupt) {
  RegionTable t = Standard();
  t.entries[1].length = 0;
  EXPECT_CODE(RegionTable::Decode(t.Encode()), Code::kCorrupt);
  t.entries[1].length = kMiB + 512;
  EXPECT_CODE(RegionTable::Decode(t.Encode()), Code::kCorrupt);
}

TEST(RegionTableTest, DuplicateGuidIsCorrupt) {
  RegionTable t = Standard();
  t.entries.push_back({kBatRegionGuid, 8 * kMiB, kMiB, true});
  EXPECT_CODE(RegionTable::Decode(t.Encode()), Code::kCorrupt);
}

TEST(RegionTableTest, OverlappingRegionsAreCorrupt) {
  RegionTable t = RegionTable::ForRegions(2 * kMiB, 2 * kMiB, 3 * kMiB, kMiB);
  EXPECT_CODE(RegionTable::Decode(t.Encode()), Code::kCorrupt);
}

TEST(RegionTableTest, AdjacentRegionsAreFine) {
  RegionTable t = RegionTable::ForRegions(2 * kMiB, kMiB, 3 * kMiB, kMiB);
  EXPECT_OK(RegionTable::Decode(t.Encode()));
}

TEST(RegionTableTest, UnknownRequiredRegionIsUnsupported) {
  RegionTable t = Standard();
  t.entries.push_back({Guid::Random(), 8 * kMiB, kMiB, true});
  EXPECT_CODE(RegionTable::Decode(t.Encode()), Code::kUnsupported);
}

TEST(RegionTableTest, UnknownOptionalRegionIsKept) {
  RegionTable t = Standard();
  Guid g = Guid::Random();
  t.entries.push_back({g, 8 * kMiB, kMiB, false});
  ASSERT_OK_AND_ASSIGN(RegionTable back, RegionTable::Decode(t.Encode()));
  EXPECT_NE(back.Find(g), nullptr);
  EXPECT_EQ(back, t);
}

TEST(RegionTableTest, MissingBatOrMetadataIsCorrupt) {
  RegionTable t = Standard();
  t.entries.erase(t.entries.begin());
  EXPECT_CODE(RegionTable::Decode(t.Encode()), Code::kCorrupt);
  t = Standard();
  t.entries.pop_back();
  EXPECT_CODE(RegionTable::Decode(t.Encode()), Code::kCorrupt);
}

TEST(RegionTableTest, RequiredFieldReservedBitsAreIgnored) {
  std::vector<std::byte> bytes = WindowsTable();
  StoreU32(bytes, 16 + 28, 0x80000001);
  StoreU32(bytes, 4, Crc32cWithZeroedField(bytes, 4));
  ASSERT_OK_AND_ASSIGN(RegionTable t, RegionTable::Decode(bytes));
  EXPECT_TRUE(t.Bat()->required);
}

}  // namespace
}  // namespace hvdisk::vhdx
