// Accessors, Resize, and the metadata updates the chain layer drives (parent locator,
// DataWriteGuid). Metadata-region and region-table changes go through the log as one entry.
#include <algorithm>
#include <cstring>

#include "vhdx/image_state.h"

namespace hvdisk::vhdx {
namespace {

// Queues the pages of `region` that differ from the current metadata region; they go into the
// next log entry, first, so they apply atomically. REQUIRES: flush_mu held.
Status StageMetadataRegion(Image::State* s, std::vector<std::byte> region) {
  if (region.size() != s->metadata_region.size()) {
    return Corrupt(s->path + ": metadata region does not fit its region");
  }
  std::lock_guard<std::mutex> lock(s->mu);
  for (uint64_t pg = 0; pg < region.size() / kPageSize; ++pg) {
    auto a = std::span(region).subspan(pg * kPageSize, kPageSize);
    auto b = std::span(s->metadata_region).subspan(pg * kPageSize, kPageSize);
    if (!std::equal(a.begin(), a.end(), b.begin())) {
      s->extra_pages.push_back({s->metadata_offset + pg * kPageSize, {a.begin(), a.end()}});
    }
  }
  s->metadata_region = std::move(region);
  return Status::Ok();
}

Status CheckWritableMeta(Image::State* s) {
  if (s->read_only) return AccessDenied(s->path + ": opened read-only");
  if (s->closed) return InvalidState(s->path + ": closed");
  return Status::Ok();
}

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

}  // namespace

uint64_t Image::virtual_size() const { return s_->params.virtual_disk_size; }
uint32_t Image::logical_sector_size() const { return s_->params.logical_sector_size; }
DiskType Image::type() const { return s_->params.type(); }
uint32_t Image::block_size() const { return s_->params.block_size(); }
uint32_t Image::physical_sector_size() const { return s_->params.physical_sector_size; }
bool Image::read_only() const { return s_->read_only; }
const std::string& Image::path() const { return s_->path; }
Guid Image::virtual_disk_id() const { return s_->params.virtual_disk_id; }
Guid Image::data_write_guid() const { return s_->header.data_write_guid; }
Guid Image::file_write_guid() const { return s_->header.file_write_guid; }
Guid Image::log_guid() const { return s_->header.log_guid; }
File* Image::file() { return s_->file.get(); }
void Image::SetBacking(VirtualDisk* backing) { s_->backing = backing; }

uint64_t Image::allocated_blocks() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->allocated;
}

const std::vector<std::pair<std::string, std::string>>& Image::parent_locator() const {
  static const std::vector<std::pair<std::string, std::string>> kNone;
  return s_->params.parent_locator ? s_->params.parent_locator->entries : kNone;
}

Status Image::SetParentLocator(std::vector<std::pair<std::string, std::string>> entries) {
  State* s = s_.get();
  RETURN_IF_ERROR(CheckWritableMeta(s));
  if (!s->differencing()) return InvalidState(s->path + ": not a differencing disk");
  std::lock_guard<std::mutex> lock(s->flush_mu);
  DiskParameters next = s->params;
  next.parent_locator = ParentLocator{};
  for (auto& [k, v] : entries) next.parent_locator->Set(k, v);
  ASSIGN_OR_RETURN(std::vector<std::byte> region, next.EncodeRegion(s->metadata_length));
  RETURN_IF_ERROR(StageMetadataRegion(s, std::move(region)));
  s->params = std::move(next);
  return FlushMetadata(s);
}

Status Image::SetDataWriteGuid(const Guid& guid) {
  State* s = s_.get();
  RETURN_IF_ERROR(CheckWritableMeta(s));
  std::lock_guard<std::mutex> lock(s->flush_mu);
  VhdxHeader next = s->header;
  next.data_write_guid = guid;
  RETURN_IF_ERROR(WriteHeaderUpdate(s, next));
  s->data_write_guid_changed = true;
  return Status::Ok();
}

// Steps: (1) if the BAT must grow past its region, write a new BAT at the end of the file and
// flush it (unreferenced until step 3); (2) stage the new region table and metadata pages;
// (3) log them in one entry with the BAT pages (FlushMetadata), apply. A crash before (3)'s
// entry is durable leaves the old size; after it, replay gives the new one.
Status Image::Resize(uint64_t new_size) {
  State* s = s_.get();
  RETURN_IF_ERROR(CheckWritableMeta(s));
  if (new_size < s->params.virtual_disk_size) return Unsupported("shrinking is not supported");
  if (new_size % s->sector_size() != 0 || new_size > kMaxVirtualDiskSize) {
    return InvalidArgument("new size must be a multiple of the logical sector size, <= 64 TiB");
  }
  if (s->params.type() == DiskType::kFixed) return Unsupported("resizing a fixed disk");
  std::lock_guard<std::mutex> lock(s->flush_mu);
  DiskParameters next = s->params;
  next.virtual_disk_size = new_size;
  uint64_t entries = BatEntryCountFor(next);
  if (entries * 8 > s->bat_length) {
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
  }
  ASSIGN_OR_RETURN(std::vector<std::byte> region, next.EncodeRegion(s->metadata_length));
  RETURN_IF_ERROR(StageMetadataRegion(s, std::move(region)));
  {
    std::lock_guard<std::mutex> l(s->mu);
    RETURN_IF_ERROR(GrowBatInPlace(s, entries));  // relocated: already grown
    s->params = next;
    s->payload_blocks = DivRoundUp(new_size, s->block_size());
  }
  return FlushMetadata(s);
}

}  // namespace hvdisk::vhdx
