// ChunkReader: reads a range of a VirtualDisk in fixed-size chunks on a background thread, a few
// chunks ahead of the consumer (double buffering), so that reading overlaps with whatever the
// consumer does with the previous chunk (writing it elsewhere, hashing it, comparing it).
//
// Pipelined: the reads of every chunk that has a free buffer are in flight together on one
// IoQueue (in pieces of 1 MiB), so the device always has the next chunks' requests while the
// consumer works on this one; chunks are handed over in order as their reads complete.
//
// Ranges that the disk's map reports as zero are not read: they arrive as zero chunks, one per run
// of zero cells, so a sparse terabyte costs a few map lookups.
//
// Thread safety: one consumer thread calls Next/Release; the reader thread is internal.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "disk/virtual_disk.h"
#include "platform/io_queue.h"
#include "platform/status.h"

namespace hvdisk::disk {

inline constexpr size_t kNoSlot = ~size_t{0};

// Data chunks are one cell of the grid (chunk_size bytes from `begin`, the last one shorter);
// zero chunks cover one or more whole cells (up to the end) and hold no buffer.
struct Chunk {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool zero = false;          // known zero from the map; nothing was read
  std::byte* data = nullptr;  // length bytes; null when zero
  size_t slot = kNoSlot;
};

class ChunkReader {
 public:
  // Reads [begin, end) of `disk` (not owned; must outlive the reader) in chunks of chunk_size,
  // the first aligned at `begin`. depth buffers of chunk_size are allocated.
  ChunkReader(VirtualDisk* disk, uint64_t begin, uint64_t end, size_t chunk_size, size_t depth = 4);
  ~ChunkReader();  // stops and joins the thread
  ChunkReader(const ChunkReader&) = delete;
  ChunkReader& operator=(const ChunkReader&) = delete;

  // Allocates the buffers and starts the thread. kOutOfMemory or kIoError if it cannot.
  Status Start();
  // The next chunk in order: true with *chunk set, false at the end, or the read error.
  // The chunk stays valid until Release(chunk).
  Result<bool> Next(Chunk* chunk);
  void Release(const Chunk& chunk);

 private:
  static constexpr size_t kMaxReady = 64;              // chunks queued ahead, zero ones included
  static constexpr uint64_t kZeroWindow = 1ull << 30;  // how far one map lookup looks ahead

  // A chunk handed to the pipeline: zero, read synchronously, or with reads in flight.
  struct InFlight {
    Chunk chunk;
    size_t pieces = 0;  // reads not yet completed
    Status status;      // the first error of its reads
  };

  void Run();
  // Starts reading one chunk: through queue_ when there is one (the pieces complete later,
  // tagged with `seq`), else synchronously with VirtualDisk::Read.
  Status ReadChunk(InFlight* f, uint64_t seq);
  Result<uint64_t> SourceSize(File* file);
  static constexpr size_t kPiece = 1 << 20;
  static constexpr unsigned kQueueDepth = 32;
  bool Produce(Chunk* chunk, Status* status);
  // The length of the zero run of whole cells at `offset` (0 when the cell holds data).
  Result<uint64_t> ZeroRun(uint64_t offset);
  bool WaitForRoom();
  // A free buffer; while none is free, completes in-flight reads (which may free none: the
  // consumer holds the buffers) or waits for Release. False when stopped.
  bool AcquireSlot(size_t* slot, Status* status);
  // Reaps at least `min` completions (0: only those ready) and hands over finished chunks.
  Status Complete(size_t min);
  // Hands the finished chunks at the front of inflight_ to the consumer, in order.
  Status Publish();
  // Waits for every read still in flight (buffers must outlive them), ignoring their results.
  void Drain();

  VirtualDisk* const disk_;
  const uint64_t begin_;
  const uint64_t end_;
  const size_t chunk_size_;
  const size_t depth_;
  struct FreeDeleter {
    void operator()(std::byte* p) const { std::free(p); }
  };
  // Not zeroed: pages are touched only when a read fills them, so a sparse disk's copy never
  // pays for buffers it does not use.
  std::vector<std::unique_ptr<std::byte, FreeDeleter>> buffers_;
  // Reads of one chunk go out together, in pieces of kPiece, so a cold source is read with
  // many requests in flight (null: the platform has no queue; chunks are read synchronously).
  std::unique_ptr<IoQueue> queue_;
  // The source files met so far, with their sizes (read once; each told to expect sequential
  // reads). Reader thread only.
  std::map<File*, uint64_t> sizes_;
  // Chunks produced but not yet handed over, in order; the front has sequence number
  // inflight_seq_. Reader thread only.
  std::deque<InFlight> inflight_;
  uint64_t inflight_seq_ = 0;
  std::thread thread_;

  std::mutex mu_;
  // Both threads wait on cv_ (the reader for a slot or for room in ready_, the consumer for a
  // chunk): every change to the state below is followed by notify_all.
  std::condition_variable cv_;
  std::vector<size_t> free_slots_;  // guarded by mu_
  std::deque<Chunk> ready_;         // guarded by mu_
  Status error_;                    // guarded by mu_
  bool done_ = false;               // guarded by mu_
  bool stop_ = false;               // guarded by mu_
};

}  // namespace hvdisk::disk
