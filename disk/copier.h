// Copier: streams a disk's virtual content in order, for every whole-disk job (convert, digest,
// compare, merge targets, and the coming serve/replicate/compact paths).
//
// Read-ahead: a ChunkReader keeps the reads of the next chunks in flight on an IoQueue while the
// consumer works on this one. Sparse: ranges the source's Map reports as zero are never read
// (they arrive as zero chunks) and all-zero data is not written to a destination, so a dynamic
// VHDX output allocates only the blocks that hold data and a raw output stays sparse. Paced:
// while a page-cache destination is written, its writeback is started alongside (Writeback), so
// the final Flush waits for the last chunks only.
//
// Cancellation: CopyOptions::check runs between chunks; its first non-OK status ends the run and
// is returned (the reader stops, no buffer outlives its reads). What was written stays written;
// the caller decides what becomes of a partial destination.
//
// Thread safety: one Copier runs on one thread (the reader thread is internal); the source must
// not be written while it runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "disk/chunk_reader.h"
#include "disk/virtual_disk.h"
#include "platform/digest.h"
#include "platform/status.h"

namespace hvdisk::disk {

inline constexpr size_t kDefaultChunkSize = 8u << 20;

struct CopyOptions {
  size_t chunk_size = kDefaultChunkSize;
  size_t read_ahead = 4;  // chunk buffers: chunks read ahead of the consumer
  // Called on the copying thread after each chunk: bytes covered from 0, of the disk's size.
  std::function<void(uint64_t done, uint64_t total)> progress;
  // Called on the copying thread between chunks; a non-OK status (e.g. a cancellation) ends the
  // run with that status.
  std::function<Status()> check;
};

// How CopyTo writes its destination.
struct WriteOptions {
  // All-zero runs of this many bytes (at this alignment within a chunk) are not written; 0:
  // every byte is written.
  size_t sparse_granularity = 64u << 10;
  bool flush = true;  // one Flush ends the copy (durable); false: no flush (qemu's cache=unsafe)
  // Start the destination's writeback every writeback_interval bytes written (page cache
  // outputs; pointless for O_DIRECT ones).
  bool writeback = false;
  uint64_t writeback_interval = 32u << 20;
};

// True when every byte of `data` is zero.
bool IsAllZero(std::span<const std::byte> data);

class Copier {
 public:
  // `src` is not owned and must outlive the copier.
  explicit Copier(VirtualDisk* src, CopyOptions options = {});

  // Hands every chunk of the source, in order from 0 to its size, to `sink` (zero chunks hold no
  // data: see Chunk). The chunk's data is valid only during the call. The sink's first error
  // ends the run and is returned.
  Status Stream(const std::function<Status(const Chunk&)>& sink);
  // Writes the source's content into `dst` (at the same offsets; REQUIRES dst->size() >= the
  // source's size), skipping what reads as zeros (dst must read zeros there already: a new
  // disk), then flushes it as `write` says. dst stays open.
  Status CopyTo(VirtualDisk* dst, const WriteOptions& write = {});
  // The ContentDigest of the source's whole virtual content (platform/content_digest.h): zero
  // chunks are fed as known zeros, never read, so the cost follows the allocated data.
  Result<Hash128> Digest();

 private:
  VirtualDisk* const src_;
  const CopyOptions options_;
};

}  // namespace hvdisk::disk
