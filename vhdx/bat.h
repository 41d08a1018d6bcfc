// The Block Allocation Table (MS-VHDX §2.5): BatEntry and the arithmetic of its layout.
//
// Each entry is a little-endian u64: State in bits 0-2, reserved bits 3-19 (0), FileOffsetMB in
// bits 20-63. One sector bitmap entry follows every ChunkRatio payload entries, in fixed,
// dynamic and differencing files alike. Codec and arithmetic only: no I/O.
// Thread-safe: value types and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "platform/status.h"
#include "vhdx/format.h"

namespace hvdisk::vhdx {

struct DiskParameters;

struct BatEntry {
  static constexpr size_t kSize = 8;
  static constexpr uint64_t kStateMask = 0x7;
  static constexpr uint64_t kReservedMask = 0xFFFF8;  // bits 3-19
  static constexpr int kFileOffsetShift = 20;

  uint8_t state = 0;            // a PayloadState or SectorBitmapState value
  uint64_t file_offset_mb = 0;  // 44 bits

  // Corrupt when a reserved bit (3-19) is set (§2.5.1). Any state value is accepted here; see
  // ValidatePayloadEntry / ValidateSectorBitmapEntry.
  static Result<BatEntry> FromRaw(uint64_t raw);
  // State bits and FileOffsetMB of `raw`, reserved bits ignored: for the entries of a BAT that
  // was validated (FromRaw) when the image was opened.
  static constexpr BatEntry Unpack(uint64_t raw) {
    return BatEntry{static_cast<uint8_t>(raw & kStateMask), raw >> kFileOffsetShift};
  }
  static Result<BatEntry> Decode(std::span<const std::byte> bytes);  // 8 bytes
  uint64_t ToRaw() const {
    return file_offset_mb << kFileOffsetShift | (uint64_t{state} & kStateMask);
  }
  void EncodeTo(std::span<std::byte> out) const;  // REQUIRES: out.size() >= kSize

  // A payload entry as written: FileOffsetMB forced to 0 for states 0-3 (Hyper-V rejects a ZERO
  // entry with an offset; qemu cdf9634). REQUIRES: file_offset a multiple of 1 MiB.
  static BatEntry Payload(PayloadState state, uint64_t file_offset);
  static BatEntry SectorBitmap(SectorBitmapState state, uint64_t file_offset);

  uint64_t file_offset() const { return file_offset_mb * kMiB; }
  PayloadState payload_state() const { return static_cast<PayloadState>(state); }
  // A payload block with file space: FULLY_PRESENT or PARTIALLY_PRESENT (§2.5.1.1).
  bool payload_allocated() const {
    return payload_state() == PayloadState::kFullyPresent ||
           payload_state() == PayloadState::kPartiallyPresent;
  }
  SectorBitmapState sector_bitmap_state() const { return static_cast<SectorBitmapState>(state); }
  // A sector bitmap block with file space: SB_BLOCK_PRESENT (§2.5.1.2).
  bool sector_bitmap_present() const {
    return sector_bitmap_state() == SectorBitmapState::kPresent;
  }
  bool operator==(const BatEntry&) const = default;
};

// Where things are in the BAT of one disk.
class BatGeometry {
 public:
  // REQUIRES: a valid block size, logical sector size and virtual size (DiskParameters
  // validation guarantees them).
  BatGeometry(uint64_t virtual_disk_size, uint32_t block_size, uint32_t logical_sector_size,
              DiskType type);
  static BatGeometry For(const DiskParameters& params);

  uint64_t chunk_ratio() const { return chunk_ratio_; }
  uint64_t sectors_per_block() const { return block_size_ / logical_sector_size_; }
  uint64_t block_size() const { return block_size_; }
  uint32_t logical_sector_size() const { return logical_sector_size_; }
  DiskType type() const { return type_; }
  // N = ceil(virtual size / block size): payload blocks, a partial last one included.
  uint64_t payload_blocks() const { return payload_blocks_; }
  // M = ceil(N / chunk ratio): chunks, i.e. sector bitmap blocks a differencing disk may need.
  uint64_t chunks() const { return DivRoundUp(payload_blocks_, chunk_ratio_); }
  // Fixed/dynamic: N + floor((N-1)/ChunkRatio) (the last entry is the last payload block);
  // differencing: M * (ChunkRatio + 1) (as qemu's vhdx_calc_bat_entries computes them).
  uint64_t total_entries() const;
  uint64_t bat_bytes() const { return total_entries() * BatEntry::kSize; }
  // Corrupt when the BAT region cannot hold total_entries() (§2.5).
  Status CheckRegionLength(uint64_t bat_region_length) const;

  // Entry index of payload block b: b + b / ChunkRatio.
  uint64_t PayloadIndex(uint64_t block) const { return block + block / chunk_ratio_; }
  // Entry index of chunk c's sector bitmap: c * (ChunkRatio + 1) + ChunkRatio.
  uint64_t SectorBitmapIndex(uint64_t chunk) const {
    return chunk * (chunk_ratio_ + 1) + chunk_ratio_;
  }
  bool IsSectorBitmapIndex(uint64_t index) const {
    return index % (chunk_ratio_ + 1) == chunk_ratio_;
  }
  // The payload block at a payload entry index. REQUIRES: !IsSectorBitmapIndex(index).
  uint64_t BlockOfIndex(uint64_t index) const { return index - index / (chunk_ratio_ + 1); }
  uint64_t ChunkOfBlock(uint64_t block) const { return block / chunk_ratio_; }
  // The bit of sector `sector_in_block` of payload block b in its chunk's sector bitmap:
  // (b % ChunkRatio) * SectorsPerBlock + sector_in_block.
  uint64_t SectorBitmapBit(uint64_t block, uint64_t sector_in_block) const {
    return (block % chunk_ratio_) * sectors_per_block() + sector_in_block;
  }

 private:
  uint64_t virtual_disk_size_;
  uint64_t block_size_;
  uint32_t logical_sector_size_;
  DiskType type_;
  uint64_t chunk_ratio_;
  uint64_t payload_blocks_;
};

// §2.5.1.1: states 4 and 5 reserved; PARTIALLY_PRESENT only in differencing files;
// FULLY/PARTIALLY_PRESENT need FileOffsetMB >= 1 (after the header section). States 0-3 may
// carry any FileOffsetMB on read. Corrupt, naming the entry index.
Status ValidatePayloadEntry(const BatEntry& entry, DiskType type, uint64_t index);
// §2.5.1.2: only NOT_PRESENT or PRESENT; PRESENT only in differencing files, with FileOffsetMB
// >= 1. Corrupt, naming the entry index.
Status ValidateSectorBitmapEntry(const BatEntry& entry, DiskType type, uint64_t index);
// For writers: InvalidArgument when the entry would fail the check for its kind (payload or
// sector bitmap, from the index), lies beyond the BAT, or is not present yet has FileOffsetMB != 0
// (Hyper-V refuses e.g. a ZERO entry with an offset; qemu cdf9634).
Status CheckEntryForWrite(const BatEntry& entry, const BatGeometry& geometry, uint64_t index);

// Every entry of a BAT (bat.size() >= geometry.bat_bytes(), else Corrupt): reserved bits, states
// per entry kind and, in a differencing file, a PRESENT sector bitmap for every chunk holding a
// PARTIALLY_PRESENT block (§2.5.1.2). Does not check offsets against EOF, the regions or each
// other: that needs the file.
Status ValidateBat(std::span<const std::byte> bat, const BatGeometry& geometry);

}  // namespace hvdisk::vhdx
