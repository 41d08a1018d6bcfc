#include "ops/change_set.h"

#include <algorithm>
#include <cstring>

#include "platform/digest.h"
#include "platform/hex.h"
#include "vhdx/format.h"

namespace hvdisk::ops {
namespace {

using vhdx::LoadU32;
using vhdx::LoadU64;

constexpr size_t kExtentHeaderSize = 16;
constexpr size_t kTrailerSize = 8;

void AppendU64(std::string* out, uint64_t v) {
  std::byte b[8];
  vhdx::StoreU64(b, 0, v);
  out->append(reinterpret_cast<const char*>(b), 8);
}

}  // namespace

std::string EncodeChangeSet(std::span<const ChangeExtent> extents, uint64_t virtual_size) {
  std::string out(kChangeSetMagic, 8);
  std::byte b[8];
  vhdx::StoreU32(b, 0, kChangeSetVersion);
  vhdx::StoreU32(b, 4, static_cast<uint32_t>(extents.size()));
  out.append(reinterpret_cast<const char*>(b), 8);
  AppendU64(&out, virtual_size);
  for (const ChangeExtent& e : extents) {
    AppendU64(&out, e.offset);
    AppendU64(&out, e.data.size());
    out.append(reinterpret_cast<const char*>(e.data.data()), e.data.size());
  }
  AppendU64(&out, Xxh3_64(std::as_bytes(std::span(out))));
  return out;
}

Result<ChangeSetReader> ChangeSetReader::Open(FileSystem* fs, const std::string& path) {
  ChangeSetReader r;
  r.ctx_ = path + ": change set: ";
  ASSIGN_OR_RETURN(r.file_, fs->Open(path, OpenOptions::ReadOnly()));
  ASSIGN_OR_RETURN(r.size_, r.file_->Size());
  std::byte header[kChangeSetHeaderSize] = {};
  if (r.size_ >= kChangeSetHeaderSize) RETURN_IF_ERROR(r.Read(0, header));
  if (r.size_ < kChangeSetHeaderSize + kTrailerSize ||
      std::memcmp(header, kChangeSetMagic, 8) != 0) {
    return Corrupt(path + " is not a change set (no " + kChangeSetMagic + " header; " +
                   std::to_string(r.size_) + " bytes)");
  }
  if (LoadU32(header, 8) != kChangeSetVersion) {
    return Unsupported(r.ctx_ + "version " + std::to_string(LoadU32(header, 8)) + " (this hvdisk " +
                       "reads version " + std::to_string(kChangeSetVersion) + ")");
  }
  r.count_ = LoadU32(header, 12);
  r.virtual_size_ = LoadU64(header, 16);
  const uint64_t least =
      kChangeSetHeaderSize + uint64_t{r.count_} * kExtentHeaderSize + kTrailerSize;
  if (r.size_ < least) {
    return Corrupt(r.ctx_ + std::to_string(r.count_) + " extents declared, but the file of " +
                   std::to_string(r.size_) + " bytes cannot hold their headers");
  }
  return r;
}

Status ChangeSetReader::Read(uint64_t offset, std::span<std::byte> dst) {
  return file_->ReadExactAt(offset, dst, "change set");
}

Status ChangeSetReader::ScanData(uint64_t pos, uint64_t offset, uint64_t length,
                                 std::span<std::byte> buf, Digest64* hash, const Sink& sink) {
  for (uint64_t done = 0; done < length;) {
    std::span<std::byte> piece = buf.first(std::min<uint64_t>(buf.size(), length - done));
    RETURN_IF_ERROR(Read(pos + done, piece));
    hash->Update(piece);
    if (sink) RETURN_IF_ERROR(sink(offset + done, piece));
    done += piece.size();
  }
  return Status::Ok();
}

Status ChangeSetReader::Scan(uint64_t disk_size, const Sink& sink) {
  std::vector<std::byte> buf(std::min<uint64_t>(kChangeSetPiece, size_));
  Digest64 hash;
  const uint64_t end = size_ - kTrailerSize;
  std::byte head[kChangeSetHeaderSize];
  RETURN_IF_ERROR(Read(0, head));
  hash.Update(head);
  if (LoadU32(head, 12) != count_ || LoadU64(head, 16) != virtual_size_) {
    return Corrupt(ctx_ + "its header changed while it was read");
  }
  // The first extent out of bounds: reported once the checksum shows the file is intact.
  Status out_of_range;
  uint64_t pos = kChangeSetHeaderSize;
  for (uint32_t i = 0; i < count_; ++i) {
    if (end - pos < kExtentHeaderSize) return Corrupt(ctx_ + "extent header past the end");
    std::byte eh[kExtentHeaderSize];
    RETURN_IF_ERROR(Read(pos, eh));
    hash.Update(eh);
    const uint64_t offset = LoadU64(eh, 0), length = LoadU64(eh, 8);
    pos += kExtentHeaderSize;
    if (length > end - pos) return Corrupt(ctx_ + "extent " + std::to_string(i) + " past the end");
    if (out_of_range.ok() && (offset > disk_size || length > disk_size - offset)) {
      out_of_range = InvalidArgument(ctx_ + "change at " + Hex(offset) + " +" + Hex(length) +
                                     " lies beyond the virtual size " + Hex(disk_size));
    }
    RETURN_IF_ERROR(ScanData(pos, offset, length, buf, &hash, out_of_range.ok() ? sink : Sink()));
    pos += length;
  }
  if (pos != end) return Corrupt(ctx_ + "trailing bytes after the last extent");
  std::byte trailer[kTrailerSize];
  RETURN_IF_ERROR(Read(end, trailer));
  if (hash.Finish() != LoadU64(trailer, 0)) return Corrupt(ctx_ + "checksum mismatch");
  return out_of_range;
}

}  // namespace hvdisk::ops
