#include "disk/raw_disk.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace hvdisk::disk {
namespace {

using vhdx::Extent;

constexpr size_t kZeroChunk = 1 << 20;

// One data-or-hole run of a raw file starting at `offset` (SEEK_DATA / SEEK_HOLE).
Extent RawRun(int fd, uint64_t offset, uint64_t end) {
  Extent e{Extent::Kind::kData, offset, end - offset, offset};
  off_t data = lseek(fd, static_cast<off_t>(offset), SEEK_DATA);
  if (data < 0) {
    if (errno == ENXIO) e.kind = Extent::Kind::kZero;  // a hole up to end of file
    return e;
  }
  if (static_cast<uint64_t>(data) > offset) {
    e.kind = Extent::Kind::kZero;
    e.length = std::min<uint64_t>(data, end) - offset;
    return e;
  }
  off_t hole = lseek(fd, static_cast<off_t>(offset), SEEK_HOLE);
  if (hole > 0 && static_cast<uint64_t>(hole) < end) e.length = hole - offset;
  return e;
}

// How much of a write of `src` at `offset` O_DIRECT can take: the whole kDirectAlignment units
// at its start when the offset and the buffer are aligned, else nothing.
size_t DirectPrefix(uint64_t offset, std::span<const std::byte> src) {
  const auto address = reinterpret_cast<uintptr_t>(src.data());
  if (offset % kDirectAlignment != 0 || address % kDirectAlignment != 0) return 0;
  return src.size() / kDirectAlignment * kDirectAlignment;
}

}  // namespace

RawDisk::RawDisk(std::unique_ptr<File> file, uint64_t size, bool writable,
                 std::unique_ptr<File> direct)
    : VirtualDisk(file->path()),
      file_(std::move(file)),
      direct_(std::move(direct)),
      size_(size),
      writable_(writable) {}

Status RawDisk::Read(uint64_t offset, std::span<std::byte> dst) {
  ASSIGN_OR_RETURN(size_t n, file_->ReadAt(offset, dst));
  if (n < dst.size()) std::memset(dst.data() + n, 0, dst.size() - n);  // file shrank
  return Status::Ok();
}

Status RawDisk::Write(uint64_t offset, std::span<const std::byte> src) {
  if (direct_ == nullptr) return file_->WriteAt(offset, src);
  const size_t direct = DirectPrefix(offset, src);
  if (direct > 0) RETURN_IF_ERROR(direct_->WriteAt(offset, src.first(direct)));
  if (direct == src.size()) return Status::Ok();
  return file_->WriteAt(offset + direct, src.subspan(direct));
}

Status RawDisk::Zero(uint64_t offset, uint64_t length) {
  const std::vector<std::byte> zeros(std::min<uint64_t>(length, kZeroChunk));
  for (uint64_t done = 0; done < length;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), length - done));
    RETURN_IF_ERROR(file_->WriteAt(offset + done, std::span(zeros).first(n)));
    done += n;
  }
  return Status::Ok();
}

// Releases nothing early and flushes nothing: a copy that asked for no durability (convert
// --cache unsafe) ends without an fsync; the descriptors close with the object.
Status RawDisk::Close() { return Status::Ok(); }

Result<std::vector<LayerExtent>> RawDisk::Map(uint64_t offset, uint64_t length) {
  std::vector<LayerExtent> out;
  const uint64_t end = offset + length;
  const int fd = file_->native_handle();
  if (fd < 0) {
    if (length > 0) out.push_back({{Extent::Kind::kData, offset, length, offset}, 0});
    return out;
  }
  while (offset < end) {
    Extent e = RawRun(fd, offset, end);
    if (!out.empty() && out.back().extent.kind == e.kind) {
      out.back().extent.length += e.length;
    } else {
      out.push_back({e, 0});
    }
    offset += e.length;
  }
  return out;
}

Status RawDisk::PlanRead(uint64_t offset, std::span<std::byte> dst, std::vector<IoRequest>* out) {
  out->push_back({IoKind::kRead, file_.get(), offset, dst.data(), dst.size(), 0});
  return Status::Ok();
}

Status RawDisk::PlanWrite(uint64_t offset, std::span<const std::byte> src,
                          std::vector<IoRequest>* out) {
  auto* data = const_cast<std::byte*>(src.data());  // IoRequest::data: not modified for writes
  out->push_back({IoKind::kWrite, file_.get(), offset, data, src.size(), 0});
  return Status::Ok();
}

}  // namespace hvdisk::disk
