#include "disk/virtual_disk.h"

#include <algorithm>

namespace hvdisk::disk {

void VirtualDisk::StartWriteback() {
  if (File* file = data_file()) file->StartWriteback();
}

Result<uint64_t> KnownZeroPrefix(VirtualDisk* disk, uint64_t offset, uint64_t length) {
  ASSIGN_OR_RETURN(std::vector<LayerExtent> extents, disk->Map(offset, length));
  uint64_t zero = 0;
  for (const LayerExtent& le : extents) {
    const vhdx::Extent& e = le.extent;
    if (e.kind == vhdx::Extent::Kind::kData || e.virtual_offset != offset + zero) break;
    zero += e.length;
  }
  return std::min(zero, length);
}

Status CheckRange(const VirtualDisk& disk, uint64_t offset, uint64_t length) {
  if (offset > disk.size() || length > disk.size() - offset) {
    return InvalidArgument("range [" + std::to_string(offset) + ", +" + std::to_string(length) +
                           ") lies beyond the virtual size " + std::to_string(disk.size()));
  }
  return Status::Ok();
}

}  // namespace hvdisk::disk
