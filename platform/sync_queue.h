// SyncIoQueue, the IoQueue backend that runs every request on its File at Submit time, and the
// pieces that the io_uring and libaio backends share with it (request checks, the synchronous
// fallback for Files without a native handle, the ready list, short-transfer continuation).
//
// Thread safety: as IoQueue (one thread at a time); the free functions are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "platform/io_queue.h"

namespace hvdisk {

// The operation as named in error messages: "read @0x1000", "write @0x0", "flush".
std::string IoOpLabel(IoKind kind, uint64_t offset);

// kInvalidArgument unless the request names a file, a known kind, and (for reads and writes
// with length > 0) a buffer.
Status CheckIoRequest(const IoRequest& req);

// Whether an async backend runs the request synchronously instead of handing it to the kernel:
// it is invalid (its completion carries the error), its File has no native handle, or it moves
// no bytes.
bool RunsSynchronously(const IoRequest& req);

// Runs one request to completion on the calling thread through File::ReadAt/WriteAt/Flush.
// Errors carry the operation and the file's path.
IoCompletion RunIoRequestSync(const IoRequest& req);

// A FIFO of completions waiting to be reaped. Allocation-free once it has grown to its peak.
class CompletionFifo {
 public:
  void Push(IoCompletion c) { items_.push_back(std::move(c)); }
  // Completes every request with `error` (requests that could not be queued).
  void PushFailed(std::span<const IoRequest> requests, const Status& error);
  size_t size() const { return items_.size() - head_; }
  // Moves up to out.size() completions, oldest first, into out; returns how many.
  size_t PopInto(std::span<IoCompletion> out);

 private:
  std::vector<IoCompletion> items_;
  size_t head_ = 0;  // items_[0, head_) were popped
};

// One read or write in flight on an async backend. The kernel may transfer fewer bytes than
// asked; the backend then issues the remainder (next_*) until done, end of file, or an error.
struct InFlightIo {
  IoRequest req;
  size_t done = 0;       // bytes transferred so far
  unsigned retries = 0;  // EINTR/EAGAIN reissues so far

  uint64_t next_offset() const { return req.offset + done; }
  std::byte* next_data() const { return req.data + done; }
  size_t remaining() const { return req.length - done; }
};

// Accounts one kernel result (bytes transferred, or -errno) to `io`. Returns true when the
// request is finished and fills *out; false when the remainder must be issued again. A read that
// reaches end of file finishes OK with fewer bytes; a write that makes no progress is kIoError.
bool AdvanceIo(InFlightIo* io, int64_t result, IoCompletion* out);

// kInvalidArgument unless 1 <= depth <= kMaxIoDepth (every backend's limit).
inline constexpr unsigned kMaxIoDepth = 4096;
Status CheckIoDepth(unsigned depth);

// The slots of an async backend: one InFlightIo per request it may hold, the free ones kept
// as a stack of indexes (the index is what travels through the kernel as user data).
class SlotPool {
 public:
  explicit SlotPool(unsigned depth);
  bool full() const { return free_.empty(); }
  size_t in_use() const { return slots_.size() - free_.size(); }
  // Takes a free slot for `req`, fresh. REQUIRES: !full().
  unsigned Take(const IoRequest& req);
  void Release(unsigned slot) { free_.push_back(slot); }
  InFlightIo& operator[](unsigned slot) { return slots_[slot]; }

 private:
  std::vector<InFlightIo> slots_;
  std::vector<unsigned> free_;
};

// Runs requests synchronously; pending() counts completions not yet reaped. depth() is
// informational: nothing is ever in flight.
class SyncIoQueue final : public IoQueue {
 public:
  explicit SyncIoQueue(unsigned depth) : depth_(depth) {}

  Status Submit(std::span<const IoRequest> requests) override;
  Result<size_t> Reap(std::span<IoCompletion> out, size_t min_complete) override;
  size_t pending() const override { return ready_.size(); }
  size_t depth() const override { return depth_; }
  IoBackend backend() const override { return IoBackend::kSync; }

 private:
  unsigned depth_;
  CompletionFifo ready_;
};

}  // namespace hvdisk
