// The Linux native AIO IoQueue backend (libaio).
//
// Reads and writes become IOCB_CMD_PREAD/PWRITE on the File's native handle; they are truly
// asynchronous only on O_DIRECT files (buffered AIO completes inside io_submit). Flush waits for
// every request submitted before it on the queue, then issues IOCB_CMD_FSYNC; a kernel or file
// system that refuses it (EINVAL) gets a synchronous File::Flush (fsync) instead, for the rest of
// the queue's life. Requests on Files without a native handle run synchronously at Submit. A
// transfer the kernel cuts short is continued until done, end of file (reads) or an error.
//
// Destroying the queue waits for the requests still in flight and drops their completions.
//
// Thread safety: as IoQueue, one thread at a time.
#pragma once

#include <memory>

#include "platform/io_queue.h"

namespace hvdisk {

// A queue of `depth` (1..4096) in-flight requests, or kUnsupported when io_setup fails (no AIO
// in the kernel, or fs.aio-max-nr exhausted).
Result<std::unique_ptr<IoQueue>> CreateAioIoQueue(unsigned depth);

}  // namespace hvdisk
