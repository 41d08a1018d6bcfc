// ChangeSetWriter: writes a change-set file (change_set.h's format, docs/change-set.md) as its
// extents arrive, in constant memory whatever the number or size of the extents.
//
// The header names the extent count and the trailer is a checksum of every byte before it, both
// known only at the end: the writer writes a header with count 0, appends each extent (offset,
// length, data) through a buffer of kChangeSetPiece bytes, then at Finish writes the real count
// into the header, reads the file back once in pieces to compute the XXH3-64, appends it and
// flushes. A file left by a writer that did not finish has count 0 and no valid checksum, so
// ChangeSetReader refuses it (kCorrupt); callers also write it under a temporary name
// (platform/atomic_output.h), so no such file ever carries the final name.
//
// Thread safety: one thread uses a writer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "disk/copier.h"
#include "disk/virtual_disk.h"
#include "platform/file.h"
#include "platform/status.h"

namespace hvdisk::ops {

class ChangeSetWriter {
 public:
  // Opens the existing empty file `path` for writing (the caller created it) and writes the
  // header of a change set for a disk of `virtual_size` bytes.
  static Result<std::unique_ptr<ChangeSetWriter>> Open(FileSystem* fs, const std::string& path,
                                                       uint64_t virtual_size);

  // Appends the extent of `length` bytes at virtual `offset`: `data`'s bytes, or zeros when it is
  // null. kInvalidArgument past the virtual size; kUnsupported past 4294967295 extents.
  Status Add(uint64_t offset, uint64_t length, const std::byte* data);
  // Writes the count and the checksum, flushes and closes. No Add may follow.
  Status Finish();

  uint32_t extent_count() const { return count_; }
  uint64_t data_bytes() const { return data_bytes_; }

 private:
  ChangeSetWriter() = default;
  Status Append(const std::byte* data, uint64_t length);
  Status Drain();
  Status AppendChecksum();

  std::unique_ptr<File> file_;
  std::vector<std::byte> buf_;
  uint64_t pos_ = 0;  // file position of buf_'s first byte
  uint64_t virtual_size_ = 0;
  uint32_t count_ = 0;
  uint64_t data_bytes_ = 0;
};

struct DiffReport {
  uint64_t virtual_size = 0;
  uint32_t extents = 0;
  uint64_t data_bytes = 0;  // bytes of extent data written
};

// `hvdisk diff`: writes into the existing empty file `path` the change set that turns
// `old_disk`'s content into `new_disk`'s (disk::ForEachDifference: the maps decide what is read;
// a range one disk maps as zeros is compared against zeros; nothing unallocated in both is
// read). kInvalidArgument when their virtual sizes differ (nothing written). Streams: memory is
// the readers' chunks and one kChangeSetPiece. The caller makes `path` appear atomically.
Result<DiffReport> DiffToChangeSet(FileSystem* fs, disk::VirtualDisk* old_disk,
                                   disk::VirtualDisk* new_disk, const std::string& path,
                                   const disk::CopyOptions& options = {});

}  // namespace hvdisk::ops
