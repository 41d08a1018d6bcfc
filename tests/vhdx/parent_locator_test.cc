#include "vhdx/parent_locator.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "platform/file.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::vhdx {
namespace {

std::vector<std::byte> Bytes(std::initializer_list<uint8_t> v) {
  std::vector<std::byte> out;
  for (uint8_t b : v) out.push_back(std::byte{b});
  return out;
}

// The locator of dfvfs fat-differential.vhdx (Hyper-V, Windows 10), from the xxd dumps in
// shakenfist/instar PLAN-differencing-phase-01-pin.md.
ParentLocator FatDifferential() {
  ParentLocator l;
  l.entries = {
      {"parent_linkage", "{f88d4d92-6fcc-408d-9bef-9b7c89f15c89}"},
      {"absolute_win32_path", R"(C:\Projects\dfvfs\test_data\fat-parent.vhdx)"},
      {"relative_path", R"(.\fat-parent.vhdx)"},
      {"volume_path",
       R"(\\?\Volume{5e0bd954-71b2-4bff-a928-082af7ab0f8f}\Projects\dfvfs\test_data\fat-parent.vhdx)"},
      {"parent_linkage2", "{00000000-0000-0000-0000-000000000000}"},
  };
  return l;
}

// Item bytes 0x00-0x4F of that locator (header and the five entries).
std::vector<std::byte> FatDifferentialTable() {
  return Bytes({0xb7, 0xef, 0x4a, 0xb0, 0x9e, 0xd1, 0x81, 0x4a, 0xb7, 0x89, 0x25, 0xb8, 0xe9, 0x44,
                0x59, 0x13, 0x00, 0x00, 0x05, 0x00, 0x50, 0x00, 0x00, 0x00, 0x6c, 0x00, 0x00, 0x00,
                0x1c, 0x00, 0x4c, 0x00, 0xb8, 0x00, 0x00, 0x00, 0xde, 0x00, 0x00, 0x00, 0x26, 0x00,
                0x56, 0x00, 0x34, 0x01, 0x00, 0x00, 0x4e, 0x01, 0x00, 0x00, 0x1a, 0x00, 0x22, 0x00,
                0x70, 0x01, 0x00, 0x00, 0x86, 0x01, 0x00, 0x00, 0x16, 0x00, 0xb2, 0x00, 0x38, 0x02,
                0x00, 0x00, 0x56, 0x02, 0x00, 0x00, 0x1e, 0x00, 0x4c, 0x00});
}

TEST(ParentLocatorTest, WindowsHeaderAndEntryFragmentsRoundTrip) {
  std::vector<std::byte> hb = testing::ReadTestData("parent_locator_header.1");
  ASSERT_OK_AND_ASSIGN(ParentLocatorHeader h, ParentLocatorHeader::Decode(hb));
  EXPECT_EQ(h.locator_type, kVhdxParentLocatorType);
  EXPECT_EQ(h.key_value_count, 5);
  std::vector<std::byte> hout(ParentLocatorHeader::kSize);
  h.EncodeTo(hout);
  EXPECT_EQ(hout, hb);

  std::vector<std::byte> eb = testing::ReadTestData("parent_locator_entry.1");
  ASSERT_OK_AND_ASSIGN(ParentLocatorEntry e, ParentLocatorEntry::Decode(eb));
  EXPECT_EQ(e, (ParentLocatorEntry{80, 108, 28, 76}));  // parent_linkage and its {guid}
  std::vector<std::byte> eout(ParentLocatorEntry::kSize);
  e.EncodeTo(eout);
  EXPECT_EQ(eout, eb);
}

TEST(ParentLocatorTest, WindowsDifferencingLocatorEncodesByteIdentically) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> item, FatDifferential().Encode());
  EXPECT_EQ(item.size(), 674u);  // the table entry's length in fat-differential.vhdx
  std::vector<std::byte> table = FatDifferentialTable();
  EXPECT_TRUE(std::equal(table.begin(), table.end(), item.begin()));
  std::vector<std::byte> fragment = testing::ReadTestData("parent_locator_header.1");
  std::vector<std::byte> entry = testing::ReadTestData("parent_locator_entry.1");
  fragment.insert(fragment.end(), entry.begin(), entry.end());
  EXPECT_TRUE(std::equal(fragment.begin(), fragment.end(), item.begin()));
  // The strings follow in UTF-16LE: "parent_linkage" at 80.
  EXPECT_EQ(LoadU16(item, 80), 'p');
  EXPECT_EQ(LoadU16(item, 82), 'a');
  ASSERT_OK_AND_ASSIGN(ParentLocator back, ParentLocator::Decode(item));
  EXPECT_EQ(back, FatDifferential());
  EXPECT_OK(back.ValidateVhdx());
  EXPECT_EQ(back.ParentLinkage(), Guid::Parse("F88D4D92-6FCC-408D-9BEF-9B7C89F15C89"));
  EXPECT_EQ(back.ParentLinkage2(), Guid());
  EXPECT_EQ(back.Get("relative_path"), R"(.\fat-parent.vhdx)");
}

TEST(ParentLocatorTest, EncoderUsesWindowsKeyOrder) {
  ParentLocator l;
  l.Set("custom", "x");
  l.Set(kParentLinkage2Key, "{00000000-0000-0000-0000-000000000000}");
  l.Set(kRelativePathKey, "a.vhdx");
  l.Set(kParentLinkageKey, "{f88d4d92-6fcc-408d-9bef-9b7c89f15c89}");
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> item, l.Encode());
  ASSERT_OK_AND_ASSIGN(ParentLocator back, ParentLocator::Decode(item));
  ASSERT_EQ(back.entries.size(), 4u);
  EXPECT_EQ(back.entries[0].first, "parent_linkage");
  EXPECT_EQ(back.entries[1].first, "relative_path");
  EXPECT_EQ(back.entries[2].first, "parent_linkage2");
  EXPECT_EQ(back.entries[3].first, "custom");
}

TEST(ParentLocatorTest, GetSetRemove) {
  ParentLocator l = FatDifferential();
  EXPECT_EQ(l.Get("nope"), std::nullopt);
  l.Set(kRelativePathKey, "b.vhdx");
  EXPECT_EQ(l.Get(kRelativePathKey), "b.vhdx");
  EXPECT_EQ(l.entries.size(), 5u);
  EXPECT_TRUE(l.Remove(kVolumePathKey));
  EXPECT_FALSE(l.Remove(kVolumePathKey));
  EXPECT_EQ(l.entries.size(), 4u);
}

TEST(ParentLocatorTest, LinkageStringIsBracedLowerCase) {
  Guid g = *Guid::Parse("F88D4D92-6FCC-408D-9BEF-9B7C89F15C89");
  EXPECT_EQ(ParentLocator::LinkageString(g), "{f88d4d92-6fcc-408d-9bef-9b7c89f15c89}");
}

std::vector<std::byte> Encoded() { return FatDifferential().Encode().value(); }

TEST(ParentLocatorTest, TruncatedHeaderIsCorrupt) {
  std::vector<std::byte> item = Encoded();
  EXPECT_CODE(ParentLocator::Decode(std::span(item).first(19)), Code::kCorrupt);
}

TEST(ParentLocatorTest, EntriesBeyondTheItemAreCorrupt) {
  std::vector<std::byte> item = Encoded();
  StoreU16(item, 18, 60);  // 20 + 60 * 12 > 674
  EXPECT_CODE(ParentLocator::Decode(item), Code::kCorrupt);
}

TEST(ParentLocatorTest, ZeroOffsetOrLengthIsCorrupt) {
  std::vector<std::byte> item = Encoded();
  StoreU32(item, 20, 0);  // entry 0 KeyOffset
  EXPECT_CODE(ParentLocator::Decode(item), Code::kCorrupt);
  item = Encoded();
  StoreU16(item, 20 + 10, 0);  // entry 0 ValueLength
  EXPECT_CODE(ParentLocator::Decode(item), Code::kCorrupt);
}

TEST(ParentLocatorTest, OddLengthIsCorrupt) {
  std::vector<std::byte> item = Encoded();
  StoreU16(item, 20 + 8, 27);
  EXPECT_CODE(ParentLocator::Decode(item), Code::kCorrupt);
}

TEST(ParentLocatorTest, StringOutOfBoundsIsCorrupt) {
  std::vector<std::byte> item = Encoded();
  StoreU32(item, 20 + 4 * 12 + 4, 674 - 70);  // last value runs past the end
  EXPECT_CODE(ParentLocator::Decode(item), Code::kCorrupt);
}

TEST(ParentLocatorTest, StringOverlappingTheEntryTableIsCorrupt) {
  std::vector<std::byte> item = Encoded();
  StoreU32(item, 20, 20);  // key inside the entries
  EXPECT_CODE(ParentLocator::Decode(item), Code::kCorrupt);
}

TEST(ParentLocatorTest, InternalNulIsCorrupt) {
  std::vector<std::byte> item = Encoded();
  StoreU16(item, 108 + 10, 0);  // inside the parent_linkage value
  EXPECT_CODE(ParentLocator::Decode(item), Code::kCorrupt);
}

TEST(ParentLocatorTest, UnpairedSurrogateIsCorrupt) {
  std::vector<std::byte> item = Encoded();
  StoreU16(item, 108 + 10, 0xDC00);
  EXPECT_CODE(ParentLocator::Decode(item), Code::kCorrupt);
}

TEST(ParentLocatorTest, DuplicateKeysAreCorrupt) {
  std::vector<std::byte> item = Encoded();
  // Point entry 4 (parent_linkage2) at entry 0's key.
  StoreU32(item, 20 + 4 * 12, 80);
  StoreU16(item, 20 + 4 * 12 + 8, 28);
  EXPECT_CODE(ParentLocator::Decode(item), Code::kCorrupt);
}

TEST(ParentLocatorTest, EncodeRejectsBadStrings) {
  ParentLocator l = FatDifferential();
  l.Set("empty", "");
  EXPECT_CODE(l.Encode(), Code::kInvalidArgument);
  l = FatDifferential();
  l.Set("nul", std::string("a\0b", 3));
  EXPECT_CODE(l.Encode(), Code::kInvalidArgument);
  l = FatDifferential();
  l.entries.push_back(l.entries[0]);
  EXPECT_CODE(l.Encode(), Code::kInvalidArgument);
  l = FatDifferential();
  l.Set("bad", "\xC3");
  EXPECT_CODE(l.Encode(), Code::kInvalidArgument);
}

TEST(ParentLocatorTest, ValidateVhdxRules) {
  EXPECT_OK(FatDifferential().ValidateVhdx());
  ParentLocator l = FatDifferential();
  l.locator_type = Guid::Random();
  EXPECT_CODE(l.ValidateVhdx(), Code::kUnsupported);
  l = FatDifferential();
  l.Remove(kParentLinkageKey);
  EXPECT_CODE(l.ValidateVhdx(), Code::kCorrupt);
  l = FatDifferential();
  l.Set(kParentLinkageKey, "not a guid");
  EXPECT_CODE(l.ValidateVhdx(), Code::kCorrupt);
  l = FatDifferential();
  l.Set(kParentLinkage2Key, "{nope}");
  EXPECT_CODE(l.ValidateVhdx(), Code::kCorrupt);
  l = FatDifferential();
  l.Remove(kRelativePathKey);
  l.Remove(kVolumePathKey);
  EXPECT_OK(l.ValidateVhdx());  // absolute_win32_path without "\\?\" is what Hyper-V writes
  l.Remove(kAbsoluteWin32PathKey);
  EXPECT_CODE(l.ValidateVhdx(), Code::kCorrupt);
}

TEST(ParentLocatorTest, UppercaseLinkageParses) {
  ParentLocator l = FatDifferential();
  l.Set(kParentLinkageKey, "{F88D4D92-6FCC-408D-9BEF-9B7C89F15C89}");
  EXPECT_EQ(l.ParentLinkage(), FatDifferential().ParentLinkage());
}

TEST(Utf16Test, RoundTripsAllPlanes) {
  std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";  // a é € 😀 z
  std::optional<std::vector<std::byte>> u = Utf8ToUtf16Le(text);
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->size(), 2u * 6);  // 😀 is a surrogate pair
  EXPECT_EQ(LoadU16(*u, 4), 0x20AC);
  EXPECT_EQ(LoadU16(*u, 6), 0xD83D);
  EXPECT_EQ(LoadU16(*u, 8), 0xDE00);
  EXPECT_EQ(Utf16LeToUtf8(*u), text);
}

TEST(Utf16Test, MalformedInputIsRejectedOrReplaced) {
  EXPECT_EQ(Utf8ToUtf16Le("\xC0\xAF"), std::nullopt);          // overlong
  EXPECT_EQ(Utf8ToUtf16Le("\xED\xA0\x80"), std::nullopt);      // a surrogate
  EXPECT_EQ(Utf8ToUtf16Le("\xF4\x90\x80\x80"), std::nullopt);  // above U+10FFFF
  EXPECT_EQ(Utf8ToUtf16Le("\xE2\x82"), std::nullopt);          // truncated
  EXPECT_EQ(Utf8ToUtf16Le("\xE2\x82", /*lossy=*/true)->size(), 2u);
  std::vector<std::byte> odd = Bytes({'a', 0, 'b'});
  EXPECT_EQ(Utf16LeToUtf8(odd), std::nullopt);
  EXPECT_EQ(Utf16LeToUtf8(odd, /*lossy=*/true), "a");
  std::vector<std::byte> lone = Bytes({0x00, 0xD8, 'x', 0});
  EXPECT_EQ(Utf16LeToUtf8(lone), std::nullopt);
  EXPECT_EQ(Utf16LeToUtf8(lone, /*lossy=*/true), "\xEF\xBF\xBDx");
}

}  // namespace
}  // namespace hvdisk::vhdx
