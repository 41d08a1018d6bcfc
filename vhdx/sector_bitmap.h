// SectorBitmap: the bits of a sector bitmap block (MS-VHDX §2.4.2, §2.5.1.2).
//
// A sector bitmap block is 1 MiB and covers one chunk of 2^23 logical sectors. Bit i, LSB-first
// in each byte, is sector i of the chunk: 1 = the data is in this file, 0 = in the parent.
// The views work on any byte span (usually the 1 MiB block, or a 4 KiB page of it); ranges are
// in bits. Views do not own their bytes. Thread safety: none beyond that of the bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "platform/status.h"
#include "vhdx/format.h"

namespace hvdisk::vhdx {

// A maximal range of equal bits.
struct SectorRun {
  uint64_t first = 0;  // bit (sector) index
  uint64_t count = 0;
  bool present = false;  // the bit value

  bool operator==(const SectorRun&) const = default;
};

class SectorBitmapView {
 public:
  static constexpr size_t kBlockSize = kSectorBitmapBlockSize;  // 1 MiB
  static constexpr uint64_t kBitsPerBlock = kSectorsPerChunk;   // 2^23

  explicit SectorBitmapView(std::span<const std::byte> bytes) : bytes_(bytes) {}

  uint64_t bit_count() const { return uint64_t{bytes_.size()} * 8; }
  // REQUIRES: bit < bit_count().
  bool Test(uint64_t bit) const {
    return (static_cast<uint8_t>(bytes_[bit / 8]) >> (bit % 8) & 1) != 0;
  }
  // The run of bits equal to Test(first) starting at `first`, stopping at `limit` (exclusive).
  // REQUIRES: first < limit <= bit_count().
  SectorRun RunAt(uint64_t first, uint64_t limit) const;
  // [first, first + count) split into maximal runs, in order: a read plan (present runs read
  // this file, the others the parent). InvalidArgument when out of range.
  Result<std::vector<SectorRun>> Runs(uint64_t first, uint64_t count) const;
  // True when every bit of [first, first + count) equals `value` (count 0: true).
  // InvalidArgument when out of range.
  Result<bool> AllEqual(uint64_t first, uint64_t count, bool value) const;
  // Number of set bits in [first, first + count). InvalidArgument when out of range.
  Result<uint64_t> CountSet(uint64_t first, uint64_t count) const;

 private:
  // Index of the first bit in [from, limit) that differs from `value`, or limit.
  uint64_t FindNot(uint64_t from, uint64_t limit, bool value) const;
  Status CheckRange(uint64_t first, uint64_t count) const;

  std::span<const std::byte> bytes_;
};

class SectorBitmap {
 public:
  explicit SectorBitmap(std::span<std::byte> bytes) : bytes_(bytes) {}

  SectorBitmapView view() const { return SectorBitmapView(bytes_); }
  uint64_t bit_count() const { return uint64_t{bytes_.size()} * 8; }
  bool Test(uint64_t bit) const { return view().Test(bit); }  // REQUIRES: bit < bit_count()

  // Sets [first, first + count) to `value`. InvalidArgument when out of range.
  Status Assign(uint64_t first, uint64_t count, bool value);
  Status Set(uint64_t first, uint64_t count) { return Assign(first, count, true); }
  Status Clear(uint64_t first, uint64_t count) { return Assign(first, count, false); }

 private:
  std::span<std::byte> bytes_;
};

}  // namespace hvdisk::vhdx
