// Image::State: the internals shared by the image_*.cc files. Not part of the public API.
//
// Locking: `mu` guards the BAT, the sector-bitmap cache, the dirty sets and the allocator; it is
// held for lookups and allocation only, never across data I/O. `gate` is held shared by every
// Write/Trim for its whole duration and exclusively by Flush while it snapshots the dirty
// metadata, so a snapshot never includes an allocation whose data write has not completed.
// `flush_mu` serializes Flush, Close, Resize and header updates.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "platform/file.h"
#include "vhdx/bat.h"
#include "vhdx/bat_pages.h"
#include "vhdx/header.h"
#include "vhdx/image.h"
#include "vhdx/log.h"
#include "vhdx/metadata.h"
#include "vhdx/region_table.h"

namespace hvdisk::vhdx {

inline constexpr uint64_t kPageSize = 4096;  // log data sectors update 4 KiB pages
inline constexpr uint64_t kEntriesPerPage = kPageSize / 8;

struct Image::State {
  FileSystem* fs = nullptr;
  std::string path;
  std::unique_ptr<File> file;         // buffered: metadata, and data unless direct
  std::unique_ptr<File> direct_file;  // O_DIRECT data handle when opened with direct
  File* data_file() const { return direct_file ? direct_file.get() : file.get(); }
  // The handle for payload I/O of `length` bytes at `file_offset` through `buffer`: the O_DIRECT
  // one when all three are aligned for it, else the buffered one.
  File* DataFileFor(uint64_t file_offset, uint64_t length, const void* buffer) const {
    const uintptr_t addr = reinterpret_cast<uintptr_t>(buffer);
    const bool aligned = (file_offset | length | addr) % kDirectAlignment == 0;
    return direct_file && aligned ? direct_file.get() : file.get();
  }
  bool read_only = true;
  bool closed = false;

  // Parameters (metadata region, §2.6.2).
  DiskParameters params;
  std::vector<std::byte> metadata_region;  // as on disk (after replay)
  uint64_t chunk_ratio = 0;                // payload blocks per sector-bitmap block
  uint64_t payload_blocks = 0;             // ceil(virtual size / block size)

  // Headers (§2.2.2): the current one and its slot.
  VhdxHeader header;
  int current_slot = 1;                  // 1 or 2
  bool data_write_guid_changed = false;  // a new DataWriteGuid was written this session

  RegionTable regions;
  uint64_t bat_offset = 0;
  uint64_t bat_length = 0;
  uint64_t metadata_offset = 0;
  uint64_t metadata_length = 0;

  // The BAT, in 4 KiB pages read on demand; bat_pages.h states the memory bound.
  std::mutex mu;
  BatPages bat;
  std::map<uint64_t, std::vector<std::byte>> bitmaps;          // chunk -> 1 MiB sector bitmap
  std::set<std::pair<uint64_t, uint64_t>> dirty_bitmap_pages;  // (chunk, page)
  std::vector<LogPage> extra_pages;     // metadata/region-table pages for the next log entry
  uint64_t next_alloc = 0;              // file offset of the next block allocation (1 MiB aligned)
  uint64_t reserved_end = 0;            // file space reserved ahead of next_alloc ends here
  uint64_t allocated = 0;               // FULLY/PARTIALLY_PRESENT payload blocks
  std::set<uint64_t> backed_bat_pages;  // BAT pages given file space this session (no refallocate)

  std::shared_mutex gate;
  std::mutex flush_mu;
  std::unique_ptr<LogWriter> log;  // created on the first metadata change of a session
  bool apply_unsynced = false;     // applied pages not yet flushed (folded into the next flush)

  VirtualDisk* backing = nullptr;

  // Block arithmetic (§2.5).
  uint64_t block_size() const { return params.block_size(); }
  uint32_t sector_size() const { return params.logical_sector_size; }
  uint64_t sectors_per_block() const { return block_size() / sector_size(); }
  uint64_t PayloadIndex(uint64_t block) const { return block + block / chunk_ratio; }
  uint64_t BitmapIndex(uint64_t chunk) const { return chunk * (chunk_ratio + 1) + chunk_ratio; }
  bool differencing() const { return params.type() == DiskType::kDifferencing; }

  // BAT entry `index` (reading its page if it is not cached). REQUIRES: mu held.
  Result<BatEntry> Entry(uint64_t index) {
    ASSIGN_OR_RETURN(uint64_t raw, bat.Get(index));
    return BatEntry::Unpack(raw);
  }
  // Sets a BAT entry and pins its page dirty (reading the page first if it is not cached).
  // REQUIRES: mu held.
  Status SetEntry(uint64_t index, const BatEntry& entry) { return bat.Set(index, entry.ToRaw()); }
};

// Payload blocks per sector-bitmap block (§2.4.2): 2^23 sectors / sectors per block.
inline uint64_t ChunkRatioOf(uint32_t logical_sector_size, uint64_t block_size) {
  return ChunkRatio(logical_sector_size, block_size);
}
// BAT entries (§2.5; BatGeometry::total_entries in bat.h): fixed/dynamic N + floor((N-1)/CR);
// differencing ceil(N/CR) * (CR + 1).
uint64_t BatEntryCountFor(const DiskParameters& p);  // image_create.cc
inline uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
inline uint64_t AlignDown(uint64_t v, uint64_t a) { return v / a * a; }
// Where unreferenced space starts to be a leak, for a file whose objects end at `end_of_objects`:
// past the 1 MiB-aligned end of the objects, of qemu-img's reserve (its first block lies 5 MiB
// past its BAT, which it places before the metadata region) and of a fixed disk's payload area (a
// block per virtual block; qemu-img leaves it behind ZERO entries). image_check.cc
uint64_t LeakStart(const Image::State* s, uint64_t end_of_objects);

// Internal steps shared across the image_*.cc files.
Status WriteHeaderUpdate(Image::State* s, const VhdxHeader& next);  // image_meta.cc
Status EnsureLogActive(Image::State* s);                            // image_meta.cc
Status FlushMetadata(Image::State* s);                              // image_meta.cc
Status LoadBitmap(Image::State* s, uint64_t chunk);  // REQUIRES: mu held. image_io.cc
// Queues the pages of `region` (a whole new metadata region) that differ from the current one
// for the next log entry. REQUIRES: flush_mu held. image_props.cc
Status StageMetadataRegion(Image::State* s, std::vector<std::byte> region);
// kAccessDenied on a read-only image, kInvalidState on a closed one. image_props.cc
Status CheckWritableMeta(Image::State* s);
// Logs the staged metadata with FlushedFileOffset at the end of the last object, flushes, and
// truncates the file there. REQUIRES: flush_mu held, no I/O in flight. image_resize.cc
Status TruncatePastLastObject(Image::State* s);
// Validates every BAT entry against the file (no overlaps); sets *end_of_objects and recounts
// `allocated`. image_check.cc
Status ValidateBat(Image::State* s, uint64_t file_size, uint64_t* end_of_objects,
                   const Image::CheckProgress* progress = nullptr);
// Reserves `length` bytes of file space at next_alloc (kNoSpace when the disk has no room), then
// takes them: returns their offset. On failure nothing changed. REQUIRES: mu held. image_write.cc
Result<uint64_t> AllocateSpace(Image::State* s, uint64_t length);
// Fallocates each (offset, length) range inside the file (adjacent ones coalesced), so that
// writing there later needs no space. image_meta.cc
Status AllocateRanges(File* file, std::vector<std::pair<uint64_t, uint64_t>> ranges);
// Gives file space to the BAT pages (indices in the BAT) not yet backed this session, before a
// log entry names them: a new dynamic disk's BAT region is a hole, and an entry that replay could
// not apply for lack of space would leave the file unopenable. (The log, metadata and region
// tables are written whole at Create.) REQUIRES: mu held. image_meta.cc
Status BackBatPages(Image::State* s, const std::set<uint64_t>& pages);
// Sets or clears sector-bitmap bits [first, first + count) of a loaded chunk and marks their
// pages dirty. REQUIRES: mu held. image_io.cc
void SetBits(Image::State* s, uint64_t chunk, uint64_t first, uint64_t count, bool value);

}  // namespace hvdisk::vhdx
