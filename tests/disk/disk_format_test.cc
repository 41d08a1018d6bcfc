// Format: names parse both ways, a VHDX is told by its signature, and a file named like one
// without it is never read as raw unless forced.
#include "disk/disk_format.h"

#include <gtest/gtest.h>

#include "platform/mem_file_system.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::disk {
namespace {

TEST(DiskFormat, NamesParseAndPrintBothWays) {
  for (Format f : {Format::kAuto, Format::kRaw, Format::kVhdx}) {
    ASSERT_OK_AND_ASSIGN(Format back, ParseFormat(FormatName(f)));
    EXPECT_EQ(back, f);
  }
  EXPECT_EQ(*ParseFormat(""), Format::kAuto);
  EXPECT_CODE(ParseFormat("qcow2"), Code::kInvalidArgument);
  EXPECT_TRUE(HasVhdxExtension("a/b.VHDX"));
  EXPECT_TRUE(HasVhdxExtension("c.avhdx"));
  EXPECT_FALSE(HasVhdxExtension("vhdx"));
  EXPECT_FALSE(HasVhdxExtension("d.vhd"));
}

TEST(DiskFormat, TheSignatureDecidesAndAVhdxNameWithoutItIsCorruptUnlessForced) {
  MemFileSystem fs;
  ASSERT_OK(fs.PutFile("/sig.img", std::string("vhdxfile") + std::string(100, '\0')));
  ASSERT_OK(fs.PutFile("/plain.vhdx", std::string(100, 'p')));
  ASSERT_OK(fs.PutFile("/short", "vhdx"));
  EXPECT_EQ(*DetectFormat(&fs, "/sig.img", Format::kAuto), Format::kVhdx);
  EXPECT_EQ(*DetectFormat(&fs, "/short", Format::kAuto), Format::kRaw);
  EXPECT_CODE(DetectFormat(&fs, "/plain.vhdx", Format::kAuto), Code::kCorrupt);
  EXPECT_EQ(*DetectFormat(&fs, "/plain.vhdx", Format::kRaw), Format::kRaw);
  EXPECT_CODE(DetectFormat(&fs, "/none", Format::kRaw), Code::kNotFound);
}

}  // namespace
}  // namespace hvdisk::disk
