// Compare: where two disks' virtual contents first differ, as qemu-img compare reports it (to the
// 512-byte unit; a longer disk's extra part must read as zeros).
//
// Both disks stream through their own ChunkReader (reads in flight ahead, zero ranges never
// read); their chunks need not line up.
#pragma once

#include <cstdint>
#include <optional>

#include "disk/copier.h"
#include "disk/virtual_disk.h"

namespace hvdisk::disk {

// The first differing offset, or nullopt when the contents are the same. options.progress is
// called with the position reached, of the longer disk's size; options.check between chunks.
Result<std::optional<uint64_t>> FirstMismatch(VirtualDisk* a, VirtualDisk* b,
                                              const CopyOptions& options = {});

}  // namespace hvdisk::disk
