// Accessors and the metadata updates the chain layer drives (parent locator,
// DataWriteGuid). Metadata-region and region-table changes go through the log as one entry.
#include <algorithm>
#include <cstring>

#include "vhdx/image_state.h"

namespace hvdisk::vhdx {

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

}  // namespace hvdisk::vhdx
