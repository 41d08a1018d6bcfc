// Issue 20, part 2 (fencing) on the in-memory and fault-injecting file systems: the errors of a
// lost hold on a shared store become kFenced and stop every further write; store epochs make a
// takeover visible to a late writer, which stops before its next step; recovery of another
// holder's leftovers takes a new epoch; records and intents without an epoch read as epoch 0.
#include <gtest/gtest.h>

#include <cerrno>

#include "ops/epoch.h"
#include "ops/failover.h"
#include "ops/fencing_file_system.h"
#include "ops/intent_runner.h"
#include "ops/journal.h"
#include "ops/store_files.h"
#include "platform/fault_file_system.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/store_fixture.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::ops {
namespace {

using State = ReplicationState;

uint64_t Writes(const FaultFileSystem& f) {
  uint64_t n = 0;
  for (FileOp op :
       {FileOp::kWrite, FileOp::kFlush, FileOp::kTruncate, FileOp::kAllocate, FileOp::kRename,
        FileOp::kUnlink, FileOp::kMkdir, FileOp::kRmdir, FileOp::kSyncDir, FileOp::kOpen}) {
    n += f.count(op);
  }
  return n;
}

TEST(FencingFileSystem, EachFencingErrnoIsFencedAndStopsEveryLaterCall) {
  for (int err : {EIO, EBADFD, ENOTCONN, ESTALE}) {
    SCOPED_TRACE(err);
    MemFileSystem mem;
    FaultFileSystem fault(&mem);
    FencingFileSystem fs(&fault);
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<File> f, fs.Open("/a", OpenOptions::CreateOrTruncate()));
    fault.SetRule(FileOp::kWrite, {.nth = 1, .err = err});
    const std::byte b[1] = {std::byte{7}};
    EXPECT_CODE(f->WriteAt(0, b), Code::kFenced);
    EXPECT_TRUE(fs.fenced());
    fault.ClearRules();
    const uint64_t before = Writes(fault);
    EXPECT_CODE(f->WriteAt(0, b), Code::kFenced);
    EXPECT_CODE(f->Flush(), Code::kFenced);
    EXPECT_CODE(fs.Rename("/a", "/b"), Code::kFenced);
    EXPECT_CODE(fs.Open("/c", OpenOptions::CreateOrTruncate()).status(), Code::kFenced);
    EXPECT_CODE(fs.SyncDir("/"), Code::kFenced);
    EXPECT_EQ(Writes(fault), before) << "a fenced call reached the file system";
  }
}

TEST(FencingFileSystem, OtherErrorsPassUnchangedAndDoNotFence) {
  MemFileSystem mem;
  FaultFileSystem fault(&mem);
  FencingFileSystem fs(&fault);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<File> f, fs.Open("/a", OpenOptions::CreateOrTruncate()));
  fault.SetRule(FileOp::kWrite, {.nth = 1, .err = ENOSPC});
  const std::byte b[1] = {std::byte{7}};
  EXPECT_CODE(f->WriteAt(0, b), Code::kNoSpace);
  EXPECT_FALSE(fs.fenced());
  EXPECT_OK(f->WriteAt(0, b));
  EXPECT_EQ(ErrnoOf(IoError("short read in /a")), 0);
  EXPECT_EQ(ErrnoOf(ErrnoStatus(ESTALE, "open", "/a")), ESTALE);
}

class FencingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, env_.Create());
    ASSERT_OK_AND_ASSIGN(vm_, env_.MakeVm(*store_, 2));
    ASSERT_OK(InitiateFailover(*store_, vm_));
    ASSERT_OK_AND_ASSIGN(before_, testing::CaptureState(*store_));
  }
  // A second Store on the same files: the host that takes over.
  Result<std::unique_ptr<Store>> OtherHost() { return env_.Open(); }
  // The VM's leftovers resolved by another Store, which must leave it before or after `op`.
  void ExpectOtherHostRecovers(const std::vector<State>& after_states) {
    store_.reset();
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> b, OtherHost());
    ASSERT_OK_AND_ASSIGN(testing::StoreState now, testing::CaptureState(*b));
    bool rolled_back = false;
    EXPECT_EQ(testing::TransitionProblems(before_, now, vm_, after_states, &rolled_back),
              std::vector<std::string>{});
    EXPECT_EQ(testing::ContractProblems(*b), std::vector<std::string>{});
    ASSERT_OK_AND_ASSIGN(VmRecord r, b->GetVm(vm_));
    EXPECT_GE(r.epoch, 1u) << "the takeover took no epoch";
  }

  MemFileSystem mem_;
  FaultFileSystem fault_{&mem_};
  testing::StoreEnv env_{&fault_};
  std::unique_ptr<Store> store_;
  Guid vm_;
  testing::StoreState before_;
};

TEST_F(FencingStoreTest, AnEioAtTheCommitStopsTheRevertWithoutRollingBackOrWritingMore) {
  fault_.SetRule(FileOp::kRename, {.nth = 2, .err = EIO});  // 1: the intent; 2: the record
  EXPECT_CODE(RevertFailover(*store_, vm_), Code::kFenced);
  EXPECT_TRUE(store_->fenced());
  fault_.ClearRules();
  const uint64_t after_failure = Writes(fault_);
  EXPECT_CODE(RevertFailover(*store_, vm_), Code::kFenced);
  EXPECT_CODE(store_->ListVms().status(), Code::kFenced);
  EXPECT_EQ(Writes(fault_), after_failure) << "the fenced store wrote again";
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> journal, mem_.List("/store/journal"));
  EXPECT_EQ(journal.size(), 1u) << "the intent is left for the host that takes over";
  ExpectOtherHostRecovers({State::kReplicating});
}

TEST_F(FencingStoreTest, ALateWriterFindsTheTakeoversEpochAndStopsBeforeItsCommit) {
  // The other host's claim, as a takeover writes it, once the revert's intent is durable.
  OpControl control{.progress = [&](int percent) {
    if (percent != 0) return;
    ASSERT_OK_AND_ASSIGN(uint64_t epoch, NextEpoch(&mem_, StoreLayout{"/store"}, 0));
    ASSERT_OK_AND_ASSIGN(VmRecord r, ReadVmRecordOf(&mem_, StoreLayout{"/store"}, vm_));
    r.epoch = epoch;
    ASSERT_OK(WriteVmRecord(&mem_, "/store/" + StoreLayout::VmRecordRel(vm_), r));
  }};
  EXPECT_CODE(RevertFailover(*store_, vm_, &control), Code::kFenced);
  EXPECT_TRUE(store_->fenced());
  ASSERT_OK_AND_ASSIGN(VmRecord r, ReadVmRecordOf(&mem_, StoreLayout{"/store"}, vm_));
  EXPECT_EQ(r.state, State::kRecovered) << "the late writer's commit went through";
  ExpectOtherHostRecovers({State::kReplicating});
}

TEST_F(FencingStoreTest, EveryTakeoverOfLeftoversTakesANewerEpoch) {
  fault_.SetRule(FileOp::kRename, {.nth = 2, .err = EIO});
  EXPECT_CODE(RevertFailover(*store_, vm_), Code::kFenced);
  fault_.ClearRules();
  store_.reset();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> b, OtherHost());
  ASSERT_OK_AND_ASSIGN(VmRecord r1, b->GetVm(vm_));
  ASSERT_OK_AND_ASSIGN(uint64_t e1, ReadStoreEpoch(&mem_, StoreLayout{"/store"}));
  EXPECT_EQ(r1.epoch, e1);
  EXPECT_EQ(r1.state, State::kRecovered);  // rolled back: the commit never happened
  // The next holder fails at its commit as well; the one after it takes a newer epoch still.
  fault_.SetRule(FileOp::kRename, {.nth = 2, .err = ENOTCONN});
  EXPECT_CODE(RevertFailover(*b, vm_), Code::kFenced);
  fault_.ClearRules();
  b.reset();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> c, OtherHost());
  ASSERT_OK_AND_ASSIGN(VmRecord r2, c->GetVm(vm_));
  EXPECT_GT(r2.epoch, r1.epoch);
  ASSERT_OK(RevertFailover(*c, vm_));  // the VM is usable under the new epoch
}

TEST(StoreEpoch, RecordsAndIntentsWithoutAnEpochAreEpochZeroAndAMissingCounterIsZero) {
  const Guid id = Guid::Random();
  VmRecord r;
  r.id = id;
  r.name = "old";
  std::string text = EncodeVmRecord(r);
  const size_t at = text.find(",\n  \"epoch\"");
  ASSERT_NE(at, std::string::npos);
  text = text.substr(0, at) + "\n}\n";  // as written before epochs existed
  ASSERT_OK_AND_ASSIGN(VmRecord back, DecodeVmRecord(text, "vm.json"));
  EXPECT_EQ(back.epoch, 0u);
  EXPECT_EQ(back.owner_host, "");
  Intent in = NewIntent("revert", back);
  std::string intent = EncodeIntent(in);
  const size_t e = intent.find(",\n  \"epoch\"");
  ASSERT_NE(e, std::string::npos);
  intent = intent.substr(0, e) + "\n}\n";
  ASSERT_OK_AND_ASSIGN(Intent read, DecodeIntent(intent, "journal/x.json"));
  EXPECT_EQ(read.epoch, 0u);
  EXPECT_EQ(read.host, "");
  MemFileSystem mem;
  ASSERT_OK(memfs::MakeDirs(&mem, "/s/locks"));
  EXPECT_EQ(ReadStoreEpoch(&mem, StoreLayout{"/s"}).value(), 0u);
  EXPECT_EQ(NextEpoch(&mem, StoreLayout{"/s"}, 4).value(), 5u);
  EXPECT_EQ(NextEpoch(&mem, StoreLayout{"/s"}, 0).value(), 6u);
}

TEST(StoreEpoch, AMalformedCounterIsCorruptToReadAndReplacedByTheNextTakeover) {
  MemFileSystem mem;
  ASSERT_OK(memfs::MakeDirs(&mem, "/s/locks"));
  const std::string junk = "not a number";
  ASSERT_OK(WriteFileAtomically(&mem, "/s/epoch", std::as_bytes(std::span(junk))));
  EXPECT_CODE(ReadStoreEpoch(&mem, StoreLayout{"/s"}).status(), Code::kCorrupt);
  EXPECT_EQ(NextEpoch(&mem, StoreLayout{"/s"}, 2).value(), 3u);
  const std::string max = "18446744073709551615";
  ASSERT_OK(WriteFileAtomically(&mem, "/s/epoch", std::as_bytes(std::span(max))));
  EXPECT_CODE(NextEpoch(&mem, StoreLayout{"/s"}, 0).status(), Code::kCorrupt);
}

}  // namespace
}  // namespace hvdisk::ops
