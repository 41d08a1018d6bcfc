#include "disk/copier.h"

#include <algorithm>
#include <cstring>

#include "disk/writeback.h"
#include "platform/content_digest.h"

namespace hvdisk::disk {
namespace {

// Writes the runs of `chunk` that are not all zero, tested `granularity` bytes at a time.
Status WriteNonZero(VirtualDisk* dst, const Chunk& chunk, size_t granularity) {
  const size_t length = static_cast<size_t>(chunk.length);  // a data chunk: one buffer
  if (granularity == 0) return dst->Write(chunk.offset, std::span(chunk.data, length));
  auto zero_at = [&](size_t pos) {
    const size_t n = std::min(granularity, length - pos);
    return IsAllZero(std::span(chunk.data + pos, n));
  };
  size_t pos = 0;
  while (pos < length) {
    if (zero_at(pos)) {
      pos += granularity;
      continue;
    }
    const size_t start = pos;
    while (pos < length && !zero_at(pos)) pos += granularity;
    pos = std::min(pos, length);
    RETURN_IF_ERROR(dst->Write(chunk.offset + start,
                               std::span<const std::byte>(chunk.data + start, pos - start)));
  }
  return Status::Ok();
}

}  // namespace

bool IsAllZero(std::span<const std::byte> data) {
  static constexpr size_t kHead = 16;
  if (data.size() <= kHead) {
    return std::all_of(data.begin(), data.end(), [](std::byte b) { return b == std::byte{0}; });
  }
  for (size_t i = 0; i < kHead; ++i) {
    if (data[i] != std::byte{0}) return false;
  }
  // The first 16 bytes are zero, so the whole is zero iff it equals itself shifted by 16.
  return std::memcmp(data.data(), data.data() + kHead, data.size() - kHead) == 0;
}

Copier::Copier(VirtualDisk* src, CopyOptions options) : src_(src), options_(std::move(options)) {}

Status Copier::Stream(const std::function<Status(const Chunk&)>& sink) {
  const uint64_t total = src_->size();
  ChunkReader reader(src_, 0, total, options_.chunk_size, options_.read_ahead);
  RETURN_IF_ERROR(reader.Start());
  for (;;) {
    if (options_.check) RETURN_IF_ERROR(options_.check());
    Chunk chunk;
    ASSIGN_OR_RETURN(bool more, reader.Next(&chunk));
    if (!more) return Status::Ok();
    Status s = sink(chunk);
    reader.Release(chunk);
    RETURN_IF_ERROR(s);
    if (options_.progress) options_.progress(chunk.offset + chunk.length, total);
  }
}

// Steps: 1. every non-zero range of the source written to dst (writeback started every
// interval); 2. dst flushed (write.flush). A crash or an error before step 2 completes leaves
// dst partly written and not durable: the caller must not present it as a copy.
Status Copier::CopyTo(VirtualDisk* dst, const WriteOptions& write) {
  if (dst->size() < src_->size()) {
    return InvalidArgument("the destination (" + std::to_string(dst->size()) +
                           " bytes) is smaller than the source (" + std::to_string(src_->size()) +
                           " bytes)");
  }
  Writeback writeback(dst, write.writeback_interval);
  if (write.writeback) writeback.Start();
  RETURN_IF_ERROR(Stream([&](const Chunk& chunk) {
    if (chunk.zero) return Status::Ok();
    RETURN_IF_ERROR(WriteNonZero(dst, chunk, write.sparse_granularity));
    writeback.Written(chunk.length);
    return Status::Ok();
  }));
  return write.flush ? dst->Flush() : Status::Ok();
}

Result<Hash128> Copier::Digest() {
  ContentDigest digest;
  RETURN_IF_ERROR(Stream([&](const Chunk& chunk) {
    if (chunk.zero) {
      digest.UpdateZeros(chunk.length);
    } else {
      digest.Update(std::span<const std::byte>(chunk.data, chunk.length));
    }
    return Status::Ok();
  }));
  return digest.Finish();
}

}  // namespace hvdisk::disk
