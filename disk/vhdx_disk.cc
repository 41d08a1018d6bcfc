#include "disk/vhdx_disk.h"

namespace hvdisk::disk {
namespace {

using vhdx::Extent;

// Appends layers[level]'s view of the range, resolving its kParent extents through the levels
// below (the bottom one's kParent, an image opened without its parents, stays kParent).
Status MapThrough(const std::vector<vhdx::Image*>& layers, size_t level, uint64_t offset,
                  uint64_t length, std::vector<LayerExtent>* out) {
  ASSIGN_OR_RETURN(std::vector<Extent> extents, layers[level]->Map(offset, length));
  for (const Extent& e : extents) {
    if (e.kind == Extent::Kind::kParent && level + 1 < layers.size()) {
      RETURN_IF_ERROR(MapThrough(layers, level + 1, e.virtual_offset, e.length, out));
    } else {
      out->push_back({e, static_cast<int>(level)});
    }
  }
  return Status::Ok();
}

}  // namespace

VhdxDisk::VhdxDisk(std::unique_ptr<vhdx::Image> image)
    : VirtualDisk(image->path()), image_(std::move(image)), layers_{image_.get()} {}

VhdxDisk::VhdxDisk(std::string path, std::unique_ptr<chain::Chain> chain)
    : VirtualDisk(std::move(path)), chain_(std::move(chain)) {
  for (const auto& image : chain_->images()) layers_.push_back(image.get());
}

Status VhdxDisk::Read(uint64_t offset, std::span<std::byte> dst) {
  return chain_ ? chain_->Read(offset, dst) : image_->Read(offset, dst);
}

Status VhdxDisk::Write(uint64_t offset, std::span<const std::byte> src) {
  return chain_ ? chain_->Write(offset, src) : image_->Write(offset, src);
}

Status VhdxDisk::Zero(uint64_t offset, uint64_t length) {
  return chain_ ? chain_->Trim(offset, length) : image_->Trim(offset, length);
}

Status VhdxDisk::Flush() { return chain_ ? chain_->Flush() : image_->Flush(); }

Status VhdxDisk::Close() {
  if (leaf()->read_only()) return Status::Ok();
  return chain_ ? chain_->Close() : image_->Close();
}

Result<std::vector<LayerExtent>> VhdxDisk::Map(uint64_t offset, uint64_t length) {
  std::vector<LayerExtent> out;
  RETURN_IF_ERROR(MapThrough(layers_, 0, offset, length, &out));
  return out;
}

std::vector<std::string> VhdxDisk::layer_paths() const {
  if (!chain_) return {path()};
  std::vector<std::string> paths = chain_->paths();
  paths[0] = path();  // the leaf as the caller named it
  return paths;
}

Status VhdxDisk::PlanRead(uint64_t offset, std::span<std::byte> dst, std::vector<IoRequest>* out) {
  return chain_ ? chain_->PlanRead(offset, dst, out) : image_->PlanRead(offset, dst, out);
}

Status VhdxDisk::PlanWrite(uint64_t offset, std::span<const std::byte> src,
                           std::vector<IoRequest>* out) {
  return chain_ ? chain_->PlanWrite(offset, src, out) : image_->PlanWrite(offset, src, out);
}

}  // namespace hvdisk::disk
