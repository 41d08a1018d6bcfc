#include "disk/queued_io.h"

#include <algorithm>
#include <memory>
#include <new>
#include <vector>

#include "platform/aligned_buffer.h"
#include "platform/io_queue.h"

namespace hvdisk::disk {
namespace {

// One buffer (slot) per I/O in flight; an I/O's requests carry its slot as user_data.
class QueuedRun {
 public:
  QueuedRun(VirtualDisk* disk, const QueuedIoPlan& plan) : disk_(disk), plan_(plan) {}

  Status Run() {
    try {
      for (unsigned s = 0; s < plan_.depth; ++s) {
        buffers_.emplace_back(plan_.size);
        std::fill(buffers_.back().data(), buffers_.back().data() + plan_.size, plan_.fill);
      }
    } catch (const std::bad_alloc&) {
      return OutOfMemory("cannot allocate " + std::to_string(plan_.depth) + " buffers of " +
                         std::to_string(plan_.size) + " bytes");
    }
    ASSIGN_OR_RETURN(queue_, CreateIoQueue(IoBackend::kAuto, plan_.depth));
    Status s = Loop();
    std::vector<IoCompletion> drain(plan_.depth);
    while (queue_->pending() > 0) {  // after an error: no buffer may be freed while in flight
      if (!queue_->Reap(drain, 1).ok()) break;
    }
    return s;
  }

 private:
  Status Loop() {
    outstanding_.assign(plan_.depth, 0);
    for (size_t s = 0; s < buffers_.size(); ++s) RETURN_IF_ERROR(Issue(s));
    std::vector<IoCompletion> done(plan_.depth);
    while (completed_ < plan_.count) {
      ASSIGN_OR_RETURN(size_t n, queue_->Reap(done, 1));
      for (size_t k = 0; k < n; ++k) {
        RETURN_IF_ERROR(done[k].status);
        const size_t slot = static_cast<size_t>(done[k].user_data);
        if (--outstanding_[slot] > 0) continue;
        ++completed_;
        RETURN_IF_ERROR(Issue(slot));
      }
    }
    return Status::Ok();
  }

  // Starts the next I/O on `slot`; I/Os that need no request complete at once.
  Status Issue(size_t slot) {
    while (issued_ < plan_.count) {
      const uint64_t off = plan_.offset_of(issued_++);
      requests_.clear();
      std::span<std::byte> buf = buffers_[slot].span();
      RETURN_IF_ERROR(plan_.write ? disk_->PlanWrite(off, buf, &requests_)
                                  : disk_->PlanRead(off, buf, &requests_));
      if (requests_.empty()) {
        ++completed_;
        continue;
      }
      for (IoRequest& r : requests_) r.user_data = slot;
      outstanding_[slot] = requests_.size();
      return queue_->Submit(requests_);
    }
    return Status::Ok();
  }

  VirtualDisk* const disk_;
  const QueuedIoPlan& plan_;
  std::vector<AlignedBuffer> buffers_;
  std::unique_ptr<IoQueue> queue_;  // destroyed before the buffers it may still reference
  std::vector<size_t> outstanding_;
  std::vector<IoRequest> requests_;
  uint64_t issued_ = 0;
  uint64_t completed_ = 0;
};

}  // namespace

Status RunQueued(VirtualDisk* disk, const QueuedIoPlan& plan) {
  if (plan.depth == 0 || plan.size == 0)
    return InvalidArgument("queued I/O needs a depth and a size");
  return QueuedRun(disk, plan).Run();
}

}  // namespace hvdisk::disk
