#include "vhdx/log_format.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "platform/crc32c.h"
#include "platform/hex.h"

namespace hvdisk::vhdx {
namespace {

// LogEntryHeader field offsets (§2.3.1.1).
constexpr size_t kEntryLengthOffset = 8;
constexpr size_t kTailOffset = 12;
constexpr size_t kSequenceNumberOffset = 16;
constexpr size_t kDescriptorCountOffset = 24;
constexpr size_t kLogGuidOffset = 32;
constexpr size_t kFlushedFileOffsetOffset = 48;
constexpr size_t kLastFileOffsetOffset = 56;
// Descriptor field offsets (§2.3.1.2, §2.3.1.3).
constexpr size_t kZeroLengthOffset = 8;
constexpr size_t kTrailingBytesOffset = 4;
constexpr size_t kLeadingBytesOffset = 8;
constexpr size_t kDescFileOffsetOffset = 16;
constexpr size_t kDescSequenceOffset = 24;
// DataSector field offsets (§2.3.1.4).
constexpr size_t kSequenceHighOffset = 4;
constexpr size_t kSequenceLowOffset = 4092;

constexpr uint64_t kPage = kLogSectorSize;

std::string DescWhere(size_t i) { return "log entry: descriptor " + std::to_string(i); }

}  // namespace

Result<LogEntryHeader> LogEntryHeader::Decode(std::span<const std::byte> bytes) {
  if (bytes.size() < kSize) return Corrupt("log entry: header truncated (MS-VHDX 2.3.1.1)");
  if (!HasSignature(bytes, 0, kLogEntrySignature)) {
    return Corrupt("log entry: signature is not \"loge\" (MS-VHDX 2.3.1.1)");
  }
  LogEntryHeader h;
  h.checksum = LoadU32(bytes, kChecksumOffset);
  h.entry_length = LoadU32(bytes, kEntryLengthOffset);
  h.tail = LoadU32(bytes, kTailOffset);
  h.sequence_number = LoadU64(bytes, kSequenceNumberOffset);
  h.descriptor_count = LoadU32(bytes, kDescriptorCountOffset);
  h.log_guid = LoadGuid(bytes, kLogGuidOffset);
  h.flushed_file_offset = LoadU64(bytes, kFlushedFileOffsetOffset);
  h.last_file_offset = LoadU64(bytes, kLastFileOffsetOffset);
  return h;
}

void LogEntryHeader::EncodeTo(std::span<std::byte> out) const {
  std::fill(out.begin(), out.begin() + kSize, std::byte{0});
  StoreSignature(out, 0, kLogEntrySignature);
  StoreU32(out, kChecksumOffset, checksum);
  StoreU32(out, kEntryLengthOffset, entry_length);
  StoreU32(out, kTailOffset, tail);
  StoreU64(out, kSequenceNumberOffset, sequence_number);
  StoreU32(out, kDescriptorCountOffset, descriptor_count);
  StoreGuid(out, kLogGuidOffset, log_guid);
  StoreU64(out, kFlushedFileOffsetOffset, flushed_file_offset);
  StoreU64(out, kLastFileOffsetOffset, last_file_offset);
}

Result<ZeroDescriptor> ZeroDescriptor::Decode(std::span<const std::byte> bytes) {
  if (bytes.size() < kSize || !HasSignature(bytes, 0, kZeroDescriptorSignature)) {
    return Corrupt("log entry: not a zero descriptor (MS-VHDX 2.3.1.2)");
  }
  return ZeroDescriptor{LoadU64(bytes, kZeroLengthOffset), LoadU64(bytes, kDescFileOffsetOffset),
                        LoadU64(bytes, kDescSequenceOffset)};
}

void ZeroDescriptor::EncodeTo(std::span<std::byte> out) const {
  std::fill(out.begin(), out.begin() + kSize, std::byte{0});
  StoreSignature(out, 0, kZeroDescriptorSignature);
  StoreU64(out, kZeroLengthOffset, zero_length);
  StoreU64(out, kDescFileOffsetOffset, file_offset);
  StoreU64(out, kDescSequenceOffset, sequence_number);
}

Result<DataDescriptor> DataDescriptor::Decode(std::span<const std::byte> bytes) {
  if (bytes.size() < kSize || !HasSignature(bytes, 0, kDataDescriptorSignature)) {
    return Corrupt("log entry: not a data descriptor (MS-VHDX 2.3.1.3)");
  }
  DataDescriptor d;
  std::memcpy(d.trailing_bytes.data(), bytes.data() + kTrailingBytesOffset, 4);
  std::memcpy(d.leading_bytes.data(), bytes.data() + kLeadingBytesOffset, 8);
  d.file_offset = LoadU64(bytes, kDescFileOffsetOffset);
  d.sequence_number = LoadU64(bytes, kDescSequenceOffset);
  return d;
}

void DataDescriptor::EncodeTo(std::span<std::byte> out) const {
  StoreSignature(out, 0, kDataDescriptorSignature);
  std::memcpy(out.data() + kTrailingBytesOffset, trailing_bytes.data(), 4);
  std::memcpy(out.data() + kLeadingBytesOffset, leading_bytes.data(), 8);
  StoreU64(out, kDescFileOffsetOffset, file_offset);
  StoreU64(out, kDescSequenceOffset, sequence_number);
}

Result<DataSector> DataSector::Decode(std::span<const std::byte> bytes) {
  if (bytes.size() < kSize || !HasSignature(bytes, 0, kDataSectorSignature)) {
    return Corrupt("log entry: not a data sector (MS-VHDX 2.3.1.4)");
  }
  DataSector s;
  s.sequence_high = LoadU32(bytes, kSequenceHighOffset);
  std::memcpy(s.data.data(), bytes.data() + kDataOffset, kDataSize);
  s.sequence_low = LoadU32(bytes, kSequenceLowOffset);
  return s;
}

void DataSector::EncodeTo(std::span<std::byte> out) const {
  StoreSignature(out, 0, kDataSectorSignature);
  StoreU32(out, kSequenceHighOffset, sequence_high);
  std::memcpy(out.data() + kDataOffset, data.data(), kDataSize);
  StoreU32(out, kSequenceLowOffset, sequence_low);
}

LogUpdate LogUpdate::Data(uint64_t file_offset, std::span<const std::byte> page) {
  return LogUpdate{Kind::kData, file_offset, 0, std::vector<std::byte>(page.begin(), page.end())};
}

LogUpdate LogUpdate::Zero(uint64_t file_offset, uint64_t length) {
  return LogUpdate{Kind::kZero, file_offset, length, {}};
}

uint64_t LogEntry::DescriptorSectorCount(uint64_t n) {
  return DivRoundUp(LogEntryHeader::kSize + n * kDescriptorSize, kSectorSize);
}

uint64_t LogEntry::LengthFor(uint64_t descriptor_count, uint64_t data_descriptor_count) {
  return (DescriptorSectorCount(descriptor_count) + data_descriptor_count) * kSectorSize;
}

uint64_t LogEntry::EncodedLength() const {
  uint64_t data = std::count_if(updates.begin(), updates.end(), [](const LogUpdate& u) {
    return u.kind == LogUpdate::Kind::kData;
  });
  return LengthFor(updates.size(), data);
}

namespace {

Status CheckForEncode(const LogEntry& e) {
  if (e.sequence_number == 0 || e.tail % kPage != 0 || e.flushed_file_offset % kMiB != 0 ||
      e.last_file_offset % kMiB != 0) {
    return InvalidArgument(
        "log entry: sequence number 0, or tail/flushed/last offsets "
        "misaligned (MS-VHDX 2.3.1.1)");
  }
  for (size_t i = 0; i < e.updates.size(); ++i) {
    const LogUpdate& u = e.updates[i];
    bool bad =
        u.file_offset % kPage != 0 ||
        (u.kind == LogUpdate::Kind::kData ? u.data.size() != kPage : u.zero_length % kPage != 0);
    if (bad) {
      return InvalidArgument(DescWhere(i) + ": offset " + Hex(u.file_offset) +
                             " or size not 4 KiB aligned (MS-VHDX 2.3.1.2, 2.3.1.3)");
    }
  }
  if (e.EncodedLength() > UINT32_MAX)
    return InvalidArgument("log entry: longer than 4 GiB (MS-VHDX 2.3.1.1)");
  return Status::Ok();
}

// Descriptor and data sector of one 4 KiB page.
void EncodeData(const LogUpdate& u, uint64_t sequence, std::span<std::byte> descriptor,
                std::span<std::byte> sector) {
  DataDescriptor d;
  std::memcpy(d.leading_bytes.data(), u.data.data(), 8);
  std::memcpy(d.trailing_bytes.data(), u.data.data() + kSequenceLowOffset, 4);
  d.file_offset = u.file_offset;
  d.sequence_number = sequence;
  d.EncodeTo(descriptor);
  DataSector s;
  s.sequence_high = static_cast<uint32_t>(sequence >> 32);
  s.sequence_low = static_cast<uint32_t>(sequence);
  std::memcpy(s.data.data(), u.data.data() + DataSector::kDataOffset, DataSector::kDataSize);
  s.EncodeTo(sector);
}

}  // namespace

Status LogEntry::EncodeTo(std::span<std::byte> out) const {
  RETURN_IF_ERROR(CheckForEncode(*this));
  uint64_t length = EncodedLength();
  if (out.size() < length) return InvalidArgument("log entry: output buffer too small");
  std::span<std::byte> b = out.first(length);
  std::fill(b.begin(), b.end(), std::byte{0});
  LogEntryHeader{0,
                 static_cast<uint32_t>(length),
                 tail,
                 sequence_number,
                 static_cast<uint32_t>(updates.size()),
                 log_guid,
                 flushed_file_offset,
                 last_file_offset}
      .EncodeTo(b);
  uint64_t data_sector = DescriptorSectorCount(updates.size());
  for (size_t i = 0; i < updates.size(); ++i) {
    std::span<std::byte> d = b.subspan(LogEntryHeader::kSize + i * kDescriptorSize);
    const LogUpdate& u = updates[i];
    if (u.kind == LogUpdate::Kind::kZero) {
      ZeroDescriptor{u.zero_length, u.file_offset, sequence_number}.EncodeTo(d);
    } else {
      EncodeData(u, sequence_number, d, b.subspan(data_sector++ * kSectorSize, kSectorSize));
    }
  }
  StoreU32(b, LogEntryHeader::kChecksumOffset,
           Crc32cWithZeroedField(b, LogEntryHeader::kChecksumOffset));
  return Status::Ok();
}

Result<std::vector<std::byte>> LogEntry::Encode() const {
  RETURN_IF_ERROR(CheckForEncode(*this));
  std::vector<std::byte> out(EncodedLength());
  RETURN_IF_ERROR(EncodeTo(out));
  return out;
}

Result<uint32_t> LogEntry::PeekEntryLength(std::span<const std::byte> header_bytes) {
  ASSIGN_OR_RETURN(LogEntryHeader h, LogEntryHeader::Decode(header_bytes));
  if (h.entry_length == 0 || h.entry_length % kSectorSize != 0) {
    return Corrupt("log entry: length " + Hex(h.entry_length) +
                   " is not a non-zero multiple of 4 KiB (MS-VHDX 2.3.1.1)");
  }
  return h.entry_length;
}

namespace {

Status CheckHeaderFields(const LogEntryHeader& h, const Guid& log_guid) {
  if (h.sequence_number == 0) return Corrupt("log entry: sequence number 0 (MS-VHDX 2.3.1.1)");
  if (h.tail % kPage != 0) {
    return Corrupt("log entry: tail " + Hex(h.tail) + " not 4 KiB aligned (MS-VHDX 2.3.1.1)");
  }
  if (h.log_guid != log_guid) {
    return Corrupt("log entry: log GUID " + h.log_guid.ToString() + " is not the header's " +
                   log_guid.ToString() + " (MS-VHDX 2.3.1.1)");
  }
  if (h.flushed_file_offset % kMiB != 0 || h.last_file_offset % kMiB != 0) {
    return Corrupt("log entry: flushed/last file offsets " + Hex(h.flushed_file_offset) + "/" +
                   Hex(h.last_file_offset) + " not 1 MiB aligned (MS-VHDX 2.3.1.1)");
  }
  uint64_t needed = LogEntry::LengthFor(h.descriptor_count, 0);
  if (needed > h.entry_length) {
    return Corrupt("log entry: " + std::to_string(h.descriptor_count) +
                   " descriptors do not fit in " + Hex(h.entry_length) + " bytes (MS-VHDX 2.3.1)");
  }
  return Status::Ok();
}

Status CheckDescriptor(size_t i, uint64_t file_offset, uint64_t length, uint64_t seq,
                       uint64_t want_seq) {
  if (seq != want_seq) {
    return Corrupt(DescWhere(i) + ": sequence number " + std::to_string(seq) + " != entry's " +
                   std::to_string(want_seq) + " (MS-VHDX 2.3.1)");
  }
  if (file_offset % kPage != 0 || length % kPage != 0 || file_offset > UINT64_MAX - length) {
    return Corrupt(DescWhere(i) + ": offset " + Hex(file_offset) + " length " + Hex(length) +
                   " not 4 KiB aligned (MS-VHDX 2.3.1.2, 2.3.1.3)");
  }
  return Status::Ok();
}

Result<LogUpdate> DecodeData(std::span<const std::byte> entry, size_t i, uint64_t seq,
                             uint64_t* data_sector) {
  ASSIGN_OR_RETURN(
      DataDescriptor d,
      DataDescriptor::Decode(entry.subspan(LogEntryHeader::kSize + i * LogEntry::kDescriptorSize)));
  RETURN_IF_ERROR(CheckDescriptor(i, d.file_offset, kPage, d.sequence_number, seq));
  uint64_t at = (*data_sector)++ * kPage;
  if (at + kPage > entry.size()) {
    return Corrupt(DescWhere(i) + ": its data sector lies beyond the entry (MS-VHDX 2.3.1)");
  }
  Result<DataSector> s = DataSector::Decode(entry.subspan(at, kPage));
  if (!s.ok()) return s.status().WithContext(DescWhere(i));
  if (s->sequence_high != static_cast<uint32_t>(seq >> 32) ||
      s->sequence_low != static_cast<uint32_t>(seq)) {
    return Corrupt(DescWhere(i) + ": data sector sequence " + Hex(s->sequence_high) + ":" +
                   Hex(s->sequence_low) + " != entry's " + Hex(seq) + " (MS-VHDX 2.3.1.4)");
  }
  LogUpdate u{LogUpdate::Kind::kData, d.file_offset, 0, std::vector<std::byte>(kPage)};
  std::memcpy(u.data.data(), d.leading_bytes.data(), 8);
  std::memcpy(u.data.data() + DataSector::kDataOffset, s->data.data(), DataSector::kDataSize);
  std::memcpy(u.data.data() + kSequenceLowOffset, d.trailing_bytes.data(), 4);
  return u;
}

Result<LogUpdate> DecodeDescriptor(std::span<const std::byte> entry, size_t i, uint64_t seq,
                                   uint64_t* data_sector) {
  std::span<const std::byte> d = entry.subspan(
      LogEntryHeader::kSize + i * LogEntry::kDescriptorSize, LogEntry::kDescriptorSize);
  if (HasSignature(d, 0, kDataDescriptorSignature)) return DecodeData(entry, i, seq, data_sector);
  if (!HasSignature(d, 0, kZeroDescriptorSignature)) {
    return Corrupt(DescWhere(i) + ": signature is neither \"zero\" nor \"desc\" (MS-VHDX 2.3.1)");
  }
  ASSIGN_OR_RETURN(ZeroDescriptor z, ZeroDescriptor::Decode(d));
  RETURN_IF_ERROR(CheckDescriptor(i, z.file_offset, z.zero_length, z.sequence_number, seq));
  return LogUpdate::Zero(z.file_offset, z.zero_length);
}

}  // namespace

Result<LogEntry> LogEntry::Decode(std::span<const std::byte> bytes, const Guid& log_guid) {
  ASSIGN_OR_RETURN(uint32_t length, PeekEntryLength(bytes));
  if (bytes.size() < length) {
    return Corrupt("log entry: " + Hex(bytes.size()) + " bytes given, its length is " +
                   Hex(length) + " (MS-VHDX 2.3.1.1)");
  }
  bytes = bytes.first(length);
  ASSIGN_OR_RETURN(LogEntryHeader h, LogEntryHeader::Decode(bytes));
  uint32_t crc = Crc32cWithZeroedField(bytes, LogEntryHeader::kChecksumOffset);
  if (crc != h.checksum) {
    return Corrupt("log entry: checksum " + Hex(h.checksum) + " != computed " + Hex(crc) +
                   " (MS-VHDX 2.3.1.1)");
  }
  RETURN_IF_ERROR(CheckHeaderFields(h, log_guid));
  LogEntry e{h.sequence_number,  h.tail, h.log_guid,    h.flushed_file_offset,
             h.last_file_offset, {},     h.entry_length};
  uint64_t data_sector = DescriptorSectorCount(h.descriptor_count);
  for (size_t i = 0; i < h.descriptor_count; ++i) {
    ASSIGN_OR_RETURN(LogUpdate u, DecodeDescriptor(bytes, i, h.sequence_number, &data_sector));
    e.updates.push_back(std::move(u));
  }
  return e;
}

}  // namespace hvdisk::vhdx
