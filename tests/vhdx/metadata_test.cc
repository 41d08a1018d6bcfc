#include "vhdx/metadata.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "platform/file.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::vhdx {
namespace {

std::vector<std::byte> Bytes(std::initializer_list<uint8_t> v) {
  std::vector<std::byte> out;
  for (uint8_t b : v) out.push_back(std::byte{b});
  return out;
}

bool BytesAt(const std::vector<std::byte>& region, size_t offset,
             const std::vector<std::byte>& want) {
  return std::equal(want.begin(), want.end(), region.begin() + offset);
}

DiskParameters Dynamic() {
  DiskParameters p;
  p.file_parameters.block_size = 32 * kMiB;
  p.virtual_disk_size = 10 * kGiB;
  p.virtual_disk_id = Guid::Random();
  return p;
}

// dfvfs fat-differential.vhdx (Hyper-V): 4 MiB, 2 MiB blocks, a five-key locator.
DiskParameters FatDifferential() {
  DiskParameters p;
  p.file_parameters = {2 * kMiB, false, true};
  p.virtual_disk_size = 4 * kMiB;
  p.virtual_disk_id = *Guid::Parse("cc2e9979-9ee7-417c-a2cd-4a3fa18795fb");
  ParentLocator l;
  l.entries = {
      {"parent_linkage", "{f88d4d92-6fcc-408d-9bef-9b7c89f15c89}"},
      {"absolute_win32_path", R"(C:\Projects\dfvfs\test_data\fat-parent.vhdx)"},
      {"relative_path", R"(.\fat-parent.vhdx)"},
      {"volume_path",
       R"(\\?\Volume{5e0bd954-71b2-4bff-a928-082af7ab0f8f}\Projects\dfvfs\test_data\fat-parent.vhdx)"},
      {"parent_linkage2", "{00000000-0000-0000-0000-000000000000}"},
  };
  p.parent_locator = l;
  return p;
}

// Re-encodes a region's table after `edit`.
template <typename F>
std::vector<std::byte> EditTable(std::vector<std::byte> region, F edit) {
  MetadataTable t;
  uint16_t n = LoadU16(region, 10);
  for (size_t i = 0; i < n; ++i) {
    t.entries.push_back(MetadataTableEntry::Decode(std::span(region).subspan(32 + 32 * i)).value());
  }
  edit(t);
  t.EncodeTo(region);
  return region;
}

std::vector<std::byte> DynamicRegion() { return Dynamic().EncodeRegion().value(); }

TEST(MetadataTest, WindowsTableFragmentsRoundTrip) {
  std::vector<std::byte> hb = testing::ReadTestData("metadata_table_header.1");
  ASSERT_OK_AND_ASSIGN(MetadataTableHeader h, MetadataTableHeader::Decode(hb));
  EXPECT_EQ(h.entry_count, 5);
  std::vector<std::byte> hout(MetadataTableHeader::kSize);
  h.EncodeTo(hout);
  EXPECT_EQ(hout, hb);

  std::vector<std::byte> eb = testing::ReadTestData("metadata_table_entry.1");
  ASSERT_OK_AND_ASSIGN(MetadataTableEntry e, MetadataTableEntry::Decode(eb));
  EXPECT_EQ(e, (MetadataTableEntry{kFileParametersGuid, 0x10000, 8, false, false, true}));
  std::vector<std::byte> eout(MetadataTableEntry::kSize);
  e.EncodeTo(eout);
  EXPECT_EQ(eout, eb);
}

TEST(MetadataTest, EncodedRegionStartsLikeWindows) {
  std::vector<std::byte> region = DynamicRegion();
  ASSERT_EQ(region.size(), kMiB);
  EXPECT_TRUE(BytesAt(region, 0, testing::ReadTestData("metadata_table_header.1")));
  EXPECT_TRUE(BytesAt(region, 32, testing::ReadTestData("metadata_table_entry.1")));
}

TEST(MetadataTest, WindowsDifferencingLayoutIsReproduced) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> region, FatDifferential().EncodeRegion());
  EXPECT_EQ(LoadU16(region, 10), 6);
  EXPECT_TRUE(BytesAt(region, 32, testing::ReadTestData("metadata_table_entry.1")));
  // Table entries 1-5 as dumped from fat-differential.vhdx @0x200040.
  std::vector<std::byte> entries = Bytes(
      {0x24, 0x42, 0xa5, 0x2f, 0x1b, 0xcd, 0x76, 0x48, 0xb2, 0x11, 0x5d, 0xbe, 0xd8, 0x3b, 0xf4,
       0xb8, 0x08, 0x00, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00,
       0x00, 0x00, 0x1d, 0xbf, 0x41, 0x81, 0x6f, 0xa9, 0x09, 0x47, 0xba, 0x47, 0xf2, 0x33, 0xa8,
       0xfa, 0xab, 0x5f, 0x10, 0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00,
       0x00, 0x00, 0x00, 0x00, 0xc7, 0x48, 0xa3, 0xcd, 0x5d, 0x44, 0x71, 0x44, 0x9c, 0xc9, 0xe9,
       0x88, 0x52, 0x51, 0xc5, 0x56, 0x14, 0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x06, 0x00,
       0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xab, 0x12, 0xca, 0xbe, 0xe6, 0xb2, 0x23, 0x45, 0x93,
       0xef, 0xc3, 0x09, 0xe0, 0x00, 0xc7, 0x46, 0x18, 0x00, 0x01, 0x00, 0x10, 0x00, 0x00, 0x00,
       0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2d, 0x5f, 0xd3, 0xa8, 0x0b, 0xb3, 0x4d,
       0x45, 0xab, 0xf7, 0xd3, 0xd8, 0x48, 0x34, 0xab, 0x0c, 0x28, 0x00, 0x01, 0x00, 0xa2, 0x02,
       0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00});
  EXPECT_TRUE(BytesAt(region, 0x40, entries));
  // Items @0x10000: FileParameters, size, and @0x10018 the virtual disk id.
  EXPECT_TRUE(BytesAt(region, 0x10000,
                      Bytes({0x00, 0x00, 0x20, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00,
                             0x00, 0x00, 0x00, 0x00})));
  EXPECT_TRUE(BytesAt(region, 0x10018,
                      Bytes({0x79, 0x99, 0x2e, 0xcc, 0xe7, 0x9e, 0x7c, 0x41, 0xa2, 0xcd, 0x4a, 0x3f,
                             0xa1, 0x87, 0x95, 0xfb})));
  ASSERT_OK_AND_ASSIGN(DiskParameters back, DiskParameters::Decode(region));
  EXPECT_EQ(back, FatDifferential());
  EXPECT_EQ(back.type(), DiskType::kDifferencing);
}

TEST(MetadataTest, DiskParametersRoundTrip) {
  for (uint32_t lss : {512u, 4096u}) {
    DiskParameters p = Dynamic();
    p.logical_sector_size = lss;
    p.physical_sector_size = 512;
    p.file_parameters.leave_block_allocated = true;
    ASSERT_OK_AND_ASSIGN(std::vector<std::byte> region, p.EncodeRegion());
    ASSERT_OK_AND_ASSIGN(DiskParameters back, DiskParameters::Decode(region));
    EXPECT_EQ(back, p);
    EXPECT_EQ(back.type(), DiskType::kFixed);
  }
}

TEST(MetadataTest, SmallerRegionIsFine) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> region, Dynamic().EncodeRegion(64 * kKiB + 40));
  EXPECT_OK(DiskParameters::Decode(region));
  EXPECT_CODE(Dynamic().EncodeRegion(64 * kKiB + 39), Code::kInvalidArgument);
}

TEST(MetadataTest, BadSignatureIsCorrupt) {
  std::vector<std::byte> region = DynamicRegion();
  region[0] = std::byte{'M'};
  EXPECT_CODE(MetadataTable::Decode(region), Code::kCorrupt);
}

TEST(MetadataTest, RegionSmallerThanTableIsCorrupt) {
  std::vector<std::byte> region = DynamicRegion();
  EXPECT_CODE(MetadataTable::Decode(std::span(region).first(4096)), Code::kCorrupt);
}

TEST(MetadataTest, EntryCountOver2047IsCorrupt) {
  std::vector<std::byte> region = DynamicRegion();
  StoreU16(region, 10, 2048);
  EXPECT_CODE(MetadataTable::Decode(region), Code::kCorrupt);
}

TEST(MetadataTest, OffsetBelow64KiBIsCorrupt) {
  auto region = EditTable(DynamicRegion(), [](MetadataTable& t) { t.entries[1].offset = 0x8000; });
  EXPECT_CODE(MetadataTable::Decode(region), Code::kCorrupt);
}

TEST(MetadataTest, LengthOver1MiBIsCorrupt) {
  std::vector<std::byte> region(3 * kMiB);
  auto edited = EditTable(DynamicRegion(), [](MetadataTable& t) {
    t.entries.push_back({Guid::Random(), 0x20000, kMiB + 1, false, false, false});
  });
  std::copy(edited.begin(), edited.end(), region.begin());
  EXPECT_CODE(MetadataTable::Decode(region), Code::kCorrupt);
}

TEST(MetadataTest, EmptyItemNeedsOffsetZero) {
  auto bad = EditTable(DynamicRegion(), [](MetadataTable& t) {
    t.entries.push_back({Guid::Random(), 0x20000, 0, false, false, false});
  });
  EXPECT_CODE(MetadataTable::Decode(bad), Code::kCorrupt);
  auto good = EditTable(DynamicRegion(), [](MetadataTable& t) {
    t.entries.push_back({Guid::Random(), 0, 0, false, false, false});
  });
  EXPECT_OK(MetadataTable::Decode(good));
}

TEST(MetadataTest, ItemOutsideTheRegionIsCorrupt) {
  auto region = EditTable(DynamicRegion(), [](MetadataTable& t) {
    t.entries.push_back({Guid::Random(), kMiB - 8, 16, false, false, false});
  });
  EXPECT_CODE(MetadataTable::Decode(region), Code::kCorrupt);
}

TEST(MetadataTest, OverlappingItemsAreCorrupt) {
  auto region = EditTable(DynamicRegion(), [](MetadataTable& t) { t.entries[1].offset = 0x10004; });
  EXPECT_CODE(MetadataTable::Decode(region), Code::kCorrupt);
}

TEST(MetadataTest, DuplicateItemIsCorruptButUserAndSystemMayShareAnId) {
  auto dup = EditTable(DynamicRegion(), [](MetadataTable& t) {
    t.entries.push_back({kVirtualDiskIdGuid, 0x20000, 16, false, true, true});
  });
  EXPECT_CODE(MetadataTable::Decode(dup), Code::kCorrupt);
  auto user = EditTable(DynamicRegion(), [](MetadataTable& t) {
    t.entries.push_back({kVirtualDiskIdGuid, 0x20000, 16, true, false, false});
  });
  EXPECT_OK(DiskParameters::Decode(user));
}

TEST(MetadataTest, TooManyUserItemsIsCorrupt) {
  auto region = EditTable(DynamicRegion(), [](MetadataTable& t) {
    for (int i = 0; i < 1025; ++i) t.entries.push_back({Guid::Random(), 0, 0, true, false, false});
  });
  EXPECT_CODE(MetadataTable::Decode(region), Code::kCorrupt);
}

TEST(MetadataTest, UnknownRequiredItemIsUnsupported) {
  auto region = EditTable(DynamicRegion(), [](MetadataTable& t) {
    t.entries.push_back({Guid::Random(), 0x20000, 4, false, false, true});
  });
  EXPECT_CODE(DiskParameters::Decode(region), Code::kUnsupported);
  auto user = EditTable(DynamicRegion(), [](MetadataTable& t) {
    t.entries.push_back({Guid::Random(), 0x20000, 4, true, false, true});
  });
  EXPECT_CODE(DiskParameters::Decode(user), Code::kUnsupported);
}

TEST(MetadataTest, UnknownOptionalItemIsIgnored) {
  auto region = EditTable(DynamicRegion(), [](MetadataTable& t) {
    t.entries.push_back({Guid::Random(), 0x20000, 4, false, false, false});
  });
  ASSERT_OK_AND_ASSIGN(DiskParameters p, DiskParameters::Decode(region));
  EXPECT_EQ(p.virtual_disk_size, 10 * kGiB);
}

TEST(MetadataTest, MissingSystemItemIsCorrupt) {
  auto region = EditTable(DynamicRegion(), [](MetadataTable& t) { t.entries.pop_back(); });
  EXPECT_CODE(DiskParameters::Decode(region), Code::kCorrupt);
}

TEST(MetadataTest, WrongItemLengthIsCorrupt) {
  auto region = EditTable(DynamicRegion(), [](MetadataTable& t) { t.entries[4].length = 8; });
  EXPECT_CODE(DiskParameters::Decode(region), Code::kCorrupt);
}

TEST(MetadataTest, BlockSizeMustBeAPowerOfTwoFrom1To256MiB) {
  for (uint32_t bs : {0u, 512u * 1024, 3u * 1024 * 1024, 512u * 1024 * 1024}) {
    std::vector<std::byte> item(8);
    StoreU32(item, 0, bs);
    SCOPED_TRACE(bs);
    EXPECT_CODE(FileParameters::Decode(item), Code::kCorrupt);
  }
  for (uint32_t bs : {1u << 20, 1u << 28}) {
    std::vector<std::byte> item(8);
    StoreU32(item, 0, bs);
    EXPECT_OK(FileParameters::Decode(item));
  }
}

TEST(MetadataTest, FileParametersReservedFlagsAreCorrupt) {
  std::vector<std::byte> item(8);
  StoreU32(item, 0, 32 * kMiB);
  StoreU32(item, 4, 0x4);
  EXPECT_CODE(FileParameters::Decode(item), Code::kCorrupt);
  StoreU32(item, 4, 0x3);
  ASSERT_OK_AND_ASSIGN(FileParameters p, FileParameters::Decode(item));
  EXPECT_EQ(p.type(), DiskType::kDifferencing);  // HasParent wins
}

TEST(MetadataTest, VirtualDiskSizeLimits) {
  std::vector<std::byte> item(8);
  StoreU64(item, 0, 0);
  EXPECT_CODE(VirtualDiskSize::Decode(item), Code::kCorrupt);
  StoreU64(item, 0, 64 * kTiB + 4096);
  EXPECT_CODE(VirtualDiskSize::Decode(item), Code::kCorrupt);
  StoreU64(item, 0, 64 * kTiB);
  EXPECT_OK(VirtualDiskSize::Decode(item));
}

TEST(MetadataTest, SizeNotAMultipleOfTheLogicalSectorIsCorrupt) {
  DiskParameters p = Dynamic();
  p.logical_sector_size = 4096;
  p.virtual_disk_size = 4096 * 100 + 512;
  EXPECT_CODE(p.Validate(), Code::kCorrupt);
  EXPECT_CODE(p.EncodeRegion(), Code::kInvalidArgument);
  p.logical_sector_size = 512;
  ASSERT_OK_AND_ASSIGN(auto region, p.EncodeRegion());
  StoreU32(region, 0x10010, 4096);  // LogicalSectorSize item
  EXPECT_CODE(DiskParameters::Decode(region), Code::kCorrupt);
}

TEST(MetadataTest, SectorSizesMustBe512Or4096) {
  ASSERT_OK_AND_ASSIGN(auto region, Dynamic().EncodeRegion());
  StoreU32(region, 0x10014, 1024);  // PhysicalSectorSize item
  EXPECT_CODE(DiskParameters::Decode(region), Code::kCorrupt);
  std::vector<std::byte> item(4);
  StoreU32(item, 0, 8192);
  EXPECT_CODE(LogicalSectorSize::Decode(item), Code::kCorrupt);
}

TEST(MetadataTest, HasParentWithoutLocatorIsCorrupt) {
  ASSERT_OK_AND_ASSIGN(auto region, FatDifferential().EncodeRegion());
  region = EditTable(region, [](MetadataTable& t) { t.entries.pop_back(); });
  EXPECT_CODE(DiskParameters::Decode(region), Code::kCorrupt);
  DiskParameters p = FatDifferential();
  p.parent_locator.reset();
  EXPECT_CODE(p.EncodeRegion(), Code::kInvalidArgument);
}

TEST(MetadataTest, UnknownLocatorTypeIsUnsupported) {
  DiskParameters p = FatDifferential();
  ASSERT_OK_AND_ASSIGN(auto region, p.EncodeRegion());
  Guid::Random().EncodeTo(std::span(region).subspan(0x10028).first<16>());
  EXPECT_CODE(DiskParameters::Decode(region), Code::kUnsupported);
}

TEST(MetadataTest, LocatorIsIgnoredWithoutHasParent) {
  DiskParameters p = FatDifferential();
  ASSERT_OK_AND_ASSIGN(auto region, p.EncodeRegion());
  StoreU32(region, 0x10004, 0);  // clear HasParent
  ASSERT_OK_AND_ASSIGN(DiskParameters back, DiskParameters::Decode(region));
  EXPECT_EQ(back.type(), DiskType::kDynamic);
  EXPECT_FALSE(back.parent_locator.has_value());
}

}  // namespace
}  // namespace hvdisk::vhdx
