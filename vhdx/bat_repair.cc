#include "vhdx/bat_repair.h"

#include <algorithm>
#include <map>
#include <set>

#include "platform/hex.h"
#include "vhdx/bat.h"
#include "vhdx/image_state.h"

namespace hvdisk::vhdx {
namespace {

constexpr uint64_t kWindowEntries = 128 * 1024;  // 1 MiB of BAT per read

struct Use {
  uint64_t start, end;
  uint64_t index;  // kStructure for the fixed structures
};
constexpr uint64_t kStructure = ~uint64_t{0};

// The planner's working state: fixes by index, allocated uses, the bitmaps and partial blocks.
struct Plan {
  Image::State* s;
  uint64_t file_size;
  std::map<uint64_t, BatFix> fixes;
  std::vector<Use> uses;
  std::set<uint64_t> bitmap_chunks;  // chunks with a valid PRESENT sector bitmap
  std::vector<uint64_t> partial;     // indices of PARTIALLY_PRESENT payload entries

  uint64_t BlockOf(uint64_t index) const { return index - index / (s->chunk_ratio + 1); }
  bool IsBitmap(uint64_t index) const { return index % (s->chunk_ratio + 1) == s->chunk_ratio; }
  // Records that entry `index` becomes `state` (offset 0), dropping what it held when `lost`.
  void Clear(uint64_t index, PayloadState state, const std::string& why, bool lost) {
    BatFix f{index, BatEntry{static_cast<uint8_t>(state), 0}.ToRaw(),
             "BAT entry " + std::to_string(index) + ": " + why};
    if (lost && !IsBitmap(index)) {
      const uint64_t bs = s->block_size(), block = BlockOf(index);
      f.lost_offset = block * bs;
      f.lost_length = std::min(
          bs, s->params.virtual_disk_size - std::min(f.lost_offset, s->params.virtual_disk_size));
    }
    fixes[index] = std::move(f);
  }
};

// The bytes block `block` at `off` must have inside the file (a last block cut short at EOF is
// tolerated when it holds every byte of the disk it maps, as Open does).
uint64_t NeededLength(const Plan& p, uint64_t block, uint64_t off) {
  const uint64_t bs = p.s->block_size();
  if (off > p.file_size || bs <= p.file_size - off) return bs;
  return std::min<uint64_t>(bs, AlignUp(p.s->params.virtual_disk_size - block * bs, kMiB));
}

void CheckBitmap(Plan& p, uint64_t index, const BatEntry& e) {
  if (e.sector_bitmap_state() == SectorBitmapState::kNotPresent) return;
  const uint64_t off = e.file_offset();
  if (!e.sector_bitmap_present() || !p.s->differencing()) {
    return p.Clear(index, PayloadState::kNotPresent, "invalid sector bitmap state", false);
  }
  if (off < kHeaderSectionSize || off > p.file_size || kMiB > p.file_size - off) {
    return p.Clear(index, PayloadState::kNotPresent,
                   "sector bitmap @" + Hex(off) + " outside the file", false);
  }
  p.uses.push_back({off, off + kMiB, index});
  p.bitmap_chunks.insert(index / (p.s->chunk_ratio + 1));
}

void CheckPayload(Plan& p, uint64_t index, const BatEntry& e) {
  const uint64_t block = p.BlockOf(index), off = e.file_offset();
  const bool partial = e.payload_state() == PayloadState::kPartiallyPresent;
  if (partial && !p.s->differencing()) {
    return p.Clear(index, PayloadState::kZero, "PARTIALLY_PRESENT outside a differencing file",
                   true);
  }
  if (!ValidatePayloadEntry(e, p.s->params.type(), index).ok()) {  // no data to lose in state 4, 5
    const bool present = e.payload_allocated();
    return p.Clear(index, PayloadState::kNotPresent,
                   present ? "present block at offset 0" : "reserved state", present);
  }
  if (!e.payload_allocated()) return;
  if (block >= p.s->payload_blocks) {
    return p.Clear(index, PayloadState::kNotPresent, "block past the virtual size", false);
  }
  const uint64_t len = NeededLength(p, block, off);
  if (off < kHeaderSectionSize || off > p.file_size || len > p.file_size - off) {
    return p.Clear(index, PayloadState::kNotPresent, "block @" + Hex(off) + " outside the file",
                   true);
  }
  p.uses.push_back({off, off + len, index});
  if (partial) p.partial.push_back(index);
}

// One entry as read: reserved bits first (kept entry), then its kind's rules.
void CheckEntry(Plan& p, uint64_t index, uint64_t raw) {
  if ((raw & BatEntry::kReservedMask) != 0) {
    raw &= ~BatEntry::kReservedMask;
    p.fixes[index] = {index, raw, "BAT entry " + std::to_string(index) + ": reserved bits cleared"};
  }
  const BatEntry e = BatEntry::Unpack(raw);
  p.IsBitmap(index) ? CheckBitmap(p, index, e) : CheckPayload(p, index, e);
}

// Clears every entry whose block overlaps a structure or an earlier block: the entry starting
// later goes (on a tie, structures first, then the lower index stays).
void ClearOverlaps(Plan& p) {
  std::sort(p.uses.begin(), p.uses.end(), [](const Use& a, const Use& b) {
    if (a.start != b.start) return a.start < b.start;
    return (a.index == kStructure) != (b.index == kStructure) ? a.index == kStructure
                                                              : a.index < b.index;
  });
  uint64_t end = 0;
  const Use* owner = nullptr;  // the use that reaches `end`
  for (const Use& u : p.uses) {
    const Use* victim = &u;
    if (u.start < end && u.index == kStructure) victim = owner;  // a structure never goes
    if (u.start >= end || victim->index == kStructure) {
      if (u.end > end) end = u.end, owner = &u;
      continue;
    }
    if (p.IsBitmap(victim->index)) p.bitmap_chunks.erase(victim->index / (p.s->chunk_ratio + 1));
    p.Clear(victim->index, PayloadState::kNotPresent,
            "block @" + Hex(victim->start) + " overlaps another object", true);
    if (victim != &u) end = u.end, owner = &u;
  }
}

}  // namespace

Result<std::vector<BatFix>> PlanBatRepair(Image::State* s, uint64_t file_size) {
  Plan p{s, file_size};
  const VhdxHeader& h = s->header;
  for (auto [start, len] : {std::pair<uint64_t, uint64_t>{0, kHeaderSectionSize},
                            {h.log_offset, h.log_length},
                            {s->metadata_offset, s->metadata_length},
                            {s->bat_offset, s->bat_length}}) {
    p.uses.push_back({start, start + len, kStructure});
  }
  const uint64_t entries = BatEntryCountFor(s->params);
  std::vector<std::byte> window;
  for (uint64_t first = 0; first < entries; first += kWindowEntries) {
    const uint64_t n = std::min(kWindowEntries, entries - first);
    window.assign(n * 8, std::byte{0});
    ASSIGN_OR_RETURN(size_t got, s->file->ReadAt(s->bat_offset + first * 8, window));
    (void)got;  // past EOF reads as zeros (NOT_PRESENT)
    for (uint64_t k = 0; k < n; ++k) {
      const uint64_t raw = LoadU64(window, k * 8);
      if (raw != 0) CheckEntry(p, first + k, raw);
    }
  }
  ClearOverlaps(p);
  for (uint64_t index : p.partial) {
    if (p.fixes.count(index) != 0 && BatEntry::Unpack(p.fixes[index].raw).state != 7) continue;
    if (p.bitmap_chunks.count(index / (s->chunk_ratio + 1)) != 0) continue;
    p.Clear(index, PayloadState::kNotPresent, "PARTIALLY_PRESENT without its sector bitmap", true);
  }
  std::vector<BatFix> out;
  for (auto& [index, fix] : p.fixes) out.push_back(std::move(fix));
  return out;
}

}  // namespace hvdisk::vhdx
