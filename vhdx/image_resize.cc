// Image::Resize (Resize-VHD): grows any disk; shrinks one that stores nothing past the new end.
//
// Growing, steps and crash points:
//   (1) zero the unused tail of a last block the old size cut short (unseen until step 4);
//   (2) if the BAT must grow past its region, write a new BAT at the end of the file and flush it
//       (unreferenced until step 4);
//   (3) a fixed disk: reserve its new blocks past the last object (unreferenced until step 4);
//   (4) one log entry with the region table, the metadata (the new size) and the BAT pages (the
//       new entries), applied in place (FlushMetadata).
// A crash before (4)'s entry is durable leaves the old size (a writable open trims what (2) and
// (3) reserved); after it, replay gives the new one.
// Shrinking: (1) refuse with kInvalidArgument, nothing written, when data lies past the new end;
// (2) one log entry: the new size and the removed blocks' entries cleared, its FlushedFileOffset
// the new end of the last object (MS-VHDX 2.3.1.1: logged before the file shrinks); (3) flush,
// truncate past the last object, flush. A crash before (3) leaves the space, which an open trims.
#include <algorithm>
#include <optional>

#include "platform/hex.h"
#include "vhdx/image_state.h"

namespace hvdisk::vhdx {
namespace {

// Writes the BAT afresh at `off` (`len` bytes, whole MiB): the current entries, then zeros; 1 MiB
// at a time, so memory does not follow the BAT's size. REQUIRES: flush_mu held.
Status WriteBatCopy(Image::State* s, uint64_t off, uint64_t len) {
  std::vector<uint64_t> entries(kMiB / 8);
  std::vector<std::byte> raw(kMiB);
  for (uint64_t done = 0; done < len; done += kMiB) {
    const uint64_t first = done / 8, capacity = s->bat.capacity();
    const uint64_t have =
        first < capacity ? std::min<uint64_t>(entries.size(), capacity - first) : 0;
    if (have > 0) {
      std::lock_guard<std::mutex> l(s->mu);
      RETURN_IF_ERROR(s->bat.ReadRange(first, std::span(entries).first(have)));
    }
    std::fill(raw.begin(), raw.end(), std::byte{0});
    for (uint64_t i = 0; i < have; ++i) StoreU64(raw, i * 8, entries[i]);
    RETURN_IF_ERROR(s->file->WriteAt(off + done, raw));
  }
  return Status::Ok();
}

// Grows the BAT in place to `entries`: the new entries read as zero (NOT_PRESENT), whatever the
// unused tail of the region held. REQUIRES: flush_mu and mu held.
Status GrowBatInPlace(Image::State* s, uint64_t entries) {
  const uint64_t old_capacity = s->bat.capacity();
  s->bat.Grow(entries);
  std::vector<uint64_t> window(kMiB / 8);
  for (uint64_t first = old_capacity; first < s->bat.capacity(); first += window.size()) {
    window.resize(std::min<uint64_t>(window.size(), s->bat.capacity() - first));
    RETURN_IF_ERROR(s->bat.ReadRange(first, window));
    for (uint64_t i = 0; i < window.size(); ++i) {
      if (window[i] != 0) RETURN_IF_ERROR(s->SetEntry(first + i, BatEntry{}));
    }
  }
  return Status::Ok();
}

// Step (2) of growing: writes a larger BAT past the last object and stages the region tables that
// name it. REQUIRES: flush_mu held.
Status RelocateBat(Image::State* s, uint64_t entries) {
  uint64_t len = AlignUp(entries * 8, kMiB);
  if (len > UINT32_MAX) return InvalidArgument("BAT larger than a region may be");
  uint64_t off;
  {
    std::lock_guard<std::mutex> l(s->mu);
    ASSIGN_OR_RETURN(off, AllocateSpace(s, len));  // reserved before anything names it
  }
  Status written = WriteBatCopy(s, off, len);
  if (written.ok()) written = s->file->Flush();
  if (!written.ok()) {  // give the space back: nothing names it
    std::lock_guard<std::mutex> l(s->mu);
    if (s->next_alloc == off + len) s->next_alloc = off;
    return written;
  }
  RegionTable rt = RegionTable::ForRegions(off, static_cast<uint32_t>(len), s->metadata_offset,
                                           static_cast<uint32_t>(s->metadata_length));
  std::vector<std::byte> raw = rt.Encode();
  std::lock_guard<std::mutex> l(s->mu);
  for (uint64_t copy : {kRegionTable1Offset, kRegionTable2Offset}) {
    s->extra_pages.push_back({copy, {raw.begin(), raw.begin() + kPageSize}});
  }
  s->bat_offset = off;
  s->bat_length = len;
  s->bat.Relocated(off, entries);  // the new BAT was written whole
  return Status::Ok();
}

// Writes zeros over `length` bytes of the file at `offset`, 1 MiB at a time.
Status ZeroFileRange(File* file, uint64_t offset, uint64_t length) {
  std::vector<std::byte> zeros(std::min<uint64_t>(length, kMiB));
  for (uint64_t done = 0; done < length; done += zeros.size()) {
    uint64_t n = std::min<uint64_t>(zeros.size(), length - done);
    RETURN_IF_ERROR(file->WriteAt(offset + done, std::span(zeros).first(n)));
  }
  return Status::Ok();
}

// Step (1) of growing: a FULLY_PRESENT last block cut short by the old size shows its tail once
// the size grows; whatever the file held there becomes zeros first. REQUIRES: flush_mu held.
Status ZeroCutTail(Image::State* s, uint64_t new_size) {
  const uint64_t old_size = s->params.virtual_disk_size, bs = s->block_size();
  if (old_size % bs == 0) return Status::Ok();
  BatEntry e;
  {
    std::lock_guard<std::mutex> l(s->mu);
    ASSIGN_OR_RETURN(e, s->Entry(s->PayloadIndex(old_size / bs)));
  }
  if (e.payload_state() != PayloadState::kFullyPresent) return Status::Ok();
  const uint64_t end = std::min(AlignDown(old_size, bs) + bs, new_size);
  return ZeroFileRange(s->file.get(), e.file_offset() + old_size % bs, end - old_size);
}

// Step (3) of growing a fixed disk: blocks [from, to) get file space past the last object,
// FULLY_PRESENT (fresh space reads as zeros). REQUIRES: mu held; payload_blocks already `to`.
Status AllocateFixedBlocks(Image::State* s, uint64_t from, uint64_t to) {
  if (to <= from) return Status::Ok();
  ASSIGN_OR_RETURN(uint64_t off, AllocateSpace(s, (to - from) * s->block_size()));
  for (uint64_t b = from; b < to; ++b) {
    const uint64_t at = off + (b - from) * s->block_size();
    RETURN_IF_ERROR(
        s->SetEntry(s->PayloadIndex(b), BatEntry::Payload(PayloadState::kFullyPresent, at)));
    s->allocated++;
  }
  return Status::Ok();
}

Status Grow(Image::State* s, uint64_t new_size) {
  const uint64_t old_blocks = s->payload_blocks;
  DiskParameters next = s->params;
  next.virtual_disk_size = new_size;
  const uint64_t entries = BatEntryCountFor(next);
  RETURN_IF_ERROR(ZeroCutTail(s, new_size));
  if (entries * 8 > s->bat_length) RETURN_IF_ERROR(RelocateBat(s, entries));
  ASSIGN_OR_RETURN(std::vector<std::byte> region, next.EncodeRegion(s->metadata_length));
  RETURN_IF_ERROR(StageMetadataRegion(s, std::move(region)));
  {
    std::lock_guard<std::mutex> l(s->mu);
    RETURN_IF_ERROR(GrowBatInPlace(s, entries));  // relocated: already grown
    s->params = next;
    s->payload_blocks = DivRoundUp(new_size, s->block_size());
    if (s->params.type() == DiskType::kFixed) {
      RETURN_IF_ERROR(AllocateFixedBlocks(s, old_blocks, s->payload_blocks));
    }
  }
  return FlushMetadata(s);
}

// The first virtual offset at or past `from` (inside `block`, mapped at `file_offset`) whose byte
// is not zero, reading the file up to the old end of the block.
Result<std::optional<uint64_t>> FirstNonZero(Image::State* s, uint64_t block, uint64_t file_offset,
                                             uint64_t from) {
  const uint64_t bs = s->block_size();
  const uint64_t end = std::min((block + 1) * bs, s->params.virtual_disk_size);
  std::vector<std::byte> buf(std::min<uint64_t>(bs, kMiB));
  for (uint64_t pos = from; pos < end;) {
    const uint64_t n = std::min<uint64_t>(buf.size(), end - pos);
    auto dst = std::span(buf).first(n);
    ASSIGN_OR_RETURN(size_t got, s->file->ReadAt(file_offset + (pos - block * bs), dst));
    for (size_t i = 0; i < got; ++i) {
      if (dst[i] != std::byte{0})
        return std::optional<uint64_t>(AlignDown(pos + i, s->sector_size()));
    }
    pos += n;
  }
  return std::optional<uint64_t>();
}

// Where data lies at or past `new_size`, if anywhere: the first allocated block wholly past it
// (dynamic, differencing), the first non-zero byte (a fixed disk's blocks, and the part of a
// block that straddles the new end), or the first present sector of a PARTIALLY_PRESENT one.
// REQUIRES: mu held.
Result<std::optional<uint64_t>> DataPastEnd(Image::State* s, uint64_t new_size) {
  const uint64_t bs = s->block_size();
  for (uint64_t b = new_size / bs; b < s->payload_blocks; ++b) {
    ASSIGN_OR_RETURN(BatEntry e, s->Entry(s->PayloadIndex(b)));
    if (!e.payload_allocated()) continue;
    const uint64_t from = std::max(b * bs, new_size);
    if (e.payload_state() == PayloadState::kPartiallyPresent) {
      RETURN_IF_ERROR(LoadBitmap(s, b / s->chunk_ratio));
      const std::vector<std::byte>& bm = s->bitmaps[b / s->chunk_ratio];
      const uint64_t base = (b % s->chunk_ratio) * s->sectors_per_block();
      for (uint64_t pos = from; pos < std::min((b + 1) * bs, s->params.virtual_disk_size);
           pos += s->sector_size()) {
        const uint64_t bit = base + (pos - b * bs) / s->sector_size();
        if ((bm[bit / 8] & std::byte(1u << (bit % 8))) != std::byte{0}) return std::optional(pos);
      }
      continue;
    }
    if (from == b * bs && s->params.type() != DiskType::kFixed) return std::optional(from);
    ASSIGN_OR_RETURN(std::optional<uint64_t> at, FirstNonZero(s, b, e.file_offset(), from));
    if (at) return at;
  }
  return std::optional<uint64_t>();
}

// Clears the entries of the blocks and sector bitmaps the new size removes. REQUIRES: mu held.
Status ClearRemovedEntries(Image::State* s, uint64_t new_blocks) {
  for (uint64_t b = new_blocks; b < s->payload_blocks; ++b) {
    ASSIGN_OR_RETURN(BatEntry e, s->Entry(s->PayloadIndex(b)));
    if (e.payload_allocated()) s->allocated--;
    if (e != BatEntry{}) RETURN_IF_ERROR(s->SetEntry(s->PayloadIndex(b), BatEntry{}));
  }
  const uint64_t old_chunks = DivRoundUp(s->payload_blocks, s->chunk_ratio);
  for (uint64_t c = DivRoundUp(new_blocks, s->chunk_ratio); c < old_chunks; ++c) {
    if (s->BitmapIndex(c) >= s->bat.capacity()) break;
    ASSIGN_OR_RETURN(BatEntry e, s->Entry(s->BitmapIndex(c)));
    if (e != BatEntry{}) RETURN_IF_ERROR(s->SetEntry(s->BitmapIndex(c), BatEntry{}));
    s->bitmaps.erase(c);
  }
  return Status::Ok();
}

Status Shrink(Image::State* s, uint64_t new_size) {
  DiskParameters next = s->params;
  next.virtual_disk_size = new_size;
  {
    std::lock_guard<std::mutex> l(s->mu);
    ASSIGN_OR_RETURN(std::optional<uint64_t> at, DataPastEnd(s, new_size));
    if (at) {
      return InvalidArgument(s->path + ": data at virtual offset " + Hex(*at) +
                             " lies past the new end " + Hex(new_size) +
                             "; shrink the file system inside first, or choose a larger size");
    }
  }
  ASSIGN_OR_RETURN(std::vector<std::byte> region, next.EncodeRegion(s->metadata_length));
  RETURN_IF_ERROR(StageMetadataRegion(s, std::move(region)));
  {
    std::lock_guard<std::mutex> l(s->mu);
    RETURN_IF_ERROR(ClearRemovedEntries(s, DivRoundUp(new_size, s->block_size())));
    s->params = next;
    s->payload_blocks = DivRoundUp(new_size, s->block_size());
  }
  return TruncatePastLastObject(s);
}

}  // namespace

// Logs the staged changes with FlushedFileOffset at the end of the last object, then gives the
// space past it back. REQUIRES: flush_mu held, no I/O in flight.
Status TruncatePastLastObject(Image::State* s) {
  {
    std::lock_guard<std::mutex> l(s->mu);
    ASSIGN_OR_RETURN(uint64_t size, s->file->Size());
    uint64_t end = 0;
    RETURN_IF_ERROR(ValidateBat(s, std::max(size, s->next_alloc), &end));
    s->next_alloc = AlignUp(end, kMiB);
  }
  RETURN_IF_ERROR(FlushMetadata(s));
  RETURN_IF_ERROR(s->file->Flush());  // the applied pages, before the space they freed goes
  ASSIGN_OR_RETURN(uint64_t size, s->file->Size());
  if (size > s->next_alloc) RETURN_IF_ERROR(s->file->Truncate(s->next_alloc));
  s->reserved_end = s->next_alloc;
  RETURN_IF_ERROR(s->file->Flush());
  s->apply_unsynced = false;
  return Status::Ok();
}

Status Image::Resize(uint64_t new_size, bool allow_shrink) {
  State* s = s_.get();
  RETURN_IF_ERROR(CheckWritableMeta(s));
  if (new_size == 0 || new_size % s->sector_size() != 0 || new_size > kMaxVirtualDiskSize) {
    return InvalidArgument("new size " + std::to_string(new_size) +
                           " must be a non-zero multiple of the logical sector size (" +
                           std::to_string(s->sector_size()) + "), at most 64 TiB");
  }
  std::lock_guard<std::mutex> lock(s->flush_mu);
  if (new_size == s->params.virtual_disk_size) return Status::Ok();
  if (new_size > s->params.virtual_disk_size) return Grow(s, new_size);
  if (!allow_shrink) {
    return InvalidArgument(s->path + ": " + Hex(new_size) + " is smaller than the disk's " +
                           Hex(s->params.virtual_disk_size) + "; shrinking needs --shrink");
  }
  RETURN_IF_ERROR(FlushMetadata(s));  // writes before the resize are durable first
  return Shrink(s, new_size);
}

}  // namespace hvdisk::vhdx
