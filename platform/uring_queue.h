// The io_uring IoQueue backend (liburing).
//
// Reads and writes become IORING_OP_READ/WRITE on the File's native handle; Flush becomes
// IORING_OP_FSYNC (data and metadata) marked IOSQE_IO_DRAIN, so it starts only after every request
// submitted before it on the queue has completed, and covers their writes. Requests on Files
// without a native handle run synchronously at Submit. A transfer the kernel cuts short is
// continued until done, end of file (reads) or an error; it is never reported truncated.
//
// Destroying the queue waits for the requests still in flight (their buffers stay in use until
// then) and drops their completions.
//
// Thread safety: as IoQueue, one thread at a time.
#pragma once

#include <memory>

#include "platform/io_queue.h"

namespace hvdisk {

// A queue of `depth` (1..4096) in-flight requests, or kUnsupported when the kernel lacks io_uring
// or its read, write and fsync operations (or io_uring is disabled).
Result<std::unique_ptr<IoQueue>> CreateUringIoQueue(unsigned depth);

}  // namespace hvdisk
