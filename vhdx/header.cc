#include "vhdx/header.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "platform/crc32c.h"
#include "platform/hex.h"

namespace hvdisk::vhdx {
namespace {

// Field offsets (§2.2.2).
constexpr size_t kSequenceNumberOffset = 8;
constexpr size_t kFileWriteGuidOffset = 16;
constexpr size_t kDataWriteGuidOffset = 32;
constexpr size_t kLogGuidOffset = 48;
constexpr size_t kLogVersionOffset = 64;
constexpr size_t kVersionOffset = 66;
constexpr size_t kLogLengthOffset = 68;
constexpr size_t kLogOffsetOffset = 72;

}  // namespace

Result<VhdxHeader> VhdxHeader::DecodeUnvalidated(std::span<const std::byte> bytes) {
  if (bytes.size() < kSize) {
    return Corrupt("header: " + std::to_string(bytes.size()) + " bytes, need 4096 (MS-VHDX 2.2.2)");
  }
  bytes = bytes.first(kSize);
  if (!HasSignature(bytes, 0, kHeaderSignature)) {
    return Corrupt("header: signature is not \"head\" (MS-VHDX 2.2.2)");
  }
  uint32_t stored = LoadU32(bytes, kChecksumOffset);
  uint32_t computed = Crc32cWithZeroedField(bytes, kChecksumOffset);
  if (stored != computed) {
    return Corrupt("header: checksum " + Hex(stored) + " != computed " + Hex(computed) +
                   " (MS-VHDX 2.2.2)");
  }
  VhdxHeader h;
  h.sequence_number = LoadU64(bytes, kSequenceNumberOffset);
  h.file_write_guid = LoadGuid(bytes, kFileWriteGuidOffset);
  h.data_write_guid = LoadGuid(bytes, kDataWriteGuidOffset);
  h.log_guid = LoadGuid(bytes, kLogGuidOffset);
  h.log_version = LoadU16(bytes, kLogVersionOffset);
  h.version = LoadU16(bytes, kVersionOffset);
  h.log_length = LoadU32(bytes, kLogLengthOffset);
  h.log_offset = LoadU64(bytes, kLogOffsetOffset);
  return h;
}

Result<VhdxHeader> VhdxHeader::Decode(std::span<const std::byte> bytes) {
  ASSIGN_OR_RETURN(VhdxHeader h, DecodeUnvalidated(bytes));
  RETURN_IF_ERROR(h.Validate());
  return h;
}

Status VhdxHeader::Validate() const {
  if (version != kVhdxVersion) {
    return Unsupported("header: version " + std::to_string(version) + " is not 1 (MS-VHDX 2.2.2)");
  }
  if (!log_guid.IsZero() && log_version != kLogVersion) {
    return Unsupported("header: log version " + std::to_string(log_version) +
                       " is not 0 and the log is not empty (MS-VHDX 2.2.2)");
  }
  if (log_length % kMiB != 0) {
    return Corrupt("header: log length " + Hex(log_length) +
                   " is not a multiple of 1 MiB (MS-VHDX 2.2.2)");
  }
  if (log_offset % kMiB != 0 || log_offset < kHeaderSectionSize) {
    return Corrupt("header: log offset " + Hex(log_offset) +
                   " is not a multiple of 1 MiB of at least 1 MiB (MS-VHDX 2.2.2)");
  }
  if (log_offset > UINT64_MAX - log_length) {
    return Corrupt("header: log at " + Hex(log_offset) + " overflows (MS-VHDX 2.2.2)");
  }
  if (!log_guid.IsZero() && log_length == 0) {
    return Corrupt("header: log GUID set but the log length is 0 (MS-VHDX 2.2.2)");
  }
  return Status::Ok();
}

void VhdxHeader::EncodeTo(std::span<std::byte> out) const {
  std::span<std::byte> b = out.first(kSize);
  std::fill(b.begin(), b.end(), std::byte{0});
  StoreSignature(b, 0, kHeaderSignature);
  StoreU64(b, kSequenceNumberOffset, sequence_number);
  StoreGuid(b, kFileWriteGuidOffset, file_write_guid);
  StoreGuid(b, kDataWriteGuidOffset, data_write_guid);
  StoreGuid(b, kLogGuidOffset, log_guid);
  StoreU16(b, kLogVersionOffset, log_version);
  StoreU16(b, kVersionOffset, version);
  StoreU32(b, kLogLengthOffset, log_length);
  StoreU64(b, kLogOffsetOffset, log_offset);
  StoreU32(b, kChecksumOffset, Crc32cWithZeroedField(b, kChecksumOffset));
}

std::vector<std::byte> VhdxHeader::Encode() const {
  std::vector<std::byte> out(kSize);
  EncodeTo(out);
  return out;
}

namespace {

Result<VhdxHeader> DecodeSlot(std::optional<std::span<const std::byte>> bytes, int slot) {
  if (!bytes) return Corrupt("header " + std::to_string(slot) + ": unreadable (MS-VHDX 2.2.2)");
  Result<VhdxHeader> h = VhdxHeader::DecodeUnvalidated(*bytes);
  if (!h.ok()) return h.status().WithContext("slot " + std::to_string(slot));
  return h;
}

bool SameBytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return std::memcmp(a.data(), b.data(), VhdxHeader::kSize) == 0;
}

}  // namespace

Result<HeaderChoice> ChooseHeader(std::optional<std::span<const std::byte>> slot1,
                                  std::optional<std::span<const std::byte>> slot2) {
  Result<VhdxHeader> h1 = DecodeSlot(slot1, 1);
  Result<VhdxHeader> h2 = DecodeSlot(slot2, 2);
  if (!h1.ok() && !h2.ok()) {
    return Corrupt("header: neither header is valid (MS-VHDX 2.2.2): " + h1.status().message() +
                   "; " + h2.status().message());
  }
  HeaderChoice choice;
  if (h1.ok() && h2.ok()) {
    if (h1->sequence_number == h2->sequence_number && !SameBytes(*slot1, *slot2)) {
      return Corrupt("header: both headers have sequence number " +
                     std::to_string(h1->sequence_number) + " but differ (MS-VHDX 2.2.2)");
    }
    bool second = h2->sequence_number > h1->sequence_number;
    choice.current = second ? *h2 : *h1;
    choice.current_slot = second ? 2 : 1;
    choice.other = second ? *h1 : *h2;
  } else {
    choice.current_slot = h1.ok() ? 1 : 2;
    choice.current = h1.ok() ? *h1 : *h2;
    choice.other_status = h1.ok() ? h2.status() : h1.status();
  }
  RETURN_IF_ERROR(choice.current.Validate().WithContext("current header (slot " +
                                                        std::to_string(choice.current_slot) + ")"));
  return choice;
}

}  // namespace hvdisk::vhdx
