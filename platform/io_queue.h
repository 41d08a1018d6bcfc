// IoQueue: batched asynchronous reads, writes and flushes with completions.
//
// Backends: io_uring (liburing), libaio, and a synchronous one that runs each request on its File
// at Submit time, so FaultFileSystem and CrashFileSystem also cover the async data path. A request
// whose File has no native handle (MemFileSystem, CrashFileSystem, ...) is executed synchronously
// by every backend, so callers never need to care which files they mix.
//
// Selection: kAuto tries io_uring, then libaio, then sync. The environment variable
// HVDISK_IO_BACKEND=uring|aio|sync overrides kAuto (an explicit backend argument wins over it).
//
// Thread safety: one IoQueue is used by one thread at a time. Buffers and Files must stay alive
// until the request's completion has been reaped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "platform/file.h"
#include "platform/status.h"

namespace hvdisk {

enum class IoBackend : uint8_t { kAuto, kIoUring, kLibaio, kSync };
std::string_view IoBackendName(IoBackend b);  // "auto", "uring", "aio", "sync"
// Parses "auto", "uring"/"io_uring", "aio"/"libaio", "sync".
Result<IoBackend> ParseIoBackend(std::string_view name);
// Whether this build has `b` (io_uring needs liburing, libaio needs libaio at build time; sync
// and kAuto always exist). An unbuilt backend's CreateIoQueue fails with kUnsupported.
bool IoBackendBuilt(IoBackend b);

enum class IoKind : uint8_t { kRead, kWrite, kFlush };

struct IoRequest {
  IoKind kind = IoKind::kRead;
  File* file = nullptr;
  uint64_t offset = 0;
  std::byte* data = nullptr;  // read: destination; write: source (not modified)
  size_t length = 0;          // 0 for flush
  uint64_t user_data = 0;     // returned in the completion
};

struct IoCompletion {
  uint64_t user_data = 0;
  Status status;     // a short read at end of file is OK with bytes < length
  size_t bytes = 0;  // bytes transferred
};

class IoQueue {
 public:
  virtual ~IoQueue() = default;

  // Queues and submits the requests. At most depth() requests may be in flight; when full,
  // Submit first reaps internally (completions are kept for the next Reap). A request that
  // fails to submit still gets a completion with its error.
  virtual Status Submit(std::span<const IoRequest> requests) = 0;
  // Waits until at least min(min_complete, in flight + ready) completions are ready, then moves up
  // to out.size() of them into out; returns how many.
  virtual Result<size_t> Reap(std::span<IoCompletion> out, size_t min_complete) = 0;
  // Requests submitted whose completions were not yet reaped.
  virtual size_t pending() const = 0;
  virtual size_t depth() const = 0;
  virtual IoBackend backend() const = 0;
};

// Creates a queue of the given depth (1..4096). kAuto falls back as described above; an explicit
// backend that the kernel or library cannot provide returns kUnsupported.
Result<std::unique_ptr<IoQueue>> CreateIoQueue(IoBackend backend, unsigned depth);

// Submits the requests and waits for all of them; returns the first error (by request order).
Status RunAll(IoQueue* queue, std::span<const IoRequest> requests);

}  // namespace hvdisk
