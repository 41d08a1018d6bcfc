#include "vhdx/bat.h"

#include <algorithm>
#include <string>

#include "platform/hex.h"
#include "vhdx/metadata.h"

namespace hvdisk::vhdx {
namespace {

std::string Where(uint64_t index) { return "BAT entry " + std::to_string(index); }

}  // namespace

Result<BatEntry> BatEntry::FromRaw(uint64_t raw) {
  if ((raw & kReservedMask) != 0) {
    return Corrupt("BAT entry " + Hex(raw) + ": reserved bits 3-19 set (MS-VHDX 2.5.1)");
  }
  return Unpack(raw);
}

Result<BatEntry> BatEntry::Decode(std::span<const std::byte> bytes) {
  if (bytes.size() < kSize) return Corrupt("BAT entry: truncated (MS-VHDX 2.5.1)");
  return FromRaw(LoadU64(bytes, 0));
}

void BatEntry::EncodeTo(std::span<std::byte> out) const { StoreU64(out, 0, ToRaw()); }

BatEntry BatEntry::Payload(PayloadState state, uint64_t file_offset) {
  BatEntry e{static_cast<uint8_t>(state), file_offset / kMiB};
  if (!e.payload_allocated()) e.file_offset_mb = 0;
  return e;
}

BatEntry BatEntry::SectorBitmap(SectorBitmapState state, uint64_t file_offset) {
  bool present = state == SectorBitmapState::kPresent;
  return BatEntry{static_cast<uint8_t>(state), present ? file_offset / kMiB : 0};
}

BatGeometry::BatGeometry(uint64_t virtual_disk_size, uint32_t block_size,
                         uint32_t logical_sector_size, DiskType type)
    : virtual_disk_size_(virtual_disk_size),
      block_size_(block_size),
      logical_sector_size_(logical_sector_size),
      type_(type),
      chunk_ratio_(ChunkRatio(logical_sector_size, block_size)),
      payload_blocks_(DivRoundUp(virtual_disk_size, block_size)) {}

BatGeometry BatGeometry::For(const DiskParameters& p) {
  return BatGeometry(p.virtual_disk_size, p.block_size(), p.logical_sector_size, p.type());
}

uint64_t BatGeometry::total_entries() const {
  if (type_ == DiskType::kDifferencing) return chunks() * (chunk_ratio_ + 1);
  if (payload_blocks_ == 0) return 0;
  return payload_blocks_ + (payload_blocks_ - 1) / chunk_ratio_;
}

Status BatGeometry::CheckRegionLength(uint64_t bat_region_length) const {
  if (bat_bytes() <= bat_region_length) return Status::Ok();
  return Corrupt("BAT: " + std::to_string(total_entries()) + " entries need " + Hex(bat_bytes()) +
                 " bytes; the region has " + Hex(bat_region_length) + " (MS-VHDX 2.5)");
}

Status ValidatePayloadEntry(const BatEntry& e, DiskType type, uint64_t index) {
  switch (e.payload_state()) {
    case PayloadState::kNotPresent:
    case PayloadState::kUndefined:
    case PayloadState::kZero:
    case PayloadState::kUnmapped:
      return Status::Ok();
    case PayloadState::kPartiallyPresent:
      if (type != DiskType::kDifferencing) {
        return Corrupt(Where(index) +
                       ": PARTIALLY_PRESENT outside a differencing file (MS-VHDX 2.5.1.1)");
      }
      [[fallthrough]];
    case PayloadState::kFullyPresent:
      if (e.file_offset_mb == 0) {
        return Corrupt(Where(index) + ": present block at offset 0 (MS-VHDX 2.5.1)");
      }
      return Status::Ok();
  }
  return Corrupt(Where(index) + ": reserved payload state " + std::to_string(e.state) +
                 " (MS-VHDX 2.5.1.1)");
}

Status ValidateSectorBitmapEntry(const BatEntry& e, DiskType type, uint64_t index) {
  if (e.sector_bitmap_state() == SectorBitmapState::kNotPresent) return Status::Ok();
  if (!e.sector_bitmap_present()) {
    return Corrupt(Where(index) + ": reserved sector bitmap state " + std::to_string(e.state) +
                   " (MS-VHDX 2.5.1.2)");
  }
  if (type != DiskType::kDifferencing) {
    return Corrupt(Where(index) +
                   ": sector bitmap PRESENT outside a differencing file (MS-VHDX 2.5.1.2)");
  }
  if (e.file_offset_mb == 0) {
    return Corrupt(Where(index) + ": present sector bitmap at offset 0 (MS-VHDX 2.5.1)");
  }
  return Status::Ok();
}

Status CheckEntryForWrite(const BatEntry& e, const BatGeometry& g, uint64_t index) {
  if (index >= g.total_entries()) {
    return InvalidArgument(Where(index) + ": beyond the " + std::to_string(g.total_entries()) +
                           " entries of this BAT (MS-VHDX 2.5)");
  }
  bool bitmap = g.IsSectorBitmapIndex(index);
  Status st = bitmap ? ValidateSectorBitmapEntry(e, g.type(), index)
                     : ValidatePayloadEntry(e, g.type(), index);
  if (!st.ok()) return InvalidArgument(st.message());
  bool offset_allowed = bitmap ? e.sector_bitmap_present() : e.payload_allocated();
  if (!offset_allowed && e.file_offset_mb != 0) {
    return InvalidArgument(Where(index) + ": state " + std::to_string(e.state) +
                           " must be written with FileOffsetMB 0 (MS-VHDX 2.5.1.1)");
  }
  return Status::Ok();
}

namespace {

// The payload entries of chunk c; true when one is PARTIALLY_PRESENT.
Result<bool> CheckChunk(std::span<const std::byte> bat, const BatGeometry& g, uint64_t chunk) {
  bool partial = false;
  uint64_t first = chunk * (g.chunk_ratio() + 1);
  uint64_t end = std::min(first + g.chunk_ratio(), g.total_entries());
  for (uint64_t i = first; i < end; ++i) {
    ASSIGN_OR_RETURN(BatEntry e, BatEntry::FromRaw(LoadU64(bat, i * BatEntry::kSize)));
    RETURN_IF_ERROR(ValidatePayloadEntry(e, g.type(), i));
    partial |= e.payload_state() == PayloadState::kPartiallyPresent;
  }
  return partial;
}

}  // namespace

Status ValidateBat(std::span<const std::byte> bat, const BatGeometry& g) {
  RETURN_IF_ERROR(g.CheckRegionLength(bat.size()));
  for (uint64_t c = 0; c < g.chunks(); ++c) {
    ASSIGN_OR_RETURN(bool partial, CheckChunk(bat, g, c));
    uint64_t sb = g.SectorBitmapIndex(c);
    if (sb >= g.total_entries()) continue;  // fixed/dynamic: the last chunk has no SB entry
    ASSIGN_OR_RETURN(BatEntry e, BatEntry::FromRaw(LoadU64(bat, sb * BatEntry::kSize)));
    RETURN_IF_ERROR(ValidateSectorBitmapEntry(e, g.type(), sb));
    if (partial && !e.sector_bitmap_present()) {
      return Corrupt(Where(sb) + ": chunk " + std::to_string(c) +
                     " has a PARTIALLY_PRESENT block but no sector bitmap (MS-VHDX 2.5.1.2)");
    }
  }
  return Status::Ok();
}

}  // namespace hvdisk::vhdx
