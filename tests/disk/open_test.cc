// disk::Open: any disk by its signature (raw, VHDX, a differencing chain), -f raw forcing, a
// VHDX name without the signature refused, parents confined to the allowed roots; CreateRaw and
// CreateVhdx make new disks open for writing.
#include "disk/open.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "chain/chain.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/chain_fixture.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::disk {
namespace {

constexpr uint64_t kMiB = 1 << 20;

TEST(DiskOpen, ARawFileIsADiskOfItsOwnSizeAndAVhdxFileAChain) {
  MemFileSystem fs;
  ASSERT_OK(fs.PutFile("/plain.img", std::string(3 * 4096, 'x')));
  ASSERT_OK(
      vhdx::Image::Create(&fs, "/one.vhdx", {.virtual_size = 4 * kMiB, .block_size = 1 << 20}));
  ASSERT_OK_AND_ASSIGN(auto raw, Open(&fs, "/plain.img", {}));
  EXPECT_EQ(raw->format(), Format::kRaw);
  EXPECT_EQ(raw->size(), 3 * 4096u);
  EXPECT_FALSE(raw->writable());
  EXPECT_EQ(raw->image(), nullptr);
  ASSERT_OK_AND_ASSIGN(auto vhdx, Open(&fs, "/one.vhdx", {.writable = true}));
  EXPECT_EQ(vhdx->format(), Format::kVhdx);
  EXPECT_EQ(vhdx->size(), 4 * kMiB);
  EXPECT_TRUE(vhdx->writable());
  ASSERT_NE(vhdx->chain(), nullptr);
  EXPECT_EQ(vhdx->chain()->depth(), 1);
}

TEST(DiskOpen, ForcingRawReadsAVhdxFileAsItsBytes) {
  MemFileSystem fs;
  ASSERT_OK(vhdx::Image::Create(&fs, "/one.vhdx", {.virtual_size = 4 * kMiB}));
  ASSERT_OK_AND_ASSIGN(auto raw, Open(&fs, "/one.vhdx", {.format = Format::kRaw}));
  EXPECT_EQ(raw->format(), Format::kRaw);
  std::vector<std::byte> sig(8);
  ASSERT_OK(raw->Read(0, sig));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(sig.data()), 8), "vhdxfile");
}

TEST(DiskOpen, AFileNamedVhdxWithoutTheSignatureIsRefusedUnlessForcedRaw) {
  MemFileSystem fs;
  ASSERT_OK(fs.PutFile("/broken.vhdx", std::string(4096, '\0')));
  EXPECT_CODE(Open(&fs, "/broken.vhdx", {}), Code::kCorrupt);
  EXPECT_OK(Open(&fs, "/broken.vhdx", {.format = Format::kRaw}));
  EXPECT_CODE(Open(&fs, "/missing.img", {}), Code::kNotFound);
}

TEST(DiskOpen, AParentOutsideTheAllowedRootsIsRefusedAndAcceptedOnceItsTreeIsAllowed) {
  MemFileSystem fs;
  ASSERT_OK(fs.CreateDir("/p"));
  ASSERT_OK(fs.CreateDir("/c"));
  ASSERT_OK(vhdx::Image::Create(&fs, "/p/base.vhdx", {.virtual_size = 4 * kMiB}));
  ASSERT_OK(chain::CreateChild(&fs, "/p/base.vhdx", "/c/child.avhdx"));
  EXPECT_CODE(Open(&fs, "/c/child.avhdx", {}), Code::kAccessDenied);
  ASSERT_OK_AND_ASSIGN(auto d, Open(&fs, "/c/child.avhdx", {.allowed_roots = {"/p"}}));
  EXPECT_EQ(d->chain()->depth(), 2);
  EXPECT_EQ(d->layer_paths().size(), 2u);
  EXPECT_EQ(d->layer_paths()[0], "/c/child.avhdx");
}

TEST(DiskOpen, ChainRootsAddTheLeafsDirectoryOnlyWhenOthersAreGiven) {
  MemFileSystem fs;
  ASSERT_OK(fs.CreateDir("/c"));
  ASSERT_OK(fs.PutFile("/c/leaf.avhdx", "x"));
  ASSERT_OK_AND_ASSIGN(auto none, ChainRoots(&fs, "/c/leaf.avhdx", {}));
  EXPECT_TRUE(none.empty());
  ASSERT_OK_AND_ASSIGN(auto some, ChainRoots(&fs, "/c/leaf.avhdx", {"/p"}));
  EXPECT_EQ(some, (std::vector<std::string>{"/p", "/c"}));
}

TEST(DiskOpen, CreatedDisksAreWritableAndRefuseAnExistingName) {
  MemFileSystem fs;
  ASSERT_OK_AND_ASSIGN(auto raw, CreateRaw(&fs, "/new.img", 2 * kMiB));
  EXPECT_TRUE(raw->writable());
  EXPECT_EQ(raw->size(), 2 * kMiB);
  ASSERT_OK(raw->Write(kMiB, testing::PatternBytes(4096, 1)));
  ASSERT_OK(raw->Flush());
  EXPECT_FALSE(CreateRaw(&fs, "/new.img", kMiB).ok());
  ASSERT_OK_AND_ASSIGN(auto vhdx, CreateVhdx(&fs, "/new.vhdx", {.virtual_size = 2 * kMiB}));
  EXPECT_TRUE(vhdx->writable());
  ASSERT_OK(vhdx->Write(0, testing::PatternBytes(4096, 2)));
  ASSERT_OK(vhdx->Flush());
  ASSERT_OK(vhdx->Close());
  EXPECT_FALSE(CreateVhdx(&fs, "/new.vhdx", {.virtual_size = 2 * kMiB}).ok());
}

}  // namespace
}  // namespace hvdisk::disk
