// Compare: where two disks' virtual contents first differ, as qemu-img compare reports it (to the
// 512-byte unit; a longer disk's extra part must read as zeros).
//
// Both disks stream through their own ChunkReader (reads in flight ahead, zero ranges never
// read); their chunks need not line up.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "disk/copier.h"
#include "disk/virtual_disk.h"

namespace hvdisk::disk {

// The first differing offset, or nullopt when the contents are the same. options.progress is
// called with the position reached, of the longer disk's size; options.check between chunks.
Result<std::optional<uint64_t>> FirstMismatch(VirtualDisk* a, VirtualDisk* b,
                                              const CopyOptions& options = {});

// A run where `b` differs from `a`: `length` bytes at `offset`, b's bytes in `data` (valid during
// the call), or null where b reads as zeros.
using DifferenceFn = std::function<Status(uint64_t offset, uint64_t length, const std::byte* data)>;

// Calls `each` for every run of 512-byte units where b's content differs from a's, in order; a
// run ends at a chunk boundary (at most options.chunk_size bytes). REQUIRES: a->size() ==
// b->size(). Ranges both maps report as zeros are never read; a range one of them maps as zeros
// is compared against zeros. options.progress and options.check as FirstMismatch's.
Status ForEachDifference(VirtualDisk* a, VirtualDisk* b, const CopyOptions& options,
                         const DifferenceFn& each);

}  // namespace hvdisk::disk
