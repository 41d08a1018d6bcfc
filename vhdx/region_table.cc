#include "vhdx/region_table.h"

#include <algorithm>
#include <string>

#include "platform/crc32c.h"
#include "platform/hex.h"

namespace hvdisk::vhdx {
namespace {

constexpr size_t kEntryCountOffset = 8;
constexpr size_t kEntryFileOffsetOffset = 16;
constexpr size_t kEntryLengthOffset = 24;
constexpr size_t kEntryRequiredOffset = 28;

bool IsKnownRegion(const Guid& g) { return g == kBatRegionGuid || g == kMetadataRegionGuid; }

std::string Describe(const RegionTableEntry& e) {
  return "region " + e.guid.ToString() + " @" + Hex(e.file_offset) + "+" + Hex(e.length);
}

Status CheckEntry(const RegionTableEntry& e) {
  if (e.file_offset % kMiB != 0 || e.file_offset < kHeaderSectionSize) {
    return Corrupt("region table: " + Describe(e) +
                   ": offset not a multiple of 1 MiB of at least 1 MiB (MS-VHDX 2.2.3.2)");
  }
  if (e.length % kMiB != 0 || e.length < kMiB) {
    return Corrupt("region table: " + Describe(e) +
                   ": length not a non-zero multiple of 1 MiB (MS-VHDX 2.2.3.2)");
  }
  if (e.file_offset > UINT64_MAX - e.length) {
    return Corrupt("region table: " + Describe(e) + ": overflows (MS-VHDX 2.2.3.2)");
  }
  return Status::Ok();
}

// Duplicates and overlaps, after sorting by offset.
Status CheckDisjoint(std::vector<RegionTableEntry> sorted) {
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.guid < b.guid; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i].guid == sorted[i - 1].guid) {
      return Corrupt("region table: duplicate GUID " + sorted[i].guid.ToString() +
                     " (MS-VHDX 2.2.3.2)");
    }
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.file_offset < b.file_offset; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i].file_offset < sorted[i - 1].end()) {
      return Corrupt("region table: " + Describe(sorted[i - 1]) + " overlaps " +
                     Describe(sorted[i]) + " (MS-VHDX 2.2.3.2)");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<RegionTableHeader> RegionTableHeader::Decode(std::span<const std::byte> bytes) {
  if (bytes.size() < kSize) return Corrupt("region table: header truncated (MS-VHDX 2.2.3.1)");
  if (!HasSignature(bytes, 0, kRegionTableSignature)) {
    return Corrupt("region table: signature is not \"regi\" (MS-VHDX 2.2.3.1)");
  }
  RegionTableHeader h;
  h.checksum = LoadU32(bytes, kChecksumOffset);
  h.entry_count = LoadU32(bytes, kEntryCountOffset);
  return h;
}

void RegionTableHeader::EncodeTo(std::span<std::byte> out) const {
  std::fill(out.begin(), out.begin() + kSize, std::byte{0});
  StoreSignature(out, 0, kRegionTableSignature);
  StoreU32(out, kChecksumOffset, checksum);
  StoreU32(out, kEntryCountOffset, entry_count);
}

Result<RegionTableEntry> RegionTableEntry::Decode(std::span<const std::byte> bytes) {
  if (bytes.size() < kSize) return Corrupt("region table: entry truncated (MS-VHDX 2.2.3.2)");
  RegionTableEntry e;
  e.guid = LoadGuid(bytes, 0);
  e.file_offset = LoadU64(bytes, kEntryFileOffsetOffset);
  e.length = LoadU32(bytes, kEntryLengthOffset);
  e.required = (LoadU32(bytes, kEntryRequiredOffset) & 1) != 0;
  return e;
}

void RegionTableEntry::EncodeTo(std::span<std::byte> out) const {
  StoreGuid(out, 0, guid);
  StoreU64(out, kEntryFileOffsetOffset, file_offset);
  StoreU32(out, kEntryLengthOffset, length);
  StoreU32(out, kEntryRequiredOffset, required ? 1 : 0);
}

Result<RegionTable> RegionTable::Decode(std::span<const std::byte> bytes) {
  if (bytes.size() < kSize) {
    return Corrupt("region table: " + std::to_string(bytes.size()) +
                   " bytes, need 65536 (MS-VHDX 2.2.3)");
  }
  bytes = bytes.first(kSize);
  ASSIGN_OR_RETURN(RegionTableHeader header, RegionTableHeader::Decode(bytes));
  uint32_t computed = Crc32cWithZeroedField(bytes, RegionTableHeader::kChecksumOffset);
  if (header.checksum != computed) {
    return Corrupt("region table: checksum " + Hex(header.checksum) + " != computed " +
                   Hex(computed) + " (MS-VHDX 2.2.3.1)");
  }
  if (header.entry_count > kMaxEntries) {
    return Corrupt("region table: entry count " + std::to_string(header.entry_count) +
                   " exceeds 2047 (MS-VHDX 2.2.3.1)");
  }
  RegionTable table;
  for (uint32_t i = 0; i < header.entry_count; ++i) {
    size_t off = RegionTableHeader::kSize + size_t{i} * RegionTableEntry::kSize;
    ASSIGN_OR_RETURN(RegionTableEntry e, RegionTableEntry::Decode(bytes.subspan(off)));
    table.entries.push_back(e);
  }
  RETURN_IF_ERROR(table.Validate());
  return table;
}

Status RegionTable::Validate() const {
  if (entries.size() > kMaxEntries) {
    return Corrupt("region table: entry count " + std::to_string(entries.size()) +
                   " exceeds 2047 (MS-VHDX 2.2.3.1)");
  }
  for (const RegionTableEntry& e : entries) RETURN_IF_ERROR(CheckEntry(e));
  RETURN_IF_ERROR(CheckDisjoint(entries));
  for (const RegionTableEntry& e : entries) {
    if (e.required && !IsKnownRegion(e.guid)) {
      return Unsupported("region table: unknown required region " + e.guid.ToString() +
                         " (MS-VHDX 2.2.3.2)");
    }
  }
  if (Bat() == nullptr) return Corrupt("region table: no BAT region (MS-VHDX 2.2.3.2)");
  if (Metadata() == nullptr) return Corrupt("region table: no metadata region (MS-VHDX 2.2.3.2)");
  return Status::Ok();
}

void RegionTable::EncodeTo(std::span<std::byte> out) const {
  std::span<std::byte> b = out.first(kSize);
  std::fill(b.begin(), b.end(), std::byte{0});
  RegionTableHeader{.checksum = 0, .entry_count = static_cast<uint32_t>(entries.size())}.EncodeTo(
      b);
  for (size_t i = 0; i < entries.size(); ++i) {
    entries[i].EncodeTo(b.subspan(RegionTableHeader::kSize + i * RegionTableEntry::kSize));
  }
  StoreU32(b, RegionTableHeader::kChecksumOffset,
           Crc32cWithZeroedField(b, RegionTableHeader::kChecksumOffset));
}

std::vector<std::byte> RegionTable::Encode() const {
  std::vector<std::byte> out(kSize);
  EncodeTo(out);
  return out;
}

const RegionTableEntry* RegionTable::Find(const Guid& guid) const {
  for (const RegionTableEntry& e : entries) {
    if (e.guid == guid) return &e;
  }
  return nullptr;
}

RegionTable RegionTable::ForRegions(uint64_t bat_offset, uint32_t bat_length,
                                    uint64_t metadata_offset, uint32_t metadata_length) {
  RegionTable t;
  t.entries.push_back({kBatRegionGuid, bat_offset, bat_length, true});
  t.entries.push_back({kMetadataRegionGuid, metadata_offset, metadata_length, true});
  return t;
}

}  // namespace hvdisk::vhdx
