#include "platform/status.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "platform/file.h"
#include "platform/posix_file.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

TEST(StatusTest, OkStatusCarriesNoMessage) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Code::kOk);
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ContextIsPrefixedAndCodeKept) {
  Status s = Corrupt("checksum mismatch @0x10000").WithContext("header 1");
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_EQ(s.message(), "header 1: checksum mismatch @0x10000");
  EXPECT_EQ(s.ToString(), "corrupt: header 1: checksum mismatch @0x10000");
}

TEST(StatusTest, CancellationIsItsOwnCodeWithItsName) {
  Status s = Cancelled("convert interrupted by SIGINT");
  EXPECT_EQ(s.code(), Code::kCancelled);
  EXPECT_EQ(s.ToString(), "cancelled: convert interrupted by SIGINT");
  for (int c = 0; c <= static_cast<int>(Code::kFenced); ++c) {
    EXPECT_NE(CodeName(static_cast<Code>(c)), "kUnknown") << c;
  }
}

TEST(StatusTest, FencedIsItsOwnCodeWithItsName) {
  Status s = Fenced("this host lost its hold on the store");
  EXPECT_EQ(s.code(), Code::kFenced);
  EXPECT_EQ(CodeName(s.code()), "kFenced");
  EXPECT_EQ(s.ToString(), "fenced: this host lost its hold on the store");
}

TEST(StatusTest, EveryErrnoMapsToItsCode) {
  const std::pair<int, Code> kTable[] = {
      {ENOENT, Code::kNotFound},    {EACCES, Code::kAccessDenied}, {EPERM, Code::kAccessDenied},
      {EROFS, Code::kAccessDenied}, {ENOSPC, Code::kNoSpace},      {EDQUOT, Code::kNoSpace},
      {EBUSY, Code::kInUse},        {EWOULDBLOCK, Code::kInUse},   {ENOMEM, Code::kOutOfMemory},
      {ETIMEDOUT, Code::kTimeout},  {EIO, Code::kIoError},         {EINVAL, Code::kIoError},
  };
  for (auto [err, code] : kTable) {
    Status s = ErrnoStatus(err, "write @0x2000", "/d/x.vhdx");
    EXPECT_EQ(s.code(), code) << err;
    EXPECT_NE(s.message().find("write @0x2000"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("/d/x.vhdx"), std::string::npos) << s.message();
  }
}

TEST(StatusTest, ResultHoldsValueOrStatus) {
  Result<int> good = 7;
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 7);
  Result<int> bad = NotFound("nope");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kNotFound);
  Result<int> ok_status_is_not_a_value = Status::Ok();
  EXPECT_FALSE(ok_status_is_not_a_value.ok());
}

Result<int> Twice(Result<int> in) {
  ASSIGN_OR_RETURN(int v, in);
  return v * 2;
}

TEST(StatusTest, AssignOrReturnPropagates) {
  EXPECT_EQ(*Twice(21), 42);
  EXPECT_EQ(Twice(Timeout("slow")).status().code(), Code::kTimeout);
}

TEST(PosixFileSystemTest, MissingFileIsNotFoundWithPathAndOp) {
  testing::TempDir dir;
  auto r = DefaultFileSystem()->Open(dir.File("missing.vhdx"), OpenOptions::ReadOnly());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("open"), std::string::npos);
  EXPECT_NE(r.status().message().find("missing.vhdx"), std::string::npos);
}

TEST(PosixFileSystemTest, WriteThroughReadOnlyHandleIsAnError) {
  testing::TempDir dir;
  FileSystem* fs = DefaultFileSystem();
  { ASSERT_OK(fs->Open(dir.File("f"), OpenOptions::CreateNew())); }
  ASSERT_OK_AND_ASSIGN(auto f, fs->Open(dir.File("f"), OpenOptions::ReadOnly()));
  std::byte b{1};
  Status s = f->WriteAt(0, std::span(&b, 1));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("write @0x0"), std::string::npos) << s.message();
}

TEST(PosixFileSystemTest, AtomicWriteReplacesContentAndListsSorted) {
  testing::TempDir dir;
  FileSystem* fs = DefaultFileSystem();
  std::string a = "first", b = "second";
  ASSERT_OK(WriteFileAtomically(fs, dir.File("rec"), std::as_bytes(std::span(a))));
  ASSERT_OK(WriteFileAtomically(fs, dir.File("rec"), std::as_bytes(std::span(b))));
  ASSERT_OK_AND_ASSIGN(std::string got, ReadWholeFile(fs, dir.File("rec")));
  EXPECT_EQ(got, "second");
  ASSERT_OK(fs->CreateDir(dir.File("sub")));
  ASSERT_OK_AND_ASSIGN(auto names, fs->List(dir.path()));
  EXPECT_EQ(names, (std::vector<std::string>{"rec", "sub"}));
  EXPECT_CODE(fs->Open(dir.File("rec"), OpenOptions::CreateNew()), Code::kInUse);
}

TEST(PathTest, DirAndBaseNames) {
  EXPECT_EQ(DirName("a/b/c"), "a/b");
  EXPECT_EQ(DirName("c"), ".");
  EXPECT_EQ(DirName("/c"), "/");
  EXPECT_EQ(BaseName("a/b/c"), "c");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
}

}  // namespace
}  // namespace hvdisk
