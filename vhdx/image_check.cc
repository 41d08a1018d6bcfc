// BAT validation (every entry checked against the file before use) and Image::Check.
#include <algorithm>

#include "platform/hex.h"
#include "vhdx/bat.h"
#include "vhdx/image_state.h"
#include "vhdx/structure_copies.h"

namespace hvdisk::vhdx {
namespace {

struct Interval {
  uint64_t start, end;
  std::string what;
};

std::string EntryName(uint64_t index) { return "BAT entry " + std::to_string(index); }

// How many entries one read of a full scan covers: 1 MiB of BAT.
constexpr uint64_t kScanEntries = 128 * 1024;

// Checks payload entry `e` at `index`; appends its block to `used`.
Status CheckPayload(Image::State* s, uint64_t index, const BatEntry& e, uint64_t file_size,
                    std::vector<Interval>* used) {
  const uint64_t block = index - index / (s->chunk_ratio + 1);
  // States 4 and 5 are reserved; PARTIALLY_PRESENT only in differencing files (the codec's rule).
  RETURN_IF_ERROR(ValidatePayloadEntry(e, s->params.type(), index));
  if (!e.payload_allocated()) return Status::Ok();
  if (block >= s->payload_blocks) {
    return Corrupt(EntryName(index) + ": allocated block past the virtual size (MS-VHDX 2.5)");
  }
  uint64_t off = e.file_offset();
  // A block occupies block_size bytes. A last block cut short at EOF is tolerated when it
  // still holds every byte of the virtual disk it maps (older qemu wrote such files).
  uint64_t len = s->block_size();
  if (off <= file_size && len > file_size - off) {
    uint64_t needed = std::min<uint64_t>(
        len, AlignUp(s->params.virtual_disk_size - block * s->block_size(), kMiB));
    if (needed <= file_size - off) len = file_size - off;
  }
  if (off < kHeaderSectionSize || off > file_size || len > file_size - off) {  // no wrap
    return Corrupt(EntryName(index) + ": block @" + Hex(off) + " outside the file of " +
                   Hex(file_size) + " bytes (MS-VHDX 2.5.1)");
  }
  used->push_back({off, off + len, EntryName(index)});
  if (e.payload_state() == PayloadState::kPartiallyPresent) {
    ASSIGN_OR_RETURN(BatEntry sb, s->Entry(s->BitmapIndex(block / s->chunk_ratio)));
    if (!sb.sector_bitmap_present()) {
      return Corrupt(EntryName(index) +
                     ": PARTIALLY_PRESENT block without a sector bitmap "
                     "(MS-VHDX 2.5.1.2)");
    }
  }
  return Status::Ok();
}

Status CheckBitmapEntry(Image::State* s, uint64_t index, const BatEntry& e, uint64_t file_size,
                        std::vector<Interval>* used) {
  if (e.sector_bitmap_state() == SectorBitmapState::kNotPresent) return Status::Ok();
  if (!e.sector_bitmap_present() || !s->differencing()) {
    return Corrupt(EntryName(index) + ": sector bitmap state " + std::to_string(e.state) +
                   " not valid in this disk type (MS-VHDX 2.5.1.2)");
  }
  uint64_t off = e.file_offset();
  if (off < kHeaderSectionSize || off > file_size || kSectorBitmapBlockSize > file_size - off) {
    return Corrupt(EntryName(index) + ": sector bitmap @" + Hex(off) + " outside the file");
  }
  used->push_back({off, off + kSectorBitmapBlockSize, EntryName(index)});
  return Status::Ok();
}

// Checks entry `e` at `index` of either kind; counts an allocated payload block.
Status CheckEntry(Image::State* s, uint64_t index, uint64_t raw, uint64_t file_size,
                  std::vector<Interval>* used) {
  if ((raw & BatEntry::kReservedMask) != 0) {
    return Corrupt(EntryName(index) + ": reserved bits set (MS-VHDX 2.5.1)");
  }
  const BatEntry e = BatEntry::Unpack(raw);
  if (index % (s->chunk_ratio + 1) == s->chunk_ratio) {
    return CheckBitmapEntry(s, index, e, file_size, used);
  }
  RETURN_IF_ERROR(CheckPayload(s, index, e, file_size, used));
  if (e.payload_allocated()) s->allocated++;
  return Status::Ok();
}

}  // namespace

uint64_t LeakStart(const Image::State* s, uint64_t end_of_objects) {
  const uint64_t bat_end = s->bat_offset + s->bat_length;
  uint64_t data_start = AlignUp(std::max({s->header.log_offset + s->header.log_length, bat_end,
                                          s->metadata_offset + s->metadata_length}),
                                kMiB);
  if (s->bat_offset < s->metadata_offset) {  // qemu-img's layout: log, BAT, metadata, reserve
    data_start = std::max(data_start, AlignUp(bat_end + 5 * kMiB, kMiB));
  }
  uint64_t start = std::max(AlignUp(end_of_objects, kMiB), data_start);
  if (s->params.type() == DiskType::kFixed) {
    start = std::max(start, data_start + s->payload_blocks * s->block_size());
  }
  return start;
}

// Validates every BAT entry (states, reserved bits, offsets within the file, no overlap with
// each other or with the log, metadata and BAT regions), streaming the BAT: memory follows the
// allocated blocks, not the BAT's size. Sets *end_of_objects to the end of
// the last object in the file. Counts allocated blocks.
Status ValidateBat(Image::State* s, uint64_t file_size, uint64_t* end_of_objects,
                   const Image::CheckProgress* progress) {
  const VhdxHeader& h = s->header;
  std::vector<Interval> used = {
      {0, kHeaderSectionSize, "header section"},
      {h.log_offset, h.log_offset + h.log_length, "log"},
      {s->metadata_offset, s->metadata_offset + s->metadata_length, "metadata region"},
      {s->bat_offset, s->bat_offset + s->bat_length, "BAT region"}};
  const uint64_t entries = BatEntryCountFor(s->params);
  s->allocated = 0;
  std::vector<uint64_t> window;  // the BAT streams through, 1 MiB at a time
  for (uint64_t first = 0; first < entries; first += window.size()) {
    window.resize(std::min(kScanEntries, entries - first));
    // A hole of the BAT (or cached zeros) holds nothing to check and is not read.
    ASSIGN_OR_RETURN(uint64_t zeros, s->bat.ZeroRun(first, window.size(), /*load=*/false));
    if (zeros < window.size()) RETURN_IF_ERROR(s->bat.ReadRange(first, window));
    for (uint64_t k = zeros; k < window.size(); ++k) {
      if (window[k] == 0) continue;  // NOT_PRESENT, no offset: valid in either kind of entry
      RETURN_IF_ERROR(CheckEntry(s, first + k, window[k], file_size, &used));
    }
    // The open validated once already: this pass is the second half of the work.
    if (progress != nullptr && *progress) (*progress)(entries + first, 2 * entries);
  }
  std::sort(used.begin(), used.end(), [](auto& a, auto& b) { return a.start < b.start; });
  *end_of_objects = 0;
  for (size_t i = 0; i < used.size(); ++i) {
    if (i > 0 && used[i].start < used[i - 1].end) {
      return Corrupt(used[i].what + " @" + Hex(used[i].start) + " overlaps " + used[i - 1].what +
                     " (MS-VHDX 2.1)");
    }
    *end_of_objects = std::max(*end_of_objects, used[i].end);
  }
  return Status::Ok();
}

Result<CheckReport> Image::Check(FileSystem* fs, const std::string& path,
                                 const CheckProgress& progress, bool force_share) {
  CheckReport report;
  auto image = Open(fs, path, ImageOpenOptions{.read_only = true, .force_share = force_share});
  if (!image.ok()) {
    if (image.status().code() != Code::kCorrupt && image.status().code() != Code::kUnsupported) {
      return image.status();
    }
    report.corruptions.push_back(image.status().message());
    return report;
  }
  State* s = (*image)->s_.get();
  report.total_blocks = s->payload_blocks;
  report.allocated_blocks = s->allocated;
  report.log_replayed = !s->header.log_guid.IsZero();
  ASSIGN_OR_RETURN(uint64_t file_size, s->file->Size());
  uint64_t end = 0;
  RETURN_IF_ERROR(ValidateBat(s, std::max(file_size, s->next_alloc), &end, &progress));
  if (progress) progress(1, 1);
  const uint64_t leak_start = LeakStart(s, end);
  if (file_size > leak_start) {
    report.leaks.push_back(Hex(file_size - leak_start) + " bytes past the last object @" +
                           Hex(leak_start));
  }
  ASSIGN_OR_RETURN(std::vector<DamagedCopy> copies,
                   FindDamagedCopies(s->file.get(), /*compare_tables=*/!report.log_replayed));
  for (const DamagedCopy& c : copies) report.warnings.push_back(c.Describe());
  return report;
}

}  // namespace hvdisk::vhdx
