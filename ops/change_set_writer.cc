#include "ops/change_set_writer.h"

#include <algorithm>
#include <cstring>

#include "disk/compare.h"
#include "ops/change_set.h"
#include "platform/digest.h"
#include "vhdx/format.h"

namespace hvdisk::ops {
namespace {

constexpr std::byte kZeros[4096] = {};

}  // namespace

Result<std::unique_ptr<ChangeSetWriter>> ChangeSetWriter::Open(FileSystem* fs,
                                                               const std::string& path,
                                                               uint64_t virtual_size) {
  std::unique_ptr<ChangeSetWriter> w(new ChangeSetWriter());
  ASSIGN_OR_RETURN(w->file_, fs->Open(path, OpenOptions::ReadWrite()));
  RETURN_IF_ERROR(w->file_->Truncate(0));
  w->virtual_size_ = virtual_size;
  w->buf_.reserve(kChangeSetPiece);
  std::byte header[kChangeSetHeaderSize] = {};
  std::memcpy(header, kChangeSetMagic, 8);
  vhdx::StoreU32(header, 8, kChangeSetVersion);
  vhdx::StoreU32(header, 12, 0);  // the count, written by Finish
  vhdx::StoreU64(header, 16, virtual_size);
  RETURN_IF_ERROR(w->Append(header, sizeof(header)));
  return w;
}

Status ChangeSetWriter::Drain() {
  if (buf_.empty()) return Status::Ok();
  RETURN_IF_ERROR(file_->WriteAt(pos_, buf_));
  pos_ += buf_.size();
  buf_.clear();
  return Status::Ok();
}

// Buffers small appends; writes large ones (and full buffers) through. Null data: zeros.
Status ChangeSetWriter::Append(const std::byte* data, uint64_t length) {
  while (length > 0) {
    if (buf_.size() == kChangeSetPiece) RETURN_IF_ERROR(Drain());
    if (data != nullptr && buf_.empty() && length >= kChangeSetPiece) {
      RETURN_IF_ERROR(file_->WriteAt(pos_, std::span(data, length)));
      pos_ += length;
      return Status::Ok();
    }
    uint64_t n = std::min<uint64_t>(length, kChangeSetPiece - buf_.size());
    if (data == nullptr) n = std::min<uint64_t>(n, sizeof(kZeros));
    const std::byte* src = data != nullptr ? data : kZeros;
    buf_.insert(buf_.end(), src, src + n);
    if (data != nullptr) data += n;
    length -= n;
  }
  return Status::Ok();
}

Status ChangeSetWriter::Add(uint64_t offset, uint64_t length, const std::byte* data) {
  if (length == 0) return Status::Ok();
  if (offset > virtual_size_ || length > virtual_size_ - offset) {
    return InvalidArgument("change set extent [" + std::to_string(offset) + ", +" +
                           std::to_string(length) + ") lies beyond the virtual size " +
                           std::to_string(virtual_size_));
  }
  if (count_ == UINT32_MAX) {
    return Unsupported("a change set holds at most 4294967295 extents");
  }
  std::byte head[16];
  vhdx::StoreU64(head, 0, offset);
  vhdx::StoreU64(head, 8, length);
  RETURN_IF_ERROR(Append(head, sizeof(head)));
  RETURN_IF_ERROR(Append(data, length));
  ++count_;
  data_bytes_ += length;
  return Status::Ok();
}

// The checksum covers every byte before it: read back in pieces (the header now holds the count).
Status ChangeSetWriter::AppendChecksum() {
  Digest64 hash;
  buf_.resize(kChangeSetPiece);
  for (uint64_t at = 0; at < pos_;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kChangeSetPiece, pos_ - at));
    RETURN_IF_ERROR(file_->ReadExactAt(at, std::span(buf_.data(), n), "change set"));
    hash.Update(std::span(buf_.data(), n));
    at += n;
  }
  buf_.clear();
  std::byte trailer[8];
  vhdx::StoreU64(trailer, 0, hash.Finish());
  RETURN_IF_ERROR(file_->WriteAt(pos_, trailer));
  pos_ += sizeof(trailer);
  return Status::Ok();
}

Status ChangeSetWriter::Finish() {
  RETURN_IF_ERROR(Drain());
  std::byte count[4];
  vhdx::StoreU32(count, 0, count_);
  RETURN_IF_ERROR(file_->WriteAt(12, count));
  RETURN_IF_ERROR(AppendChecksum());
  RETURN_IF_ERROR(file_->Flush());
  file_.reset();
  return Status::Ok();
}

Result<DiffReport> DiffToChangeSet(FileSystem* fs, disk::VirtualDisk* old_disk,
                                   disk::VirtualDisk* new_disk, const std::string& path,
                                   const disk::CopyOptions& options) {
  if (old_disk->size() != new_disk->size()) {
    return InvalidArgument("the disks differ in size: " + old_disk->path() + " is " +
                           std::to_string(old_disk->size()) + " bytes, " + new_disk->path() +
                           " is " + std::to_string(new_disk->size()) +
                           " (a change set carries changes between disks of one virtual size)");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<ChangeSetWriter> w,
                   ChangeSetWriter::Open(fs, path, new_disk->size()));
  RETURN_IF_ERROR(disk::ForEachDifference(
      old_disk, new_disk, options, [&](uint64_t offset, uint64_t length, const std::byte* data) {
        return w->Add(offset, length, data);
      }));
  RETURN_IF_ERROR(w->Finish());
  return DiffReport{new_disk->size(), w->extent_count(), w->data_bytes()};
}

}  // namespace hvdisk::ops
