#include "platform/mem_file_system.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "platform/aligned_buffer.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using ::hvdisk::testing::PatternBytes;

std::span<const std::byte> Bytes(std::string_view s) { return std::as_bytes(std::span(s)); }

std::string Str(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

class MemFileSystemTest : public ::testing::Test {
 protected:
  std::unique_ptr<File> Create(const std::string& path) {
    auto r = fs_.Open(path, OpenOptions::CreateOrTruncate());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  std::string Read(File* f, uint64_t offset, size_t n) {
    std::string out(n, '\0');
    auto r = f->ReadAt(offset, std::as_writable_bytes(std::span(out)));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    out.resize(r.ok() ? *r : 0);
    return out;
  }

  MemFileSystem fs_;
};

TEST_F(MemFileSystemTest, WriteThenReadRoundTrips) {
  auto f = Create("/a");
  std::vector<std::byte> data = PatternBytes(10000, 7);
  ASSERT_OK(f->WriteAt(123, data));
  std::vector<std::byte> back(data.size());
  ASSERT_OK(f->ReadExactAt(123, back));
  EXPECT_EQ(back, data);
  ASSERT_OK_AND_ASSIGN(uint64_t size, f->Size());
  EXPECT_EQ(size, 10123u);
  EXPECT_EQ(Read(f.get(), 0, 123), std::string(123, '\0'));  // the gap reads zeros
}

TEST_F(MemFileSystemTest, ReadAtEndIsShortAndPastEndIsEmpty) {
  auto f = Create("/a");
  ASSERT_OK(f->WriteAt(0, Bytes("hello")));
  EXPECT_EQ(Read(f.get(), 3, 10), "lo");
  EXPECT_EQ(Read(f.get(), 5, 10), "");
  EXPECT_EQ(Read(f.get(), 1000, 10), "");
  std::byte buf[8];
  EXPECT_CODE(f->ReadExactAt(0, buf), Code::kCorrupt);
}

TEST_F(MemFileSystemTest, TruncateShrinksThenRegrowsWithZeros) {
  auto f = Create("/a");
  ASSERT_OK(f->WriteAt(0, PatternBytes(9000, 1)));
  ASSERT_OK(f->Truncate(10));
  EXPECT_EQ(*f->Size(), 10u);
  ASSERT_OK(f->Truncate(8192));
  std::string tail = Read(f.get(), 10, 9000);
  EXPECT_EQ(tail, std::string(8182, '\0'));
}

TEST_F(MemFileSystemTest, AllocateGrowsButNeverShrinks) {
  auto f = Create("/a");
  ASSERT_OK(f->WriteAt(0, Bytes("abc")));
  ASSERT_OK(f->Allocate(0, 1 << 20));
  EXPECT_EQ(*f->Size(), 1u << 20);
  ASSERT_OK(f->Allocate(0, 5));
  EXPECT_EQ(*f->Size(), 1u << 20);
  EXPECT_EQ(Read(f.get(), 0, 4), std::string("abc") + '\0');
  EXPECT_CODE(f->Allocate(0, 0), Code::kIoError);  // EINVAL, like fallocate
}

TEST_F(MemFileSystemTest, HugeSparseFileCostsNoMemory) {
  auto f = Create("/big");
  ASSERT_OK(f->Truncate(uint64_t{1} << 40));
  ASSERT_OK(f->WriteAt((uint64_t{1} << 40) - 3, Bytes("end")));
  EXPECT_EQ(Read(f.get(), (uint64_t{1} << 40) - 4, 8), std::string("\0end", 4));
  EXPECT_CODE(f->WriteAt(memfs::kMaxFileSize, Bytes("x")), Code::kIoError);  // EFBIG
}

TEST_F(MemFileSystemTest, RenameReplacesExistingFileAtomically) {
  ASSERT_OK(fs_.PutFile("/a", "new"));
  ASSERT_OK(fs_.PutFile("/b", "old"));
  ASSERT_OK(fs_.Rename("/a", "/b"));
  EXPECT_EQ(*fs_.GetFile("/b"), "new");
  EXPECT_CODE(fs_.GetFile("/a"), Code::kNotFound);
  EXPECT_CODE(fs_.Rename("/missing", "/c"), Code::kNotFound);
}

TEST_F(MemFileSystemTest, RenameMovesDirectoryWithItsChildren) {
  ASSERT_OK(fs_.PutFile("/d/x/f", "1"));
  ASSERT_OK(fs_.PutFile("/d-sibling", "2"));  // sorts between "/d" and "/d/..."
  ASSERT_OK(fs_.Rename("/d", "/e"));
  EXPECT_EQ(*fs_.GetFile("/e/x/f"), "1");
  EXPECT_EQ(*fs_.GetFile("/d-sibling"), "2");
  EXPECT_CODE(fs_.IsDirectory("/d"), Code::kNotFound);
  ASSERT_OK(fs_.PutFile("/g/h", "3"));
  EXPECT_CODE(fs_.Rename("/e", "/g"), Code::kIoError);      // ENOTEMPTY
  EXPECT_CODE(fs_.Rename("/e", "/e/x/y"), Code::kIoError);  // EINVAL: into itself
  EXPECT_CODE(fs_.Rename("/g/h", "/e"), Code::kIoError);    // EISDIR
}

TEST_F(MemFileSystemTest, UnlinkRemovesNameButOpenHandleKeepsData) {
  auto f = Create("/a");
  ASSERT_OK(f->WriteAt(0, Bytes("data")));
  ASSERT_OK(fs_.Unlink("/a"));
  EXPECT_CODE(fs_.Open("/a", OpenOptions::ReadOnly()), Code::kNotFound);
  EXPECT_EQ(Read(f.get(), 0, 4), "data");
  EXPECT_CODE(fs_.Unlink("/a"), Code::kNotFound);
  ASSERT_OK(fs_.CreateDir("/d"));
  EXPECT_CODE(fs_.Unlink("/d"), Code::kIoError);  // EISDIR
}

TEST_F(MemFileSystemTest, ListIsSortedAndHoldsOnlyDirectChildren) {
  for (const char* p : {"/d/b", "/d/a", "/d/c/deep", "/d/a-b", "/top"})
    ASSERT_OK(fs_.PutFile(p, ""));
  ASSERT_OK_AND_ASSIGN(auto names, fs_.List("/d"));
  EXPECT_EQ(names, (std::vector<std::string>{"a", "a-b", "b", "c"}));
  ASSERT_OK_AND_ASSIGN(auto root, fs_.List("/"));
  EXPECT_EQ(root, (std::vector<std::string>{"d", "top"}));
  EXPECT_CODE(fs_.List("/nope"), Code::kNotFound);
  EXPECT_CODE(fs_.List("/top"), Code::kIoError);  // ENOTDIR
}

TEST_F(MemFileSystemTest, CreateExclusiveOnExistingIsInUse) {
  ASSERT_OK(fs_.Open("/a", OpenOptions::CreateNew()));
  auto r = fs_.Open("/a", OpenOptions::CreateNew());
  EXPECT_CODE(r, Code::kInUse);
  EXPECT_NE(r.status().message().find("open /a"), std::string::npos) << r.status().ToString();
}

TEST_F(MemFileSystemTest, OpenMissingIsNotFoundNamingOpAndPath) {
  auto r = fs_.Open("/no/such", OpenOptions::ReadWrite());
  EXPECT_CODE(r, Code::kNotFound);
  EXPECT_NE(r.status().message().find("open /no/such"), std::string::npos);
  EXPECT_CODE(fs_.Open("/no/such", OpenOptions::CreateNew()), Code::kNotFound);  // no parent
  ASSERT_OK(fs_.PutFile("/file", "x"));
  EXPECT_CODE(fs_.Open("/file/x", OpenOptions::CreateNew()), Code::kIoError);  // ENOTDIR
}

TEST_F(MemFileSystemTest, MutatingAReadOnlyHandleIsAccessDenied) {
  ASSERT_OK(fs_.PutFile("/a", "x"));
  ASSERT_OK_AND_ASSIGN(auto f, fs_.Open("/a", OpenOptions::ReadOnly()));
  auto s = f->WriteAt(0, Bytes("y"));
  EXPECT_CODE(s, Code::kAccessDenied);
  EXPECT_NE(s.message().find("write /a"), std::string::npos);
  EXPECT_CODE(f->Truncate(0), Code::kAccessDenied);
  EXPECT_CODE(f->Allocate(0, 10), Code::kAccessDenied);
  EXPECT_EQ(*fs_.GetFile("/a"), "x");
}

TEST_F(MemFileSystemTest, IsDirectoryAndExists) {
  ASSERT_OK(fs_.PutFile("/d/f", "x"));
  EXPECT_EQ(*fs_.IsDirectory("/d"), true);
  EXPECT_EQ(*fs_.IsDirectory("/d/f"), false);
  EXPECT_EQ(*fs_.IsDirectory("/"), true);
  EXPECT_CODE(fs_.IsDirectory("/d/g"), Code::kNotFound);
  EXPECT_EQ(*fs_.Exists("/d/g"), false);
  EXPECT_EQ(*fs_.Exists("d/f"), true);  // relative to "/"
}

TEST_F(MemFileSystemTest, RealPathNormalizes) {
  ASSERT_OK(fs_.PutFile("/a/b/c", ""));
  EXPECT_EQ(*fs_.RealPath("/a/./b//c"), "/a/b/c");
  EXPECT_EQ(*fs_.RealPath("a/b/../b/c/"), "/a/b/c");
  EXPECT_EQ(*fs_.RealPath("/../.."), "/");
  EXPECT_CODE(fs_.RealPath("/a/x"), Code::kNotFound);
  EXPECT_CODE(fs_.RealPath(""), Code::kNotFound);
}

TEST_F(MemFileSystemTest, DirectoriesCreateIdempotentlyAndRemoveOnlyWhenEmpty) {
  ASSERT_OK(fs_.CreateDir("/d"));
  ASSERT_OK(fs_.CreateDir("/d"));
  ASSERT_OK(fs_.PutFile("/d/f", ""));
  EXPECT_CODE(fs_.CreateDir("/d/f"), Code::kInUse);  // EEXIST
  EXPECT_CODE(fs_.CreateDir("/x/y"), Code::kNotFound);
  EXPECT_CODE(fs_.RemoveDir("/d"), Code::kIoError);    // ENOTEMPTY
  EXPECT_CODE(fs_.RemoveDir("/d/f"), Code::kIoError);  // ENOTDIR
  ASSERT_OK(fs_.Unlink("/d/f"));
  ASSERT_OK(fs_.RemoveDir("/d"));
  EXPECT_CODE(fs_.RemoveDir("/d"), Code::kNotFound);
  EXPECT_OK(fs_.SyncDir("/"));
  EXPECT_CODE(fs_.SyncDir("/d"), Code::kNotFound);
}

TEST_F(MemFileSystemTest, OpenFlagsFollowPosix) {
  ASSERT_OK(fs_.CreateDir("/d"));
  EXPECT_CODE(fs_.Open("/d", OpenOptions::ReadOnly()), Code::kIoError);  // EISDIR
  EXPECT_CODE(fs_.Open("/x", {.create = true}), Code::kInvalidArgument);
  ASSERT_OK(fs_.PutFile("/t", "content"));
  ASSERT_OK_AND_ASSIGN(auto f, fs_.Open("/t", OpenOptions::CreateOrTruncate()));
  EXPECT_EQ(*f->Size(), 0u);
}

TEST_F(MemFileSystemTest, DirectIoRequiresAlignment) {
  ASSERT_OK_AND_ASSIGN(auto f, fs_.Open("/a", {.write = true, .create = true, .direct = true}));
  EXPECT_TRUE(f->direct());
  AlignedBuffer buf(2 * kDirectAlignment);
  EXPECT_OK(f->WriteAt(kDirectAlignment, buf.span()));
  EXPECT_CODE(f->WriteAt(1, buf.span()), Code::kIoError);
  EXPECT_CODE(f->WriteAt(0, buf.span().first(100)), Code::kIoError);
  EXPECT_CODE(f->WriteAt(0, buf.span().subspan(1, kDirectAlignment)), Code::kIoError);
  EXPECT_OK(f->ReadAt(0, buf.span()));
}

TEST_F(MemFileSystemTest, PutFileCreatesParentsAndGetFileReturnsBytes) {
  std::string bytes = Str(PatternBytes(5000, 3));
  ASSERT_OK(fs_.PutFile("x/y/z.bin", bytes));
  EXPECT_EQ(*fs_.GetFile("/x/y/z.bin"), bytes);
  ASSERT_OK(fs_.PutFile("/x/y/z.bin", "short"));
  EXPECT_EQ(*fs_.GetFile("/x/y/z.bin"), "short");
  EXPECT_CODE(fs_.GetFile("/x/y"), Code::kIoError);  // EISDIR
}

TEST_F(MemFileSystemTest, ConcurrentDisjointWritesAllLand) {
  auto f = Create("/a");
  constexpr int kThreads = 4;
  constexpr size_t kChunk = 6000;  // not page aligned: neighbours share pages
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        size_t slot = static_cast<size_t>(i * kThreads + t);
        EXPECT_OK(f->WriteAt(slot * kChunk, PatternBytes(kChunk, slot)));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (size_t slot = 0; slot < 50 * kThreads; ++slot) {
    std::vector<std::byte> back(kChunk);
    ASSERT_OK(f->ReadExactAt(slot * kChunk, back));
    ASSERT_EQ(back, PatternBytes(kChunk, slot)) << slot;
  }
}

TEST_F(MemFileSystemTest, CopyTreeKeepsTreeSizesAndHoles) {
  ASSERT_OK(fs_.PutFile("/src/a", "alpha"));
  ASSERT_OK(fs_.PutFile("/src/sub/b", "beta"));
  {
    auto f = Create("/src/sparse");
    ASSERT_OK(f->Truncate(5 << 20));
    ASSERT_OK(f->WriteAt(3 << 20, Bytes("mid")));
  }
  MemFileSystem dst;
  ASSERT_OK(CopyTree(&fs_, "/src", &dst, "/out/copy"));
  EXPECT_EQ(*dst.GetFile("/out/copy/a"), "alpha");
  EXPECT_EQ(*dst.GetFile("/out/copy/sub/b"), "beta");
  EXPECT_EQ(*dst.GetFile("/out/copy/sparse"), *fs_.GetFile("/src/sparse"));
}

}  // namespace
}  // namespace hvdisk
