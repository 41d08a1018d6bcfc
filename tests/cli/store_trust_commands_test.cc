// The store trusts nothing it reads, through the built binary (issue 15, findings 6-8): the exit
// codes of `vm` and `store` commands on a store with a hostile intent, record or symbolic link,
// each checking that a victim file beside the store keeps its bytes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "ops/change_set.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

namespace stdfs = std::filesystem;
using ::testing::HasSubstr;
using testing::Q;
using Json = nlohmann::ordered_json;

constexpr const char* kVictimBytes = "the victim's bytes\n";

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

class StoreTrustCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = tmp_.File("store");
    stdfs::create_directories(tmp_.File("outside"));
    WriteText(victim_, kVictimBytes);
    ASSERT_EQ(Run("store create " + Q(store_)), 0) << out_;
    ASSERT_EQ(Run("create -t dynamic --block-size 1M " + Q(tmp_.File("base.vhdx")) + " 3M"), 0)
        << out_;
    for (const char* name : {"web", "db"}) {
      ASSERT_EQ(Vm(std::string("create ") + name + " --base " + Q(tmp_.File("base.vhdx"))), 0);
      std::string id = out_.substr(0, 36);  // as the store's directories name it: lower case
      for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      (std::string(name) == "web" ? web_ : db_) = id;
      ASSERT_EQ(Vm(std::string("checkpoint ") + name), 0) << out_;
    }
  }
  int Run(const std::string& args) {
    out_.clear();
    return testing::Hvdisk(args, &out_);
  }
  int Vm(const std::string& args) { return Run("vm --store " + Q(store_) + " " + args); }
  std::string RecordPath(const std::string& vm) { return store_ + "/vms/" + vm + "/vm.json"; }
  bool VictimIntact() { return ReadText(victim_) == kVictimBytes; }

  hvdisk::testing::TempDir tmp_;
  std::string store_, web_, db_, out_;
  const std::string victim_ = tmp_.File("outside/victim");
};

TEST_F(StoreTrustCommandsTest, VmCreateNamedWithInvalidUtf8IsInvalidArgument) {
  EXPECT_EQ(Vm("create \"$(printf '\\377')\" --base " + Q(tmp_.File("base.vhdx"))), 1);
  EXPECT_THAT(out_, HasSubstr("invalid argument"));
  EXPECT_THAT(out_, HasSubstr("UTF-8"));
}

TEST_F(StoreTrustCommandsTest, GarbageRecordMakesItsVmAloneCriticalAndStoreCheckExits2) {
  WriteText(RecordPath(web_), "{garbage");
  EXPECT_EQ(Vm("list"), 0) << out_;
  EXPECT_THAT(out_, HasSubstr("Critical"));
  EXPECT_THAT(out_, HasSubstr("db"));
  EXPECT_EQ(Vm("show " + web_), 0) << out_;
  EXPECT_THAT(out_, HasSubstr("Critical (3)"));
  EXPECT_EQ(Vm("checkpoint db"), 0) << out_;
  EXPECT_EQ(Vm("checkpoint " + web_), 1) << out_;
  EXPECT_THAT(out_, HasSubstr("malformed VM record"));
  EXPECT_EQ(Run("store check " + Q(store_)), 2) << out_;
  EXPECT_THAT(out_, HasSubstr("vms/" + web_ + "/vm.json"));
}

TEST_F(StoreTrustCommandsTest, CriticalVmKeepsItsNameAndJsonSurvivesInvalidUtf8InTheStore) {
  Json rec = Json::parse(ReadText(RecordPath(web_)));
  rec["points"][0]["file"] = "../escape";
  WriteText(RecordPath(web_), rec.dump(2));
  WriteText(store_ + "/vms/\xff-not-a-vm", "x");  // a name that is not UTF-8
  EXPECT_EQ(Vm("list --json"), 0) << out_;
  Json list = Json::parse(out_);
  ASSERT_EQ(list.size(), 2u);
  const Json& web = list[0]["name"] == "web" ? list[0] : list[1];
  EXPECT_EQ(web["name"], "web");
  EXPECT_EQ(web["health"], 3);
  EXPECT_THAT(web["problems"][0].get<std::string>(), HasSubstr("points[].file"));
  EXPECT_EQ(Vm("checkpoint web"), 1) << out_;  // by name: refused, naming the problem
  EXPECT_THAT(out_, HasSubstr("not a plain file name"));
  EXPECT_EQ(Run("store check --json " + Q(store_)), 2) << out_;
  EXPECT_FALSE(Json::parse(out_)["ok"].get<bool>());
}

TEST_F(StoreTrustCommandsTest, JournalIntentCreatingAnOutsideFileIsNotDeletedByVmList) {
  Json rec = Json::parse(ReadText(RecordPath(web_)));
  Json after = rec;
  after["generation"] = rec["generation"].get<int>() + 1;
  Json intent{{"id", "6b1f2a10-0000-4000-8000-000000000001"},
              {"op", "checkpoint"},
              {"vm", web_},
              {"has_before", true},
              {"before", rec},
              {"after", after},
              {"creates", {victim_}},
              {"create_dirs", Json::array()},
              {"renames", Json::array()},
              {"merges", Json::array()},
              {"deletes", Json::array()},
              {"delete_dirs", Json::array()}};
  WriteText(store_ + "/journal/6B1F2A10-0000-4000-8000-000000000001.json", intent.dump(2));
  EXPECT_EQ(Vm("list"), 0) << out_;
  EXPECT_TRUE(VictimIntact());
  EXPECT_EQ(Vm("checkpoint db"), 0) << out_;
  EXPECT_EQ(Run("store check " + Q(store_)), 2) << out_;
  EXPECT_THAT(out_, HasSubstr("intent refused"));
  EXPECT_TRUE(VictimIntact());
}

TEST_F(StoreTrustCommandsTest, VmCommitDoesNotDeleteAPointFileOutsideTheStore) {
  // A point later than the one failed over to is discarded by the commit (into the trash).
  ASSERT_EQ(Vm("checkpoint web"), 0) << out_;
  ASSERT_EQ(Vm("failover web --point rp-0001"), 0) << out_;
  Json rec = Json::parse(ReadText(RecordPath(web_)));
  rec["points"][1]["file"] = "../../../../outside/victim";
  WriteText(RecordPath(web_), rec.dump(2));
  EXPECT_EQ(Vm("commit " + web_), 1) << out_;  // by GUID: a Critical VM has no usable name
  EXPECT_THAT(out_, HasSubstr("not a plain file name"));
  Run("store reclaim " + Q(store_));
  EXPECT_TRUE(VictimIntact());
}

TEST_F(StoreTrustCommandsTest, StoreReclaimRefusesATrashSymlinkedOutside) {
  stdfs::remove_all(store_ + "/trash");
  stdfs::create_directory_symlink(tmp_.File("outside"), store_ + "/trash");
  EXPECT_EQ(Run("store reclaim " + Q(store_)), 1) << out_;
  EXPECT_THAT(out_, HasSubstr("symbolic link (not followed)"));
  EXPECT_TRUE(VictimIntact());
  EXPECT_EQ(Run("store check " + Q(store_)), 2) << out_;
  EXPECT_THAT(out_, HasSubstr("trash/"));
}

TEST_F(StoreTrustCommandsTest, VmApplyDoesNotWriteThroughAHeadSymlinkedOutside) {
  const std::string head = store_ + "/vms/" + web_ + "/disks/head-0002.avhdx";
  const std::string outside = tmp_.File("outside/outside.avhdx");
  stdfs::rename(head, outside);
  stdfs::create_symlink(outside, head);
  const std::string before = ReadText(outside);
  auto data = hvdisk::testing::PatternBytes(65536, 3);
  std::vector<ops::ChangeExtent> extents{{0, data}};
  WriteText(tmp_.File("c.hvchg"), ops::EncodeChangeSet(extents, 3 << 20));
  EXPECT_EQ(Vm("apply web " + Q(tmp_.File("c.hvchg"))), 1) << out_;
  EXPECT_THAT(out_, HasSubstr("symbolic link (not followed)"));
  EXPECT_TRUE(ReadText(outside) == before) << "the outside file changed";
  EXPECT_EQ(Vm("apply db " + Q(tmp_.File("c.hvchg"))), 0) << out_;
}

// store check -r: the repair variants of the cases above.
TEST_F(StoreTrustCommandsTest,
       StoreCheckRepairKeepsAGarbageRecordsVmCriticalAndTouchesNothingElse) {
  WriteText(RecordPath(web_), "{garbage");
  EXPECT_EQ(Run("store check -r " + Q(store_)), 2) << out_;
  EXPECT_EQ(ReadText(RecordPath(web_)), "{garbage");  // user data: never rewritten or deleted
  EXPECT_THAT(out_, HasSubstr("vms/" + web_ + "/vm.json"));
  EXPECT_EQ(Vm("checkpoint db"), 0) << out_;
  EXPECT_TRUE(VictimIntact());
}

TEST_F(StoreTrustCommandsTest, StoreCheckRepairQuarantinesAnUnnamedFileAndRecreatesAMissingHead) {
  const std::string disks = store_ + "/vms/" + db_ + "/disks/";
  WriteText(disks + "rp-0099.avhdx", "unnamed");
  Json rec = Json::parse(ReadText(RecordPath(db_)));
  const std::string head = rec["head"].get<std::string>();
  stdfs::remove(disks + head);
  EXPECT_EQ(Run("store check -r --json " + Q(store_)), 2) << out_;  // lost+found/ is listed
  Json j = Json::parse(out_);
  const std::string actions = j["repair"]["actions"].dump();
  EXPECT_THAT(actions, HasSubstr(head + ": was missing; re-created on"));
  EXPECT_THAT(j["recovery"]["quarantined"].dump(), HasSubstr("rp-0099.avhdx"));
  EXPECT_EQ(ReadText(store_ + "/lost+found/" + db_ + "-rp-0099.avhdx"), "unnamed");
  EXPECT_TRUE(stdfs::is_regular_file(disks + head));
  stdfs::remove(store_ + "/lost+found/" + db_ + "-rp-0099.avhdx");
  EXPECT_EQ(Run("store check " + Q(store_)), 0) << out_;
  EXPECT_EQ(Vm("checkpoint db"), 0) << out_;
}

TEST_F(StoreTrustCommandsTest, StoreCheckRepairMarksAVmWithAMissingPointCriticalWithTheReason) {
  Json rec = Json::parse(ReadText(RecordPath(web_)));
  const std::string point = rec["points"][0]["file"].get<std::string>();
  stdfs::remove(store_ + "/vms/" + web_ + "/disks/" + point);
  EXPECT_EQ(Run("store check -r " + Q(store_)), 2) << out_;
  EXPECT_THAT(out_, HasSubstr("repair: vms/" + web_ + ": marked Critical: vms/" + web_ + "/disks/" +
                              point + " is missing"));
  EXPECT_EQ(Json::parse(ReadText(RecordPath(web_)))["health"], 3);
  EXPECT_EQ(Vm("checkpoint db"), 0) << out_;
}

}  // namespace
}  // namespace hvdisk
