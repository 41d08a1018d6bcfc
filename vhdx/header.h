// VhdxHeader: one of the two 4 KiB headers of a VHDX file (MS-VHDX §2.2.2), and the rule that
// picks the current one.
//
// Header 1 lives at 64 KiB and header 2 at 128 KiB, each in its own 64 KiB slot. A header is
// "valid" when its signature "head" and its CRC-32C (over the 4 KiB, Checksum zeroed) are right;
// the current header is the valid one with the greater SequenceNumber. Codec only: no I/O.
// Thread-safe: value types and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "platform/guid.h"
#include "platform/status.h"
#include "vhdx/format.h"

namespace hvdisk::vhdx {

struct VhdxHeader {
  static constexpr size_t kSize = 4096;
  static constexpr size_t kChecksumOffset = 4;

  uint64_t sequence_number = 0;
  Guid file_write_guid;
  Guid data_write_guid;
  Guid log_guid;  // zero: no log to replay
  uint16_t log_version = kLogVersion;
  uint16_t version = kVhdxVersion;
  uint32_t log_length = 0;  // bytes, a multiple of 1 MiB
  uint64_t log_offset = 0;  // bytes, a multiple of 1 MiB, >= 1 MiB

  // Signature and checksum (Corrupt), then Validate(). Reads the first kSize bytes.
  static Result<VhdxHeader> Decode(std::span<const std::byte> bytes);
  // Signature and checksum only: validity in the sense of §2.2.2 (used to choose a header).
  static Result<VhdxHeader> DecodeUnvalidated(std::span<const std::byte> bytes);
  // Field rules: Version == 1 and LogVersion == 0 when LogGuid != 0 (else Unsupported);
  // LogLength and LogOffset multiples of 1 MiB, LogOffset >= 1 MiB, a log when LogGuid != 0
  // (else Corrupt).
  Status Validate() const;

  // Writes kSize bytes with the checksum computed; reserved bytes are zero.
  // REQUIRES: out.size() >= kSize.
  void EncodeTo(std::span<std::byte> out) const;
  std::vector<std::byte> Encode() const;  // kSize bytes

  bool operator==(const VhdxHeader&) const = default;
};

// The file offset of header slot 1 or 2.
inline constexpr uint64_t HeaderSlotOffset(int slot) {
  return slot == 1 ? kHeader1Offset : kHeader2Offset;
}

struct HeaderChoice {
  VhdxHeader current;
  int current_slot = 1;             // 1 or 2
  std::optional<VhdxHeader> other;  // the other slot's header when it is valid
  Status other_status;              // why the other slot is not valid; OK when it is

  // The slot the next header update overwrites (§2.2.2.1).
  int noncurrent_slot() const { return 3 - current_slot; }
};

// Picks the current header from the raw bytes of slot 1 and slot 2 (nullopt: unreadable).
// Only valid headers count, so one torn header does not stop selection; with equal sequence
// numbers both must be byte-identical over the 4 KiB (the Disk2VHD case), else Corrupt. None
// valid: Corrupt. The chosen header must then pass Validate(); a newer header that fails is not
// replaced by the older one.
Result<HeaderChoice> ChooseHeader(std::optional<std::span<const std::byte>> slot1,
                                  std::optional<std::span<const std::byte>> slot2);

}  // namespace hvdisk::vhdx
