// RunQueued: many I/Os of one size on a disk, kept `depth` deep in an IoQueue (io_uring, else
// libaio, else synchronous), each planned by the disk itself (VirtualDisk::PlanRead / PlanWrite,
// through every layer of a chain). What `hvdisk bench -n native` and bench/image_bench measure.
//
// Thread safety: runs on the calling thread; no other thread may write the ranges it touches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "disk/virtual_disk.h"
#include "platform/status.h"

namespace hvdisk::disk {

struct QueuedIoPlan {
  bool write = false;
  uint64_t count = 0;  // I/Os
  size_t size = 0;     // bytes per I/O
  unsigned depth = 1;  // I/Os in flight (1..4096)
  std::byte fill{0};   // every byte written (writes)
  // The offset of I/O i, 0 <= i < count. REQUIRES: [offset, offset + size) lies within the disk.
  std::function<uint64_t(uint64_t i)> offset_of;
};

// Runs the plan to its end or to the first error, and returns only once no request is in flight
// (so that no buffer is freed under the kernel). I/Os that need no request (zero ranges of a
// read) complete at once. Writes are not flushed: the caller flushes. kOutOfMemory when the
// buffers cannot be allocated.
Status RunQueued(VirtualDisk* disk, const QueuedIoPlan& plan);

}  // namespace hvdisk::disk
