// Change-set files: decoded streaming, a file that is not a change set refused on its header
// before its body is read, altered or truncated files kCorrupt, and a large valid one applied to
// a replica in bounded memory.
#include "ops/change_set.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "ops/replication.h"
#include "platform/digest.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/store_fixture.h"

namespace hvdisk::ops {
namespace {

using ::testing::HasSubstr;
using testing::kDiskSize;

constexpr size_t kMiB = 1 << 20;

// Counts the bytes read from each path through the Files it opens.
class ReadCountingFileSystem : public FileSystemWrapper {
 public:
  using FileSystemWrapper::FileSystemWrapper;

  Result<std::unique_ptr<File>> Open(const std::string& path, const OpenOptions& o) override {
    ASSIGN_OR_RETURN(std::unique_ptr<File> file, target()->Open(path, o));
    return std::unique_ptr<File>(new CountingFile(std::move(file), this));
  }
  uint64_t bytes_read(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    return read_[path];
  }

 private:
  class CountingFile : public File {
   public:
    CountingFile(std::unique_ptr<File> f, ReadCountingFileSystem* fs)
        : File(f->path()), f_(std::move(f)), fs_(fs) {}
    Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> dst) override {
      ASSIGN_OR_RETURN(size_t n, f_->ReadAt(offset, dst));
      std::lock_guard<std::mutex> lock(fs_->mu_);
      fs_->read_[path()] += n;
      return n;
    }
    Status WriteAt(uint64_t offset, std::span<const std::byte> src) override {
      return f_->WriteAt(offset, src);
    }
    Status Flush() override { return f_->Flush(); }
    Status Truncate(uint64_t size) override { return f_->Truncate(size); }
    Status Allocate(uint64_t offset, uint64_t length) override {
      return f_->Allocate(offset, length);
    }
    Result<uint64_t> Size() override { return f_->Size(); }
    Status Lock(uint64_t start, uint64_t length, LockMode mode) override {
      return f_->Lock(start, length, mode);
    }
    Status Unlock(uint64_t start, uint64_t length) override { return f_->Unlock(start, length); }
    Result<std::optional<RangeLock>> TestLock(uint64_t start, uint64_t length,
                                              LockMode mode) override {
      return f_->TestLock(start, length, mode);
    }

   private:
    std::unique_ptr<File> f_;
    ReadCountingFileSystem* fs_;
  };

  std::mutex mu_;
  std::map<std::string, uint64_t> read_;
};

class ChangeSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, env_.Create());
    ASSERT_OK_AND_ASSIGN(vm_, env_.MakeVm(*store_, 0));
  }
  // Opens `bytes` as a change-set file and walks it whole (checks only).
  Status Check(const std::string& bytes) {
    RETURN_IF_ERROR(mem_.PutFile("/check.hvchg", bytes));
    ASSIGN_OR_RETURN(ChangeSetReader set, ChangeSetReader::Open(&fs_, "/check.hvchg"));
    return set.Scan(kDiskSize, {});
  }

  MemFileSystem mem_;
  ReadCountingFileSystem fs_{&mem_};
  testing::StoreEnv env_{&fs_};
  std::unique_ptr<Store> store_;
  Guid vm_;
};

TEST_F(ChangeSetTest, ReaderHandsOverEveryExtentInPiecesAndTheHeadReceivesThem) {
  auto a = hvdisk::testing::PatternBytes(kChangeSetPiece + 4096, 1);
  auto b = hvdisk::testing::PatternBytes(100, 2);
  std::vector<ChangeExtent> extents{{8192, a}, {kDiskSize - 100, b}};
  ASSERT_OK(mem_.PutFile("/c.hvchg", EncodeChangeSet(extents, kDiskSize)));
  ASSERT_OK_AND_ASSIGN(ChangeSetReader set, ChangeSetReader::Open(&fs_, "/c.hvchg"));
  EXPECT_EQ(set.extent_count(), 2u);
  EXPECT_EQ(set.virtual_size(), kDiskSize);
  std::vector<std::byte> model(kDiskSize);
  size_t pieces = 0;
  ASSERT_OK(set.Scan(kDiskSize, [&](uint64_t offset, std::span<const std::byte> data) {
    EXPECT_LE(data.size(), kChangeSetPiece);
    std::copy(data.begin(), data.end(), model.begin() + offset);
    ++pieces;
    return Status::Ok();
  }));
  EXPECT_EQ(pieces, 3u) << "the first extent is longer than one piece";
  EXPECT_TRUE(std::equal(a.begin(), a.end(), model.begin() + 8192));
  EXPECT_TRUE(std::equal(b.begin(), b.end(), model.end() - 100));
  ASSERT_OK(ApplyChangeSetFile(*store_, vm_, "/c.hvchg"));
  ASSERT_OK(mem_.PutFile("/wrong.hvchg", EncodeChangeSet(extents, 2 * kDiskSize)));
  EXPECT_CODE(ApplyChangeSetFile(*store_, vm_, "/wrong.hvchg"), Code::kInvalidArgument);
}

TEST_F(ChangeSetTest, AlteredOrTruncatedChangeSetIsCorrupt) {
  auto a = hvdisk::testing::PatternBytes(4096, 1);
  std::vector<ChangeExtent> extents{{0, a}};
  const std::string bytes = EncodeChangeSet(extents, 0);
  ASSERT_OK(Check(bytes));
  // 0: magic, 13: count, 30: the extent's offset (beyond the disk, yet the checksum tells first).
  for (size_t at : {size_t{0}, size_t{13}, size_t{30}, size_t{40}, bytes.size() - 1}) {
    std::string bad = bytes;
    bad[at] ^= 1;
    EXPECT_CODE(Check(bad), Code::kCorrupt) << at;
  }
  EXPECT_CODE(Check(bytes.substr(0, bytes.size() - 9)), Code::kCorrupt);
  EXPECT_CODE(Check(bytes + "x"), Code::kCorrupt);
  EXPECT_CODE(Check(""), Code::kCorrupt);
  std::string other_version = bytes;
  other_version[8] = 2;
  EXPECT_CODE(Check(other_version), Code::kUnsupported);
  // Intact, but writing past the disk: refused before anything is written.
  std::vector<ChangeExtent> beyond{{kDiskSize - 512, a}};
  EXPECT_CODE(Check(EncodeChangeSet(beyond, 0)), Code::kInvalidArgument);
}

// Finding: a 1 GiB file was read whole (1,029 MiB of memory) before its magic was checked.
TEST_F(ChangeSetTest, AGarbage64MiBFileIsRefusedOnItsHeaderWithoutBeingRead) {
  ASSERT_OK(mem_.PutFile("/garbage.hvchg", std::string(64 * kMiB, '\x5a')));
  Status st = ApplyChangeSetFile(*store_, vm_, "/garbage.hvchg");
  EXPECT_CODE(st, Code::kCorrupt);
  EXPECT_THAT(st.message(), HasSubstr("is not a change set"));
  EXPECT_LE(fs_.bytes_read("/garbage.hvchg"), kChangeSetHeaderSize);

  // A real header declaring more extents than the file can hold: refused on the header too.
  std::string huge = EncodeChangeSet({}, kDiskSize);
  huge[12] = huge[13] = huge[14] = huge[15] = '\xff';
  huge.resize(64 * kMiB);
  ASSERT_OK(mem_.PutFile("/huge.hvchg", huge));
  st = ApplyChangeSetFile(*store_, vm_, "/huge.hvchg");
  EXPECT_CODE(st, Code::kCorrupt);
  EXPECT_THAT(st.message(), HasSubstr("4294967295 extents declared"));
  EXPECT_LE(fs_.bytes_read("/huge.hvchg"), kChangeSetHeaderSize);
}

// Writes a change set of `count` extents of 1 MiB, extent i at MiB i % 3 of the disk with
// pattern i, piece by piece (never whole in memory). Returns the disk content it leaves.
Result<std::vector<std::byte>> WriteLongChangeSet(FileSystem* fs, const std::string& path,
                                                  uint32_t count) {
  ASSIGN_OR_RETURN(auto file, fs->Open(path, OpenOptions::CreateOrTruncate()));
  std::string header = EncodeChangeSet({}, kDiskSize).substr(0, kChangeSetHeaderSize);
  std::memcpy(header.data() + 12, &count, 4);  // little-endian hosts only, as the format
  Digest64 hash;
  uint64_t pos = 0;
  auto put = [&](std::span<const std::byte> bytes) {
    hash.Update(bytes);
    Status st = file->WriteAt(pos, bytes);
    pos += bytes.size();
    return st;
  };
  RETURN_IF_ERROR(put(std::as_bytes(std::span(header))));
  std::vector<std::byte> model(kDiskSize);
  for (uint32_t i = 0; i < count; ++i) {
    const uint64_t head[2] = {(i % 3) * kMiB, kMiB};
    RETURN_IF_ERROR(put(std::as_bytes(std::span(head))));
    std::vector<std::byte> data = hvdisk::testing::PatternBytes(kMiB, i);
    RETURN_IF_ERROR(put(data));
    std::copy(data.begin(), data.end(), model.begin() + head[0]);
  }
  const uint64_t sum = hash.Finish();
  RETURN_IF_ERROR(file->WriteAt(pos, std::as_bytes(std::span(&sum, 1))));
  return model;
}

// The address space the process has mapped now, in bytes.
uint64_t MappedBytes() {
  unsigned long long pages = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%llu", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  return pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// A valid change set of 256 MiB applies in a child process whose address space may grow by 64 MiB
// only: the set is never held whole in memory.
TEST_F(ChangeSetTest, AValid256MiBChangeSetAppliesInBoundedMemory) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::byte> model, WriteLongChangeSet(&mem_, "/long.hvchg", 256));
  const std::string want = Xxh3_128(model).ToHex();
  ASSERT_OK_AND_ASSIGN(VmRecord r, store_->GetVm(vm_));
  const std::string head = store_->DiskPath(vm_, r.head);
  auto apply_bounded = [&]() -> int {
    const rlimit limit{MappedBytes() + 64 * kMiB, RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &limit) != 0) return 3;
    if (!ApplyChangeSetFile(*store_, vm_, "/long.hvchg").ok()) return 1;
    Result<std::string> got = testing::DiskDigest(&mem_, head);
    return got.ok() && *got == want ? 0 : 2;
  };
  EXPECT_EXIT(std::_Exit(apply_bounded()), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace hvdisk::ops
