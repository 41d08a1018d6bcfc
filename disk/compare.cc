#include "disk/compare.h"

#include <algorithm>
#include <cstring>

#include "disk/chunk_reader.h"

namespace hvdisk::disk {
namespace {

constexpr size_t kCompareSector = 512;  // qemu-img compare's unit

// The offset of the first 512-byte unit where a and b differ; a null side reads as zeros.
std::optional<uint64_t> FirstDifference(const std::byte* a, const std::byte* b, uint64_t len) {
  if (a == nullptr && b == nullptr) return std::nullopt;
  if (a == nullptr) std::swap(a, b);
  auto differs = [&](uint64_t off, uint64_t n) {
    return b ? std::memcmp(a + off, b + off, n) != 0 : !IsAllZero(std::span(a + off, n));
  };
  if (!differs(0, len)) return std::nullopt;
  for (uint64_t off = 0; off < len; off += kCompareSector) {
    if (differs(off, std::min<uint64_t>(kCompareSector, len - off))) return off;
  }
  return std::nullopt;
}

// One side of a comparison: the chunk covering the current position, if any is left.
class Side {
 public:
  Side(VirtualDisk* disk, const CopyOptions& o)
      : reader_(disk, 0, disk->size(), o.chunk_size, o.read_ahead) {}
  ~Side() { Drop(); }
  Status Start() { return reader_.Start(); }
  // Moves to the chunk holding `pos` (chunks arrive in order); past the end, none.
  Status Seek(uint64_t pos) {
    while (!done_ && (!has_ || pos >= chunk_.offset + chunk_.length)) {
      Drop();
      ASSIGN_OR_RETURN(has_, reader_.Next(&chunk_));
      done_ = !has_;
    }
    return Status::Ok();
  }
  uint64_t end() const { return has_ ? chunk_.offset + chunk_.length : UINT64_MAX; }
  // The bytes at pos, or null where they read as zeros (a zero chunk, or past the end).
  const std::byte* At(uint64_t pos) const {
    return has_ && !chunk_.zero ? chunk_.data + (pos - chunk_.offset) : nullptr;
  }

 private:
  void Drop() {
    if (has_) reader_.Release(chunk_);
    has_ = false;
  }
  ChunkReader reader_;
  Chunk chunk_;
  bool has_ = false;
  bool done_ = false;
};

}  // namespace

Result<std::optional<uint64_t>> FirstMismatch(VirtualDisk* a, VirtualDisk* b,
                                              const CopyOptions& options) {
  Side sa(a, options), sb(b, options);
  RETURN_IF_ERROR(sa.Start());
  RETURN_IF_ERROR(sb.Start());
  const uint64_t end = std::max(a->size(), b->size());
  for (uint64_t pos = 0; pos < end;) {
    if (options.check) RETURN_IF_ERROR(options.check());
    RETURN_IF_ERROR(sa.Seek(pos));
    RETURN_IF_ERROR(sb.Seek(pos));
    const uint64_t stop = std::min({sa.end(), sb.end(), end});
    if (auto d = FirstDifference(sa.At(pos), sb.At(pos), stop - pos)) {
      return std::optional<uint64_t>(pos + *d);
    }
    pos = stop;
    if (options.progress) options.progress(pos, end);
  }
  return std::optional<uint64_t>();
}

namespace {

// The differing runs of [0, len) of a and b (null: zeros), at kCompareSector granularity.
Status EachDifferingRun(uint64_t pos, uint64_t len, const std::byte* a, const std::byte* b,
                        const DifferenceFn& each) {
  if (a == nullptr && b == nullptr) return Status::Ok();
  auto differs = [&](uint64_t off, uint64_t n) {
    if (a == nullptr) return !IsAllZero(std::span(b + off, n));
    if (b == nullptr) return !IsAllZero(std::span(a + off, n));
    return std::memcmp(a + off, b + off, n) != 0;
  };
  if (!differs(0, len)) return Status::Ok();
  uint64_t run = 0, run_len = 0;
  for (uint64_t off = 0; off < len; off += kCompareSector) {
    const uint64_t n = std::min<uint64_t>(kCompareSector, len - off);
    if (differs(off, n)) {
      if (run_len == 0) run = off;
      run_len += n;
      continue;
    }
    if (run_len != 0) RETURN_IF_ERROR(each(pos + run, run_len, b ? b + run : nullptr));
    run_len = 0;
  }
  if (run_len != 0) RETURN_IF_ERROR(each(pos + run, run_len, b ? b + run : nullptr));
  return Status::Ok();
}

}  // namespace

Status ForEachDifference(VirtualDisk* a, VirtualDisk* b, const CopyOptions& options,
                         const DifferenceFn& each) {
  Side sa(a, options), sb(b, options);
  RETURN_IF_ERROR(sa.Start());
  RETURN_IF_ERROR(sb.Start());
  const uint64_t end = b->size();
  for (uint64_t pos = 0; pos < end;) {
    if (options.check) RETURN_IF_ERROR(options.check());
    RETURN_IF_ERROR(sa.Seek(pos));
    RETURN_IF_ERROR(sb.Seek(pos));
    const uint64_t stop = std::min({sa.end(), sb.end(), end});
    RETURN_IF_ERROR(EachDifferingRun(pos, stop - pos, sa.At(pos), sb.At(pos), each));
    pos = stop;
    if (options.progress) options.progress(pos, end);
  }
  return Status::Ok();
}

}  // namespace hvdisk::disk
