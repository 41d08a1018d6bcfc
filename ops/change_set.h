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
// Decoding checks the checksum first, then every length against the bytes that remain, so a
// truncated or altered file is kCorrupt and never read out of bounds.
//
// Thread safety: pure functions over values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "platform/file.h"
#include "platform/status.h"

namespace hvdisk::ops {

// One replicated write. `data` is not owned: it must outlive the call it is passed to.
struct ChangeExtent {
  uint64_t offset = 0;
  std::span<const std::byte> data;
};

// A decoded change set: owns its bytes; extents() point into them.
class ChangeSet {
 public:
  uint64_t virtual_size() const { return virtual_size_; }
  // Views into this object's bytes: valid while it lives (and is not moved from).
  std::vector<ChangeExtent> extents() const;

  static Result<ChangeSet> Decode(std::string bytes, std::string_view where);

 private:
  std::string bytes_;
  uint64_t virtual_size_ = 0;
  struct Entry {
    uint64_t offset;
    size_t pos;  // of the data in bytes_
    size_t length;
  };
  std::vector<Entry> entries_;
};

inline constexpr char kChangeSetMagic[] = "HVDKCHG1";
inline constexpr uint32_t kChangeSetVersion = 1;

// The file bytes of a change set.
std::string EncodeChangeSet(std::span<const ChangeExtent> extents, uint64_t virtual_size);
// Reads and decodes a change-set file (kNotFound when missing, kCorrupt when malformed).
Result<ChangeSet> ReadChangeSet(FileSystem* fs, const std::string& path);

}  // namespace hvdisk::ops
