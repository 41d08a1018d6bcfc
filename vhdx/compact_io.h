// CompactIo: the bulk reads and copies of Image::Compact, pipelined: up to kDepth requests of up
// to kPiece bytes in flight on one IoQueue, with O_DIRECT where the file system allows it. One
// buffered request at a time (the kernel's readahead behind it) reached a third to a half of
// what the device gives to a few large requests in flight; the zero scan and the moves are all
// of compact's time.
//
// Where a direct handle cannot be opened (tmpfs, a test file system), the image's own File is
// used with the same pipelining (requests without a native handle run synchronously).
//
// Thread safety: one thread; REQUIRES (of the caller) Image's flush_mu held, no I/O in flight on
// the image, and the image's writes so far flushed (the direct handle reads the file itself).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "platform/aligned_buffer.h"
#include "platform/file.h"
#include "platform/io_queue.h"
#include "platform/status.h"

namespace hvdisk::vhdx {

struct FileRange {
  uint64_t offset = 0;  // REQUIRES: a multiple of kDirectAlignment
  uint64_t length = 0;
};

struct FileMove {
  uint64_t from = 0, to = 0;  // REQUIRES: multiples of kDirectAlignment
  uint64_t length = 0;
};

class CompactIo {
 public:
  static constexpr size_t kPiece = 8 << 20;
  static constexpr size_t kDepth = 4;

  // `file` is the image's File (not owned; outlives this); `path` in `fs` is opened again with
  // O_DIRECT, read-write, when it can be.
  static Result<std::unique_ptr<CompactIo>> Open(FileSystem* fs, const std::string& path,
                                                 File* file);

  // For each range, whether every byte of it reads as zero (bytes past EOF count as zero). A
  // range found non-zero is read no further.
  Result<std::vector<bool>> AllZero(std::span<const FileRange> ranges);

  // Copies each move's bytes from `from` to `to`, then flushes them. kCorrupt when a source ends
  // early. REQUIRES: no source overlaps any target of the same call.
  Status Copy(std::span<const FileMove> moves);

 private:
  struct Slot {
    AlignedBuffer buffer{kPiece};
    size_t item = 0;       // the range or move it serves
    uint64_t at = 0;       // offset of its piece within the range or move
    size_t length = 0;     // bytes of its piece
    bool writing = false;  // Copy: the read is done, the write in flight
  };
  // Walks the pieces of a list of ranges: range by range, kPiece bytes at a time.
  struct Cursor {
    size_t item = 0;
    uint64_t at = 0;
    // Sets `slot` to the next piece of a range `wanted` leaves in (all when null); false at the
    // end.
    bool Next(std::span<const FileRange> ranges, const std::vector<bool>* wanted, Slot* slot);
  };
  CompactIo() = default;
  File* ReaderFor() const { return direct_ ? direct_.get() : file_; }
  File* WriterFor(uint64_t length) const {
    return direct_ && length % kDirectAlignment == 0 ? direct_.get() : file_;
  }
  Status Submit(Slot* slot, IoKind kind, File* f, uint64_t offset, size_t length);
  // Submits reads of the next pieces into the free slots (taken from *free).
  Status ReadAhead(std::span<const FileRange> ranges, const std::vector<bool>* wanted,
                   Cursor* cursor, std::vector<Slot*>* free);
  // Reaps what is still in flight (the buffers must outlive it), then returns `status`.
  Status Drain(Status status);

  File* file_ = nullptr;
  std::unique_ptr<File> direct_;  // null: none could be opened
  std::unique_ptr<IoQueue> queue_;
  std::vector<Slot> slots_;
};

}  // namespace hvdisk::vhdx
