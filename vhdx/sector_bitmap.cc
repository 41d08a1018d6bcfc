#include "vhdx/sector_bitmap.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

namespace hvdisk::vhdx {
namespace {

Status RangeError(uint64_t first, uint64_t count, uint64_t bits) {
  return InvalidArgument("sector bitmap: range [" + std::to_string(first) + ", +" +
                         std::to_string(count) + ") outside " + std::to_string(bits) +
                         " bits (MS-VHDX 2.4.2)");
}

}  // namespace

Status SectorBitmapView::CheckRange(uint64_t first, uint64_t count) const {
  if (first > bit_count() || count > bit_count() - first) {
    return RangeError(first, count, bit_count());
  }
  return Status::Ok();
}

uint64_t SectorBitmapView::FindNot(uint64_t from, uint64_t limit, bool value) const {
  uint64_t i = from;
  // Bit by bit up to a 64-bit boundary, then whole words, then the tail.
  while (i < limit && i % 64 != 0) {
    if (Test(i) != value) return i;
    ++i;
  }
  const uint64_t pattern = value ? ~uint64_t{0} : 0;
  while (i + 64 <= limit) {
    uint64_t diff = LoadU64(bytes_, i / 8) ^ pattern;
    if (diff != 0) return i + static_cast<uint64_t>(std::countr_zero(diff));
    i += 64;
  }
  while (i < limit && Test(i) == value) ++i;
  return i;
}

SectorRun SectorBitmapView::RunAt(uint64_t first, uint64_t limit) const {
  bool value = Test(first);
  uint64_t end = FindNot(first + 1, limit, value);
  return SectorRun{first, end - first, value};
}

Result<std::vector<SectorRun>> SectorBitmapView::Runs(uint64_t first, uint64_t count) const {
  RETURN_IF_ERROR(CheckRange(first, count));
  std::vector<SectorRun> runs;
  uint64_t limit = first + count;
  for (uint64_t i = first; i < limit;) {
    runs.push_back(RunAt(i, limit));
    i += runs.back().count;
  }
  return runs;
}

Result<bool> SectorBitmapView::AllEqual(uint64_t first, uint64_t count, bool value) const {
  RETURN_IF_ERROR(CheckRange(first, count));
  return FindNot(first, first + count, value) == first + count;
}

Result<uint64_t> SectorBitmapView::CountSet(uint64_t first, uint64_t count) const {
  RETURN_IF_ERROR(CheckRange(first, count));
  uint64_t n = 0;
  uint64_t i = first;
  uint64_t limit = first + count;
  for (; i < limit && i % 64 != 0; ++i) n += Test(i);
  for (; i + 64 <= limit; i += 64)
    n += static_cast<uint64_t>(std::popcount(LoadU64(bytes_, i / 8)));
  for (; i < limit; ++i) n += Test(i);
  return n;
}

Status SectorBitmap::Assign(uint64_t first, uint64_t count, bool value) {
  if (first > bit_count() || count > bit_count() - first) {
    return RangeError(first, count, bit_count());
  }
  uint64_t i = first;
  uint64_t limit = first + count;
  auto assign_bit = [&](uint64_t bit) {
    uint8_t mask = static_cast<uint8_t>(1u << (bit % 8));
    uint8_t b = static_cast<uint8_t>(bytes_[bit / 8]);
    bytes_[bit / 8] = std::byte(value ? (b | mask) : (b & ~mask));
  };
  for (; i < limit && i % 8 != 0; ++i) assign_bit(i);
  uint64_t whole_bytes = (limit - i) / 8;
  std::memset(bytes_.data() + i / 8, value ? 0xFF : 0x00, whole_bytes);
  i += whole_bytes * 8;
  for (; i < limit; ++i) assign_bit(i);
  return Status::Ok();
}

}  // namespace hvdisk::vhdx
