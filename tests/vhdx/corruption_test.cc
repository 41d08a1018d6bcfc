// Corruption suite: every on-disk structure of an image made by Image::Create is damaged at a
// known offset (layout: file identifier @0, headers @64K/128K, region tables @192K/256K, log
// @1 MiB, metadata table @2 MiB with items from +64 KiB, BAT @3 MiB) and Open must refuse it with
// kCorrupt or kUnsupported naming the structure, never crash or hang. Checksummed structures are
// re-checksummed after the change so the field checks themselves are reached.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "platform/crc32c.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/testutil.h"
#include "vhdx/format.h"
#include "vhdx/image.h"

namespace hvdisk::vhdx {
namespace {

constexpr char kPath[] = "/c.vhdx";
constexpr uint64_t kLog = 1 * kMiB;
constexpr uint64_t kMeta = 2 * kMiB;
constexpr uint64_t kBat = 3 * kMiB;
constexpr uint64_t kHeaderSize = 4096;
constexpr uint64_t kRegionTableSize = 64 * kKiB;
constexpr uint64_t kHeaders[] = {64 * kKiB, 128 * kKiB};
constexpr uint64_t kRegionTables[] = {192 * kKiB, 256 * kKiB};
// Header fields (MS-VHDX 2.2.2).
constexpr uint64_t kHdrVersion = 66, kHdrLogVersion = 64, kHdrLogLength = 68, kHdrLogOffset = 72;
constexpr uint64_t kHdrLogGuid = 48;

// An image as bytes, mutated in place, then opened from a MemFileSystem.
class Bytes {
 public:
  explicit Bytes(std::string b) : b_(std::move(b)) {}
  std::string& str() { return b_; }
  uint64_t size() const { return b_.size(); }
  void U16(uint64_t off, uint16_t v) { Store(off, &v, 2); }
  void U32(uint64_t off, uint32_t v) { Store(off, &v, 4); }
  void U64(uint64_t off, uint64_t v) { Store(off, &v, 8); }
  uint32_t GetU32(uint64_t off) const { return Load(off, 4); }
  uint64_t GetU64(uint64_t off) const { return Load(off, 8); }
  void Flip(uint64_t off) { b_[off] = static_cast<char>(b_[off] ^ 0x5a); }
  // Rewrites the CRC-32C at base + 4 over [base, base + len).
  void Recrc(uint64_t base, uint64_t len) {
    auto span = std::as_writable_bytes(std::span(b_.data() + base, len));
    U32(base + 4, Crc32cWithZeroedField(span, 4));
  }
  // Applies `fix` to both headers and re-checksums them.
  template <typename F>
  void BothHeaders(F fix) {
    for (uint64_t h : kHeaders) {
      fix(h);
      Recrc(h, kHeaderSize);
    }
  }
  template <typename F>
  void BothRegionTables(F fix) {
    for (uint64_t t : kRegionTables) {
      fix(t);
      Recrc(t, kRegionTableSize);
    }
  }

 private:
  void Store(uint64_t off, const void* v, size_t n) { std::memcpy(b_.data() + off, v, n); }
  uint64_t Load(uint64_t off, size_t n) const {
    uint64_t v = 0;
    std::memcpy(&v, b_.data() + off, n);
    return v;
  }
  std::string b_;
};

class CorruptionTest : public ::testing::Test {
 protected:
  // A closed image: dynamic 8 MiB, 1 MiB blocks, two blocks written (BAT entries 0 and 5).
  Bytes Dynamic(DiskType type = DiskType::kDynamic, bool dirty = false) {
    MemFileSystem fs;
    CreateOptions o{.type = type, .virtual_size = 8 * kMiB, .block_size = kMiB};
    if (type == DiskType::kDifferencing) {
      o.parent_locator = {{"parent_linkage", "{01234567-89ab-cdef-0123-456789abcdef}"},
                          {"relative_path", ".\\p.vhdx"}};
    }
    EXPECT_OK(Image::Create(&fs, kPath, o));
    auto img = Image::Open(&fs, kPath, {.read_only = false});
    EXPECT_TRUE(img.ok()) << img.status().ToString();
    auto data = testing::PatternBytes(4096, 1);
    EXPECT_OK((*img)->Write(0, data));
    EXPECT_OK((*img)->Write(5 * kMiB + 512, data));
    EXPECT_OK((*img)->Flush());
    if (dirty) return Bytes(*fs.GetFile(kPath));  // LogGuid set, entries in the log
    EXPECT_OK((*img)->Close());
    return Bytes(*fs.GetFile(kPath));
  }
  Bytes Dirty() { return Dynamic(DiskType::kDynamic, /*dirty=*/true); }

  // Opens read-only (then Check and a writable open, which must not crash either).
  Status Open(Bytes& b) {
    MemFileSystem fs;
    EXPECT_OK(fs.PutFile(kPath, b.str()));
    Status st = Image::Open(&fs, kPath, {}).status();
    auto rep = Image::Check(&fs, kPath);
    EXPECT_TRUE(rep.ok()) << rep.status().ToString();
    if (rep.ok()) {
      EXPECT_EQ(rep->corruptions.empty(), st.ok()) << st.ToString();
    }
    (void)Image::Open(&fs, kPath, {.read_only = false});
    return st;
  }
  // Open fails with `code` and a message containing every fragment.
  void ExpectRejected(Bytes& b, Code code, std::initializer_list<std::string> fragments) {
    Status st = Open(b);
    EXPECT_EQ(st.code(), code) << st.ToString();
    for (const std::string& f : fragments) {
      EXPECT_NE(st.message().find(f), std::string::npos) << st.ToString() << " lacks " << f;
    }
  }
  // Offset of the metadata table entry for `item` (the table is at the metadata region's start).
  uint64_t MetaEntry(Bytes& b, const Guid& item) {
    uint16_t count = static_cast<uint16_t>(b.GetU32(kMeta + 10));
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t e = kMeta + 32 + 32 * i;
      std::array<std::byte, 16> g;
      std::memcpy(g.data(), b.str().data() + e, 16);
      if (Guid::Decode(g) == item) return e;
    }
    ADD_FAILURE() << "no metadata entry " << item.ToString();
    return kMeta + 32;
  }
  // File offset of the item's data.
  uint64_t MetaItem(Bytes& b, const Guid& item) {
    return kMeta + b.GetU32(MetaEntry(b, item) + 16);
  }
};

// ---- File identifier and headers ---------------------------------------------------------------

TEST_F(CorruptionTest, FileIdentifierSignatureFlippedIsCorrupt) {
  Bytes b = Dynamic();
  b.Flip(3);
  ExpectRejected(b, Code::kCorrupt, {"file identifier", "vhdxfile"});
}

TEST_F(CorruptionTest, OneTornHeaderStillOpensFromTheOther) {
  for (uint64_t h : kHeaders) {
    for (uint64_t off : {uint64_t{0}, uint64_t{4}, uint64_t{8}, uint64_t{72}, uint64_t{4000}}) {
      Bytes b = Dynamic();
      b.Flip(h + off);
      SCOPED_TRACE("header @" + std::to_string(h) + " byte " + std::to_string(off));
      EXPECT_OK(Open(b));
    }
  }
}

TEST_F(CorruptionTest, BothHeadersTornIsCorrupt) {
  Bytes b = Dynamic();
  b.Flip(kHeaders[0] + 100);
  b.Flip(kHeaders[1] + 100);
  ExpectRejected(b, Code::kCorrupt, {"neither header is valid", "checksum"});
}

TEST_F(CorruptionTest, HeaderWithUnknownVersionIsUnsupported) {
  Bytes b = Dynamic();
  b.BothHeaders([&](uint64_t h) { b.U16(h + kHdrVersion, 2); });
  ExpectRejected(b, Code::kUnsupported, {"header", "version 2"});
}

TEST_F(CorruptionTest, HeaderWithEqualSequenceButDifferentBytesIsCorrupt) {
  Bytes b = Dynamic();
  uint64_t seq = b.GetU64(kHeaders[0] + 8);
  b.BothHeaders([&](uint64_t h) { b.U64(h + 8, seq); });
  b.U64(kHeaders[1] + 16, 0x1234);  // FileWriteGuid differs
  b.Recrc(kHeaders[1], kHeaderSize);
  ExpectRejected(b, Code::kCorrupt, {"header", "differ"});
}

TEST_F(CorruptionTest, HeaderLogOutsideTheFileOrMisalignedIsCorrupt) {
  struct Case {
    uint64_t offset;
    uint32_t length;
    std::string fragment;
  };
  for (const Case& c : std::vector<Case>{{64 * kMiB, kMiB, "log"},
                                         {kLog, 1000, "log length"},
                                         {kLog + 4096, kMiB, "log offset"},
                                         {0, kMiB, "log offset"},
                                         {~uint64_t{0} - kMiB + 1, 0xFFF00000u, "log"},
                                         {kLog, 0xFFF00000u, "log"}}) {
    Bytes b = Dynamic();
    b.BothHeaders([&](uint64_t h) {
      b.U64(h + kHdrLogOffset, c.offset);
      b.U32(h + kHdrLogLength, c.length);
    });
    ExpectRejected(b, Code::kCorrupt, {c.fragment});
  }
}

TEST_F(CorruptionTest, HeaderLogOverlappingTheMetadataRegionIsCorrupt) {
  Bytes b = Dynamic();
  b.BothHeaders([&](uint64_t h) { b.U64(h + kHdrLogOffset, kMeta); });
  ExpectRejected(b, Code::kCorrupt, {"overlaps the log"});
}

TEST_F(CorruptionTest, HeaderLogGuidSetOnAnEmptyLogIsCorrupt) {
  Bytes b = Dynamic();
  b.BothHeaders([&](uint64_t h) { b.U64(h + kHdrLogGuid, 0x42); });
  ExpectRejected(b, Code::kCorrupt, {"log", "no valid entry sequence"});
}

TEST_F(CorruptionTest, HeaderUnknownLogVersionWithADirtyLogIsUnsupported) {
  Bytes b = Dirty();
  b.BothHeaders([&](uint64_t h) { b.U16(h + kHdrLogVersion, 7); });
  ExpectRejected(b, Code::kUnsupported, {"log version"});
}

// ---- Region tables -----------------------------------------------------------------------------

TEST_F(CorruptionTest, OneDamagedRegionTableFallsBackToTheOther) {
  Bytes b = Dynamic();
  b.Flip(kRegionTables[0] + 20);
  EXPECT_OK(Open(b));
}

TEST_F(CorruptionTest, BothRegionTablesDamagedIsCorrupt) {
  Bytes b = Dynamic();
  b.Flip(kRegionTables[0] + 20);
  b.Flip(kRegionTables[1]);
  ExpectRejected(b, Code::kCorrupt, {"region table", "both region tables invalid"});
}

TEST_F(CorruptionTest, RegionTableWithHugeEntryCountIsCorrupt) {
  for (uint32_t count : {2048u, 0xFFFFFFFFu}) {
    Bytes b = Dynamic();
    b.BothRegionTables([&](uint64_t t) { b.U32(t + 8, count); });
    ExpectRejected(b, Code::kCorrupt, {"region table", "entry count"});
  }
}

TEST_F(CorruptionTest, RegionTableWithNoEntriesIsCorrupt) {
  Bytes b = Dynamic();
  b.BothRegionTables([&](uint64_t t) { b.U32(t + 8, 0); });
  ExpectRejected(b, Code::kCorrupt, {"region table", "BAT"});
}

// Region entries: 0 is the BAT, 1 the metadata region (as Image::Create writes them).
TEST_F(CorruptionTest, RegionPastTheEndOfTheFileIsCorrupt) {
  for (int entry : {0, 1}) {
    for (uint64_t off : {64 * kMiB, uint64_t{1} << 62, ~uint64_t{0} - kMiB * 2 + 1}) {
      Bytes b = Dynamic();
      b.BothRegionTables([&](uint64_t t) { b.U64(t + 16 + 32 * entry + 16, off); });
      ExpectRejected(b, Code::kCorrupt, {"region"});
    }
  }
}

TEST_F(CorruptionTest, RegionWithBadOffsetOrLengthIsCorrupt) {
  struct Case {
    int entry;
    uint64_t field;  // 16: FileOffset, 24: Length
    uint64_t value;
  };
  for (const Case& c : std::vector<Case>{{0, 16, kBat + 512},
                                         {0, 16, 0},
                                         {1, 16, 4096},
                                         {0, 24, 0},
                                         {1, 24, 4096},
                                         {1, 24, 0xFFF00000u}}) {
    Bytes b = Dynamic();
    b.BothRegionTables([&](uint64_t t) {
      uint64_t at = t + 16 + 32 * c.entry + c.field;
      c.field == 16 ? b.U64(at, c.value) : b.U32(at, static_cast<uint32_t>(c.value));
    });
    ExpectRejected(b, Code::kCorrupt, {"region"});
  }
}

TEST_F(CorruptionTest, RegionsOverlappingEachOtherOrTheLogAreCorrupt) {
  for (uint64_t bat_at : {kMeta, kLog, kMiB * 2}) {
    Bytes b = Dynamic();
    b.BothRegionTables([&](uint64_t t) { b.U64(t + 16 + 16, bat_at); });
    ExpectRejected(b, Code::kCorrupt, {"overlaps"});
  }
}

TEST_F(CorruptionTest, DuplicateRegionIsCorrupt) {
  Bytes b = Dynamic();
  b.BothRegionTables([&](uint64_t t) {
    std::memcpy(b.str().data() + t + 16 + 32, b.str().data() + t + 16, 16);  // metadata -> BAT
  });
  ExpectRejected(b, Code::kCorrupt, {"region table", "duplicate"});
}

TEST_F(CorruptionTest, UnknownRequiredRegionIsUnsupportedButAnOptionalOneOpens) {
  for (bool required : {true, false}) {
    Bytes b = Dynamic();
    b.BothRegionTables([&](uint64_t t) {
      b.U32(t + 8, 3);
      uint64_t e = t + 16 + 64;
      b.U64(e, 0x1122334455667788);
      b.U64(e + 8, 0x99aabbccddeeff00);
      b.U64(e + 16, 6 * kMiB);
      b.U32(e + 24, kMiB);
      b.U32(e + 28, required ? 1 : 0);
    });
    if (required) {
      ExpectRejected(b, Code::kUnsupported, {"unknown required region"});
    } else {
      EXPECT_OK(Open(b));
    }
  }
}

// ---- Metadata table and items ------------------------------------------------------------------

TEST_F(CorruptionTest, MetadataTableSignatureFlippedIsCorrupt) {
  Bytes b = Dynamic();
  b.Flip(kMeta + 2);
  ExpectRejected(b, Code::kCorrupt, {"metadata", "signature"});
}

TEST_F(CorruptionTest, MetadataTableWithHugeEntryCountIsCorrupt) {
  Bytes b = Dynamic();
  b.U16(kMeta + 10, 0xFFFF);
  ExpectRejected(b, Code::kCorrupt, {"metadata table", "entry count"});
}

TEST_F(CorruptionTest, MetadataItemOutsideTheRegionOrTooLongIsCorrupt) {
  struct Case {
    uint32_t offset, length;
    std::string fragment;
  };
  for (const Case& c : std::vector<Case>{{0xFFFFFFF0u, 8, "outside"},
                                         {static_cast<uint32_t>(kMiB - 4), 8, "outside"},
                                         {100, 8, "below 64 KiB"},
                                         {64 * 1024, 0xFFFFFFFFu, "longer than 1 MiB"},
                                         {64 * 1024 + 8, 0, "empty item"}}) {
    Bytes b = Dynamic();
    uint64_t e = MetaEntry(b, kVirtualDiskSizeGuid);
    b.U32(e + 16, c.offset);
    b.U32(e + 20, c.length);
    ExpectRejected(b, Code::kCorrupt, {"metadata", c.fragment});
  }
}

TEST_F(CorruptionTest, OverlappingOrDuplicateMetadataItemsAreCorrupt) {
  Bytes b = Dynamic();
  uint64_t size = MetaEntry(b, kVirtualDiskSizeGuid), params = MetaEntry(b, kFileParametersGuid);
  b.U32(size + 16, b.GetU32(params + 16));
  ExpectRejected(b, Code::kCorrupt, {"metadata table", "overlaps"});

  Bytes d = Dynamic();
  uint64_t id = MetaEntry(d, kVirtualDiskIdGuid);
  std::memcpy(d.str().data() + id, d.str().data() + MetaEntry(d, kFileParametersGuid), 16);
  ExpectRejected(d, Code::kCorrupt, {"metadata table", "repeated"});
}

TEST_F(CorruptionTest, MissingRequiredMetadataItemIsCorrupt) {
  for (const Guid& g : {kFileParametersGuid, kVirtualDiskSizeGuid, kLogicalSectorSizeGuid,
                        kPhysicalSectorSizeGuid, kVirtualDiskIdGuid}) {
    Bytes b = Dynamic();
    uint64_t e = MetaEntry(b, g);
    b.U64(e, 0x0102030405060708);  // a different, unknown, optional item
    b.U32(e + 24, 0);
    ExpectRejected(b, Code::kCorrupt, {"metadata: no "});
  }
}

TEST_F(CorruptionTest, UnknownRequiredMetadataItemIsUnsupported) {
  Bytes b = Dynamic();
  uint64_t e = MetaEntry(b, kVirtualDiskIdGuid);
  b.U64(e, 0x0102030405060708);
  b.U32(e + 24, 4);  // IsRequired
  ExpectRejected(b, Code::kUnsupported, {"metadata table", "unknown required"});
}

TEST_F(CorruptionTest, BadBlockSizesAreCorrupt) {
  for (uint32_t bs : {0u, 1u, 4096u, 512u * 1024, 3u * 1024 * 1024, 512u * 1024 * 1024, 0x80000000u,
                      0xFFFFFFFFu}) {
    Bytes b = Dynamic();
    b.U32(MetaItem(b, kFileParametersGuid), bs);
    ExpectRejected(b, Code::kCorrupt, {"metadata", "block size"});
  }
}

TEST_F(CorruptionTest, FileParametersWithReservedFlagsAreCorrupt) {
  Bytes b = Dynamic();
  b.U32(MetaItem(b, kFileParametersGuid) + 4, 0x80);
  ExpectRejected(b, Code::kCorrupt, {"File Parameters flags"});
}

TEST_F(CorruptionTest, BadSectorSizesAreCorrupt) {
  for (const Guid& g : {kLogicalSectorSizeGuid, kPhysicalSectorSizeGuid}) {
    for (uint32_t size : {0u, 1u, 511u, 1024u, 8192u, 0xFFFFFFFFu}) {
      Bytes b = Dynamic();
      b.U32(MetaItem(b, g), size);
      ExpectRejected(b, Code::kCorrupt, {"Sector Size", "not 512 or 4096"});
    }
  }
}

TEST_F(CorruptionTest, BadVirtualDiskSizesAreCorrupt) {
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, 8 * kMiB + 100, 65 * kTiB, ~uint64_t{0}}) {
    Bytes b = Dynamic();
    b.U64(MetaItem(b, kVirtualDiskSizeGuid), size);
    ExpectRejected(b, Code::kCorrupt, {"virtual disk size"});
  }
}

TEST_F(CorruptionTest, VirtualSizeNeedingMoreBatThanTheRegionHoldsIsCorrupt) {
  Bytes b = Dynamic();
  b.U64(MetaItem(b, kVirtualDiskSizeGuid), 64 * kTiB);  // 64 Mi entries, 1 MiB BAT region
  ExpectRejected(b, Code::kCorrupt, {"BAT region", "cannot hold"});
}

TEST_F(CorruptionTest, WrongMetadataItemLengthIsCorrupt) {
  Bytes b = Dynamic();
  b.U32(MetaEntry(b, kLogicalSectorSizeGuid) + 20, 2);
  ExpectRejected(b, Code::kCorrupt, {"Logical Sector Size item is 2 bytes"});
}

// ---- Parent locator ----------------------------------------------------------------------------

TEST_F(CorruptionTest, DifferencingImageWithoutParentLocatorIsCorrupt) {
  Bytes b = Dynamic(DiskType::kDifferencing);
  EXPECT_OK(Open(b));
  uint64_t e = MetaEntry(b, kParentLocatorGuid);
  b.U64(e, 0x0102030405060708);
  b.U32(e + 24, 0);
  ExpectRejected(b, Code::kCorrupt, {"Parent Locator"});
}

TEST_F(CorruptionTest, ParentLocatorDamageIsCorruptOrUnsupported) {
  struct Case {
    uint64_t at;  // within the item
    int width;
    uint64_t value;
    Code code;
    std::string fragment;
  };
  for (const Case& c : std::vector<Case>{{0, 8, 0x42, Code::kUnsupported, "type"},
                                         {18, 2, 0xFFFF, Code::kCorrupt, "parent locator"},
                                         {18, 2, 0, Code::kCorrupt, "parent_linkage"},
                                         {20, 4, 0xFFFFFFF0u, Code::kCorrupt, "parent locator"},
                                         {24, 4, 0x7FFFFFFFu, Code::kCorrupt, "parent locator"},
                                         {28, 2, 0xFFFF, Code::kCorrupt, "parent locator"},
                                         {30, 2, 3, Code::kCorrupt, "parent locator"}}) {
    Bytes b = Dynamic(DiskType::kDifferencing);
    uint64_t item = MetaItem(b, kParentLocatorGuid) + c.at;
    c.width == 2   ? b.U16(item, static_cast<uint16_t>(c.value))
    : c.width == 4 ? b.U32(item, static_cast<uint32_t>(c.value))
                   : b.U64(item, c.value);
    ExpectRejected(b, c.code, {c.fragment});
  }
}

TEST_F(CorruptionTest, ParentLocatorLengthPastItsItemIsCorrupt) {
  Bytes b = Dynamic(DiskType::kDifferencing);
  uint64_t e = MetaEntry(b, kParentLocatorGuid);
  b.U32(e + 20, 10);  // shorter than its own header
  ExpectRejected(b, Code::kCorrupt, {"parent locator"});
}

// ---- BAT ---------------------------------------------------------------------------------------

TEST_F(CorruptionTest, BatEntryPastTheEndOfTheFileIsCorrupt) {
  for (uint64_t off : {64 * kMiB, uint64_t{1} << 62, ~uint64_t{0} << 20}) {
    Bytes b = Dynamic();
    b.U64(kBat, off | 6);
    ExpectRejected(b, Code::kCorrupt, {"BAT entry 0", "outside the file"});
  }
}

TEST_F(CorruptionTest, BatEntryIntoOtherStructuresIsCorrupt) {
  struct Case {
    uint64_t offset;
    std::string fragment;
  };
  for (const Case& c : std::vector<Case>{{0, "present block at offset 0"},
                                         {kLog, "overlaps"},
                                         {kMeta, "overlaps"},
                                         {kBat, "overlaps"}}) {
    Bytes b = Dynamic();
    b.U64(kBat, c.offset | 6);
    ExpectRejected(b, Code::kCorrupt, {"BAT entry 0", c.fragment});
  }
}

TEST_F(CorruptionTest, TwoBatEntriesSharingABlockAreCorrupt) {
  Bytes b = Dynamic();
  b.U64(kBat + 8 * 5, b.GetU64(kBat));
  ExpectRejected(b, Code::kCorrupt, {"BAT entry", "overlaps"});
}

TEST_F(CorruptionTest, BatEntryWithBadStateOrReservedBitsIsCorrupt) {
  struct Case {
    uint64_t index, value;
    std::string fragment;
  };
  for (const Case& c : std::vector<Case>{{1, 4, "state 4"},
                                         {1, 5, "state 5"},  // v0.95's UNMAPPED, reserved in 1.0
                                         {1, 7 | (6 * kMiB), "PARTIALLY_PRESENT outside"},
                                         {1, 2 | (1 << 3), "reserved bits"},
                                         {1, 2 | (uint64_t{1} << 19), "reserved bits"}}) {
    Bytes b = Dynamic();
    b.U64(kBat + 8 * c.index, c.value);
    ExpectRejected(b, Code::kCorrupt, {"BAT entry " + std::to_string(c.index), c.fragment});
  }
}

TEST_F(CorruptionTest, DifferencingPartiallyPresentWithoutSectorBitmapIsCorrupt) {
  Bytes b = Dynamic(DiskType::kDifferencing);
  EXPECT_OK(Open(b));
  // Chunk ratio 4096: entries 0..4095 are payload, entry 4096 the chunk's sector bitmap.
  uint64_t sb = kBat + 8 * 4096;
  ASSERT_EQ(b.GetU64(sb) & 7, 6u);
  b.U64(sb, 0);
  ExpectRejected(b, Code::kCorrupt, {"without a sector bitmap"});
  Bytes c = Dynamic(DiskType::kDifferencing);
  c.U64(sb, (64 * kMiB) | 6);
  ExpectRejected(c, Code::kCorrupt, {"BAT entry 4096", "sector bitmap"});
}

// ---- Truncation --------------------------------------------------------------------------------

TEST_F(CorruptionTest, TruncatedFilesAreCorrupt) {
  Bytes full = Dynamic();
  for (uint64_t size :
       {uint64_t{0}, uint64_t{100}, kMiB - 1, kMiB, kMiB + 4096, 2 * kMiB, 2 * kMiB + 100, 3 * kMiB,
        3 * kMiB + 4096, full.size() - kMiB, full.size() - 1}) {
    Bytes b(full.str().substr(0, size));
    Status st = Open(b);
    EXPECT_EQ(st.code(), Code::kCorrupt) << size << ": " << st.ToString();
  }
}

// ---- Log ---------------------------------------------------------------------------------------

// The dirty image's log holds two entries: an empty one @kLog (sequence 1, written when the log
// is activated) and the head @kLog + 4 KiB (sequence 2, one data descriptor, Tail = itself).
// Fields of the head (MS-VHDX 2.3.1.1):
constexpr uint64_t kHead = kLog + 4096;
constexpr uint64_t kEntryLength = kHead + 8, kEntrySeq = kHead + 16, kEntryGuid = kHead + 32;
constexpr uint64_t kEntryFlushed = kHead + 48, kEntryLast = kHead + 56;

// Cut inside the objects (the log's LastFileOffset ends them; space reserved past it is free).
TEST_F(CorruptionTest, TruncatedDirtyLogImageIsCorrupt) {
  Bytes full = Dirty();
  EXPECT_OK(Open(full));
  const uint64_t objects_end = full.GetU64(kEntryLast);
  ASSERT_LE(objects_end, full.size());
  for (uint64_t size : {kLog + 4096, kMeta, kBat, objects_end - kMiB}) {
    Bytes b(full.str().substr(0, size));
    Status st = Open(b);
    EXPECT_EQ(st.code(), Code::kCorrupt) << size << ": " << st.ToString();
  }
}

// Damages the head (re-checksummed) and breaks the first entry, so nothing can fall back to it.
template <typename F>
void DamageHead(Bytes& b, F fix) {
  uint32_t len = b.GetU32(kEntryLength);
  fix();
  b.Recrc(kHead, std::min<uint64_t>(len, kMiB - 4096));
  b.Flip(kLog);
}

TEST_F(CorruptionTest, DirtyLogReplaysWhenIntact) {
  Bytes b = Dirty();
  ASSERT_EQ(b.str().substr(kLog, 4), "loge");
  ASSERT_EQ(b.str().substr(kHead, 4), "loge");
  EXPECT_OK(Open(b));
}

TEST_F(CorruptionTest, TornHeadLogEntryFallsBackToThePreviousEntry) {
  Bytes b = Dirty();
  b.Flip(kHead + 4096 + 100);  // in the head's data sector
  EXPECT_OK(Open(b));
}

TEST_F(CorruptionTest, LogEntryWithBadChecksumLeavesNoValidSequence) {
  Bytes b = Dirty();
  b.Flip(kHead + 4096 + 100);
  b.Flip(kLog + 200);
  ExpectRejected(b, Code::kCorrupt, {"log", "no valid entry sequence"});
}

TEST_F(CorruptionTest, LogEntryFieldDamageIsCorrupt) {
  struct Case {
    uint64_t at, value;
    int width;
    std::string fragment;
  };
  for (const Case& c : std::vector<Case>{{kEntrySeq, 0, 8, "log"},
                                         {kEntryGuid, 0x77, 8, "log"},
                                         {kEntryLength, 0xFFFFF000u, 4, "log"},
                                         {kEntryLength, 100, 4, "log"},
                                         {kEntryLength, 0, 4, "log"},
                                         {kHead + 24, 0xFFFFFFFFu, 4, "log"},
                                         {kEntryLast, uint64_t{1} << 62, 8, "LastFileOffset"},
                                         {kEntryFlushed, 1 * kTiB, 8, "FlushedFileOffset"}}) {
    Bytes b = Dirty();
    DamageHead(b, [&] {
      c.width == 4 ? b.U32(c.at, static_cast<uint32_t>(c.value)) : b.U64(c.at, c.value);
    });
    ExpectRejected(b, Code::kCorrupt, {c.fragment});
  }
}

TEST_F(CorruptionTest, LogDescriptorTargetingTheFileIdentifierOrLogIsCorrupt) {
  for (uint64_t target : {uint64_t{0}, kLog, kLog + 8 * 4096, uint64_t{1} << 50}) {
    Bytes b = Dirty();
    ASSERT_EQ(b.str().substr(kHead + 64, 4), "desc");
    DamageHead(b, [&] { b.U64(kHead + 64 + 16, target); });  // the data descriptor's FileOffset
    ExpectRejected(b, Code::kCorrupt, {"log"});
  }
}

// ---- Byte sweeps: any single damaged byte is refused cleanly or tolerated ----------------------

TEST_F(CorruptionTest, EveryFlippedByteOfTheStructuresIsRefusedOrTolerated) {
  Bytes base = Dirty();
  std::vector<uint64_t> offsets;
  for (uint64_t s : {uint64_t{0}, kHeaders[0], kHeaders[1], kRegionTables[0], kLog, kMeta,
                     kMeta + 64 * kKiB, kBat}) {
    for (uint64_t i = 0; i < 96; i += 3) offsets.push_back(s + i);
  }
  for (uint64_t off : offsets) {
    Bytes b = base;
    b.Flip(off);
    Status st = Open(b);
    EXPECT_TRUE(st.ok() || st.code() == Code::kCorrupt || st.code() == Code::kUnsupported)
        << "byte @" << off << ": " << st.ToString();
  }
}

}  // namespace
}  // namespace hvdisk::vhdx
