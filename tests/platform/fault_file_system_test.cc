#include "platform/fault_file_system.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "platform/mem_file_system.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

std::span<const std::byte> Bytes(std::string_view s) { return std::as_bytes(std::span(s)); }

class FaultFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK(mem_.PutFile("/f", "0123456789")); }
  std::unique_ptr<File> OpenRw() {
    auto r = fault_.Open("/f", OpenOptions::ReadWrite());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  MemFileSystem mem_;
  FaultFileSystem fault_{&mem_, 42};
};

TEST_F(FaultFileSystemTest, EachInjectedErrnoArrivesAsItsCodeNamingOpAndPath) {
  const std::pair<int, Code> kCases[] = {
      {ENOENT, Code::kNotFound},    {EACCES, Code::kAccessDenied}, {EPERM, Code::kAccessDenied},
      {EROFS, Code::kAccessDenied}, {ENOSPC, Code::kNoSpace},      {EDQUOT, Code::kNoSpace},
      {EBUSY, Code::kInUse},        {EWOULDBLOCK, Code::kInUse},   {ENOMEM, Code::kOutOfMemory},
      {ETIMEDOUT, Code::kTimeout},  {EIO, Code::kIoError},
  };
  auto f = OpenRw();
  for (auto [err, code] : kCases) {
    fault_.SetRule(FileOp::kWrite, {.nth = 1, .err = err});
    Status s = f->WriteAt(0, Bytes("x"));
    EXPECT_EQ(s.code(), code) << err << ": " << s.ToString();
    EXPECT_EQ(s.message().rfind("write /f: ", 0), 0u) << s.message();
    EXPECT_NE(s.message().find("(errno " + std::to_string(err) + ")"), std::string::npos);
  }
  EXPECT_EQ(*mem_.GetFile("/f"), "0123456789");  // no injected write reached the target
}

TEST_F(FaultFileSystemTest, EveryOpKindCanBeFailedAndNamesItsOp) {
  auto f = OpenRw();
  std::byte buf[4];
  const std::vector<std::pair<FileOp, std::function<Status()>>> kOps = {
      {FileOp::kOpen, [&] { return fault_.Open("/f", OpenOptions::ReadOnly()).status(); }},
      {FileOp::kRead, [&] { return f->ReadAt(0, buf).status(); }},
      {FileOp::kWrite, [&] { return f->WriteAt(0, Bytes("x")); }},
      {FileOp::kFlush, [&] { return f->Flush(); }},
      {FileOp::kTruncate, [&] { return f->Truncate(3); }},
      {FileOp::kAllocate, [&] { return f->Allocate(0, 100); }},
      {FileOp::kRename, [&] { return fault_.Rename("/f", "/g"); }},
      {FileOp::kUnlink, [&] { return fault_.Unlink("/f"); }},
      {FileOp::kMkdir, [&] { return fault_.CreateDir("/d"); }},
      {FileOp::kRmdir, [&] { return fault_.RemoveDir("/d"); }},
      {FileOp::kSyncDir, [&] { return fault_.SyncDir("/"); }},
      {FileOp::kList, [&] { return fault_.List("/").status(); }},
  };
  for (const auto& [op, call] : kOps) {
    fault_.SetRule(op, {.nth = 1, .err = ENOSPC});
    Status s = call();
    EXPECT_EQ(s.code(), Code::kNoSpace) << FileOpName(op) << ": " << s.ToString();
    EXPECT_EQ(s.message().rfind(std::string(FileOpName(op)) + " ", 0), 0u) << s.message();
    EXPECT_EQ(fault_.injected(op), 1u);
    fault_.ClearRule(op);
  }
  EXPECT_EQ(*mem_.GetFile("/f"), "0123456789");
  EXPECT_EQ(*mem_.List("/"), std::vector<std::string>{"f"});
}

TEST_F(FaultFileSystemTest, NthTransientFailsOnlyThatOp) {
  auto f = OpenRw();
  fault_.SetRule(FileOp::kWrite, {.nth = 3, .err = EIO});
  EXPECT_OK(f->WriteAt(0, Bytes("a")));
  EXPECT_OK(f->WriteAt(1, Bytes("b")));
  EXPECT_CODE(f->WriteAt(2, Bytes("c")), Code::kIoError);
  EXPECT_OK(f->WriteAt(3, Bytes("d")));
  EXPECT_OK(f->Flush());  // other kinds unaffected
  EXPECT_EQ(*mem_.GetFile("/f"), "ab2d456789");
  EXPECT_EQ(fault_.count(FileOp::kWrite), 4u);
  EXPECT_EQ(fault_.injected(FileOp::kWrite), 1u);
}

TEST_F(FaultFileSystemTest, NthCountsFromSetRule) {
  auto f = OpenRw();
  EXPECT_OK(f->Flush());
  EXPECT_OK(f->Flush());
  fault_.SetRule(FileOp::kFlush, {.nth = 1});
  EXPECT_CODE(f->Flush(), Code::kIoError);
  EXPECT_EQ(fault_.count(FileOp::kFlush), 3u);
}

TEST_F(FaultFileSystemTest, PersistentFailureKeepsFailingUntilCleared) {
  auto f = OpenRw();
  fault_.SetRule(FileOp::kFlush, {.nth = 2, .err = EIO, .persistent = true});
  EXPECT_OK(f->Flush());
  for (int i = 0; i < 5; ++i) EXPECT_CODE(f->Flush(), Code::kIoError);
  EXPECT_EQ(fault_.injected(FileOp::kFlush), 5u);
  fault_.ClearRule(FileOp::kFlush);
  EXPECT_OK(f->Flush());
}

TEST_F(FaultFileSystemTest, OneInNFailsAboutOneInNReproduciblyBySeed) {
  auto pattern = [&](uint64_t seed) {
    MemFileSystem mem;
    EXPECT_OK(mem.PutFile("/f", ""));
    FaultFileSystem fault(&mem, seed);
    fault.SetRule(FileOp::kRead, {.one_in = 4});
    auto f = fault.Open("/f", OpenOptions::ReadOnly()).value();
    std::string fails;
    std::byte b;
    for (int i = 0; i < 4000; ++i) fails += f->ReadAt(0, std::span(&b, 1)).ok() ? '.' : 'x';
    return fails;
  };
  std::string a = pattern(1);
  auto failures = std::count(a.begin(), a.end(), 'x');
  EXPECT_GT(failures, 800);
  EXPECT_LT(failures, 1200);
  EXPECT_EQ(pattern(1), a);
  EXPECT_NE(pattern(2), a);
}

TEST_F(FaultFileSystemTest, OneInNPersistentStaysFailedAfterFirstHit) {
  auto f = OpenRw();
  fault_.SetRule(FileOp::kWrite, {.one_in = 5, .persistent = true});
  int first = -1;
  for (int i = 0; i < 200; ++i) {
    bool failed = !f->WriteAt(0, Bytes("z")).ok();
    if (failed && first < 0) first = i;
    if (first >= 0) {
      EXPECT_TRUE(failed) << i;
    }
  }
  EXPECT_GE(first, 0);
}

TEST_F(FaultFileSystemTest, CountersCountEveryAttemptPerKind) {
  auto f = OpenRw();
  std::byte buf[2];
  ASSERT_OK(f->ReadAt(0, buf));
  ASSERT_OK(f->ReadAt(2, buf));
  ASSERT_OK(f->WriteAt(0, Bytes("q")));
  EXPECT_CODE(fault_.Unlink("/missing"), Code::kNotFound);  // the target's error counts too
  ASSERT_OK(fault_.CreateDir("/d"));
  EXPECT_EQ(fault_.count(FileOp::kOpen), 1u);
  EXPECT_EQ(fault_.count(FileOp::kRead), 2u);
  EXPECT_EQ(fault_.count(FileOp::kWrite), 1u);
  EXPECT_EQ(fault_.count(FileOp::kUnlink), 1u);
  EXPECT_EQ(fault_.count(FileOp::kMkdir), 1u);
  EXPECT_EQ(fault_.count(FileOp::kFlush), 0u);
  EXPECT_EQ(fault_.injected(FileOp::kRead), 0u);
}

TEST_F(FaultFileSystemTest, RenameFailureNamesBothPaths) {
  fault_.SetRule(FileOp::kRename, {.nth = 1, .err = EROFS});
  Status s = fault_.Rename("/f", "/g");
  EXPECT_EQ(s.code(), Code::kAccessDenied);
  EXPECT_NE(s.message().find("rename /f -> /g"), std::string::npos) << s.message();
  EXPECT_OK(fault_.Rename("/f", "/g"));
  EXPECT_EQ(*mem_.GetFile("/g"), "0123456789");
}

TEST_F(FaultFileSystemTest, CountsConcurrentOpsExactly) {
  auto f = OpenRw();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::byte b[1];
      for (int i = 0; i < 1000; ++i) EXPECT_OK(f->ReadAt(0, b));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(fault_.count(FileOp::kRead), 4000u);
}

TEST_F(FaultFileSystemTest, FilesOutliveTheWrapper) {
  std::unique_ptr<File> f;
  {
    FaultFileSystem fault(&mem_);
    fault.SetRule(FileOp::kRead, {.nth = 2});
    f = fault.Open("/f", OpenOptions::ReadOnly()).value();
  }
  std::byte b[1];
  EXPECT_OK(f->ReadAt(0, b));
  EXPECT_CODE(f->ReadAt(0, b), Code::kIoError);
}

TEST_F(FaultFileSystemTest, AFullDiskFailsOnlyWritesThatExtendTheFile) {
  auto f = OpenRw();
  fault_.SetRule(FileOp::kWrite,
                 {.nth = 1, .err = ENOSPC, .persistent = true, .extending_only = true});
  EXPECT_OK(f->WriteAt(0, Bytes("ab")));  // inside the file: the disk has its space
  EXPECT_OK(f->WriteAt(8, Bytes("yz")));  // up to the end, not past it
  EXPECT_CODE(f->WriteAt(9, Bytes("!!")), Code::kNoSpace);
  EXPECT_OK(f->WriteAt(2, Bytes("cd")));
  EXPECT_CODE(f->WriteAt(10, Bytes("!")), Code::kNoSpace);  // persistent: the disk stays full
  EXPECT_EQ(fault_.injected(FileOp::kWrite), 2u);
  ASSERT_OK_AND_ASSIGN(std::string content, mem_.GetFile("/f"));
  EXPECT_EQ(content, "abcd4567yz");
}

}  // namespace
}  // namespace hvdisk
