// Writes and trims. Write order for an allocating write (commented where it happens):
//   reserve file space -> allocate at next_alloc (in memory) -> write the payload -> set bits;
// the BAT and bitmap pages reach the disk only through the log at the next Flush, after the
// payload has been flushed: data before the metadata that exposes it (MS-VHDX 2.3).
// File space is reserved ahead of next_alloc in steps of kReserveStep (one fallocate per step, not
// per block), always before a BAT entry names it: a failed reservation (kNoSpace) changes
// nothing. Close trims what was not used, and a writable open trims what a crash left.
#include <algorithm>
#include <cstring>
#include <set>

#include "platform/hex.h"
#include "vhdx/image_state.h"

namespace hvdisk::vhdx {
namespace {

// File space reserved per fallocate: 64 MiB, or one block if larger, when the disk has room;
// less, down to what the allocation needs, when it has not.
constexpr uint64_t kReserveStep = 64 * kMiB;

struct Placement {
  uint64_t file_offset = 0;
  bool set_bits = false;
};

uint64_t BlockLength(Image::State* s, uint64_t block) {
  return std::min<uint64_t>(s->block_size(), s->params.virtual_disk_size - block * s->block_size());
}

// The most file space the image could still allocate: every absent block and bitmap block.
uint64_t MostStillNeeded(Image::State* s) {
  uint64_t blocks = s->payload_blocks - std::min(s->allocated, s->payload_blocks);
  uint64_t bitmaps = s->differencing() ? DivRoundUp(s->payload_blocks, s->chunk_ratio) : 0;
  return blocks * s->block_size() + bitmaps * kSectorBitmapBlockSize;
}

// One fallocate of [from, end). On failure the file is cut back to its size before the call
// (a file system may keep part of a failed fallocate, and grow the file over it), so that a
// failed reservation leaves the file as it was. REQUIRES: mu held.
Status TryAllocate(Image::State* s, uint64_t from, uint64_t end) {
  ASSIGN_OR_RETURN(uint64_t before, s->file->Size());
  Status st = s->file->Allocate(from, end - from);
  if (st.ok()) return st;
  Result<uint64_t> after = s->file->Size();
  if (after.ok() && *after > before) (void)s->file->Truncate(before);
  return st;
}

// Makes sure the file space [next_alloc, next_alloc + length) is reserved, before anything names
// it: fallocates the next step past the reserved end (capped at what the image could still need),
// and on kNoSpace halves the step down to what the allocation needs. On failure nothing changed.
// Runs under mu, so that no piece is written into space whose reservation is still in flight.
// REQUIRES: mu held.
Status ReserveSpace(Image::State* s, uint64_t length) {
  const uint64_t need_end = s->next_alloc + length;
  if (length == 0 || need_end <= s->reserved_end) return Status::Ok();
  const uint64_t from = std::max(s->next_alloc, s->reserved_end);
  uint64_t step = std::min(std::max(kReserveStep, s->block_size()), MostStillNeeded(s));
  for (;;) {
    const uint64_t end = std::max(need_end, AlignUp(from + step, kMiB));
    Status st = TryAllocate(s, from, end);
    if (st.ok()) {
      s->reserved_end = end;
      return st;
    }
    if (st.code() != Code::kNoSpace || end == need_end) {
      return st.WithContext(s->path + ": reserving " + Hex(need_end - from) + " bytes @" +
                            Hex(from));
    }
    step /= 2;
  }
}

// Ensures the chunk's sector bitmap block exists (allocating it if needed). REQUIRES: mu held.
Status EnsureBitmapBlock(Image::State* s, uint64_t chunk) {
  uint64_t idx = s->BitmapIndex(chunk);
  ASSIGN_OR_RETURN(BatEntry e, s->Entry(idx));
  if (e.sector_bitmap_present()) return LoadBitmap(s, chunk);
  ASSIGN_OR_RETURN(uint64_t off, AllocateSpace(s, kSectorBitmapBlockSize));
  RETURN_IF_ERROR(s->SetEntry(idx, BatEntry::SectorBitmap(SectorBitmapState::kPresent, off)));
  // Appended space reads as zeros and is made durable by the data flush that precedes the log
  // entry, so only the bitmap pages that get bits need logging.
  s->bitmaps[chunk].assign(kSectorBitmapBlockSize, std::byte{0});
  return Status::Ok();
}

// Decides where a piece of a block goes, allocating the block if needed. REQUIRES: mu held.
Status Place(Image::State* s, uint64_t block, uint64_t bo, uint64_t n, Placement* p) {
  uint64_t idx = s->PayloadIndex(block);
  ASSIGN_OR_RETURN(BatEntry e, s->Entry(idx));
  if (e.payload_allocated()) {
    p->file_offset = e.file_offset() + bo;
    p->set_bits = e.payload_state() == PayloadState::kPartiallyPresent;
    return Status::Ok();
  }
  bool whole = bo == 0 && n == BlockLength(s, block);
  // A partial write into a transparent block of a differencing disk keeps the rest transparent.
  bool partial = s->differencing() && e.payload_state() == PayloadState::kNotPresent && !whole;
  // The space for the block (and its bitmap block) is reserved before any BAT entry names it.
  bool new_bitmap = false;
  if (partial) {
    ASSIGN_OR_RETURN(BatEntry sb, s->Entry(s->BitmapIndex(block / s->chunk_ratio)));
    new_bitmap = !sb.sector_bitmap_present();
  }
  RETURN_IF_ERROR(ReserveSpace(s, s->block_size() + (new_bitmap ? kSectorBitmapBlockSize : 0)));
  if (partial) RETURN_IF_ERROR(EnsureBitmapBlock(s, block / s->chunk_ratio));
  // Whole blocks, the last partial one included; new space reads as zeros past the piece.
  ASSIGN_OR_RETURN(uint64_t off, AllocateSpace(s, s->block_size()));
  const PayloadState state =
      partial ? PayloadState::kPartiallyPresent : PayloadState::kFullyPresent;
  RETURN_IF_ERROR(s->SetEntry(idx, BatEntry::Payload(state, off)));
  s->allocated++;
  p->file_offset = off + bo;
  p->set_bits = partial;
  return Status::Ok();
}

// What a write puts on the disk: bytes in memory, or a range of another file (Image::CopyFrom).
struct Payload {
  std::span<const std::byte> data;  // when src is null
  File* src = nullptr;
  uint64_t src_offset = 0, length = 0;

  static Payload Of(std::span<const std::byte> d) { return {d, nullptr, 0, d.size()}; }
  Payload Sub(uint64_t off, uint64_t n) const {
    return src ? Payload{{}, src, src_offset + off, n} : Of(data.subspan(off, n));
  }
  // The handle to write through: O_DIRECT needs aligned memory; copies use the buffered one.
  File* Target(Image::State* s, uint64_t file_offset) const {
    return src ? s->file.get() : s->DataFileFor(file_offset, length, data.data());
  }
  Status WriteTo(File* f, uint64_t file_offset) const {
    return src ? f->CopyFrom(*src, src_offset, file_offset, length) : f->WriteAt(file_offset, data);
  }
};

// Places one piece that lies inside one block: allocates and reserves its space; returns the
// handle to write it through. REQUIRES: gate held shared; sector aligned.
Result<File*> PlacePiece(Image::State* s, uint64_t pos, const Payload& piece, Placement* p) {
  {
    std::lock_guard<std::mutex> lock(s->mu);
    RETURN_IF_ERROR(Place(s, pos / s->block_size(), pos % s->block_size(), piece.length, p));
  }
  return piece.Target(s, p->file_offset);
}

// After the payload of a partial piece: a bit never points at unwritten data. REQUIRES: gate.
Status SetPieceBits(Image::State* s, uint64_t pos, uint64_t length) {
  std::lock_guard<std::mutex> lock(s->mu);
  uint64_t block = pos / s->block_size(), bo = pos % s->block_size();
  uint64_t ss = s->sector_size();
  uint64_t first = (block % s->chunk_ratio) * s->sectors_per_block() + bo / ss;
  uint64_t chunk = block / s->chunk_ratio;
  RETURN_IF_ERROR(LoadBitmap(s, chunk));
  SetBits(s, chunk, first, length / ss, true);
  return Status::Ok();
}

// Writes one piece that lies inside one block, or (out not null, no bitmap bits to set) appends
// its request to *out. REQUIRES: gate held shared; sector aligned.
Status WritePiece(Image::State* s, uint64_t pos, const Payload& piece,
                  std::vector<IoRequest>* out) {
  Placement p;
  ASSIGN_OR_RETURN(File * f, PlacePiece(s, pos, piece, &p));
  if (out != nullptr && !p.set_bits && !piece.src) {
    std::byte* src = const_cast<std::byte*>(piece.data.data());  // IoRequest never modifies it
    out->push_back({IoKind::kWrite, f, p.file_offset, src, piece.length, 0});
    return Status::Ok();
  }
  RETURN_IF_ERROR(piece.WriteTo(f, p.file_offset));
  return p.set_bits ? SetPieceBits(s, pos, piece.length) : Status::Ok();
}

Status WriteAligned(Image::State* s, uint64_t offset, const Payload& payload,
                    std::vector<IoRequest>* out = nullptr) {
  for (uint64_t done = 0; done < payload.length;) {
    uint64_t pos = offset + done;
    uint64_t n = std::min(s->block_size() - pos % s->block_size(), payload.length - done);
    RETURN_IF_ERROR(WritePiece(s, pos, payload.Sub(done, n), out));
    done += n;
  }
  return Status::Ok();
}

Status CheckWritable(Image::State* s, uint64_t offset, uint64_t length) {
  if (s->read_only) return AccessDenied(s->path + ": opened read-only");
  if (s->closed) return InvalidState(s->path + ": closed");
  if (offset > s->params.virtual_disk_size || length > s->params.virtual_disk_size - offset) {
    return InvalidArgument("range @" + Hex(offset) + "+" + Hex(length) + " past the disk's end");
  }
  return Status::Ok();
}

// First user-visible change of a session: new DataWriteGuid (MS-VHDX 2.2.2).
Status EnsureDataWriteGuid(Image::State* s) {
  std::lock_guard<std::mutex> lock(s->flush_mu);
  if (s->data_write_guid_changed) return Status::Ok();
  VhdxHeader next = s->header;
  next.data_write_guid = Guid::Random();
  RETURN_IF_ERROR(WriteHeaderUpdate(s, next));
  s->data_write_guid_changed = true;
  return Status::Ok();
}

// A sector-aligned write (or copy), checked, under a new DataWriteGuid. REQUIRES: aligned.
Status WriteSectors(Image::State* s, uint64_t offset, const Payload& payload,
                    std::vector<IoRequest>* out = nullptr) {
  RETURN_IF_ERROR(CheckWritable(s, offset, payload.length));
  if (payload.length == 0) return Status::Ok();
  RETURN_IF_ERROR(EnsureDataWriteGuid(s));
  std::shared_lock<std::shared_mutex> gate(s->gate);
  return WriteAligned(s, offset, payload, out);
}

// A transparent trim of part of a present block of a differencing disk: the whole sectors of
// [bo, bo + n) stop being present, so the parent shows through them. A FULLY_PRESENT block
// becomes PARTIALLY_PRESENT with every other sector's bit set. The BAT and bitmap changes reach
// the disk together in the next log entry. REQUIRES: gate held shared, mu held.
Status MakeSectorsTransparent(Image::State* s, uint64_t block, uint64_t bo, uint64_t n) {
  const uint64_t ss = s->sector_size();
  const uint64_t first = AlignUp(bo, ss) / ss, end = (bo + n) / ss;
  const uint64_t idx = s->PayloadIndex(block);
  ASSIGN_OR_RETURN(const BatEntry e, s->Entry(idx));
  if (end <= first || !e.payload_allocated()) {
    return Status::Ok();  // nothing present to uncover (zero blocks stay zero)
  }
  const uint64_t chunk = block / s->chunk_ratio;
  const uint64_t base = (block % s->chunk_ratio) * s->sectors_per_block();
  if (e.payload_state() == PayloadState::kFullyPresent) {
    RETURN_IF_ERROR(EnsureBitmapBlock(s, chunk));
    SetBits(s, chunk, base, BlockLength(s, block) / ss, true);
    RETURN_IF_ERROR(
        s->SetEntry(idx, BatEntry::Payload(PayloadState::kPartiallyPresent, e.file_offset())));
  } else {
    RETURN_IF_ERROR(LoadBitmap(s, chunk));
  }
  SetBits(s, chunk, base + first, end - first, false);
  return Status::Ok();
}

}  // namespace

Result<uint64_t> AllocateSpace(Image::State* s, uint64_t length) {
  RETURN_IF_ERROR(ReserveSpace(s, length));
  const uint64_t off = s->next_alloc;
  s->next_alloc += length;
  return off;
}

Status Image::Reserve(std::span<const std::pair<uint64_t, uint64_t>> ranges) {
  State* s = s_.get();
  for (auto [offset, length] : ranges) RETURN_IF_ERROR(CheckWritable(s, offset, length));
  std::lock_guard<std::mutex> lock(s->mu);
  std::set<uint64_t> blocks, chunks;  // to allocate: payload blocks, and their bitmap blocks
  for (auto [offset, length] : ranges) {
    if (length == 0) continue;
    for (uint64_t b = offset / s->block_size(); b <= (offset + length - 1) / s->block_size(); ++b) {
      ASSIGN_OR_RETURN(BatEntry e, s->Entry(s->PayloadIndex(b)));
      if (e.payload_allocated()) continue;
      blocks.insert(b);
      if (!s->differencing()) continue;
      ASSIGN_OR_RETURN(BatEntry sb, s->Entry(s->BitmapIndex(b / s->chunk_ratio)));
      if (!sb.sector_bitmap_present())
        chunks.insert(b / s->chunk_ratio);  // at most: a whole-block write needs none
    }
  }
  std::set<uint64_t> bat_pages;  // where their BAT entries live
  for (uint64_t b : blocks) bat_pages.insert(s->PayloadIndex(b) / kEntriesPerPage);
  for (uint64_t c : chunks) bat_pages.insert(s->BitmapIndex(c) / kEntriesPerPage);
  RETURN_IF_ERROR(BackBatPages(s, bat_pages));  // the flush after the writes needs no space
  return ReserveSpace(s, blocks.size() * s->block_size() + chunks.size() * kSectorBitmapBlockSize);
}

Status Image::Write(uint64_t offset, std::span<const std::byte> src) {
  State* s = s_.get();
  uint64_t ss = s->sector_size();
  uint64_t head = AlignDown(offset, ss), tail = AlignUp(offset + src.size(), ss);
  if (head == offset && tail == offset + src.size()) {
    return WriteSectors(s, offset, Payload::Of(src));
  }
  RETURN_IF_ERROR(CheckWritable(s, offset, src.size()));
  // Edge sectors are read-modify-written (through the backing in a differencing disk).
  std::vector<std::byte> buf(tail - head);
  RETURN_IF_ERROR(Read(head, std::span(buf).first(ss)));
  if (tail - ss > head) RETURN_IF_ERROR(Read(tail - ss, std::span(buf).last(ss)));
  std::memcpy(buf.data() + (offset - head), src.data(), src.size());
  return WriteSectors(s, head, Payload::Of(buf));
}

Status Image::PlanWrite(uint64_t offset, std::span<const std::byte> src,
                        std::vector<IoRequest>* out) {
  uint64_t ss = s_->sector_size();
  if (offset % ss != 0 || src.size() % ss != 0) return Write(offset, src);
  return WriteSectors(s_.get(), offset, Payload::Of(src), out);
}

Status Image::CopyFrom(uint64_t offset, File& src, uint64_t src_offset, uint64_t length) {
  uint64_t ss = s_->sector_size();
  if (offset % ss != 0 || length % ss != 0) {
    return InvalidArgument("copy @" + Hex(offset) + "+" + Hex(length) + ": not sector aligned");
  }
  return WriteSectors(s_.get(), offset, Payload{{}, &src, src_offset, length});
}

Status Image::Trim(uint64_t offset, uint64_t length, bool make_transparent) {
  State* s = s_.get();
  RETURN_IF_ERROR(CheckWritable(s, offset, length));
  if (length == 0) return Status::Ok();
  RETURN_IF_ERROR(EnsureDataWriteGuid(s));
  bool transparent = make_transparent && s->differencing();
  std::vector<std::pair<uint64_t, uint64_t>> edges;  // partial pieces to zero
  {
    std::shared_lock<std::shared_mutex> gate(s->gate);
    std::lock_guard<std::mutex> lock(s->mu);
    for (uint64_t pos = offset; pos < offset + length;) {
      uint64_t block = pos / s->block_size(), bo = pos % s->block_size();
      uint64_t n = std::min(s->block_size() - bo, offset + length - pos);
      bool whole = bo == 0 && n == BlockLength(s, block);
      uint64_t idx = s->PayloadIndex(block);
      if (whole && s->params.type() != DiskType::kFixed) {
        ASSIGN_OR_RETURN(BatEntry e, s->Entry(idx));
        if (e.payload_allocated()) s->allocated--;
        // FileOffsetMB is 0 for states 0-3: Hyper-V rejects anything else (BatEntry::Payload).
        const PayloadState state = transparent ? PayloadState::kNotPresent : PayloadState::kZero;
        RETURN_IF_ERROR(s->SetEntry(idx, BatEntry::Payload(state, 0)));
      } else if (!transparent) {
        edges.push_back({pos, n});
      } else {
        RETURN_IF_ERROR(MakeSectorsTransparent(s, block, bo, n));
      }
      pos += n;
    }
  }
  for (auto [pos, n] : edges) {  // fixed disks and partial pieces: write zeros
    std::vector<std::byte> zeros(std::min<uint64_t>(n, 8 * kMiB));
    for (uint64_t done = 0; done < n; done += zeros.size()) {
      uint64_t len = std::min<uint64_t>(zeros.size(), n - done);
      RETURN_IF_ERROR(Write(pos + done, std::span(zeros).first(len)));
    }
  }
  return Status::Ok();
}

}  // namespace hvdisk::vhdx
