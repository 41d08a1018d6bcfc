// AtomicOutput (issue 16, item 3: no plausible half-output): a file made by copying appears
// complete or not at all, whatever fails (an I/O error at any step, a crash at any point), an
// existing DST is never damaged, and the temporaries of dead processes are removed.
#include "platform/atomic_output.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "platform/crash_file_system.h"
#include "platform/fault_file_system.h"
#include "platform/mem_file_system.h"
#include "platform/posix_file.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using ::testing::ElementsAre;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

constexpr char kDir[] = "/out";
constexpr char kDst[] = "/out/disk.vhdx";

// 40 KiB of pattern bytes: ten writes of 4 KiB.
std::string Content() {
  std::vector<std::byte> p = testing::PatternBytes(40 * 1024, 7);
  return std::string(reinterpret_cast<const char*>(p.data()), p.size());
}

// What a copying command does: creates DST through an AtomicOutput, writes `content` in 4 KiB
// pieces through its own handle, flushes and closes it, and commits.
Status CopyInto(FileSystem* fs, const std::string& dst, const std::string& content,
                const AtomicOutput::Options& options = {}) {
  std::unique_ptr<File> file;
  ASSIGN_OR_RETURN(std::unique_ptr<AtomicOutput> out,
                   AtomicOutput::Create(fs, dst, options, [&](const std::string& temp) -> Status {
                     ASSIGN_OR_RETURN(file, fs->Open(temp, OpenOptions::CreateNew()));
                     return Status::Ok();
                   }));
  for (size_t off = 0; off < content.size(); off += 4096) {
    const size_t n = std::min<size_t>(4096, content.size() - off);
    RETURN_IF_ERROR(file->WriteAt(off, std::as_bytes(std::span(content.data() + off, n))));
  }
  RETURN_IF_ERROR(file->Flush());
  file.reset();
  return out->Commit();
}

std::vector<std::string> Names(FileSystem* fs, const std::string& dir) {
  Result<std::vector<std::string>> names = fs->List(dir);
  return names.ok() ? *names : std::vector<std::string>{"(unlistable)"};
}

class AtomicOutputTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK(mem_.CreateDir(kDir)); }
  MemFileSystem mem_;
};

TEST_F(AtomicOutputTest, TheTemporaryIsHiddenBesideDstUntilCommitRenamesItIntoPlace) {
  std::unique_ptr<File> file;
  ASSERT_OK_AND_ASSIGN(auto out, AtomicOutput::Create(&mem_, kDst, {}, [&](const std::string& t) {
                         Result<std::unique_ptr<File>> f = mem_.Open(t, OpenOptions::CreateNew());
                         if (f.ok()) file = std::move(f).value();
                         return f.status();
                       }));
  EXPECT_EQ(DirName(out->temp_path()), kDir);
  EXPECT_THAT(BaseName(out->temp_path()),
              StartsWith(".disk.vhdx.hvdisk-partial-" + std::to_string(getpid()) + "-"));
  EXPECT_THAT(Names(&mem_, kDir), ElementsAre(BaseName(out->temp_path())));
  ASSERT_OK(file->WriteAt(0, std::as_bytes(std::span("data", 4))));
  file.reset();
  ASSERT_OK(out->Commit());
  EXPECT_THAT(Names(&mem_, kDir), ElementsAre("disk.vhdx"));
  EXPECT_EQ(*mem_.GetFile(kDst), "data");
  out.reset();
  EXPECT_THAT(Names(&mem_, kDir), ElementsAre("disk.vhdx")) << "a committed output stays";
}

TEST_F(AtomicOutputTest, AnOutputDroppedBeforeCommitLeavesNoDstAndNoTemporary) {
  {
    ASSERT_OK_AND_ASSIGN(auto out, AtomicOutput::Create(&mem_, kDst, {}, [&](const std::string& t) {
                           return mem_.PutFile(t, "half");
                         }));
  }
  EXPECT_TRUE(Names(&mem_, kDir).empty());
}

TEST_F(AtomicOutputTest, AWriterThatFailsAfterCreatingLeavesNothing) {
  Result<std::unique_ptr<AtomicOutput>> out =
      AtomicOutput::Create(&mem_, kDst, {}, [&](const std::string& t) {
        EXPECT_OK(mem_.PutFile(t, "partial"));
        return NoSpace("no space left for the headers");
      });
  EXPECT_CODE(out, Code::kNoSpace);
  EXPECT_TRUE(Names(&mem_, kDir).empty());
}

TEST_F(AtomicOutputTest, AnExistingDstIsRefusedAtCreateAndLeftUntouched) {
  ASSERT_OK(mem_.PutFile(kDst, "precious"));
  bool called = false;
  EXPECT_CODE(AtomicOutput::Create(&mem_, kDst, {},
                                   [&](const std::string&) {
                                     called = true;
                                     return Status::Ok();
                                   }),
              Code::kInUse);
  EXPECT_FALSE(called);
  EXPECT_EQ(*mem_.GetFile(kDst), "precious");
  EXPECT_THAT(Names(&mem_, kDir), ElementsAre("disk.vhdx"));
}

TEST_F(AtomicOutputTest, ADstThatAppearsDuringTheCopyIsNeverReplacedWithoutReplaceAllowed) {
  ASSERT_OK_AND_ASSIGN(auto out, AtomicOutput::Create(&mem_, kDst, {}, [&](const std::string& t) {
                         return mem_.PutFile(t, "copy");
                       }));
  ASSERT_OK(mem_.PutFile(kDst, "someone else's"));
  EXPECT_CODE(out->Commit(), Code::kInUse);
  out.reset();
  EXPECT_EQ(*mem_.GetFile(kDst), "someone else's");
  EXPECT_THAT(Names(&mem_, kDir), ElementsAre("disk.vhdx"));
}

TEST_F(AtomicOutputTest, ReplaceAllowedSwapsAnExistingDstForTheCompleteCopy) {
  ASSERT_OK(mem_.PutFile(kDst, "old"));
  ASSERT_OK(CopyInto(&mem_, kDst, Content(), {.replace = AtomicOutput::Replace::kAllowed}));
  EXPECT_EQ(*mem_.GetFile(kDst), Content());
  EXPECT_THAT(Names(&mem_, kDir), ElementsAre("disk.vhdx"));
}

TEST_F(AtomicOutputTest, AnIoErrorAtAnyStepLeavesNoDstAndNoTemporary) {
  const FileOp kOps[] = {FileOp::kOpen, FileOp::kWrite, FileOp::kFlush, FileOp::kRename};
  for (FileOp op : kOps) {
    for (uint64_t nth = 1;; ++nth) {
      SCOPED_TRACE(std::string(FileOpName(op)) + " #" + std::to_string(nth));
      MemFileSystem mem;
      ASSERT_OK(mem.CreateDir(kDir));
      FaultFileSystem fault(&mem);
      fault.SetRule(op, {.nth = nth, .err = nth % 2 ? EIO : ENOSPC});
      Status st = CopyInto(&fault, kDst, Content());
      if (fault.injected(op) == 0) {  // past the last op of this kind: the copy went through
        ASSERT_OK(st);
        EXPECT_EQ(*mem.GetFile(kDst), Content());
        break;
      }
      EXPECT_FALSE(st.ok());
      EXPECT_TRUE(Names(&mem, kDir).empty()) << st.ToString();
    }
  }
}

TEST_F(AtomicOutputTest, ACrashAtAnyPointLeavesDstCompleteOrAbsentAndACommittedOneDurable) {
  uint64_t total = 0;
  {
    CrashFileSystem crash;
    ASSERT_OK(crash.CreateDir(kDir));
    crash.SyncAll();
    const uint64_t before = crash.mutating_ops();
    ASSERT_OK(CopyInto(&crash, kDst, Content()));
    total = crash.mutating_ops() - before;
    crash.Crash(1, CrashMode::kDropAll);
    EXPECT_EQ(*crash.GetFile(kDst), Content()) << "Commit returned: DST is durable";
  }
  for (uint64_t n = 1; n <= total; ++n) {
    for (CrashMode mode : {CrashMode::kRandom, CrashMode::kDropAll, CrashMode::kKeepAll}) {
      SCOPED_TRACE("crash point " + std::to_string(n) + ", mode " +
                   std::to_string(static_cast<int>(mode)));
      CrashFileSystem crash;
      ASSERT_OK(crash.CreateDir(kDir));
      crash.SyncAll();
      crash.SetCrashPoint(n);
      EXPECT_FALSE(CopyInto(&crash, kDst, Content()).ok());
      crash.Crash(n, mode);
      for (const std::string& name : Names(&crash, kDir)) {
        if (name == "disk.vhdx") {
          EXPECT_EQ(*crash.GetFile(kDst), Content()) << "a DST is the whole copy";
        } else {
          EXPECT_THAT(name, StartsWith(AtomicOutput::TempPrefix(kDst))) << "only a temporary";
        }
      }
    }
  }
}

TEST_F(AtomicOutputTest, StaleTemporariesOfDeadProcessesGoAndOthersStay) {
  const std::string prefix = std::string(kDir) + "/" + AtomicOutput::TempPrefix(kDst);
  const std::string dead = prefix + "2147483647-0badf00d";  // above any pid_max
  const std::string mine = prefix + std::to_string(getpid()) + "-12345678";
  const std::string init = prefix + "1-12345678";  // pid 1 runs
  const std::string odd = prefix + "notapid-1";
  const std::string other = std::string(kDir) + "/.other.vhdx.hvdisk-partial-2147483647-1";
  for (const std::string& p : {dead, mine, init, odd, other}) ASSERT_OK(mem_.PutFile(p, "x"));
  ASSERT_OK(CopyInto(&mem_, kDst, Content()));
  EXPECT_THAT(Names(&mem_, kDir),
              UnorderedElementsAre(BaseName(init), BaseName(mine), BaseName(odd), BaseName(other),
                                   "disk.vhdx"));
}

TEST(AtomicOutputPosixTest, ADanglingSymbolicLinkAtDstIsAnExistingDst) {
  testing::TempDir dir;
  const std::string dst = dir.File("out.raw");
  std::filesystem::create_symlink(dir.File("nowhere"), dst);
  PosixFileSystem fs;
  EXPECT_CODE(CopyInto(&fs, dst, Content()), Code::kInUse);
  EXPECT_TRUE(std::filesystem::is_symlink(dst));
  EXPECT_THAT(Names(&fs, dir.path()), ElementsAre("out.raw"));
}

TEST(AtomicOutputPosixTest, ALongDstNameStillGetsATemporaryThatFitsNameMax) {
  testing::TempDir dir;
  const std::string dst = dir.File(std::string(250, 'n') + ".raw");
  PosixFileSystem fs;
  ASSERT_OK(CopyInto(&fs, dst, Content()));
  EXPECT_THAT(Names(&fs, dir.path()), ElementsAre(BaseName(dst)));
}

// The seam's RenameNoReplace on every file system: a free name is taken, an existing one (a
// file, or on POSIX a dangling symbolic link) refused with kInUse and left as it was.
TEST(RenameNoReplaceTest, TakesAFreeNameAndRefusesAnExistingOneOnEveryFileSystem) {
  testing::TempDir dir;
  PosixFileSystem posix;
  MemFileSystem mem;
  CrashFileSystem crash;
  for (FileSystem* fs : std::vector<FileSystem*>{&posix, &mem, &crash}) {
    const std::string d = fs == &posix ? dir.path() : std::string("/d");
    if (fs != &posix) ASSERT_OK(fs->CreateDir(d));
    auto put = [&](const std::string& name, std::string_view text) {
      ASSERT_OK(WriteFileAtomically(fs, d + "/" + name, std::as_bytes(std::span(text))));
    };
    put("a", "new");
    put("b", "old");
    EXPECT_CODE(fs->RenameNoReplace(d + "/a", d + "/b"), Code::kInUse);
    EXPECT_EQ(*ReadWholeFile(fs, d + "/b"), "old");
    ASSERT_OK(fs->RenameNoReplace(d + "/a", d + "/c"));
    EXPECT_EQ(*ReadWholeFile(fs, d + "/c"), "new");
    EXPECT_CODE(fs->Open(d + "/a", OpenOptions::ReadOnly()), Code::kNotFound);
  }
  std::filesystem::create_symlink(dir.File("nowhere"), dir.File("link"));
  EXPECT_CODE(posix.RenameNoReplace(dir.File("c"), dir.File("link")), Code::kInUse);
  EXPECT_TRUE(std::filesystem::is_symlink(dir.File("link")));
}

}  // namespace
}  // namespace hvdisk
