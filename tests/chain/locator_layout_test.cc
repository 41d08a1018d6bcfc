// Our differencing files against the layout Hyper-V writes (Windows-made locator header and
// entry in tests/testdata): metadata items at the same offsets with the same flags,
// the locator's keys in Windows order, strings packed after the entry table as Windows packs them.
#include <gtest/gtest.h>

#include <cstring>

#include "chain/chain.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/testutil.h"
#include "vhdx/metadata.h"
#include "vhdx/parent_locator.h"

namespace hvdisk::chain {
namespace {

using vhdx::kMiB;

class LocatorLayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(fs_.CreateDir("/vm"));
    ASSERT_OK(vhdx::Image::Create(&fs_, "/vm/parent.vhdx", {.virtual_size = 64 * kMiB}));
    ASSERT_OK(CreateChild(&fs_, "/vm/parent.vhdx", "/vm/child.avhdx"));
    ASSERT_OK_AND_ASSIGN(std::string bytes, fs_.GetFile("/vm/child.avhdx"));
    region_.resize(kMiB);
    std::memcpy(region_.data(), bytes.data() + 2 * kMiB, kMiB);  // metadata @2 MiB, as Windows
    ASSERT_OK_AND_ASSIGN(table_, vhdx::MetadataTable::Decode(region_));
  }
  const vhdx::MetadataTableEntry& Item(const Guid& id) {
    const vhdx::MetadataTableEntry* e = table_.Find(id);
    EXPECT_NE(e, nullptr);
    static vhdx::MetadataTableEntry none;
    return e ? *e : none;
  }
  MemFileSystem fs_;
  std::vector<std::byte> region_;
  vhdx::MetadataTable table_;
};

TEST_F(LocatorLayoutTest, ItemsSitWhereWindowsPutsThemWithItsFlags) {
  struct Want {
    Guid id;
    uint32_t offset, length;
    bool is_virtual_disk;
  };
  for (const Want& w : std::vector<Want>{{vhdx::kFileParametersGuid, 0x10000, 8, false},
                                         {vhdx::kVirtualDiskSizeGuid, 0x10008, 8, true},
                                         {vhdx::kLogicalSectorSizeGuid, 0x10010, 4, true},
                                         {vhdx::kPhysicalSectorSizeGuid, 0x10014, 4, true},
                                         {vhdx::kVirtualDiskIdGuid, 0x10018, 16, true},
                                         {vhdx::kParentLocatorGuid, 0x10028, 0, false}}) {
    const vhdx::MetadataTableEntry& e = Item(w.id);
    EXPECT_EQ(e.offset, w.offset) << w.id.ToString();
    if (w.length) {
      EXPECT_EQ(e.length, w.length) << w.id.ToString();
    }
    EXPECT_TRUE(e.is_required) << w.id.ToString();  // flags 0x4 / 0x6
    EXPECT_EQ(e.is_virtual_disk, w.is_virtual_disk) << w.id.ToString();
    EXPECT_FALSE(e.is_user);
  }
}

TEST_F(LocatorLayoutTest, LocatorIsPackedInWindowsKeyOrder) {
  auto item = vhdx::MetadataTable::ItemBytes(region_, Item(vhdx::kParentLocatorGuid));
  ASSERT_OK_AND_ASSIGN(auto header, vhdx::ParentLocatorHeader::Decode(item));
  EXPECT_EQ(header.locator_type, vhdx::kVhdxParentLocatorType);
  ASSERT_EQ(header.key_value_count, 3);
  // Windows' first entry (testdata parent_locator_entry.1): parent_linkage's key right after the
  // entry table, 28 bytes, its 76-byte braced GUID value right after the key.
  ASSERT_OK_AND_ASSIGN(auto first, vhdx::ParentLocatorEntry::Decode(item.subspan(20, 12)));
  EXPECT_EQ(first.key_offset, 20u + 3 * 12);
  EXPECT_EQ(first.key_length, 28);
  EXPECT_EQ(first.value_offset, first.key_offset + 28);
  EXPECT_EQ(first.value_length, 76);
  ASSERT_OK_AND_ASSIGN(auto locator, vhdx::ParentLocator::Decode(item));
  std::vector<std::string> keys;
  for (const auto& [k, v] : locator.entries) keys.push_back(k);
  EXPECT_EQ(keys,
            (std::vector<std::string>{"parent_linkage", "absolute_win32_path", "relative_path"}));
  EXPECT_EQ(*locator.Get("relative_path"), ".\\parent.vhdx");
  EXPECT_EQ(locator.Get("absolute_win32_path")->rfind("C:\\", 0), 0u) << "no \\\\?\\ prefix";
}

TEST_F(LocatorLayoutTest, WindowsLocatorEntryShapeMatchesTheTestData) {
  auto bytes = testing::ReadTestData("parent_locator_entry.1");
  ASSERT_OK_AND_ASSIGN(auto windows, vhdx::ParentLocatorEntry::Decode(bytes));
  // Five keys on Windows (volume_path and a zeroed parent_linkage2 besides ours).
  EXPECT_EQ(windows.key_offset, 20u + 5 * 12);
  EXPECT_EQ(windows.key_length, 28);
  EXPECT_EQ(windows.value_offset, windows.key_offset + 28);
  EXPECT_EQ(windows.value_length, 76);
}

}  // namespace
}  // namespace hvdisk::chain
