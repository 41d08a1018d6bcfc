// The log entry format (MS-VHDX §2.3.1): LogEntryHeader, ZeroDescriptor, DataDescriptor,
// DataSector, and LogEntry, which encodes and decodes a whole entry.
//
// An entry is a run of 4 KiB sectors: descriptor sectors (the first holds the 64-byte header and
// up to 126 32-byte descriptors, later ones up to 128; descriptor i is at byte 64 + 32 * i), then
// one data sector per data descriptor, in descriptor order. The header's CRC-32C covers the whole
// EntryLength with the Checksum zeroed. A data sector carries bytes 8-4091 of its 4 KiB update;
// the descriptor carries bytes 0-7 (LeadingBytes) and 4092-4095 (TrailingBytes).
// Searching and replaying the circular log is the log reader's job (log.h); this is the codec.
// Codec only: no I/O. Thread-safe: value types and pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "platform/guid.h"
#include "platform/status.h"
#include "vhdx/format.h"

namespace hvdisk::vhdx {

struct LogEntryHeader {
  static constexpr size_t kSize = 64;
  static constexpr size_t kChecksumOffset = 4;

  uint32_t checksum = 0;  // as stored
  uint32_t entry_length = 0;
  uint32_t tail = 0;  // byte offset in the log of the sequence's first entry
  uint64_t sequence_number = 0;
  uint32_t descriptor_count = 0;
  Guid log_guid;
  uint64_t flushed_file_offset = 0;
  uint64_t last_file_offset = 0;

  static Result<LogEntryHeader> Decode(std::span<const std::byte> bytes);  // signature only
  void EncodeTo(std::span<std::byte> out) const;  // REQUIRES: out.size() >= kSize
};

struct ZeroDescriptor {
  static constexpr size_t kSize = 32;

  uint64_t zero_length = 0;  // multiple of 4 KiB
  uint64_t file_offset = 0;  // multiple of 4 KiB
  uint64_t sequence_number = 0;

  static Result<ZeroDescriptor> Decode(std::span<const std::byte> bytes);  // signature only
  void EncodeTo(std::span<std::byte> out) const;  // REQUIRES: out.size() >= kSize
};

struct DataDescriptor {
  static constexpr size_t kSize = 32;

  std::array<std::byte, 4> trailing_bytes{};  // bytes 4092-4095 of the update
  std::array<std::byte, 8> leading_bytes{};   // bytes 0-7 of the update
  uint64_t file_offset = 0;                   // multiple of 4 KiB
  uint64_t sequence_number = 0;

  static Result<DataDescriptor> Decode(std::span<const std::byte> bytes);  // signature only
  void EncodeTo(std::span<std::byte> out) const;  // REQUIRES: out.size() >= kSize
};

struct DataSector {
  static constexpr size_t kSize = kLogSectorSize;  // 4096
  static constexpr size_t kDataOffset = 8;
  static constexpr size_t kDataSize = 4084;

  uint32_t sequence_high = 0;  // upper 32 bits of the entry's sequence number
  uint32_t sequence_low = 0;   // lower 32 bits
  std::array<std::byte, kDataSize> data{};

  static Result<DataSector> Decode(std::span<const std::byte> bytes);  // signature only
  void EncodeTo(std::span<std::byte> out) const;  // REQUIRES: out.size() >= kSize
};

// One descriptor of an entry, as replay applies it.
struct LogUpdate {
  enum class Kind : uint8_t { kData, kZero };

  Kind kind = Kind::kData;
  uint64_t file_offset = 0;     // multiple of 4 KiB
  uint64_t zero_length = 0;     // kZero: bytes to zero, a multiple of 4 KiB
  std::vector<std::byte> data;  // kData: the whole 4096-byte page, reassembled

  static LogUpdate Data(uint64_t file_offset, std::span<const std::byte> page);
  static LogUpdate Zero(uint64_t file_offset, uint64_t length);
  bool operator==(const LogUpdate&) const = default;
};

struct LogEntry {
  static constexpr size_t kSectorSize = kLogSectorSize;
  static constexpr size_t kDescriptorSize = 32;

  uint64_t sequence_number = 0;  // > 0
  uint32_t tail = 0;             // multiple of 4 KiB; may point at this entry itself
  Guid log_guid;
  uint64_t flushed_file_offset = 0;  // multiple of 1 MiB
  uint64_t last_file_offset = 0;     // multiple of 1 MiB
  std::vector<LogUpdate> updates;    // in descriptor order, which is replay order
  // Decode: EntryLength as stored (>= the encoded length; trailing padding is tolerated).
  // Encode ignores it and writes EncodedLength().
  uint32_t entry_length = 0;

  // Descriptor sectors for n descriptors: 1 for up to 126, then one per 128 more.
  static uint64_t DescriptorSectorCount(uint64_t descriptor_count);
  // Bytes of an entry with these descriptors.
  static uint64_t LengthFor(uint64_t descriptor_count, uint64_t data_descriptor_count);
  uint64_t EncodedLength() const;

  // Builds the whole entry (EncodedLength() bytes, CRC included). InvalidArgument on a zero
  // sequence number, misaligned tail or offsets, a data page not 4096 bytes, or an entry over
  // 4 GiB. REQUIRES: out.size() >= EncodedLength() (else InvalidArgument).
  Status EncodeTo(std::span<std::byte> out) const;
  Result<std::vector<std::byte>> Encode() const;

  // From the first 64 bytes (or more) of a candidate entry: its EntryLength, after checking the
  // signature and that it is a non-zero multiple of 4 KiB (Corrupt otherwise). Read that many
  // bytes (wrapping in the circular log as needed) and pass them to Decode.
  static Result<uint32_t> PeekEntryLength(std::span<const std::byte> header_bytes);
  // Validates every field of a candidate entry (bytes.size() >= EntryLength): signature, length,
  // CRC over EntryLength, SequenceNumber > 0, Tail 4 KiB aligned, LogGuid == log_guid, the file
  // offsets 1 MiB aligned, every descriptor's signature, alignment and sequence number, every
  // data sector's signature and SequenceHigh/Low. Corrupt on any failure. Reserved fields are
  // ignored.
  static Result<LogEntry> Decode(std::span<const std::byte> bytes, const Guid& log_guid);
};

}  // namespace hvdisk::vhdx
