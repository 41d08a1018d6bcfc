// docs/json.md is the contract of every `--json` output: this test reads the doc's key tables
// (one "## COMMAND" section each), runs each command with --json on a small chain and a replica
// store, and fails when a documented key is missing or has another JSON type. A section without a
// runner here (or a runner without a section) fails too, so the two stay in step.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "ops/store.h"
#include "ops/wmi/cim_reference.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"
#include "tests/testutil/wmi_fixture.h"

namespace hvdisk {
namespace {

using Json = nlohmann::json;
using testing::Hvdisk;
using testing::Q;

struct DocKey {
  std::string path;  // "a", "a.b", "a[].b", "[].b"
  std::string type;  // string, integer, number, boolean, array, object
  bool optional = false;
};

// "| `chain[].filename` | string, optional | ..." -> {chain[].filename, string, true}.
bool ParseRow(const std::string& line, DocKey* key) {
  if (line.rfind("| `", 0) != 0) return false;
  const size_t end = line.find('`', 3);
  const size_t bar = line.find('|', end);
  const size_t bar2 = line.find('|', bar + 1);
  if (end == std::string::npos || bar == std::string::npos || bar2 == std::string::npos) {
    return false;
  }
  key->path = line.substr(3, end - 3);
  std::istringstream cell(line.substr(bar + 1, bar2 - bar - 1));
  cell >> key->type;
  if (!key->type.empty() && key->type.back() == ',') key->type.pop_back();
  key->optional = line.substr(bar + 1, bar2 - bar - 1).find("optional") != std::string::npos;
  return true;
}

std::map<std::string, std::vector<DocKey>> ReadDoc() {
  std::ifstream in(std::string(HVDISK_SOURCE_DIR) + "/docs/json.md");
  std::map<std::string, std::vector<DocKey>> sections;
  std::string line, section;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) {
      section = line.substr(3);
      sections[section];
      continue;
    }
    DocKey key;
    if (!section.empty() && ParseRow(line, &key)) sections[section].push_back(key);
  }
  return sections;
}

bool HasType(const Json& j, const std::string& type) {
  if (type == "string") return j.is_string();
  if (type == "integer") return j.is_number_integer();
  if (type == "number") return j.is_number();
  if (type == "boolean") return j.is_boolean();
  if (type == "array") return j.is_array();
  if (type == "object") return j.is_object();
  return false;
}

// Checks `key` (the rest of its path: `rest`) in `j`; appends what is wrong to *errors.
void CheckPath(const Json& j, const std::string& rest, const DocKey& key,
               std::vector<std::string>* errors) {
  if (rest.empty()) {
    if (!HasType(j, key.type))
      errors->push_back(key.path + ": not a " + key.type + ": " + j.dump());
    return;
  }
  const size_t dot = rest.find('.');
  std::string seg = rest.substr(0, dot);
  const std::string next = dot == std::string::npos ? "" : rest.substr(dot + 1);
  const bool each = seg.size() >= 2 && seg.ends_with("[]");
  if (each) seg.resize(seg.size() - 2);
  const Json* value = &j;
  if (!seg.empty()) {
    if (!j.is_object() || !j.contains(seg)) {
      if (!key.optional) errors->push_back(key.path + ": missing");
      return;
    }
    value = &j.at(seg);
  }
  if (!each) return CheckPath(*value, next, key, errors);
  if (!value->is_array() || (value->empty() && !key.optional)) {
    errors->push_back(key.path + ": no array elements to check");
    return;
  }
  for (const Json& element : *value) CheckPath(element, next, key, errors);
}

class JsonSchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct stat st;
    ASSERT_EQ(stat(testing::HvdiskPath().c_str(), &st), 0) << "build the hvdisk target";
    MakeChain(base_, child_);
    ASSERT_OK(ops::Store::Create(DefaultFileSystem(), store_));
    ASSERT_OK_AND_ASSIGN(auto store, ops::Store::Open(DefaultFileSystem(), store_));
    ASSERT_OK_AND_ASSIGN(vm_, ops::wmi::testing::MakeReplica(*store, dir_.File("rb.vhdx"), 2));
  }

  // A base with 1 MiB of data and a child with 1 MiB more.
  static void MakeChain(const std::string& base, const std::string& child) {
    ASSERT_EQ(Hvdisk("create --block-size 1M " + Q(base) + " 8M"), 0);
    ASSERT_EQ(Hvdisk("write " + Q(base) + " 0 --pattern 0x11 --length 1M"), 0);
    ASSERT_EQ(Hvdisk("create -p " + Q(base) + " " + Q(child)), 0);
    ASSERT_EQ(Hvdisk("write " + Q(child) + " 2M --pattern 0x22 --length 1M"), 0);
  }
  // Merges a chain of its own (the merge changes the base's DataWriteGuid).
  Json Merge() {
    const std::string child = dir_.File("m.avhdx");
    MakeChain(dir_.File("m.vhdx"), child);
    return Run("merge --json " + Q(child));
  }

  // Runs `hvdisk ARGS` and parses its stdout (stderr is not captured).
  Json Run(const std::string& args, int expected_rc = 0) {
    std::string out;
    const int rc = Hvdisk(args, &out, /*merge_stderr=*/false);
    EXPECT_EQ(rc, expected_rc) << args << "\n" << out;
    Json j = Json::parse(out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(j.is_discarded()) << args << ": stdout is not JSON:\n" << out;
    return j;
  }
  std::string Vm(const std::string& args) { return "vm --store " + Q(store_) + " " + args; }
  std::string Wmi(const std::string& args) { return "wmi --store " + Q(store_) + " " + args; }
  std::string Failover() {
    return Wmi("invoke Msvm_ReplicationService.InitiateFailover " +
               Q("ComputerSystem=" + ops::wmi::ComputerSystemPath(vm_)));
  }

  // One runner per docs/json.md section.
  std::map<std::string, std::function<Json()>> Runners() {
    return {
        {"info", [this] { return Run("info --json " + Q(child_)); }},
        {"create",
         [this] { return Run("create --json -p " + Q(base_) + " " + Q(Fresh("c") + ".avhdx")); }},
        {"write",
         [this] { return Run("write --json " + Q(child_) + " 4M --pattern 3 --length 4K"); }},
        {"check", [this] { return Run("check --json " + Q(child_)); }},
        {"map", [this] { return Run("map --json " + Q(child_)); }},
        {"digest", [this] { return Run("digest --json " + Q(child_)); }},
        {"compare", [this] { return Run("compare --json " + Q(child_) + " " + Q(base_), 1); }},
        {"convert", [this] { return Run("convert --json " + Q(child_) + " " + Q(Fresh("r"))); }},
        {"merge", [this] { return Merge(); }},
        {"reparent", [this] { return Run("reparent --json " + Q(child_) + " " + Q(base_)); }},
        {"bench", [this] { return Run("bench --json -c 64 " + Q(child_)); }},
        {"wmi invoke", [this] { return InvokeFailover(); }},
        {"wmi job", [this] { return Run(Wmi("job --json " + Q(JobOfAFailover()))); }},
        {"wmi query",
         [this] { return Run(Wmi("query --json 'SELECT * FROM Msvm_ComputerSystem'")); }},
        {"wmi methods", [this] { return Run("wmi methods --json"); }},
        {"vm show", [this] { return Run(Vm("show --json " + vm_.ToString(false))); }},
        {"vm list", [this] { return Run(Vm("list --json")); }},
        {"vm failover", [this] { return FailoverAndRevert(); }},
        {"vm checkpoint", [this] { return Run(Vm("checkpoint --json " + vm_.ToString(false))); }},
        {"vm replicate",
         [this] {
           return Run(Vm("replicate --json --checkpoint " + vm_.ToString(false) + " --from " +
                         Q(dir_.File("rb.vhdx"))));
         }},
        {"store check", [this] { return Run("store check --json " + Q(store_)); }},
        {"store recover", [this] { return Run("store recover --json " + Q(store_)); }},
        {"store reclaim", [this] { return Run("store reclaim --json " + Q(store_)); }},
        {"store check -r", [this] { return Run("store check -r --json " + Q(store_)); }},
        {"resize", [this] { return Resize(); }},
        {"compact", [this] { return Compact(); }},
        {"read", [this] { return Run("read --json " + Q(child_) + " 1M 4K"); }},
        {"store create", [this] { return Run("store create --json " + Q(Fresh("s"))); }},
        {"vm destroy", [this] { return DestroyATestVm(); }},
        {"demo", [this] { return Run("demo --json " + Q(Fresh("demo"))); }},
        {"vm set", [this] { return Run(Vm("set --json --retention 30 " + vm_.ToString(false))); }},
        {"vm stats", [this] { return Run(Vm("stats --json " + vm_.ToString(false))); }},
        {"diff",
         [this] {
           return Run("diff --json " + Q(base_) + " " + Q(child_) + " -o " + Q(Fresh("d")));
         }},
        {"vm remove", [this] { return RemoveAReplica(); }},
        {"vm recover", [this] { return Run(Vm("recover --json " + vm_.ToString(false))); }},
        {"Errors", [this] { return ErrorOf("info --json " + Q(dir_.File("gone.vhdx"))); }},
    };
  }
  Json Resize() {
    const std::string img = Fresh("z") + ".vhdx";
    EXPECT_EQ(Hvdisk("create --block-size 1M " + Q(img) + " 8M"), 0);
    return Run("resize --json " + Q(img) + " 16M");
  }
  // Compacts a chain's leaf of its own: zero blocks freed by the scan.
  Json Compact() {
    const std::string child = dir_.File("k.avhdx");
    MakeChain(dir_.File("k.vhdx"), child);
    EXPECT_EQ(Hvdisk("write " + Q(child) + " 4M --pattern 0 --length 1M"), 0);
    return Run("compact --json --zero-scan " + Q(child));
  }
  std::string Fresh(const std::string& stem) { return dir_.File(stem + std::to_string(++n_)); }
  // The failover is invoked once (a second one is refused: the VM is failed over).
  Json InvokeFailover() {
    if (failover_.is_null()) failover_ = Run(Failover() + " --json --wait");
    return failover_;
  }
  // `vm failover` then `vm revert`, both with --json: the VM ends where it began.
  Json FailoverAndRevert() {
    const std::string vm = vm_.ToString(false);
    const Json failover = Run(Vm("failover --json " + vm));
    EXPECT_EQ(Run(Vm("revert --json " + vm)).value("state", 0), 3);
    return failover;
  }
  std::string JobOfAFailover() { return InvokeFailover().value("Job", ""); }
  // A test VM of the replica, destroyed.
  Json DestroyATestVm() {
    const Json test = Run(Vm("test --json " + vm_.ToString(false)));
    return Run(Vm("destroy --json " + test.value("id", "")));
  }
  // A replica of its own, removed.
  Json RemoveAReplica() {
    const std::string base = Fresh("rm") + ".vhdx";
    EXPECT_EQ(Hvdisk("create --block-size 1M " + Q(base) + " 8M"), 0);
    EXPECT_EQ(Hvdisk(Vm("create doomed --base " + Q(base))), 0);
    return Run(Vm("remove --json doomed"));
  }
  // The JSON error `args` prints on stderr (stdout discarded); it must fail with exit 1.
  Json ErrorOf(const std::string& args) {
    std::string err;
    EXPECT_EQ(
        testing::RunCommand(testing::HvdiskPath() + " " + args + " 2>&1 >/dev/null", &err, false),
        1);
    Json j = Json::parse(err, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(j.is_discarded()) << args << ": stderr is not JSON:\n" << err;
    return j;
  }

  testing::TempDir dir_;
  std::string base_ = dir_.File("base.vhdx");
  std::string child_ = dir_.File("child.avhdx");
  std::string store_ = dir_.File("store");
  Guid vm_;
  Json failover_;
  int n_ = 0;
};

TEST_F(JsonSchemaTest, EveryDocumentedKeyIsInTheOutput) {
  const std::map<std::string, std::vector<DocKey>> doc = ReadDoc();
  ASSERT_FALSE(doc.empty()) << "docs/json.md not found or has no sections";
  std::map<std::string, std::function<Json()>> runners = Runners();
  for (const auto& [section, keys] : doc) {
    SCOPED_TRACE("docs/json.md section '" + section + "'");
    ASSERT_TRUE(runners.contains(section)) << "no runner for this section in the test";
    EXPECT_FALSE(keys.empty()) << "the section documents no keys";
    const Json out = runners[section]();
    std::vector<std::string> errors;
    for (const DocKey& key : keys) CheckPath(out, key.path, key, &errors);
    EXPECT_THAT(errors, ::testing::IsEmpty()) << out.dump(2);
    runners.erase(section);
  }
  for (const auto& [name, run] : runners) ADD_FAILURE() << name << ": not documented in json.md";
}

// The checker itself: a key that disappears, changes type, or an empty documented array fails.
TEST(JsonSchemaCheckerTest, FlagsMissingAndMistypedKeys) {
  const Json j = Json::parse(R"({"a": 1, "l": [{"x": "s"}, {"y": true}], "e": []})");
  auto errors_of = [&](DocKey key) {
    std::vector<std::string> errors;
    CheckPath(j, key.path, key, &errors);
    return errors.size();
  };
  EXPECT_EQ(errors_of({"a", "integer"}), 0u);
  EXPECT_EQ(errors_of({"a", "string"}), 1u);
  EXPECT_EQ(errors_of({"gone", "integer"}), 1u);
  EXPECT_EQ(errors_of({"gone", "integer", true}), 0u);
  EXPECT_EQ(errors_of({"l[].x", "string"}), 1u);  // missing in the second element
  EXPECT_EQ(errors_of({"l[].x", "string", true}), 0u);
  EXPECT_EQ(errors_of({"e[].z", "string"}), 1u);
  DocKey parsed;
  ASSERT_TRUE(ParseRow("| `chain[].filename` | string, optional | the path |", &parsed));
  EXPECT_EQ(parsed.path, "chain[].filename");
  EXPECT_EQ(parsed.type, "string");
  EXPECT_TRUE(parsed.optional);
}

}  // namespace
}  // namespace hvdisk
