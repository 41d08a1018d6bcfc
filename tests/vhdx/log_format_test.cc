#include "vhdx/log_format.h"

#include <gtest/gtest.h>

#include <vector>

#include "platform/crc32c.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::vhdx {
namespace {

const Guid kLogGuid = *Guid::Parse("{11111111-2222-3333-4444-555555555555}");

LogEntry MakeEntry(size_t pages, size_t zeros, uint64_t sequence = 42) {
  LogEntry e;
  e.sequence_number = sequence;
  e.tail = 8 * 4096;
  e.log_guid = kLogGuid;
  e.flushed_file_offset = 4 * kMiB;
  e.last_file_offset = 5 * kMiB;
  for (size_t i = 0; i < zeros; ++i)
    e.updates.push_back(LogUpdate::Zero(3 * kMiB + i * 8192, 8192));
  for (size_t i = 0; i < pages; ++i) {
    e.updates.push_back(LogUpdate::Data(3 * kMiB + i * 4096, testing::PatternBytes(4096, i + 1)));
  }
  return e;
}

// Recomputes the entry CRC after an edit, so that the edited field is what fails.
void Reseal(std::vector<std::byte>& b) { StoreU32(b, 4, Crc32cWithZeroedField(b, 4)); }

void ExpectSameContent(const LogEntry& got, const LogEntry& want) {
  EXPECT_EQ(got.sequence_number, want.sequence_number);
  EXPECT_EQ(got.tail, want.tail);
  EXPECT_EQ(got.log_guid, want.log_guid);
  EXPECT_EQ(got.flushed_file_offset, want.flushed_file_offset);
  EXPECT_EQ(got.last_file_offset, want.last_file_offset);
  EXPECT_EQ(got.entry_length, want.EncodedLength());
  EXPECT_TRUE(got.updates == want.updates);
}

TEST(LogFormatTest, EntryWithDataAndZeroDescriptorsRoundTrips) {
  LogEntry e = MakeEntry(3, 2);
  e.updates.push_back(LogUpdate::Zero(0x40000000, 4096));  // interleaved order is kept
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> bytes, e.Encode());
  EXPECT_EQ(bytes.size(), 4u * 4096);  // 1 descriptor sector + 3 data sectors
  ASSERT_OK_AND_ASSIGN(uint32_t length, LogEntry::PeekEntryLength(bytes));
  EXPECT_EQ(length, bytes.size());
  ASSERT_OK_AND_ASSIGN(LogEntry back, LogEntry::Decode(bytes, kLogGuid));
  ExpectSameContent(back, e);
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> again, back.Encode());
  EXPECT_EQ(again, bytes);
}

TEST(LogFormatTest, DataSectorLayoutSplitsThePage) {
  LogEntry e = MakeEntry(1, 0, (uint64_t{7} << 32) | 9);
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> bytes, e.Encode());
  const std::vector<std::byte>& page = e.updates[0].data;
  // Header.
  EXPECT_TRUE(HasSignature(bytes, 0, "loge"));
  EXPECT_EQ(LoadU32(bytes, 8), 8192u);
  EXPECT_EQ(LoadU32(bytes, 24), 1u);
  // The data descriptor at 64: "desc", trailing bytes 4092-4095, leading bytes 0-7.
  EXPECT_TRUE(HasSignature(bytes, 64, "desc"));
  EXPECT_TRUE(std::equal(page.begin() + 4092, page.end(), bytes.begin() + 64 + 4));
  EXPECT_TRUE(std::equal(page.begin(), page.begin() + 8, bytes.begin() + 64 + 8));
  EXPECT_EQ(LoadU64(bytes, 64 + 16), 3 * kMiB);
  EXPECT_EQ(LoadU64(bytes, 64 + 24), e.sequence_number);
  // The data sector at 4096: "data", SequenceHigh, bytes 8-4091 unshifted, SequenceLow.
  EXPECT_TRUE(HasSignature(bytes, 4096, "data"));
  EXPECT_EQ(LoadU32(bytes, 4096 + 4), 7u);
  EXPECT_TRUE(std::equal(page.begin() + 8, page.begin() + 4092, bytes.begin() + 4096 + 8));
  EXPECT_EQ(LoadU32(bytes, 4096 + 4092), 9u);
  EXPECT_EQ(LoadU32(bytes, 4), Crc32cWithZeroedField(bytes, 4));
}

TEST(LogFormatTest, DescriptorSectorCounts) {
  EXPECT_EQ(LogEntry::DescriptorSectorCount(0), 1u);
  EXPECT_EQ(LogEntry::DescriptorSectorCount(126), 1u);
  EXPECT_EQ(LogEntry::DescriptorSectorCount(127), 2u);
  EXPECT_EQ(LogEntry::DescriptorSectorCount(254), 2u);
  EXPECT_EQ(LogEntry::DescriptorSectorCount(255), 3u);
  EXPECT_EQ(LogEntry::LengthFor(127, 100), 102u * 4096);
}

TEST(LogFormatTest, DescriptorsSpillIntoASecondDescriptorSector) {
  LogEntry e = MakeEntry(100, 30);  // 130 descriptors
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> bytes, e.Encode());
  EXPECT_EQ(bytes.size(), (2u + 100) * 4096);
  // Descriptor 126 opens the second sector; the first data sector follows it.
  EXPECT_TRUE(HasSignature(bytes, 4096, "desc"));
  EXPECT_TRUE(HasSignature(bytes, 2 * 4096, "data"));
  ASSERT_OK_AND_ASSIGN(LogEntry back, LogEntry::Decode(bytes, kLogGuid));
  ExpectSameContent(back, e);
}

TEST(LogFormatTest, ExactlyFullFirstSectorAndThreeSectors) {
  for (size_t n : {126u, 255u}) {
    LogEntry e = MakeEntry(n, 0);
    ASSERT_OK_AND_ASSIGN(std::vector<std::byte> bytes, e.Encode());
    EXPECT_EQ(bytes.size(), (LogEntry::DescriptorSectorCount(n) + n) * 4096);
    ASSERT_OK_AND_ASSIGN(LogEntry back, LogEntry::Decode(bytes, kLogGuid));
    ExpectSameContent(back, e);
  }
}

TEST(LogFormatTest, EmptyEntryRoundTrips) {
  LogEntry e = MakeEntry(0, 0);
  e.tail = 0;  // a tail pointing to itself at the start of the log
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> bytes, e.Encode());
  EXPECT_EQ(bytes.size(), 4096u);
  ASSERT_OK_AND_ASSIGN(LogEntry back, LogEntry::Decode(bytes, kLogGuid));
  ExpectSameContent(back, e);
}

TEST(LogFormatTest, EncodeToWritesIntoACallerBuffer) {
  LogEntry e = MakeEntry(2, 1);
  std::vector<std::byte> buf(e.EncodedLength() + 4096, std::byte{0xEE});
  ASSERT_OK(e.EncodeTo(buf));
  EXPECT_EQ(buf.back(), std::byte{0xEE});
  EXPECT_OK(LogEntry::Decode(buf, kLogGuid));
  EXPECT_CODE(e.EncodeTo(std::span(buf).first(4096)), Code::kInvalidArgument);
}

TEST(LogFormatTest, CorruptedCrcIsRejected) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> bytes, MakeEntry(2, 1).Encode());
  bytes[3 * 4096 - 100] ^= std::byte{0x10};  // inside the last data sector
  EXPECT_CODE(LogEntry::Decode(bytes, kLogGuid), Code::kCorrupt);
}

TEST(LogFormatTest, DescriptorSequenceMismatchIsRejected) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> bytes, MakeEntry(2, 1).Encode());
  StoreU64(bytes, 64 + 24, 41);  // the zero descriptor
  Reseal(bytes);
  EXPECT_CODE(LogEntry::Decode(bytes, kLogGuid), Code::kCorrupt);
  ASSERT_OK_AND_ASSIGN(bytes, MakeEntry(2, 1).Encode());
  StoreU64(bytes, 64 + 32 + 24, 43);  // the first data descriptor
  Reseal(bytes);
  EXPECT_CODE(LogEntry::Decode(bytes, kLogGuid), Code::kCorrupt);
}

TEST(LogFormatTest, DataSectorSequenceMismatchIsRejected) {
  LogEntry e = MakeEntry(2, 0, (uint64_t{1} << 32) | 5);
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> bytes, e.Encode());
  StoreU32(bytes, 2 * 4096 + 4, 0);  // SequenceHigh of the second data sector
  Reseal(bytes);
  EXPECT_CODE(LogEntry::Decode(bytes, kLogGuid), Code::kCorrupt);
  ASSERT_OK_AND_ASSIGN(bytes, e.Encode());
  StoreU32(bytes, 4096 + 4092, 6);  // SequenceLow of the first
  Reseal(bytes);
  EXPECT_CODE(LogEntry::Decode(bytes, kLogGuid), Code::kCorrupt);
}

TEST(LogFormatTest, DataSectorSignatureIsChecked) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> bytes, MakeEntry(1, 0).Encode());
  StoreSignature(bytes, 4096, "dat4");
  Reseal(bytes);
  EXPECT_CODE(LogEntry::Decode(bytes, kLogGuid), Code::kCorrupt);
}

TEST(LogFormatTest, UnknownDescriptorSignatureIsRejected) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> bytes, MakeEntry(1, 1).Encode());
  StoreSignature(bytes, 64, "zer0");
  Reseal(bytes);
  EXPECT_CODE(LogEntry::Decode(bytes, kLogGuid), Code::kCorrupt);
}

TEST(LogFormatTest, HeaderFieldsAreChecked) {
  struct Edit {
    size_t offset;
    uint64_t value;
    int width;
  };
  for (Edit edit : {Edit{16, 0, 8},            // sequence number 0
                    Edit{12, 4096 + 512, 4},   // misaligned tail
                    Edit{48, kMiB + 4096, 8},  // misaligned FlushedFileOffset
                    Edit{56, 4096, 8},         // misaligned LastFileOffset
                    Edit{24, 400, 4}}) {       // descriptors overflow the entry
    ASSERT_OK_AND_ASSIGN(std::vector<std::byte> bytes, MakeEntry(1, 1).Encode());
    if (edit.width == 8) StoreU64(bytes, edit.offset, edit.value);
    if (edit.width == 4) StoreU32(bytes, edit.offset, static_cast<uint32_t>(edit.value));
    Reseal(bytes);
    SCOPED_TRACE(edit.offset);
    EXPECT_CODE(LogEntry::Decode(bytes, kLogGuid), Code::kCorrupt);
  }
}

TEST(LogFormatTest, WrongLogGuidIsRejected) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> bytes, MakeEntry(1, 0).Encode());
  EXPECT_CODE(LogEntry::Decode(bytes, Guid::Random()), Code::kCorrupt);
}

TEST(LogFormatTest, DataDescriptorBeyondTheEntryIsRejected) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> bytes, MakeEntry(2, 0).Encode());
  StoreU32(bytes, 8, 2 * 4096);  // claims one data sector fewer
  bytes.resize(2 * 4096);
  Reseal(bytes);
  EXPECT_CODE(LogEntry::Decode(bytes, kLogGuid), Code::kCorrupt);
}

TEST(LogFormatTest, TrailingPaddingIsTolerated) {
  LogEntry e = MakeEntry(1, 1);
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> bytes, e.Encode());
  bytes.resize(bytes.size() + 4096);
  StoreU32(bytes, 8, static_cast<uint32_t>(bytes.size()));
  Reseal(bytes);
  ASSERT_OK_AND_ASSIGN(LogEntry back, LogEntry::Decode(bytes, kLogGuid));
  EXPECT_EQ(back.entry_length, bytes.size());
  EXPECT_TRUE(back.updates == e.updates);
}

TEST(LogFormatTest, PeekEntryLengthChecksSignatureAndAlignment) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> bytes, MakeEntry(3, 0).Encode());
  ASSERT_OK_AND_ASSIGN(uint32_t n, LogEntry::PeekEntryLength(std::span(bytes).first(64)));
  EXPECT_EQ(n, 4u * 4096);
  EXPECT_CODE(LogEntry::PeekEntryLength(std::span(bytes).first(63)), Code::kCorrupt);
  StoreU32(bytes, 8, 4096 * 4 + 512);
  EXPECT_CODE(LogEntry::PeekEntryLength(bytes), Code::kCorrupt);
  StoreU32(bytes, 8, 0);
  EXPECT_CODE(LogEntry::PeekEntryLength(bytes), Code::kCorrupt);
  StoreSignature(bytes, 0, "LOGE");
  EXPECT_CODE(LogEntry::PeekEntryLength(bytes), Code::kCorrupt);
}

TEST(LogFormatTest, ShortBufferIsCorrupt) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> bytes, MakeEntry(3, 0).Encode());
  EXPECT_CODE(LogEntry::Decode(std::span(bytes).first(3 * 4096), kLogGuid), Code::kCorrupt);
}

TEST(LogFormatTest, EncodeRejectsBadInput) {
  LogEntry e = MakeEntry(1, 1);
  e.sequence_number = 0;
  EXPECT_CODE(e.Encode(), Code::kInvalidArgument);
  e = MakeEntry(1, 1);
  e.updates[1].file_offset += 512;
  EXPECT_CODE(e.Encode(), Code::kInvalidArgument);
  e = MakeEntry(1, 1);
  e.updates[1].data.resize(4095);
  EXPECT_CODE(e.Encode(), Code::kInvalidArgument);
  e = MakeEntry(1, 1);
  e.updates[0].zero_length = 100;
  EXPECT_CODE(e.Encode(), Code::kInvalidArgument);
  e = MakeEntry(1, 1);
  e.tail = 100;
  EXPECT_CODE(e.Encode(), Code::kInvalidArgument);
  e = MakeEntry(1, 1);
  e.last_file_offset = 4096;
  EXPECT_CODE(e.Encode(), Code::kInvalidArgument);
}

TEST(LogFormatTest, StructureCodecsRoundTrip) {
  std::vector<std::byte> b(4096);
  ZeroDescriptor z{8192, 4096, 3};
  z.EncodeTo(b);
  ASSERT_OK_AND_ASSIGN(ZeroDescriptor z2, ZeroDescriptor::Decode(b));
  EXPECT_EQ(z2.zero_length, 8192u);
  EXPECT_EQ(z2.file_offset, 4096u);
  EXPECT_EQ(z2.sequence_number, 3u);
  EXPECT_CODE(DataDescriptor::Decode(b), Code::kCorrupt);
  DataSector s;
  s.sequence_high = 1;
  s.sequence_low = 2;
  s.data[0] = std::byte{9};
  s.EncodeTo(b);
  ASSERT_OK_AND_ASSIGN(DataSector s2, DataSector::Decode(b));
  EXPECT_EQ(s2.sequence_high, 1u);
  EXPECT_EQ(s2.sequence_low, 2u);
  EXPECT_EQ(s2.data, s.data);
  EXPECT_CODE(ZeroDescriptor::Decode(b), Code::kCorrupt);
}

}  // namespace
}  // namespace hvdisk::vhdx
