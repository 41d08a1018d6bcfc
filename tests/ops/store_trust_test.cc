// The store trusts nothing it reads (issue 15, findings 6-8): hostile journal intents and VM
// records never make it touch a file outside the store, symbolic links are reported and never
// followed, recovery keeps (or quarantines) what it cannot account for, and one bad item makes
// its VM alone Critical. Each test runs on a real directory with a victim file beside the store
// and checks the victim keeps its bytes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "ops/failover.h"
#include "ops/journal.h"
#include "ops/recovery_point.h"
#include "ops/replication.h"
#include "ops/store.h"
#include "ops/store_check.h"
#include "ops/store_paths.h"
#include "ops/store_repair.h"
#include "ops/trash.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/store_fixture.h"

namespace hvdisk::ops {
namespace {

namespace stdfs = std::filesystem;
using Json = nlohmann::ordered_json;

constexpr std::string_view kVictimBytes = "the victim's bytes, outside the store\n";

class StoreTrustTest : public ::testing::Test {
 public:
  // For the bad-item cases: a file of the store (store-relative), written as given.
  void Put(const std::string& rel, std::string_view text) { PutText(Abs(rel), text); }
  std::string AbsPath(const std::string& rel) const { return Abs(rel); }

 protected:
  void SetUp() override {
    ASSERT_OK(Store::Create(fs_, store_dir_, {}));
    stdfs::create_directories(outside_);
    PutText(victim_, kVictimBytes);
    ASSERT_OK_AND_ASSIGN(store_, Open());
    ASSERT_OK_AND_ASSIGN(a_, MakeVm("a", 2));
    ASSERT_OK_AND_ASSIGN(b_, MakeVm("b", 1));
  }

  Result<std::unique_ptr<Store>> Open() {
    return Store::Open(fs_, store_dir_, {.reclaim = StoreOptions::Reclaim::kSynchronous});
  }
  // Closes and reopens the store (recovery runs).
  void Reopen() {
    store_.reset();
    Result<std::unique_ptr<Store>> s = Open();
    ASSERT_OK(s.status());
    store_ = std::move(s).value();
  }
  Result<Guid> MakeVm(const std::string& name, int points) {
    const std::string base = tmp_.File("base-" + name + ".vhdx");
    RETURN_IF_ERROR(testing::MakeBaseDisk(fs_, base));
    ASSIGN_OR_RETURN(Guid vm, CreateReplicaVm(*store_, {.name = name, .base_path = base}));
    for (int i = 0; i < points; ++i) {
      RETURN_IF_ERROR(testing::ApplyPattern(*store_, vm, 4096 * i, 4096, 10 + i));
      RETURN_IF_ERROR(TakeRecoveryPoint(*store_, vm).status());
    }
    return vm;
  }

  static void PutText(const std::string& path, std::string_view text) {
    const auto* b = reinterpret_cast<const std::byte*>(text.data());
    std::vector<std::byte> bytes(b, b + text.size());  // no memcpy from an empty view's null
    hvdisk::testing::WriteBinaryFile(path, bytes);
  }
  static std::string GetText(const std::string& path) {
    return hvdisk::testing::AsString(hvdisk::testing::ReadBinaryFile(path));
  }
  bool VictimIntact() const {
    return stdfs::is_regular_file(victim_) && GetText(victim_) == kVictimBytes;
  }
  std::string Abs(const std::string& rel) const { return store_dir_ + "/" + rel; }
  std::string Disk(const Guid& vm, const std::string& name) const {
    return Abs(StoreLayout::DiskRel(vm, name));
  }
  VmRecord Record(const Guid& vm) {
    Result<VmRecord> r = store_->GetVm(vm);
    EXPECT_OK(r.status());
    return r.ok() ? *r : VmRecord();
  }
  // Rewrites vm.json of `vm` through `edit` (as a hand edit would: no validation).
  void EditRecord(const Guid& vm, const std::function<void(Json&)>& edit) {
    const std::string path = Abs(StoreLayout::VmRecordRel(vm));
    Json j = Json::parse(GetText(path));
    edit(j);
    PutText(path, j.dump(2));
  }
  // Writes `intent` into the journal as a crash would have left it.
  void PlantIntent(const Intent& intent) {
    PutText(Abs("journal/" + intent.id.ToString(false) + ".json"), EncodeIntent(intent));
  }
  // An intent of `vm` that recovery rolls back (the record is at its before-state).
  Intent RollBackIntent(const Guid& vm) {
    Intent in{.id = Guid::Random(), .op = "checkpoint", .vm = vm, .has_before = true};
    in.before = in.after = Record(vm);
    in.after.generation = in.before.generation + 1;
    return in;
  }
  // An intent of `vm` that recovery rolls forward (the record is at its after-state).
  Intent RollForwardIntent(const Guid& vm) {
    Intent in = RollBackIntent(vm);
    in.before.generation = in.after.generation - 1;
    in.after = Record(vm);
    return in;
  }
  const VmRecord* Listed(const std::vector<VmRecord>& vms, const Guid& vm) {
    for (const VmRecord& r : vms) {
      if (r.id == vm) return &r;
    }
    return nullptr;
  }
  // `vm` is listed Critical with a problem containing `why`; the other VM still works.
  void ExpectCriticalAlone(const Guid& vm, const Guid& other, const std::string& why) {
    ASSERT_OK_AND_ASSIGN(std::vector<VmRecord> vms, store_->ListVms());
    const VmRecord* bad = Listed(vms, vm);
    ASSERT_NE(bad, nullptr) << "the bad VM is not listed";
    EXPECT_EQ(bad->health, ReplicationHealth::kCritical);
    std::string all;
    for (const std::string& p : bad->problems) all += p + "\n";
    EXPECT_NE(all.find(why), std::string::npos) << all;
    const VmRecord* good = Listed(vms, other);
    ASSERT_NE(good, nullptr);
    EXPECT_TRUE(good->problems.empty());
    EXPECT_OK(testing::ApplyPattern(*store_, other, 0, 4096, 77));
    EXPECT_OK(TakeRecoveryPoint(*store_, other).status());
    ASSERT_OK_AND_ASSIGN(StoreCheckReport check, CheckStore(store_.get()));
    EXPECT_FALSE(check.ok());
    std::string problems;
    for (const std::string& p : check.problems) problems += p + "\n";
    EXPECT_NE(problems.find(why), std::string::npos) << problems;
  }

  FileSystem* fs_ = DefaultFileSystem();
  hvdisk::testing::TempDir tmp_;
  const std::string store_dir_ = tmp_.File("store");
  const std::string outside_ = tmp_.File("outside");
  const std::string victim_ = outside_ + "/victim";
  std::unique_ptr<Store> store_;
  Guid a_, b_;
};

TEST_F(StoreTrustTest, JournalIntentCreatingAnAbsolutePathIsRefusedAndNothingOutsideIsTouched) {
  Intent in = RollBackIntent(a_);
  in.creates.push_back(victim_);
  PlantIntent(in);
  Reopen();
  EXPECT_TRUE(VictimIntact());
  ExpectCriticalAlone(a_, b_, "intent not acted on");
  EXPECT_CODE(TakeRecoveryPoint(*store_, a_), Code::kCorrupt);
  EXPECT_TRUE(VictimIntact());
}

TEST_F(StoreTrustTest, JournalIntentCreatingADotDotPathIsRefusedAndNothingOutsideIsTouched) {
  Intent in = RollBackIntent(a_);
  in.creates.push_back(StoreLayout::DisksDirRel(a_) + "/../../../../outside/victim");
  PlantIntent(in);
  Reopen();
  EXPECT_TRUE(VictimIntact());
  ExpectCriticalAlone(a_, b_, "'..' component");
}

TEST_F(StoreTrustTest, JournalIntentDeletingOutsideIsRefusedAndTheVictimIsNotTrashed) {
  Intent in = RollForwardIntent(a_);
  in.deletes.push_back("../outside/victim");
  PlantIntent(in);
  Reopen();
  ASSERT_OK(store_->ReclaimTrash().status());
  EXPECT_TRUE(VictimIntact());
  ExpectCriticalAlone(a_, b_, "'..' component");
}

TEST_F(StoreTrustTest, JournalIntentRenamingAStoreFileOutIsRefused) {
  const std::string head = Record(a_).head;
  Intent in = RollBackIntent(a_);
  in.renames.push_back({"../outside/moved", StoreLayout::DiskRel(a_, head)});
  PlantIntent(in);
  Reopen();
  EXPECT_FALSE(stdfs::exists(outside_ + "/moved"));
  EXPECT_TRUE(stdfs::is_regular_file(Disk(a_, head)));
  ExpectCriticalAlone(a_, b_, "renames[].from");
}

TEST_F(StoreTrustTest, JournalIntentReachingAnotherReplicaAsItsTestVmIsRefused) {
  Intent in = RollBackIntent(a_);
  in.after.test_vm = b_;  // claims b is its test VM, to remove b's record
  in.creates.push_back(StoreLayout::VmRecordRel(b_));
  PlantIntent(in);
  Reopen();
  EXPECT_TRUE(stdfs::is_regular_file(Abs(StoreLayout::VmRecordRel(b_))));
  EXPECT_OK(TakeRecoveryPoint(*store_, b_).status());
  EXPECT_CODE(TakeRecoveryPoint(*store_, a_), Code::kCorrupt);
}

TEST_F(StoreTrustTest, JournalAdoptRenameRolledBackByRecoveryGoesToLostFoundNotOutside) {
  const Guid vm = Guid::Random();
  Intent in{.id = Guid::Random(), .op = "create", .vm = vm};
  in.after = Record(a_);
  in.after.id = vm;
  in.after.attached = StoreLayout::DiskRel(vm, in.after.head);
  const std::string origin =
      outside_ + "/adopted.vhdx";  // does not exist: the rename would make it
  in.renames.push_back({origin, StoreLayout::DiskRel(vm, "base.vhdx")});
  in.create_dirs = {StoreLayout::VmDirRel(vm), StoreLayout::DisksDirRel(vm)};
  stdfs::create_directories(Abs(StoreLayout::DisksDirRel(vm)));
  PutText(Disk(vm, "base.vhdx"), "base bytes");
  PlantIntent(in);
  Reopen();
  EXPECT_FALSE(stdfs::exists(origin));
  EXPECT_EQ(GetText(Abs("lost+found/" + LowerGuid(vm) + "-adopted-base.vhdx")), "base bytes");
}

// A point later than the one failed over to is discarded by the commit (moved to the trash, then
// reclaimed): named outside the store, it was the victim.
TEST_F(StoreTrustTest, VmRecordPointFileOutsideTheStoreIsNotDeletedByCommit) {
  ASSERT_OK(InitiateFailover(*store_, a_, Record(a_).points[0].id));
  EditRecord(a_, [](Json& j) { j["points"][1]["file"] = "../../../../outside/victim"; });
  EXPECT_CODE(CommitFailover(*store_, a_), Code::kCorrupt);
  ASSERT_OK(store_->ReclaimTrash().status());
  EXPECT_TRUE(VictimIntact());
  ExpectCriticalAlone(a_, b_, "points[].file");
}

TEST_F(StoreTrustTest, HeadSymlinkedToAnOutsideVhdxDoesNotReceiveApplyData) {
  const std::string outside_vhdx = outside_ + "/outside.vhdx";
  const std::string head = Disk(a_, Record(a_).head);
  stdfs::copy_file(head, outside_vhdx);
  const std::string before = GetText(outside_vhdx);
  stdfs::remove(head);
  stdfs::create_symlink(outside_vhdx, head);
  EXPECT_CODE(testing::ApplyPattern(*store_, a_, 0, 65536, 5), Code::kCorrupt);
  EXPECT_TRUE(GetText(outside_vhdx) == before) << "the outside file changed";
  ExpectCriticalAlone(a_, b_, "is a symbolic link (not followed)");
}

TEST_F(StoreTrustTest, TrashSymlinkedToAnOutsideDirectoryIsNeverEmptied) {
  stdfs::remove_all(Abs("trash"));
  stdfs::create_directory_symlink(outside_, Abs("trash"));
  EXPECT_CODE(ReclaimStoreTrash(fs_, store_dir_), Code::kCorrupt);
  EXPECT_CODE(store_->ReclaimTrash(), Code::kCorrupt);
  ASSERT_OK(InitiateFailover(*store_, a_));
  EXPECT_CODE(RevertFailover(*store_, a_), Code::kCorrupt);  // refused before it starts
  EXPECT_TRUE(VictimIntact());
  EXPECT_EQ(Record(a_).state, ReplicationState::kRecovered);
  ASSERT_OK_AND_ASSIGN(StoreCheckReport check, CheckStore(store_.get()));
  ASSERT_FALSE(check.ok());
  EXPECT_NE(check.problems[0].find("trash/"), std::string::npos) << check.problems[0];
}

TEST_F(StoreTrustTest, LockFileSymlinkedOutsideIsNeverFollowedOrCreated) {
  const std::string lock = Abs("locks/" + LowerGuid(a_) + ".lock");
  const std::string target = outside_ + "/made-by-lock";
  stdfs::remove(lock);
  stdfs::create_symlink(target, lock);
  Reopen();
  EXPECT_CODE(TakeRecoveryPoint(*store_, a_), Code::kCorrupt);
  EXPECT_FALSE(stdfs::exists(target));
  ExpectCriticalAlone(a_, b_, "is a symbolic link (not followed)");
  EXPECT_FALSE(stdfs::exists(target));
}

TEST_F(StoreTrustTest, VmDisksDirectorySymlinkedOutsideIsNeverSwept) {
  const std::string disks = Abs(StoreLayout::DisksDirRel(a_));
  stdfs::rename(disks, outside_ + "/disks");
  stdfs::create_directory_symlink(outside_ + "/disks", disks);
  PutText(outside_ + "/disks/victim", kVictimBytes);  // no record names it
  Reopen();
  EXPECT_EQ(GetText(outside_ + "/disks/victim"), kVictimBytes);
  ExpectCriticalAlone(a_, b_, "is a symbolic link (not followed)");
}

TEST_F(StoreTrustTest, MissingVmRecordKeepsTheVmsBasePointsAndHead) {
  const VmRecord rec = Record(a_);
  stdfs::remove(Abs(StoreLayout::VmRecordRel(a_)));
  Reopen();
  for (const std::string& f : rec.ChainFiles()) {
    EXPECT_TRUE(stdfs::is_regular_file(Disk(a_, f))) << f;
  }
  EXPECT_TRUE(store_->open_recovery().removed.empty());
  ExpectCriticalAlone(a_, b_, "no VM record");
}

TEST_F(StoreTrustTest, TwoPointsNamingOneFileDoNotDeleteTheOtherPointAsAnOrphan) {
  const std::string rp2 = Record(a_).points[1].file;
  EditRecord(a_, [](Json& j) { j["points"][1]["file"] = j["points"][0]["file"]; });
  Reopen();
  EXPECT_TRUE(stdfs::is_regular_file(Disk(a_, rp2)));
  ExpectCriticalAlone(a_, b_, "named twice");
}

TEST_F(StoreTrustTest, RecordCarryingAnotherVmsIdLeavesThatVmsHeadAlone) {
  const VmRecord b = Record(b_);
  EditRecord(a_, [&](Json& j) { j["id"] = b_.ToString(false); });
  Reopen();
  for (const std::string& f : b.ChainFiles()) {
    EXPECT_TRUE(stdfs::is_regular_file(Disk(b_, f))) << f;
  }
  ExpectCriticalAlone(a_, b_, "carries the id of VM");
}

TEST_F(StoreTrustTest, UnnamedDiskFileIsQuarantinedIntoLostFoundNotDeleted) {
  PutText(Disk(a_, "rp-0099.avhdx"), "unnamed");
  Reopen();
  const std::string moved = "lost+found/" + LowerGuid(a_) + "-rp-0099.avhdx";
  EXPECT_EQ(GetText(Abs(moved)), "unnamed");
  ASSERT_EQ(store_->open_recovery().quarantined.size(), 1u);
  ASSERT_OK_AND_ASSIGN(StoreCheckReport check, CheckStore(store_.get()));
  ASSERT_EQ(check.problems.size(), 1u);
  EXPECT_EQ(check.problems[0].rfind(moved, 0), 0u) << check.problems[0];
}

// One bad item of VM a, each a case: a alone is Critical, b works, the check names it.
struct BadItem {
  const char* name;
  std::function<void(StoreTrustTest&, const Guid& a)> plant;
  const char* why;
};

class StoreTrustBadItemTest : public StoreTrustTest,
                              public ::testing::WithParamInterface<BadItem> {};

TEST_P(StoreTrustBadItemTest, OneBadItemMakesItsVmAloneCritical) {
  GetParam().plant(*this, a_);
  Reopen();
  ExpectCriticalAlone(a_, b_, GetParam().why);
  EXPECT_TRUE(VictimIntact());
}

// The repair variant: `store check -r` keeps the bad item where it is (nothing of the VM is
// deleted or rewritten), the VM stays Critical alone, and the other VM is repaired as usual.
TEST_P(StoreTrustBadItemTest, RepairLeavesTheBadItemInPlaceAndItsVmAloneCritical) {
  GetParam().plant(*this, a_);
  Reopen();
  const std::vector<std::string> before = hvdisk::testing::DirNames(AbsPath("vms"));
  ASSERT_OK_AND_ASSIGN(StoreRepairReport r, RepairStore(store_.get()));
  for (const std::string& f : r.failed)
    EXPECT_EQ(f.find(b_.ToString(false)), std::string::npos) << f;
  EXPECT_EQ(hvdisk::testing::DirNames(AbsPath("vms")), before);
  ExpectCriticalAlone(a_, b_, GetParam().why);
  EXPECT_TRUE(VictimIntact());
}

std::string RecordOf(StoreTrustTest& t, const Guid& a) {
  return hvdisk::testing::AsString(
      hvdisk::testing::ReadBinaryFile(t.AbsPath(StoreLayout::VmRecordRel(a))));
}

INSTANTIATE_TEST_SUITE_P(
    Items, StoreTrustBadItemTest,
    ::testing::Values(BadItem{"GarbageRecord",
                              [](StoreTrustTest& t, const Guid& a) {
                                t.Put(StoreLayout::VmRecordRel(a), "\x01garbage{");
                              },
                              "malformed VM record"},
                      BadItem{"EmptyRecord",
                              [](StoreTrustTest& t, const Guid& a) {
                                t.Put(StoreLayout::VmRecordRel(a), "");
                              },
                              "malformed VM record"},
                      BadItem{"TruncatedRecord",
                              [](StoreTrustTest& t, const Guid& a) {
                                t.Put(StoreLayout::VmRecordRel(a), RecordOf(t, a).substr(0, 100));
                              },
                              "malformed VM record"},
                      BadItem{"SeventeenMiBRecord",
                              [](StoreTrustTest& t, const Guid& a) {
                                t.Put(StoreLayout::VmRecordRel(a), std::string(17u << 20, ' '));
                              },
                              "more than the cap"},
                      BadItem{"DeeplyNestedRecord",
                              [](StoreTrustTest& t, const Guid& a) {
                                t.Put(StoreLayout::VmRecordRel(a), std::string(100000, '['));
                              },
                              "nested deeper"},
                      BadItem{"RecordIsADirectory",
                              [](StoreTrustTest& t, const Guid& a) {
                                stdfs::remove(t.AbsPath(StoreLayout::VmRecordRel(a)));
                                stdfs::create_directory(t.AbsPath(StoreLayout::VmRecordRel(a)));
                              },
                              "is a directory, not a file"},
                      BadItem{"SubdirectoryInDisks",
                              [](StoreTrustTest& t, const Guid& a) {
                                stdfs::create_directory(t.AbsPath(StoreLayout::DiskRel(a, "sub")));
                              },
                              "disks/sub is a directory"},
                      BadItem{"StrayFileNamedLikeAGuidInVms",
                              [](StoreTrustTest& t, const Guid& a) {
                                stdfs::remove_all(t.AbsPath(StoreLayout::VmDirRel(a)));
                                t.Put(StoreLayout::VmDirRel(a), "stray");
                              },
                              "is a file, not a directory"},
                      BadItem{"LockFileIsADirectory",
                              [](StoreTrustTest& t, const Guid& a) {
                                const std::string lock =
                                    t.AbsPath("locks/" + LowerGuid(a) + ".lock");
                                stdfs::remove(lock);
                                stdfs::create_directory(lock);
                              },
                              "is a directory, not a file"},
                      BadItem{"GarbageJournalIntent",
                              [](StoreTrustTest& t, const Guid& a) {
                                t.Put("journal/" + Guid::Random().ToString(false) + ".json",
                                      "{\"vm\": \"" + a.ToString(false) + "\", \"op\": [garbage");
                              },
                              "intent not acted on"}),
    [](const ::testing::TestParamInfo<BadItem>& info) { return std::string(info.param.name); });

TEST(StoreTrustNames, VmNamesMustBeUtf8WithoutControlCharactersAndOfBoundedLength) {
  EXPECT_OK(CheckVmName("web-01 ünïcode ✓"));
  EXPECT_CODE(CheckVmName("\xff"), Code::kInvalidArgument);
  EXPECT_CODE(CheckVmName("\xc0\xaf"), Code::kInvalidArgument);  // overlong '/'
  EXPECT_CODE(CheckVmName("tab\there"), Code::kInvalidArgument);
  EXPECT_CODE(CheckVmName(std::string(kMaxVmNameBytes + 1, 'x')), Code::kInvalidArgument);
  EXPECT_CODE(CheckVmName(""), Code::kInvalidArgument);
}

TEST(StoreTrustNames, TheGuidFieldOfAMalformedRecordIsStillRead) {
  const Guid g = Guid::Random();
  EXPECT_EQ(JsonGuidField("{\"id\": \"" + g.ToString(false) + "\", \"x\": 1}", "id"), g);
  EXPECT_EQ(JsonGuidField("{\"vm\": \"" + g.ToString(false) + "\", \"op\": [garbage", "vm"), g);
  EXPECT_TRUE(JsonGuidField("[[[", "vm").IsZero());
}

TEST_F(StoreTrustTest, CreatingAVmNamedWithInvalidUtf8IsInvalidArgument) {
  const std::string base = tmp_.File("base-x.vhdx");
  ASSERT_OK(testing::MakeBaseDisk(fs_, base));
  Result<Guid> vm = CreateReplicaVm(*store_, {.name = "\xff", .base_path = base});
  EXPECT_CODE(vm, Code::kInvalidArgument);
  EXPECT_NE(vm.status().message().find("UTF-8"), std::string::npos) << vm.status().ToString();
}

}  // namespace
}  // namespace hvdisk::ops
