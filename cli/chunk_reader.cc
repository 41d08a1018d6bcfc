#include "cli/chunk_reader.h"

#include <algorithm>
#include <exception>
#include <new>

#include "vhdx/layout.h"

namespace hvdisk::cli {

ChunkReader::ChunkReader(Disk* disk, uint64_t begin, uint64_t end, size_t chunk_size,
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
  try {
    buffers_.reserve(depth_);
    for (size_t i = 0; i < depth_; ++i) {
      buffers_.emplace_back(chunk_size_);
      free_slots_.push_back(i);
    }
    thread_ = std::thread([this] { Run(); });
  } catch (const std::bad_alloc&) {
    return OutOfMemory("cannot allocate " + std::to_string(depth_) + " read buffers of " +
                       std::to_string(chunk_size_) + " bytes");
  } catch (const std::exception& e) {
    return IoError(std::string("cannot start the reader thread: ") + e.what());
  }
  return Status::Ok();
}

bool ChunkReader::AcquireSlot(size_t* slot) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return stop_ || !free_slots_.empty(); });
  if (stop_) return false;
  *slot = free_slots_.back();
  free_slots_.pop_back();
  return true;
}

Status ChunkReader::ReadOne(Chunk* chunk) {
  ASSIGN_OR_RETURN(chunk->zero, IsKnownZero(disk_, chunk->offset, chunk->length));
  if (chunk->zero) return Status::Ok();
  return disk_->Read(chunk->offset, std::span(chunk->data, chunk->length));
}

void ChunkReader::Run() {
  Status status;
  for (uint64_t offset = begin_; offset < end_ && status.ok(); offset += chunk_size_) {
    Chunk chunk;
    if (!AcquireSlot(&chunk.slot)) return;
    chunk.offset = offset;
    chunk.length = static_cast<size_t>(std::min<uint64_t>(chunk_size_, end_ - offset));
    chunk.data = buffers_[chunk.slot].data();
    status = ReadOne(&chunk);
    std::lock_guard<std::mutex> lock(mu_);
    if (status.ok()) {
      ready_.push_back(chunk);
    } else {
      free_slots_.push_back(chunk.slot);
    }
    cv_.notify_all();
  }
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
    return true;
  }
  if (!error_.ok()) return error_;
  return false;
}

void ChunkReader::Release(const Chunk& chunk) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_slots_.push_back(chunk.slot);
  }
  cv_.notify_all();
}

Result<Hash128> DigestDisk(Disk* disk) {
  ChunkReader reader(disk, 0, disk->size(), 8 * vhdx::kMiB, 4);
  RETURN_IF_ERROR(reader.Start());
  Digest128 digest;
  for (;;) {
    Chunk chunk;
    ASSIGN_OR_RETURN(bool more, reader.Next(&chunk));
    if (!more) break;
    if (chunk.zero) {
      digest.UpdateZeros(chunk.length);
    } else {
      digest.Update(std::span<const std::byte>(chunk.data, chunk.length));
    }
    reader.Release(chunk);
  }
  return digest.Finish();
}

}  // namespace hvdisk::cli
