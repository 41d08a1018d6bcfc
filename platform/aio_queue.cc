#include "platform/aio_queue.h"

#ifdef HVDISK_HAVE_LIBAIO

#include <libaio.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "platform/sync_queue.h"

namespace hvdisk {
namespace {

// One iocb moves at most 1 GiB (the kernel stops at 2 GiB - 4 KiB anyway); longer requests
// continue like short transfers.
size_t ChunkLength(const InFlightIo& io) {
  return std::min<size_t>(io.remaining(), size_t{1} << 30);
}

class AioIoQueue final : public IoQueue {
 public:
  explicit AioIoQueue(unsigned depth)
      : depth_(depth), slots_(depth), iocbs_(depth), events_(depth) {
    batch_.reserve(depth);
  }
  ~AioIoQueue() override;
  AioIoQueue(const AioIoQueue&) = delete;
  AioIoQueue& operator=(const AioIoQueue&) = delete;

  Status Init();

  Status Submit(std::span<const IoRequest> requests) override;
  Result<size_t> Reap(std::span<IoCompletion> out, size_t min_complete) override;
  size_t pending() const override { return slots_.in_use() + ready_.size(); }
  size_t depth() const override { return depth_; }
  IoBackend backend() const override { return IoBackend::kLibaio; }

 private:
  // Takes a free slot for `req` and adds its iocb to batch_; waits for one if none is free.
  Status Enqueue(const IoRequest& req);
  // Adds the iocb of slots_[slot] (its next piece) to batch_.
  void Prepare(unsigned slot);
  // Accounts a kernel result for slots_[slot]: completes it or reissues the remainder.
  void Finish(unsigned slot, long result);
  // Submits batch_; an iocb the kernel refuses completes with the error.
  Status SubmitBatch();
  // Harvests completions, waiting for at least min_nr (<= in_kernel_).
  Status GetEvents(long min_nr);
  // Waits until ready_ holds `want` completions (want <= pending()).
  Status WaitForReady(size_t want);
  // Flush: a barrier behind everything in flight, then IOCB_CMD_FSYNC or a synchronous fsync.
  Status SubmitFlush(const IoRequest& req);

  io_context_t ctx_ = nullptr;
  unsigned depth_;
  SlotPool slots_;
  std::vector<iocb> iocbs_;  // iocbs_[i] belongs to slots_[i]
  std::vector<io_event> events_;
  std::vector<iocb*> batch_;  // prepared, not yet submitted
  size_t in_kernel_ = 0;      // submitted, event not yet harvested
  bool native_fsync_ = true;  // false once the kernel refused IOCB_CMD_FSYNC
  CompletionFifo ready_;
};

AioIoQueue::~AioIoQueue() {
  if (ctx_ == nullptr) return;
  while (in_kernel_ > 0 || !batch_.empty()) {  // the kernel may still use the buffers
    if (!SubmitBatch().ok() || (in_kernel_ > 0 && !GetEvents(1).ok())) break;
  }
  io_destroy(ctx_);
}

Status AioIoQueue::Init() {
  int rc = io_setup(static_cast<int>(depth_), &ctx_);
  if (rc < 0) {
    ctx_ = nullptr;
    return Unsupported(ErrnoStatus(-rc, "libaio", "io_setup").message());
  }
  return Status::Ok();
}

void AioIoQueue::Prepare(unsigned slot) {
  InFlightIo& io = slots_[slot];
  iocb* cb = &iocbs_[slot];
  const int fd = io.req.file->native_handle();
  const auto offset = static_cast<long long>(io.next_offset());
  switch (io.req.kind) {
    case IoKind::kRead:
      io_prep_pread(cb, fd, io.next_data(), ChunkLength(io), offset);
      break;
    case IoKind::kWrite:
      io_prep_pwrite(cb, fd, io.next_data(), ChunkLength(io), offset);
      break;
    case IoKind::kFlush:
      io_prep_fsync(cb, fd);
      break;
  }
  batch_.push_back(cb);
}

void AioIoQueue::Finish(unsigned slot, long result) {
  InFlightIo& io = slots_[slot];
  if (io.req.kind == IoKind::kFlush && result == -EINVAL) {
    native_fsync_ = false;  // no IOCB_CMD_FSYNC for this file system: fsync synchronously
    ready_.Push(RunIoRequestSync(io.req));
  } else {
    IoCompletion done;
    if (!AdvanceIo(&io, result, &done)) {
      Prepare(slot);
      return;
    }
    ready_.Push(std::move(done));
  }
  slots_.Release(slot);
}

Status AioIoQueue::SubmitBatch() {
  size_t i = 0;
  while (i < batch_.size()) {
    int rc = io_submit(ctx_, static_cast<long>(batch_.size() - i), batch_.data() + i);
    if (rc > 0) {
      i += static_cast<size_t>(rc);
      in_kernel_ += static_cast<size_t>(rc);
    } else if (rc == -EINTR) {
      continue;
    } else if ((rc == -EAGAIN || rc == 0) && in_kernel_ > 0) {
      RETURN_IF_ERROR(GetEvents(1));  // kernel resources busy: let some requests finish
    } else {
      // The kernel refused batch_[i] (a bad descriptor, misaligned O_DIRECT, ...).
      const auto slot = static_cast<unsigned>(batch_[i] - iocbs_.data());
      ++i;
      Finish(slot, rc < 0 ? rc : -EAGAIN);
    }
  }
  batch_.clear();
  return Status::Ok();
}

Status AioIoQueue::GetEvents(long min_nr) {
  int n;
  do {
    n = io_getevents(ctx_, min_nr, static_cast<long>(events_.size()), events_.data(), nullptr);
  } while (n == -EINTR);
  if (n < 0) return ErrnoStatus(-n, "libaio", "io_getevents");
  in_kernel_ -= static_cast<size_t>(n);
  for (int k = 0; k < n; ++k) {
    const auto slot = static_cast<unsigned>(events_[k].obj - iocbs_.data());
    Finish(slot, static_cast<long>(events_[k].res));
  }
  return Status::Ok();
}

Status AioIoQueue::WaitForReady(size_t want) {
  while (ready_.size() < want) {
    RETURN_IF_ERROR(SubmitBatch());
    if (ready_.size() >= want || in_kernel_ == 0) break;
    RETURN_IF_ERROR(GetEvents(static_cast<long>(std::min(want - ready_.size(), in_kernel_))));
  }
  return SubmitBatch();  // remainders reissued by the last GetEvents
}

Status AioIoQueue::Enqueue(const IoRequest& req) {
  while (slots_.full()) {
    RETURN_IF_ERROR(SubmitBatch());
    if (slots_.full()) RETURN_IF_ERROR(GetEvents(1));
  }
  Prepare(slots_.Take(req));
  return Status::Ok();
}

Status AioIoQueue::SubmitFlush(const IoRequest& req) {
  RETURN_IF_ERROR(WaitForReady(ready_.size() + slots_.in_use()));  // the barrier
  if (!native_fsync_) {
    ready_.Push(RunIoRequestSync(req));
    return Status::Ok();
  }
  return Enqueue(req);  // an EINVAL from io_submit falls back to fsync (Finish)
}

Status AioIoQueue::Submit(std::span<const IoRequest> requests) {
  for (size_t i = 0; i < requests.size(); ++i) {
    const IoRequest& req = requests[i];
    if (RunsSynchronously(req)) {
      ready_.Push(RunIoRequestSync(req));
      continue;
    }
    Status s = req.kind == IoKind::kFlush ? SubmitFlush(req) : Enqueue(req);
    if (!s.ok()) {
      ready_.PushFailed(requests.subspan(i), s);
      return s;
    }
  }
  return SubmitBatch();
}

Result<size_t> AioIoQueue::Reap(std::span<IoCompletion> out, size_t min_complete) {
  const size_t want = std::min(min_complete, pending());
  if (ready_.size() < want) {
    RETURN_IF_ERROR(WaitForReady(want));
  } else if (ready_.size() < out.size() && in_kernel_ > 0) {
    RETURN_IF_ERROR(GetEvents(0));  // whatever has finished, without waiting
    RETURN_IF_ERROR(SubmitBatch());
  }
  return ready_.PopInto(out);
}

}  // namespace

Result<std::unique_ptr<IoQueue>> CreateAioIoQueue(unsigned depth) {
  RETURN_IF_ERROR(CheckIoDepth(depth));
  auto queue = std::make_unique<AioIoQueue>(depth);
  RETURN_IF_ERROR(queue->Init());
  return std::unique_ptr<IoQueue>(std::move(queue));
}

}  // namespace hvdisk

#else  // built without libaio: the backend reports itself unavailable

namespace hvdisk {

Result<std::unique_ptr<IoQueue>> CreateAioIoQueue(unsigned /*depth*/) {
  return Unsupported("this build of hvdisk has no libaio backend (built without libaio-dev)");
}

}  // namespace hvdisk

#endif
