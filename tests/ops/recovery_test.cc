// Store recovery as functions over the store's parts: each leftover intent file is read once per
// recovery, and what the journal holds under a VM's lock (not only what it held before) decides.
#include "ops/recovery.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "ops/journal.h"
#include "ops/store.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/store_fixture.h"

namespace hvdisk::ops {
namespace {

// Counts the opens of intent files (STORE/journal/*.json); runs `on_list` (once) after the first
// listing of the journal once armed.
class JournalWatch : public FileSystemWrapper {
 public:
  using FileSystemWrapper::FileSystemWrapper;
  Result<std::unique_ptr<File>> Open(const std::string& p, const OpenOptions& o) override {
    if (DirName(p) == "/store/journal" && p.ends_with(".json")) ++intent_opens;
    return FileSystemWrapper::Open(p, o);
  }
  Result<std::vector<std::string>> List(const std::string& d) override {
    Result<std::vector<std::string>> names = FileSystemWrapper::List(d);
    if (d == "/store/journal" && on_list) std::exchange(on_list, nullptr)();
    return names;
  }
  int intent_opens = 0;
  std::function<void()> on_list;
};

// An intent on `vm` that changed nothing yet: recovery rolls it back (and removes it).
Status LeaveIntent(FileSystem* fs, const StoreLayout& layout, const VmRecord& record) {
  Intent in;
  in.id = Guid::Random();
  in.op = "test";
  in.vm = record.id;
  in.has_before = true;
  in.before = record;
  in.after = record;
  in.after.generation = record.generation + 1;
  return Journal(fs, &layout).Write(in);
}

class RecoveryTest : public ::testing::Test {
 protected:
  // `vms` replica VMs, each with a leftover intent; the store closed.
  void MakeVmsWithLeftoverIntents(int vms) {
    ASSERT_OK_AND_ASSIGN(auto store, env_.Create());
    for (int i = 0; i < vms; ++i) {
      (void)mem_.Unlink("/base.vhdx");  // each VM from a base of its own
      ASSERT_OK_AND_ASSIGN(Guid vm, env_.MakeVm(*store, 0));
      ASSERT_OK_AND_ASSIGN(VmRecord r, store->GetVm(vm));
      records_.push_back(r);
      ASSERT_OK(LeaveIntent(&mem_, store->layout(), r));
    }
  }

  MemFileSystem mem_;
  JournalWatch watch_{&mem_};
  testing::StoreEnv env_{&watch_};
  std::vector<VmRecord> records_;
};

TEST_F(RecoveryTest, ARecoveryOfManyVmsReadsEachLeftoverIntentFileOnce) {
  ASSERT_NO_FATAL_FAILURE(MakeVmsWithLeftoverIntents(4));
  watch_.intent_opens = 0;
  ASSERT_OK_AND_ASSIGN(auto store, env_.Open());
  EXPECT_EQ(store->open_recovery().rolled_back.size(), 4u);
  EXPECT_EQ(watch_.intent_opens, 4) << "each VM's recovery read the whole journal again";
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> left, mem_.List("/store/journal"));
  EXPECT_TRUE(left.empty());
  EXPECT_TRUE(testing::ContractProblems(*store).empty());
}

TEST_F(RecoveryTest, AnIntentWrittenAfterTheUnlockedLookIsResolvedUnderTheVmsLock) {
  ASSERT_NO_FATAL_FAILURE(MakeVmsWithLeftoverIntents(2));
  const StoreLayout layout{"/store"};
  // Between the look without locks and the locks: an operation on the second VM crashes.
  watch_.on_list = [&] { ASSERT_OK(LeaveIntent(&mem_, layout, records_[1])); };
  ASSERT_OK_AND_ASSIGN(auto store, env_.Open());
  EXPECT_EQ(store->open_recovery().rolled_back.size(), 3u);
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> left, mem_.List("/store/journal"));
  EXPECT_TRUE(left.empty());
  EXPECT_TRUE(testing::ContractProblems(*store).empty());
}

}  // namespace
}  // namespace hvdisk::ops
