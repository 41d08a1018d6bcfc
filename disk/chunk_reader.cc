#include "disk/chunk_reader.h"

#include <fcntl.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <exception>
#include <new>

namespace hvdisk::disk {

ChunkReader::ChunkReader(VirtualDisk* disk, uint64_t begin, uint64_t end, size_t chunk_size,
                         size_t depth)
    : disk_(disk),
      begin_(begin),
      end_(std::max(begin, end)),
      chunk_size_(chunk_size),
      depth_(std::max<size_t>(depth, 1)) {}

ChunkReader::~ChunkReader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status ChunkReader::Start() {
  const size_t rounded = (chunk_size_ + kDirectAlignment - 1) / kDirectAlignment * kDirectAlignment;
  for (size_t i = 0; i < depth_; ++i) {
    auto* p = static_cast<std::byte*>(std::aligned_alloc(kDirectAlignment, rounded));
    if (p == nullptr) {
      return OutOfMemory("cannot allocate " + std::to_string(depth_) + " read buffers of " +
                         std::to_string(chunk_size_) + " bytes");
    }
    buffers_.emplace_back(p);
    free_slots_.push_back(i);
  }
  auto queue = CreateIoQueue(IoBackend::kAuto, kQueueDepth);
  if (queue.ok()) queue_ = std::move(queue).value();
  try {
    thread_ = std::thread([this] { Run(); });
  } catch (const std::exception& e) {
    return IoError(std::string("cannot start the reader thread: ") + e.what());
  }
  return Status::Ok();
}

bool ChunkReader::AcquireSlot(size_t* slot, Status* status) {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (stop_) return false;
      if (!free_slots_.empty()) {
        *slot = free_slots_.back();
        free_slots_.pop_back();
        return true;
      }
      if (queue_ == nullptr || queue_->pending() == 0) {
        cv_.wait(lock, [this] { return stop_ || !free_slots_.empty(); });
        continue;
      }
    }
    *status = Complete(1);  // the front chunk's reads finish: it goes to the consumer
    if (!status->ok()) return true;
  }
}

bool ChunkReader::WaitForRoom() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return stop_ || ready_.size() < kMaxReady; });
  return !stop_;
}

Result<uint64_t> ChunkReader::ZeroRun(uint64_t offset) {
  const uint64_t cell = std::min<uint64_t>(chunk_size_, end_ - offset);
  ASSIGN_OR_RETURN(uint64_t zero, KnownZeroPrefix(disk_, offset, cell));
  if (zero < cell) return 0;
  const uint64_t window = std::min<uint64_t>(end_ - offset, kZeroWindow);
  ASSIGN_OR_RETURN(zero, KnownZeroPrefix(disk_, offset, window));
  if (zero == end_ - offset) return zero;
  return std::max<uint64_t>(cell, zero / chunk_size_ * chunk_size_);
}

// Fills *chunk at chunk->offset (a run of whole zero cells, or one cell of data whose reads are
// started into a slot) and queues it behind the chunks in flight. False when stopped.
bool ChunkReader::Produce(Chunk* chunk, Status* status) {
  if (!WaitForRoom()) return false;
  Result<uint64_t> zero = ZeroRun(chunk->offset);
  if (!zero.ok()) {
    *status = zero.status();
    return true;
  }
  chunk->zero = *zero > 0;
  if (chunk->zero) {
    chunk->length = *zero;
  } else {
    if (!AcquireSlot(&chunk->slot, status)) return false;
    if (!status->ok()) return true;
    chunk->length = static_cast<size_t>(std::min<uint64_t>(chunk_size_, end_ - chunk->offset));
    chunk->data = buffers_[chunk->slot].get();
  }
  inflight_.push_back({.chunk = *chunk});
  if (!chunk->zero) {
    InFlight& f = inflight_.back();
    f.status = ReadChunk(&f, inflight_seq_ + inflight_.size() - 1);
  }
  *status = Complete(0);
  return true;
}

Result<uint64_t> ChunkReader::SourceSize(File* file) {
  auto known = sizes_.find(file);
  if (known != sizes_.end()) return known->second;
  ASSIGN_OR_RETURN(uint64_t size, file->Size());
  // Reads run ahead in order: let the kernel read ahead further than its default window.
  if (file->native_handle() >= 0) posix_fadvise(file->native_handle(), 0, 0, POSIX_FADV_SEQUENTIAL);
  sizes_.emplace(file, size);
  return size;
}

namespace {

// Appends `r` to *pieces cut into requests of at most `piece` bytes.
void AppendPieces(const IoRequest& r, size_t piece, std::vector<IoRequest>* pieces) {
  for (size_t done = 0; done < r.length; done += piece) {
    IoRequest p = r;
    p.offset += done;
    p.data += done;
    p.length = std::min(piece, r.length - done);
    pieces->push_back(p);
  }
}

}  // namespace

Status ChunkReader::ReadChunk(InFlight* f, uint64_t seq) {
  std::span<std::byte> dst(f->chunk.data, f->chunk.length);
  if (queue_ == nullptr) return disk_->Read(f->chunk.offset, dst);
  std::vector<IoRequest> planned, pieces;
  RETURN_IF_ERROR(disk_->PlanRead(f->chunk.offset, dst, &planned));
  for (IoRequest& r : planned) {
    ASSIGN_OR_RETURN(uint64_t size, SourceSize(r.file));
    // A last block cut short at EOF (older qemu files) reads as zeros past the end.
    if (r.offset + r.length > size) {
      const uint64_t keep = r.offset < size ? size - r.offset : 0;
      std::memset(r.data + keep, 0, r.length - keep);
    }
    r.user_data = seq;
    AppendPieces(r, kPiece, &pieces);
  }
  f->pieces = pieces.size();  // each piece completes, even one that fails to submit
  return queue_->Submit(pieces);
}

Status ChunkReader::Complete(size_t min) {
  if (queue_ != nullptr && queue_->pending() > 0) {
    std::array<IoCompletion, 64> batch;
    ASSIGN_OR_RETURN(size_t n, queue_->Reap(batch, min));
    for (size_t i = 0; i < n; ++i) {
      InFlight& f = inflight_[batch[i].user_data - inflight_seq_];
      --f.pieces;
      if (f.status.ok()) f.status = batch[i].status;
    }
  }
  return Publish();
}

Status ChunkReader::Publish() {
  bool any = false;
  Status status;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!inflight_.empty() && inflight_.front().pieces == 0 && status.ok()) {
      status = inflight_.front().status;
      if (status.ok()) {
        ready_.push_back(inflight_.front().chunk);
        any = true;
      }
      inflight_.pop_front();
      ++inflight_seq_;
    }
  }
  if (any) cv_.notify_all();
  return status;
}

void ChunkReader::Drain() {
  std::array<IoCompletion, 64> batch;
  while (queue_ != nullptr && queue_->pending() > 0) {
    if (!queue_->Reap(batch, 1).ok()) return;
  }
}

void ChunkReader::Run() {
  Status status;
  bool stopped = false;
  for (uint64_t offset = begin_; offset < end_ && status.ok() && !stopped;) {
    Chunk chunk;
    chunk.offset = offset;
    stopped = !Produce(&chunk, &status);
    offset += chunk.length;
  }
  while (status.ok() && !stopped && !inflight_.empty()) status = Complete(1);
  Drain();
  std::lock_guard<std::mutex> lock(mu_);
  error_ = status;
  done_ = true;
  cv_.notify_all();
}

Result<bool> ChunkReader::Next(Chunk* chunk) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !ready_.empty() || done_; });
  if (!ready_.empty()) {
    *chunk = ready_.front();
    ready_.pop_front();
    // Taking a chunk makes room in ready_, which the reader may wait for (WaitForRoom) whatever
    // the chunk is: a run of zero chunks holds no slot, so Release would not wake it.
    lock.unlock();
    cv_.notify_all();
    return true;
  }
  if (!error_.ok()) return error_;
  return false;
}

void ChunkReader::Release(const Chunk& chunk) {
  {
    if (chunk.slot == kNoSlot) return;
    std::lock_guard<std::mutex> lock(mu_);
    free_slots_.push_back(chunk.slot);
  }
  cv_.notify_all();
}

}  // namespace hvdisk::disk
