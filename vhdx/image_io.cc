// The data path: map virtual ranges to extents, read, write (allocating blocks and sector-bitmap
// bits on demand) and trim. Metadata changes made here stay in memory, marked dirty, until Flush
// logs them; allocations only ever append at next_alloc, so space a crash leaves unreferenced
// sits past the last object and is trimmed at the next writable open.
#include <algorithm>
#include <cstring>

#include "platform/hex.h"
#include "vhdx/image_state.h"

namespace hvdisk::vhdx {
namespace {

bool TestBit(const std::vector<std::byte>& bm, uint64_t bit) {
  return (std::to_integer<unsigned>(bm[bit / 8]) >> (bit % 8)) & 1;
}

void Push(std::vector<Extent>* out, Extent::Kind kind, uint64_t voff, uint64_t len, uint64_t foff) {
  if (!out->empty()) {
    Extent& last = out->back();
    if (last.kind == kind && last.virtual_offset + last.length == voff &&
        (kind != Extent::Kind::kData || last.file_offset + last.length == foff)) {
      last.length += len;
      return;
    }
  }
  out->push_back({kind, voff, len, foff});
}

// Maps part of a PARTIALLY_PRESENT block through its sector bitmap. REQUIRES: mu held.
Status MapPartial(Image::State* s, uint64_t block, uint64_t block_off, uint64_t voff, uint64_t n,
                  uint64_t file_block, std::vector<Extent>* out) {
  uint64_t chunk = block / s->chunk_ratio;
  RETURN_IF_ERROR(LoadBitmap(s, chunk));
  const std::vector<std::byte>& bm = s->bitmaps[chunk];
  uint64_t ss = s->sector_size();
  uint64_t base_bit = (block % s->chunk_ratio) * s->sectors_per_block();
  for (uint64_t pos = block_off; pos < block_off + n;) {
    uint64_t sector_end = std::min(AlignDown(pos, ss) + ss, block_off + n);
    bool here = TestBit(bm, base_bit + pos / ss);
    Push(out, here ? Extent::Kind::kData : Extent::Kind::kParent, voff + (pos - block_off),
         sector_end - pos, file_block + pos);
    pos = sector_end;
  }
  return Status::Ok();
}

// How many payload blocks have a BAT index below `index`.
uint64_t PayloadsBelow(const Image::State* s, uint64_t index) {
  const uint64_t group = s->chunk_ratio + 1;  // chunk_ratio payload entries, then a bitmap entry
  return index / group * s->chunk_ratio + std::min(index % group, s->chunk_ratio);
}

// The bytes from offset `bo` of `block` to the end of the run of blocks whose BAT entries are
// all zero (pages in a hole of the file are not read), capped at `rest`; at least the rest of
// `block`. REQUIRES: mu held; block's entry is zero.
Result<uint64_t> ZeroSpan(Image::State* s, uint64_t block, uint64_t bo, uint64_t rest) {
  const uint64_t bs = s->block_size();
  const uint64_t first = s->PayloadIndex(block);
  const uint64_t end = s->PayloadIndex(block + DivRoundUp(bo + rest, bs) - 1) + 1;
  ASSIGN_OR_RETURN(uint64_t run, s->bat.ZeroRun(first, end - first, /*load=*/true));
  const uint64_t blocks = std::max<uint64_t>(1, PayloadsBelow(s, first + run) - block);
  return std::min(blocks * bs - bo, rest);
}

}  // namespace

// Sets or clears bits [first, first + count) and marks their 4 KiB pages dirty. REQUIRES: mu.
void SetBits(Image::State* s, uint64_t chunk, uint64_t first, uint64_t count, bool value) {
  std::vector<std::byte>& bm = s->bitmaps[chunk];
  for (uint64_t b = first; b < first + count; ++b) {
    auto mask = std::byte(1u << (b % 8));
    bm[b / 8] = value ? (bm[b / 8] | mask) : (bm[b / 8] & ~mask);
  }
  for (uint64_t p = first / 8 / kPageSize; p <= (first + count - 1) / 8 / kPageSize; ++p) {
    s->dirty_bitmap_pages.insert({chunk, p});
  }
}

Status LoadBitmap(Image::State* s, uint64_t chunk) {
  if (s->bitmaps.count(chunk)) return Status::Ok();
  std::vector<std::byte> bm(kSectorBitmapBlockSize);
  ASSIGN_OR_RETURN(BatEntry e, s->Entry(s->BitmapIndex(chunk)));
  if (e.sector_bitmap_present()) {
    ASSIGN_OR_RETURN(size_t n, s->file->ReadAt(e.file_offset(), bm));
    (void)n;  // a bitmap past the end of the file reads as zeros
  }
  s->bitmaps.emplace(chunk, std::move(bm));
  return Status::Ok();
}

Result<std::vector<Extent>> Image::Map(uint64_t offset, uint64_t length) {
  State* s = s_.get();
  if (offset > s->params.virtual_disk_size || length > s->params.virtual_disk_size - offset) {
    return InvalidArgument("range @" + Hex(offset) + "+" + Hex(length) + " past the disk's end");
  }
  std::vector<Extent> out;
  std::lock_guard<std::mutex> lock(s->mu);
  for (uint64_t pos = offset; pos < offset + length;) {
    uint64_t block = pos / s->block_size(), bo = pos % s->block_size();
    uint64_t n = std::min(s->block_size() - bo, offset + length - pos);
    ASSIGN_OR_RETURN(BatEntry e, s->Entry(s->PayloadIndex(block)));
    switch (e.payload_state()) {
      case PayloadState::kFullyPresent:
        Push(&out, Extent::Kind::kData, pos, n, e.file_offset() + bo);
        break;
      case PayloadState::kPartiallyPresent:
        RETURN_IF_ERROR(MapPartial(s, block, bo, pos, n, e.file_offset(), &out));
        break;
      case PayloadState::kNotPresent:
        if (e == BatEntry{}) {  // the run of empty blocks from here, in one step
          ASSIGN_OR_RETURN(n, ZeroSpan(s, block, bo, offset + length - pos));
        }
        Push(&out, s->differencing() ? Extent::Kind::kParent : Extent::Kind::kZero, pos, n, 0);
        break;
      default:  // ZERO, UNMAPPED, UNDEFINED: zeros, never the parent (MS-VHDX 2.5.1.1)
        Push(&out, Extent::Kind::kZero, pos, n, 0);
    }
    pos += n;
  }
  return out;
}

Status Image::PlanRead(uint64_t offset, std::span<std::byte> dst, std::vector<IoRequest>* out) {
  ASSIGN_OR_RETURN(std::vector<Extent> extents, Map(offset, dst.size()));
  for (const Extent& x : extents) {
    std::byte* p = dst.data() + (x.virtual_offset - offset);
    if (x.kind == Extent::Kind::kData) {
      File* f = s_->DataFileFor(x.file_offset, x.length, p);
      out->push_back({IoKind::kRead, f, x.file_offset, p, x.length, 0});
    } else if (x.kind == Extent::Kind::kParent && s_->backing != nullptr) {
      RETURN_IF_ERROR(s_->backing->PlanRead(x.virtual_offset, {p, x.length}, out));
    } else {
      std::memset(p, 0, x.length);
    }
  }
  return Status::Ok();
}

Status Image::Read(uint64_t offset, std::span<std::byte> dst) {
  std::vector<IoRequest> reqs;
  RETURN_IF_ERROR(PlanRead(offset, dst, &reqs));
  for (const IoRequest& r : reqs) {
    ASSIGN_OR_RETURN(size_t n, r.file->ReadAt(r.offset, {r.data, r.length}));
    std::memset(r.data + n, 0, r.length - n);  // a partial last block reads as zeros
  }
  return Status::Ok();
}

}  // namespace hvdisk::vhdx
