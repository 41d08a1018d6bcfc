// Change sets: replicated writes (extents of new data) as the replication side receives them, and
// the file format `hvdisk vm apply` reads.
//
// File format (little-endian), documented here because it is ours:
//   0   8  magic "HVDKCHG1"
//   8   4  version (1)
//   12  4  extent count N
//   16  8  virtual size of the source disk (0: unknown; else must equal the replica's)
//   24  .. N extents, each: u64 virtual offset, u64 length, then `length` data bytes
//   end 8  XXH3-64 of every byte before it
//
// Reading streams, in constant memory whatever the file's size (ChangeSetReader): the 24-byte
// header is checked alone first (magic, version, a file long enough for N extent headers), so a
// file that is not a change set is refused before its body is read; then the body is walked in
// pieces of at most kChangeSetPiece bytes, every length checked against the bytes that remain and
// every extent against the disk's size, the checksum compared at the end. A truncated or altered
// file is kCorrupt and never read out of bounds.
//
// Thread safety: EncodeChangeSet is a pure function; a ChangeSetReader is used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "platform/file.h"
#include "platform/status.h"

namespace hvdisk {
class Digest64;
}  // namespace hvdisk

namespace hvdisk::ops {

// One replicated write. `data` is not owned: it must outlive the call it is passed to.
struct ChangeExtent {
  uint64_t offset = 0;
  std::span<const std::byte> data;
};

inline constexpr char kChangeSetMagic[] = "HVDKCHG1";
inline constexpr uint32_t kChangeSetVersion = 1;
inline constexpr size_t kChangeSetHeaderSize = 24;
// The largest piece of extent data a ChangeSetReader holds in memory at once.
inline constexpr size_t kChangeSetPiece = 1 << 20;

// The file bytes of a change set.
std::string EncodeChangeSet(std::span<const ChangeExtent> extents, uint64_t virtual_size);

class ChangeSetReader {
 public:
  // Receives one piece of an extent: `data` (valid during the call) belongs at virtual `offset`.
  using Sink = std::function<Status(uint64_t offset, std::span<const std::byte> data)>;

  // Opens `path` and checks its header, reading those 24 bytes only: kNotFound when missing;
  // kCorrupt when it is not a change set (no magic, or too short for its header, its N extent
  // headers and its checksum); kUnsupported for another version.
  static Result<ChangeSetReader> Open(FileSystem* fs, const std::string& path);

  uint64_t virtual_size() const { return virtual_size_; }  // 0: unknown
  uint32_t extent_count() const { return count_; }

  // Walks the body in file order, handing each extent's data to `sink` (may be empty: the walk
  // only checks) in pieces of at most kChangeSetPiece bytes. kInvalidArgument for an extent that
  // lies beyond `disk_size`; kCorrupt for a length past the end, trailing bytes or a checksum
  // mismatch, which shows only at the end: walk once without a sink before writing anything.
  // Allocates one piece buffer. May be called again (the file is read anew).
  Status Scan(uint64_t disk_size, const Sink& sink);

 private:
  ChangeSetReader() = default;
  Status Read(uint64_t offset, std::span<std::byte> dst);
  // Reads the `length` data bytes at file position `pos` through `buf` into *hash and `sink`.
  Status ScanData(uint64_t pos, uint64_t offset, uint64_t length, std::span<std::byte> buf,
                  Digest64* hash, const Sink& sink);

  std::unique_ptr<File> file_;
  std::string ctx_;  // "<path>: change set: "
  uint64_t size_ = 0;
  uint32_t count_ = 0;
  uint64_t virtual_size_ = 0;
};

}  // namespace hvdisk::ops
