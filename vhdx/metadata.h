// The metadata region (MS-VHDX §2.6): MetadataTableHeader, MetadataTableEntry, the known system
// items (FileParameters, VirtualDiskSize, VirtualDiskId, LogicalSectorSize, PhysicalSectorSize;
// the ParentLocator is in parent_locator.h) and DiskParameters, all of them decoded together.
//
// The region starts with a 64 KiB table: a 32-byte header ("metadata", EntryCount <= 2047; no
// checksum) and 32-byte entries. Items live at offsets >= 64 KiB from the region start.
// Codec only: no I/O. Thread-safe: value types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "platform/guid.h"
#include "platform/status.h"
#include "vhdx/format.h"
#include "vhdx/parent_locator.h"

namespace hvdisk::vhdx {

struct MetadataTableHeader {
  static constexpr size_t kSize = 32;

  uint16_t entry_count = 0;

  static Result<MetadataTableHeader> Decode(std::span<const std::byte> bytes);  // signature only
  void EncodeTo(std::span<std::byte> out) const;  // REQUIRES: out.size() >= kSize

  bool operator==(const MetadataTableHeader&) const = default;
};

struct MetadataTableEntry {
  static constexpr size_t kSize = 32;

  Guid item_id;
  uint32_t offset = 0;           // from the region start; >= 64 KiB, or 0 when length is 0
  uint32_t length = 0;           // <= 1 MiB
  bool is_user = false;          // bit 0
  bool is_virtual_disk = false;  // bit 1
  bool is_required = false;      // bit 2

  static Result<MetadataTableEntry> Decode(std::span<const std::byte> bytes);  // layout only
  void EncodeTo(std::span<std::byte> out) const;  // REQUIRES: out.size() >= kSize

  bool operator==(const MetadataTableEntry&) const = default;
};

struct MetadataTable {
  static constexpr size_t kSize = kMetadataTableSize;  // 64 KiB
  static constexpr size_t kMaxEntries = kMaxMetadataEntries;

  std::vector<MetadataTableEntry> entries;

  // `region` is the whole metadata region (its size is the region length). Decodes the table and
  // runs Validate(region.size()).
  static Result<MetadataTable> Decode(std::span<const std::byte> region);
  // Corrupt: more than 2047 entries or 1024 IsUser ones; a length over 1 MiB; a zero length with
  // a non-zero offset; an offset below 64 KiB; an item outside the region; overlapping items; a
  // repeated (ItemID, IsUser). Unsupported: an IsRequired item that is not a known system item.
  Status Validate(uint64_t region_length) const;
  // Writes the kSize-byte table (header, entries, zero tail). REQUIRES: out.size() >= kSize.
  void EncodeTo(std::span<std::byte> out) const;

  const MetadataTableEntry* Find(const Guid& item_id, bool is_user = false) const;
  // The bytes of `entry` in `region`. REQUIRES: the table was validated against region.size().
  static std::span<const std::byte> ItemBytes(std::span<const std::byte> region,
                                              const MetadataTableEntry& entry) {
    return region.subspan(entry.offset, entry.length);
  }
};

// §2.6.2.1: BlockSize (a power of 2 in [1, 256] MiB), flags LeaveBlockAllocated and HasParent.
struct FileParameters {
  static constexpr size_t kSize = 8;

  uint32_t block_size = 32 * kMiB;
  bool leave_block_allocated = false;  // bit 0: a fixed disk
  bool has_parent = false;             // bit 1: a differencing disk

  static Result<FileParameters> Decode(std::span<const std::byte> item);
  void EncodeTo(std::span<std::byte> out) const;  // REQUIRES: out.size() >= kSize
  // HasParent wins over LeaveBlockAllocated (§2.6.2.1).
  DiskType type() const {
    return has_parent              ? DiskType::kDifferencing
           : leave_block_allocated ? DiskType::kFixed
                                   : DiskType::kDynamic;
  }
  bool operator==(const FileParameters&) const = default;
};

// §2.6.2.2: bytes, > 0 and <= 64 TiB (the multiple-of-sector rule is in DiskParameters).
struct VirtualDiskSize {
  static constexpr size_t kSize = 8;
  uint64_t size = 0;
  static Result<VirtualDiskSize> Decode(std::span<const std::byte> item);
  void EncodeTo(std::span<std::byte> out) const;
};

// §2.6.2.3.
struct VirtualDiskId {
  static constexpr size_t kSize = 16;
  Guid id;
  static Result<VirtualDiskId> Decode(std::span<const std::byte> item);
  void EncodeTo(std::span<std::byte> out) const;
};

// §2.6.2.4: 512 or 4096.
struct LogicalSectorSize {
  static constexpr size_t kSize = 4;
  uint32_t size = kSectorSize512;
  static Result<LogicalSectorSize> Decode(std::span<const std::byte> item);
  void EncodeTo(std::span<std::byte> out) const;
};

// §2.6.2.5: 512 or 4096.
struct PhysicalSectorSize {
  static constexpr size_t kSize = 4;
  uint32_t size = kSectorSize4096;
  static Result<PhysicalSectorSize> Decode(std::span<const std::byte> item);
  void EncodeTo(std::span<std::byte> out) const;
};

// Everything the metadata region says about the disk.
struct DiskParameters {
  FileParameters file_parameters;
  uint64_t virtual_disk_size = 0;
  Guid virtual_disk_id;
  uint32_t logical_sector_size = kSectorSize512;
  uint32_t physical_sector_size = kSectorSize4096;
  std::optional<ParentLocator> parent_locator;  // decoded only when HasParent is set

  // Decodes and validates the table, then the five system items (missing one: Corrupt) and, when
  // HasParent is set, the parent locator (missing: Corrupt; see ParentLocator::ValidateVhdx).
  // Items this code does not know and that are not required are ignored.
  static Result<DiskParameters> Decode(std::span<const std::byte> region);
  // Cross-item rules: size a multiple of the logical sector size; a valid VHDX locator when
  // HasParent is set (Corrupt / Unsupported).
  Status Validate() const;

  // A whole region of `region_length` bytes laid out as Windows does: the table, then at 64 KiB
  // FileParameters (8, flags 0x4), VirtualDiskSize @+8, LogicalSectorSize @+0x10,
  // PhysicalSectorSize @+0x14, VirtualDiskId @+0x18 (all four flags 0x6), ParentLocator @+0x28
  // (flags 0x4) when HasParent is set. InvalidArgument if Validate() fails or it does not fit.
  Result<std::vector<std::byte>> EncodeRegion(uint64_t region_length = kMiB) const;

  DiskType type() const { return file_parameters.type(); }
  uint32_t block_size() const { return file_parameters.block_size; }
  bool operator==(const DiskParameters&) const = default;
};

}  // namespace hvdisk::vhdx
