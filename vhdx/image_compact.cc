// Image::Compact (Optimize-VHD): frees all-zero blocks, moves the others down into the holes and
// gives the space past the last object back to the file system. The virtual content, and so the
// DataWriteGuid a child links to, never changes.
//
// Steps and crash points (REQUIRES: no I/O in flight; a writable dynamic or differencing image):
//   (0) flush what was written before;
//   (1) with zero_scan, read every FULLY_PRESENT block (pipelined: vhdx/compact_io.h); the
//       all-zero ones become NOT_PRESENT (a dynamic disk) or ZERO (a differencing disk: its zeros
//       hide the parent); one log entry;
//   (2) a round of moves: holes are the file ranges no durable entry names (never the blocks step
//       1 freed in the same round); the highest objects are copied into the lowest holes that
//       fit them (all of the round's copies in flight together), flushed, and one log entry points
//       their entries at the copies, with FlushedFileOffset at the new end; then the file is
//       truncated past the last object (TruncatePastLastObject). Repeated while a round moves
//       something.
// A crash anywhere leaves each entry naming either its old place or its copy, both holding the
// block's bytes: a source is reused as a hole only in a later round, after the entry that left it
// is durable. A crash before a truncation leaves space past the last object, which an open trims.
#include <algorithm>
#include <memory>

#include "vhdx/compact_io.h"
#include "vhdx/image_state.h"

namespace hvdisk::vhdx {
namespace {

struct Object {
  uint64_t index;  // BAT entry
  uint64_t offset;
  uint64_t length;  // in the file (a last block cut short at EOF is shorter)
  BatEntry entry;
};

constexpr uint64_t kScanEntries = 128 * 1024;  // BAT entries per read: 1 MiB
constexpr int kMaxRounds = 16;

// The objects the BAT names: allocated payload blocks and present sector bitmaps.
// REQUIRES: mu held.
Result<std::vector<Object>> CollectObjects(Image::State* s, uint64_t file_size) {
  std::vector<Object> out;
  const uint64_t entries = BatEntryCountFor(s->params);
  std::vector<uint64_t> window;
  for (uint64_t first = 0; first < entries; first += window.size()) {
    window.resize(std::min(kScanEntries, entries - first));
    ASSIGN_OR_RETURN(uint64_t zeros, s->bat.ZeroRun(first, window.size(), /*load=*/true));
    if (zeros == window.size()) continue;
    RETURN_IF_ERROR(s->bat.ReadRange(first, window));
    for (uint64_t k = zeros; k < window.size(); ++k) {
      const BatEntry e = BatEntry::Unpack(window[k]);
      const bool bitmap = (first + k) % (s->chunk_ratio + 1) == s->chunk_ratio;
      if (bitmap ? !e.sector_bitmap_present() : !e.payload_allocated()) continue;
      const uint64_t len = bitmap ? kSectorBitmapBlockSize : s->block_size();
      if (e.file_offset() >= file_size) return Corrupt(s->path + ": BAT entry past the file");
      out.push_back({first + k, e.file_offset(), std::min(len, file_size - e.file_offset()), e});
    }
  }
  return out;
}

// Step (1): frees the all-zero FULLY_PRESENT blocks of `objects` (removed from it) and logs it.
// REQUIRES: flush_mu held.
Result<uint64_t> TrimZeroBlocks(Image::State* s, CompactIo* io, std::vector<Object>* objects) {
  std::vector<size_t> candidates;
  std::vector<FileRange> ranges;
  for (size_t i = 0; i < objects->size(); ++i) {
    const Object& o = (*objects)[i];
    if (o.entry.payload_state() != PayloadState::kFullyPresent ||
        o.index % (s->chunk_ratio + 1) == s->chunk_ratio) {
      continue;
    }
    candidates.push_back(i);
    ranges.push_back({o.offset, o.length});
  }
  ASSIGN_OR_RETURN(std::vector<bool> zero, io->AllZero(ranges));
  const PayloadState freed = s->differencing() ? PayloadState::kZero : PayloadState::kNotPresent;
  std::vector<bool> drop(objects->size(), false);
  uint64_t trimmed = 0;
  for (size_t k = 0; k < candidates.size(); ++k) {
    if (!zero[k]) continue;
    std::lock_guard<std::mutex> l(s->mu);
    RETURN_IF_ERROR(s->SetEntry((*objects)[candidates[k]].index, BatEntry::Payload(freed, 0)));
    s->allocated--;
    trimmed++;
    drop[candidates[k]] = true;
  }
  std::vector<Object> kept;
  for (size_t i = 0; i < objects->size(); ++i) {
    if (!drop[i]) kept.push_back((*objects)[i]);
  }
  *objects = std::move(kept);
  if (trimmed > 0) RETURN_IF_ERROR(FlushMetadata(s));
  return trimmed;
}

struct Hole {
  uint64_t start, end;
};

// The file ranges below the last object that neither a structure nor an object occupies.
std::vector<Hole> FindHoles(Image::State* s, const std::vector<Object>& objects) {
  std::vector<Hole> used = {{0, kHeaderSectionSize},
                            {s->header.log_offset, s->header.log_offset + s->header.log_length},
                            {s->metadata_offset, s->metadata_offset + s->metadata_length},
                            {s->bat_offset, s->bat_offset + s->bat_length}};
  for (const Object& o : objects) used.push_back({o.offset, o.offset + AlignUp(o.length, kMiB)});
  std::sort(used.begin(), used.end(),
            [](const Hole& a, const Hole& b) { return a.start < b.start; });
  std::vector<Hole> holes;
  uint64_t cursor = 0;
  for (const Hole& u : used) {
    if (u.start > cursor) holes.push_back({cursor, u.start});
    cursor = std::max(cursor, u.end);
  }
  return holes;
}

// One round of step (2): returns how many objects moved. REQUIRES: flush_mu held.
Result<uint64_t> MoveRound(Image::State* s, CompactIo* io, std::vector<Object>* objects) {
  std::vector<Hole> holes = FindHoles(s, *objects);
  std::sort(objects->begin(), objects->end(),
            [](const Object& a, const Object& b) { return a.offset > b.offset; });
  std::vector<FileMove> moves;
  std::vector<Object*> moved;
  for (Object& o : *objects) {
    const uint64_t need = AlignUp(o.length, kMiB);
    auto hole = std::find_if(holes.begin(), holes.end(), [&](const Hole& h) {
      return h.start < o.offset && h.end - h.start >= need;
    });
    if (hole == holes.end()) continue;
    moves.push_back({o.offset, hole->start, o.length});
    moved.push_back(&o);
    hole->start += need;
  }
  if (moves.empty()) return 0;
  RETURN_IF_ERROR(io->Copy(moves));  // the copies, flushed before an entry names them
  for (size_t k = 0; k < moved.size(); ++k) {
    Object& o = *moved[k];
    o.offset = moves[k].to;
    o.entry.file_offset_mb = o.offset / kMiB;
    std::lock_guard<std::mutex> l(s->mu);
    RETURN_IF_ERROR(s->SetEntry(o.index, o.entry));
  }
  RETURN_IF_ERROR(TruncatePastLastObject(s));  // (2)'s log entry and truncation
  return moved.size();
}

}  // namespace

Result<CompactReport> Image::Compact(const CompactOptions& options) {
  State* s = s_.get();
  RETURN_IF_ERROR(CheckWritableMeta(s));
  if (s->params.type() == DiskType::kFixed) {
    return Unsupported(s->path + ": a fixed disk has no holes to close; convert it to dynamic");
  }
  std::lock_guard<std::mutex> lock(s->flush_mu);
  RETURN_IF_ERROR(FlushMetadata(s));  // (0)
  CompactReport report;
  ASSIGN_OR_RETURN(report.file_size_before, s->file->Size());
  std::vector<Object> objects;
  {
    std::lock_guard<std::mutex> l(s->mu);
    ASSIGN_OR_RETURN(objects, CollectObjects(s, report.file_size_before));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<CompactIo> io, CompactIo::Open(s->fs, s->path, s->file.get()));
  if (options.zero_scan) {
    ASSIGN_OR_RETURN(report.blocks_trimmed, TrimZeroBlocks(s, io.get(), &objects));
  }
  RETURN_IF_ERROR(TruncatePastLastObject(s));  // space past the last object, with nothing moved
  for (int round = 0; round < kMaxRounds; ++round) {
    ASSIGN_OR_RETURN(uint64_t moved, MoveRound(s, io.get(), &objects));
    if (moved == 0) break;
    report.blocks_moved += moved;
  }
  ASSIGN_OR_RETURN(report.file_size_after, s->file->Size());
  return report;
}

}  // namespace hvdisk::vhdx
