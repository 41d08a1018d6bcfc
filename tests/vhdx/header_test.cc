#include "vhdx/header.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "platform/crc32c.h"
#include "platform/file.h"
#include "platform/hex.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::vhdx {
namespace {

VhdxHeader MakeHeader(uint64_t sequence) {
  VhdxHeader h;
  h.sequence_number = sequence;
  h.file_write_guid = Guid::Random();
  h.data_write_guid = Guid::Random();
  h.log_length = kMiB;
  h.log_offset = kMiB;
  return h;
}

// Re-signs a header buffer after a field edit.
void Reseal(std::vector<std::byte>& b) {
  StoreU32(b, 4, Crc32cWithZeroedField(std::span(b).first(4096), 4));
}

TEST(HeaderTest, WindowsHeaderRoundTripsByteIdentical) {
  std::vector<std::byte> bytes = testing::ReadTestData("image_header.1");
  ASSERT_EQ(bytes.size(), VhdxHeader::kSize);
  EXPECT_EQ(LoadU32(bytes, 4), 0x9F69B235u);
  ASSERT_OK_AND_ASSIGN(VhdxHeader h, VhdxHeader::Decode(bytes));
  EXPECT_EQ(h.sequence_number, 6u);
  EXPECT_EQ(h.version, 1);
  EXPECT_EQ(h.log_version, 0);
  EXPECT_EQ(h.log_length, kMiB);
  EXPECT_EQ(h.log_offset, kMiB);
  EXPECT_TRUE(h.log_guid.IsZero());
  EXPECT_EQ(h.file_write_guid, *Guid::Parse("A3CCCDD4-E8CE-4321-9243-CDAA37D5A0E2"));
  EXPECT_EQ(h.data_write_guid, *Guid::Parse("0FFBCD55-1320-498F-9C15-1A97335AAFCD"));
  EXPECT_EQ(h.Encode(), bytes);
}

TEST(HeaderTest, EncodeWritesOnly4KiB) {
  std::vector<std::byte> slot(kSlotSize, std::byte{0xAA});
  MakeHeader(1).EncodeTo(slot);
  EXPECT_EQ(slot[VhdxHeader::kSize], std::byte{0xAA});
  EXPECT_OK(VhdxHeader::Decode(slot));
}

TEST(HeaderTest, CorruptedChecksumIsCorrupt) {
  std::vector<std::byte> bytes = testing::ReadTestData("image_header.1");
  bytes[4000] ^= std::byte{1};  // inside the reserved area: still covered by the CRC
  EXPECT_CODE(VhdxHeader::Decode(bytes), Code::kCorrupt);
}

TEST(HeaderTest, BadSignatureIsCorrupt) {
  std::vector<std::byte> bytes = testing::ReadTestData("image_header.1");
  StoreSignature(bytes, 0, "daeh");
  Reseal(bytes);
  EXPECT_CODE(VhdxHeader::Decode(bytes), Code::kCorrupt);
}

TEST(HeaderTest, TruncatedIsCorrupt) {
  std::vector<std::byte> bytes = testing::ReadTestData("image_header.1");
  EXPECT_CODE(VhdxHeader::Decode(std::span(bytes).first(4095)), Code::kCorrupt);
}

TEST(HeaderTest, VersionOtherThanOneIsUnsupported) {
  VhdxHeader h = MakeHeader(1);
  h.version = 2;
  EXPECT_CODE(VhdxHeader::Decode(h.Encode()), Code::kUnsupported);
  EXPECT_OK(VhdxHeader::DecodeUnvalidated(h.Encode()));
}

TEST(HeaderTest, LogVersionMattersOnlyWithALog) {
  VhdxHeader h = MakeHeader(1);
  h.log_version = 1;
  EXPECT_OK(VhdxHeader::Decode(h.Encode()));
  h.log_guid = Guid::Random();
  EXPECT_CODE(VhdxHeader::Decode(h.Encode()), Code::kUnsupported);
}

TEST(HeaderTest, MisalignedLogLengthIsCorrupt) {
  VhdxHeader h = MakeHeader(1);
  h.log_length = kMiB + 4096;
  EXPECT_CODE(VhdxHeader::Decode(h.Encode()), Code::kCorrupt);
}

TEST(HeaderTest, AMisalignedLogLengthIsNamedInTheHexFormOfEveryOtherMessage) {
  VhdxHeader h = MakeHeader(1);
  h.log_length = kMiB + 0xA000;
  Result<VhdxHeader> r = VhdxHeader::Decode(h.Encode());
  ASSERT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("log length " + Hex(kMiB + 0xA000) + " "), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("0x10a000"), std::string::npos) << r.status().message();
}

TEST(HeaderTest, MisalignedLogOffsetIsCorrupt) {
  VhdxHeader h = MakeHeader(1);
  h.log_offset = 3 * kMiB / 2;
  EXPECT_CODE(VhdxHeader::Decode(h.Encode()), Code::kCorrupt);
}

TEST(HeaderTest, LogOffsetInsideTheHeaderSectionIsCorrupt) {
  VhdxHeader h = MakeHeader(1);
  h.log_offset = 0;
  EXPECT_CODE(VhdxHeader::Decode(h.Encode()), Code::kCorrupt);
}

TEST(HeaderTest, LogGuidWithoutLogSpaceIsCorrupt) {
  VhdxHeader h = MakeHeader(1);
  h.log_guid = Guid::Random();
  h.log_length = 0;
  EXPECT_CODE(VhdxHeader::Decode(h.Encode()), Code::kCorrupt);
}

TEST(HeaderTest, GreaterSequenceNumberWins) {
  std::vector<std::byte> a = MakeHeader(7).Encode();
  std::vector<std::byte> b = MakeHeader(8).Encode();
  ASSERT_OK_AND_ASSIGN(HeaderChoice c, ChooseHeader(a, b));
  EXPECT_EQ(c.current_slot, 2);
  EXPECT_EQ(c.noncurrent_slot(), 1);
  EXPECT_EQ(c.current.sequence_number, 8u);
  ASSERT_TRUE(c.other.has_value());
  EXPECT_EQ(c.other->sequence_number, 7u);
  EXPECT_OK(c.other_status);
  ASSERT_OK_AND_ASSIGN(HeaderChoice d, ChooseHeader(b, a));
  EXPECT_EQ(d.current_slot, 1);
  EXPECT_EQ(d.current.sequence_number, 8u);
}

TEST(HeaderTest, EqualSequenceNumbersNeedIdenticalHeaders) {
  std::vector<std::byte> a = MakeHeader(5).Encode();
  ASSERT_OK_AND_ASSIGN(HeaderChoice c, ChooseHeader(a, a));  // the Disk2VHD case
  EXPECT_EQ(c.current_slot, 1);
  std::vector<std::byte> b = MakeHeader(5).Encode();  // other GUIDs
  EXPECT_CODE(ChooseHeader(a, b), Code::kCorrupt);
}

TEST(HeaderTest, TornHeaderDoesNotStopSelection) {
  std::vector<std::byte> good = MakeHeader(3).Encode();
  std::vector<std::byte> torn = MakeHeader(4).Encode();
  std::fill(torn.begin() + 2048, torn.end(), std::byte{0xFF});  // half written over old data
  ASSERT_OK_AND_ASSIGN(HeaderChoice c, ChooseHeader(good, torn));
  EXPECT_EQ(c.current_slot, 1);
  EXPECT_EQ(c.current.sequence_number, 3u);
  EXPECT_FALSE(c.other.has_value());
  EXPECT_EQ(c.other_status.code(), Code::kCorrupt);
  ASSERT_OK_AND_ASSIGN(HeaderChoice d, ChooseHeader(torn, good));
  EXPECT_EQ(d.current_slot, 2);
}

TEST(HeaderTest, UnreadableSlotDoesNotStopSelection) {
  std::vector<std::byte> good = MakeHeader(3).Encode();
  ASSERT_OK_AND_ASSIGN(HeaderChoice c, ChooseHeader(std::nullopt, good));
  EXPECT_EQ(c.current_slot, 2);
}

TEST(HeaderTest, NoValidHeaderIsCorrupt) {
  std::vector<std::byte> zeros(4096);
  EXPECT_CODE(ChooseHeader(zeros, zeros), Code::kCorrupt);
  EXPECT_CODE(ChooseHeader(std::nullopt, std::nullopt), Code::kCorrupt);
}

TEST(HeaderTest, NewerHeaderWithBadFieldsIsNotReplacedByTheOlder) {
  VhdxHeader newer = MakeHeader(9);
  newer.version = 2;
  EXPECT_CODE(ChooseHeader(MakeHeader(8).Encode(), newer.Encode()), Code::kUnsupported);
}

TEST(HeaderTest, SlotOffsets) {
  EXPECT_EQ(HeaderSlotOffset(1), 64 * kKiB);
  EXPECT_EQ(HeaderSlotOffset(2), 128 * kKiB);
}

}  // namespace
}  // namespace hvdisk::vhdx
