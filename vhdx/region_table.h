// RegionTable: the table of regions (MS-VHDX §2.2.3), stored twice, at 192 KiB and at 256 KiB.
//
// A 16-byte RegionTableHeader ("regi", CRC-32C over the entire 64 KiB table with the Checksum
// zeroed, EntryCount <= 2047) followed by 32-byte RegionTableEntry records. Updates go through
// the log. Codec only: no I/O. Thread-safe: value types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "platform/guid.h"
#include "platform/status.h"
#include "vhdx/format.h"

namespace hvdisk::vhdx {

struct RegionTableHeader {
  static constexpr size_t kSize = 16;
  static constexpr size_t kChecksumOffset = 4;

  uint32_t checksum = 0;  // as stored; RegionTable::EncodeTo computes it
  uint32_t entry_count = 0;

  // Signature only; the checksum needs the whole table (RegionTable::Decode).
  static Result<RegionTableHeader> Decode(std::span<const std::byte> bytes);
  void EncodeTo(std::span<std::byte> out) const;  // REQUIRES: out.size() >= kSize

  bool operator==(const RegionTableHeader&) const = default;
};

struct RegionTableEntry {
  static constexpr size_t kSize = 32;

  Guid guid;
  uint64_t file_offset = 0;  // multiple of 1 MiB, >= 1 MiB
  uint32_t length = 0;       // multiple of 1 MiB
  bool required = false;     // bit 0 of Required; other bits reserved and ignored

  // Field layout only; the rules are checked by RegionTable::Validate.
  static Result<RegionTableEntry> Decode(std::span<const std::byte> bytes);
  void EncodeTo(std::span<std::byte> out) const;  // REQUIRES: out.size() >= kSize

  uint64_t end() const { return file_offset + length; }
  bool operator==(const RegionTableEntry&) const = default;
};

struct RegionTable {
  static constexpr size_t kSize = 64 * 1024;
  static constexpr size_t kMaxEntries = kMaxRegionEntries;

  std::vector<RegionTableEntry> entries;

  // Decodes one 64 KiB copy (bytes.size() >= kSize): signature and checksum, then Validate().
  static Result<RegionTable> Decode(std::span<const std::byte> bytes);
  // Count <= 2047; offsets and lengths multiples of 1 MiB and >= 1 MiB; unique GUIDs; no
  // overlaps (Corrupt). An unknown Required region (Unsupported). BAT and metadata present.
  Status Validate() const;

  // Writes kSize bytes (header, entries, zeroed tail) with the checksum computed.
  // REQUIRES: out.size() >= kSize and entries.size() <= kMaxEntries.
  void EncodeTo(std::span<std::byte> out) const;
  std::vector<std::byte> Encode() const;  // kSize bytes

  // nullptr when absent.
  const RegionTableEntry* Find(const Guid& guid) const;
  const RegionTableEntry* Bat() const { return Find(kBatRegionGuid); }
  const RegionTableEntry* Metadata() const { return Find(kMetadataRegionGuid); }

  // The table Windows writes for a file with the given regions: BAT then metadata, Required.
  static RegionTable ForRegions(uint64_t bat_offset, uint32_t bat_length, uint64_t metadata_offset,
                                uint32_t metadata_length);

  bool operator==(const RegionTable&) const = default;
};

}  // namespace hvdisk::vhdx
