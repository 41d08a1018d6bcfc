// Store layout names: numbered disk names keep at least four digits and parse back as numbers.
#include "ops/store_layout.h"

#include <gtest/gtest.h>

namespace hvdisk::ops {
namespace {

TEST(StoreLayoutNames, NumberedNamesPadToFourDigitsAndGrowPastThem) {
  EXPECT_EQ(HeadName(4), "head-0004.avhdx");
  EXPECT_EQ(PointFileName(9999), "rp-9999.avhdx");
  EXPECT_EQ(PointFileName(10000), "rp-10000.avhdx");
  EXPECT_EQ(HeadName(kMaxPointNumber), "head-4294967295.avhdx");
  EXPECT_EQ(ParseNumbered("head-0004.avhdx", "head", ".avhdx"), 4u);
  EXPECT_EQ(ParseNumbered("head-10002.avhdx", "head", ".avhdx"), 10002u);
  EXPECT_EQ(ParseNumbered("rp-123456", "rp", ""), 123456u);
  EXPECT_EQ(ParseNumbered("head-4294967295.avhdx", "head", ".avhdx"), kMaxPointNumber);
}

TEST(StoreLayoutNames, AnythingButPrefixDigitsSuffixDoesNotParse) {
  for (const char* bad :
       {"head-.avhdx", "head-12a.avhdx", "head--1.avhdx", "head-+1.avhdx", "head-4294967296.avhdx",
        "head-0001.vhdx", "rp-0001.avhdx", "head0001.avhdx", "head-0001.avhdx.tmp", ""}) {
    EXPECT_EQ(ParseNumbered(bad, "head", ".avhdx"), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace hvdisk::ops
