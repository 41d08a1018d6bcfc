#include "vhdx/file_identifier.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "platform/file.h"
#include "tests/testutil/testutil.h"
#include "vhdx/format.h"

namespace hvdisk::vhdx {
namespace {

TEST(FileIdentifierTest, WindowsFileIdentifierRoundTripsByteIdentical) {
  std::vector<std::byte> bytes = testing::ReadTestData("file_identifier.1");
  ASSERT_EQ(bytes.size(), FileIdentifier::kEncodedSize);
  ASSERT_OK_AND_ASSIGN(FileIdentifier id, FileIdentifier::Decode(bytes));
  EXPECT_EQ(id.creator, "Microsoft Windows 10.0.19041.0");
  std::vector<std::byte> out(FileIdentifier::kEncodedSize, std::byte{0xAA});
  id.EncodeTo(out);
  EXPECT_EQ(out, bytes);
}

TEST(FileIdentifierTest, EncodeZeroesTheReservedRestOfTheSlot) {
  FileIdentifier id{"hvdisk"};
  std::vector<std::byte> slot(kSlotSize, std::byte{0xAA});
  id.EncodeTo(slot);
  EXPECT_TRUE(HasSignature(slot, 0, "vhdxfile"));
  EXPECT_EQ(LoadU16(slot, 8), 'h');
  for (size_t i = 8 + 12; i < slot.size(); ++i) ASSERT_EQ(slot[i], std::byte{0}) << i;
}

TEST(FileIdentifierTest, BadSignatureIsCorrupt) {
  std::vector<std::byte> bytes = testing::ReadTestData("file_identifier.1");
  bytes[0] = std::byte{'V'};
  EXPECT_CODE(FileIdentifier::Decode(bytes), Code::kCorrupt);
}

TEST(FileIdentifierTest, TruncatedIsCorrupt) {
  std::vector<std::byte> bytes = testing::ReadTestData("file_identifier.1");
  bytes.resize(519);
  EXPECT_CODE(FileIdentifier::Decode(bytes), Code::kCorrupt);
}

TEST(FileIdentifierTest, NonAsciiCreatorRoundTrips) {
  FileIdentifier id{"h\xC3\xA9vdisk \xF0\x9F\x98\x80"};  // "hévdisk 😀"
  std::vector<std::byte> slot(FileIdentifier::kEncodedSize);
  id.EncodeTo(slot);
  ASSERT_OK_AND_ASSIGN(FileIdentifier back, FileIdentifier::Decode(slot));
  EXPECT_EQ(back, id);
}

TEST(FileIdentifierTest, CreatorWithoutNulFillsAll256Units) {
  FileIdentifier id{std::string(300, 'x')};
  std::vector<std::byte> slot(FileIdentifier::kEncodedSize);
  id.EncodeTo(slot);
  ASSERT_OK_AND_ASSIGN(FileIdentifier back, FileIdentifier::Decode(slot));
  EXPECT_EQ(back.creator, std::string(256, 'x'));
}

TEST(FileIdentifierTest, UnpairedSurrogateInCreatorIsTolerated) {
  std::vector<std::byte> bytes = testing::ReadTestData("file_identifier.1");
  StoreU16(bytes, 8, 0xD800);  // the creator is diagnostic only
  ASSERT_OK_AND_ASSIGN(FileIdentifier id, FileIdentifier::Decode(bytes));
  EXPECT_EQ(id.creator.substr(0, 3), "\xEF\xBF\xBD");  // U+FFFD
}

}  // namespace
}  // namespace hvdisk::vhdx
