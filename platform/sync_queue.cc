#include "platform/sync_queue.h"

#include <algorithm>
#include <cerrno>
#include <utility>

#include "platform/hex.h"

namespace hvdisk {
namespace {

// EINTR/EAGAIN reissues of one request before giving up with the error.
constexpr unsigned kMaxRetries = 1000;

// Files report their own errors; make sure the message names the operation's file.
Status WithPath(const Status& s, const IoRequest& req) {
  if (s.ok() || s.message().find(req.file->path()) != std::string::npos) return s;
  return s.WithContext(IoOpLabel(req.kind, req.offset) + " " + req.file->path());
}

}  // namespace

std::string IoOpLabel(IoKind kind, uint64_t offset) {
  if (kind == IoKind::kFlush) return "flush";
  return std::string(kind == IoKind::kRead ? "read" : "write") + " @" + Hex(offset);
}

Status CheckIoRequest(const IoRequest& req) {
  if (req.file == nullptr) return InvalidArgument("I/O request without a file");
  switch (req.kind) {
    case IoKind::kFlush:
      return Status::Ok();
    case IoKind::kRead:
    case IoKind::kWrite:
      if (req.data == nullptr && req.length > 0) {
        return InvalidArgument(IoOpLabel(req.kind, req.offset) + " " + req.file->path() +
                               ": no buffer");
      }
      return Status::Ok();
  }
  return InvalidArgument("I/O request of unknown kind on " + req.file->path());
}

bool RunsSynchronously(const IoRequest& req) {
  return !CheckIoRequest(req).ok() || req.file->native_handle() < 0 ||
         (req.kind != IoKind::kFlush && req.length == 0);
}

IoCompletion RunIoRequestSync(const IoRequest& req) {
  IoCompletion c;
  c.user_data = req.user_data;
  c.status = CheckIoRequest(req);
  if (!c.status.ok()) return c;
  switch (req.kind) {
    case IoKind::kRead: {
      Result<size_t> n = req.file->ReadAt(req.offset, {req.data, req.length});
      if (n.ok()) {
        c.bytes = *n;
      } else {
        c.status = WithPath(n.status(), req);
      }
      break;
    }
    case IoKind::kWrite:
      c.status = WithPath(req.file->WriteAt(req.offset, {req.data, req.length}), req);
      if (c.status.ok()) c.bytes = req.length;
      break;
    case IoKind::kFlush:
      c.status = WithPath(req.file->Flush(), req);
      break;
  }
  return c;
}

void CompletionFifo::PushFailed(std::span<const IoRequest> requests, const Status& error) {
  for (const IoRequest& req : requests) {
    IoCompletion c;
    c.user_data = req.user_data;
    c.status = error;
    Push(std::move(c));
  }
}

size_t CompletionFifo::PopInto(std::span<IoCompletion> out) {
  size_t n = std::min(out.size(), size());
  for (size_t i = 0; i < n; ++i) out[i] = std::move(items_[head_ + i]);
  head_ += n;
  if (head_ == items_.size()) {
    items_.clear();  // keeps the capacity
    head_ = 0;
  }
  return n;
}

bool AdvanceIo(InFlightIo* io, int64_t result, IoCompletion* out) {
  const IoRequest& req = io->req;
  if ((result == -EINTR || result == -EAGAIN) && io->retries < kMaxRetries) {
    ++io->retries;
    return false;
  }
  *out = IoCompletion();
  out->user_data = req.user_data;
  out->bytes = io->done;
  if (result < 0) {
    out->status = ErrnoStatus(static_cast<int>(-result), IoOpLabel(req.kind, io->next_offset()),
                              req.file->path());
    return true;
  }
  if (req.kind == IoKind::kFlush) return true;
  size_t n = std::min(static_cast<size_t>(result), io->remaining());
  if (n == 0) {
    if (req.kind == IoKind::kWrite && io->remaining() > 0) {
      out->status = IoError(IoOpLabel(req.kind, io->next_offset()) + " " + req.file->path() +
                            ": no progress");
    }
    return true;  // a read at end of file
  }
  io->done += n;
  out->bytes = io->done;
  if (io->remaining() == 0) return true;
  // O_DIRECT transfers stop short only at end of file (the remainder would be misaligned).
  if (req.kind == IoKind::kRead && req.file->direct() &&
      io->next_offset() % kDirectAlignment != 0) {
    return true;
  }
  return false;
}

Status SyncIoQueue::Submit(std::span<const IoRequest> requests) {
  for (const IoRequest& req : requests) ready_.Push(RunIoRequestSync(req));
  return Status::Ok();
}

Result<size_t> SyncIoQueue::Reap(std::span<IoCompletion> out, size_t /*min_complete*/) {
  return ready_.PopInto(out);
}

Status CheckIoDepth(unsigned depth) {
  if (depth < 1 || depth > kMaxIoDepth) {
    return InvalidArgument("io queue depth " + std::to_string(depth) + " not in 1..4096");
  }
  return Status::Ok();
}

SlotPool::SlotPool(unsigned depth) : slots_(depth) {
  free_.reserve(depth);
  for (unsigned i = depth; i > 0; --i) free_.push_back(i - 1);
}

unsigned SlotPool::Take(const IoRequest& req) {
  const unsigned slot = free_.back();
  free_.pop_back();
  slots_[slot] = InFlightIo();
  slots_[slot].req = req;
  return slot;
}

}  // namespace hvdisk
