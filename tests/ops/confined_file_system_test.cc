// The store confines every open, rename and unlink inside it (ops/confined_file_system.h; issue
// 15, Deliver 2): a symbolic link swapped into the store between a check and the open, rename or
// unlink that follows it is not followed, and nothing outside the store is touched. The race is
// made deterministic by a wrapper that swaps a directory for a link to an outside copy of it just
// before the store's first open of a chosen file. The store's root may itself be a link.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>

#include "ops/failover.h"
#include "ops/recovery.h"
#include "ops/recovery_point.h"
#include "ops/replication.h"
#include "ops/store.h"
#include "ops/store_check.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/store_fixture.h"

namespace hvdisk::ops {
namespace {

namespace stdfs = std::filesystem;

// Runs `swap` once, just before the first open of a path ending in `trigger` passes through.
class SwapBeforeOpen : public FileSystemWrapper {
 public:
  using FileSystemWrapper::FileSystemWrapper;
  void Arm(std::string trigger, std::function<void()> swap) {
    trigger_ = std::move(trigger);
    swap_ = std::move(swap);
  }
  bool fired() const { return fired_; }
  Result<std::unique_ptr<File>> Open(const std::string& p, const OpenOptions& o) override {
    if (swap_ && p.ends_with(trigger_)) {
      std::function<void()> swap = std::move(swap_);
      swap_ = nullptr;
      fired_ = true;
      swap();
    }
    return target()->Open(p, o);
  }

 private:
  std::string trigger_;
  std::function<void()> swap_;
  bool fired_ = false;
};

// Every file below `dir` and its bytes.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : stdfs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    out[stdfs::relative(e.path(), dir).string()] =
        hvdisk::testing::AsString(hvdisk::testing::ReadBinaryFile(e.path().string()));
  }
  return out;
}

class ConfinedFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(Store::Create(fs_, store_dir_, {}));
    stdfs::create_directories(outside_);
    ASSERT_OK_AND_ASSIGN(store_, Open(&swap_));
    const std::string base = tmp_.File("base.vhdx");
    ASSERT_OK(testing::MakeBaseDisk(fs_, base));
    ASSERT_OK_AND_ASSIGN(vm_, CreateReplicaVm(*store_, {.name = "a", .base_path = base}));
    ASSERT_OK(testing::ApplyPattern(*store_, vm_, 0, 4096, 3));
    ASSERT_OK(TakeRecoveryPoint(*store_, vm_).status());
  }
  Result<std::unique_ptr<Store>> Open(FileSystem* fs, const std::string& dir = "") {
    return Store::Open(fs, dir.empty() ? store_dir_ : dir,
                       {.reclaim = StoreOptions::Reclaim::kSynchronous});
  }
  std::string Abs(const std::string& rel) const { return store_dir_ + "/" + rel; }
  // Arms the swap of the store-relative directory `rel` for a link to outside/<as> (the
  // directory itself, moved there), before the first open of a path ending in `trigger`.
  void SwapOnOpen(const std::string& rel, const std::string& as, const std::string& trigger) {
    const std::string dir = Abs(rel), moved = outside_ + "/" + as;
    swap_.Arm(trigger, [this, dir, moved] {
      before_ = Snapshot(dir);  // what the store made of it so far
      stdfs::rename(dir, moved);
      stdfs::create_directory_symlink(moved, dir);
    });
  }
  // The swap ran, and the outside copy holds exactly what the directory held before it.
  void ExpectOutsideUntouched(const std::string& as) {
    EXPECT_TRUE(swap_.fired()) << "the race was not reached";
    EXPECT_TRUE(Snapshot(outside_ + "/" + as) == before_) << "a file outside the store changed";
  }

  FileSystem* fs_ = DefaultFileSystem();
  SwapBeforeOpen swap_{DefaultFileSystem()};
  hvdisk::testing::TempDir tmp_;
  const std::string store_dir_ = tmp_.File("store");
  const std::string outside_ = tmp_.File("outside");
  std::unique_ptr<Store> store_;
  Guid vm_;
  std::map<std::string, std::string> before_;
};

TEST_F(ConfinedFileSystemTest, DisksSwappedForALinkJustBeforeApplyOpensTheHeadIsNotFollowed) {
  const VmRecord rec = *store_->GetVm(vm_);
  SwapOnOpen(StoreLayout::DisksDirRel(vm_), "disks", "/" + rec.head);
  Status st = testing::ApplyPattern(*store_, vm_, 0, 65536, 5);
  EXPECT_CODE(st, Code::kWrongType);
  EXPECT_NE(st.message().find("symbolic link"), std::string::npos) << st.message();
  ExpectOutsideUntouched("disks");
}

TEST_F(ConfinedFileSystemTest,
       VmDirSwappedForALinkAfterItsChecksBeforeTheRecordIsWrittenIsNotFollowed) {
  SwapOnOpen(StoreLayout::VmDirRel(vm_), "vm", "/vm.json.tmp");
  Result<RecoveryPoint> point = TakeRecoveryPoint(*store_, vm_);
  EXPECT_FALSE(point.ok());
  EXPECT_NE(point.status().message().find("symbolic link"), std::string::npos)
      << point.status().message();
  ExpectOutsideUntouched("vm");
}

TEST_F(ConfinedFileSystemTest, DisksSwappedForALinkBeforeCheckpointCreatesItsHeadIsNotFollowed) {
  SwapOnOpen(StoreLayout::DisksDirRel(vm_), "disks", ".avhdx");
  Result<RecoveryPoint> point = TakeRecoveryPoint(*store_, vm_);
  EXPECT_FALSE(point.ok());
  ExpectOutsideUntouched("disks");
}

TEST_F(ConfinedFileSystemTest, AStoreWhoseRootIsALinkWorksThroughIt) {
  store_.reset();
  const std::string link = tmp_.File("store-link");
  stdfs::create_directory_symlink(store_dir_, link);
  ASSERT_OK_AND_ASSIGN(store_, Open(fs_, link));
  ASSERT_OK(testing::ApplyPattern(*store_, vm_, 0, 4096, 9));
  ASSERT_OK(TakeRecoveryPoint(*store_, vm_).status());
  ASSERT_OK(InitiateFailover(*store_, vm_));
  ASSERT_OK(CommitFailover(*store_, vm_));
  ASSERT_OK_AND_ASSIGN(StoreCheckReport check, CheckStore(store_.get()));
  EXPECT_TRUE(check.ok());
}

}  // namespace
}  // namespace hvdisk::ops
