// What every hvdisk command shares, checked over the whole command tree read from `--help`:
// `hvdisk help COMMAND` prints COMMAND's --help, each help ends with its exit codes, an unknown
// option exits 2, a missing file exits 1 (compare 2) saying "not found", a damaged image is
// refused as "corrupt" with a hint (check exits 2), and the progress line appears on a terminal
// only: never in a pipe, never with --json.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using ::testing::HasSubstr;
using testing::Hvdisk;
using ::testing::Not;
using testing::Q;

// The names listed under "Subcommands:" in a help text ("checkpoint, snapshot" -> checkpoint).
std::vector<std::string> SubcommandsOf(const std::string& help) {
  std::vector<std::string> names;
  std::istringstream in(help);
  std::string line;
  bool listed = false;
  while (std::getline(in, line)) {
    if (line == "Subcommands:") {
      listed = true;
    } else if (listed && line.rfind("  ", 0) == 0) {
      std::string name;
      std::istringstream(line) >> name;
      if (!name.empty() && name.back() == ',') name.pop_back();
      names.push_back(name);
    } else if (listed) {
      listed = false;
    }
  }
  return names;
}

// Every command that runs (the leaves of the tree), e.g. "info", "vm show", "wmi job".
std::vector<std::string> LeafCommands(const std::string& prefix = "") {
  std::string help;
  Hvdisk(prefix + " --help", &help);
  std::vector<std::string> subs = SubcommandsOf(help);
  if (subs.empty() && !prefix.empty()) return {prefix.substr(1)};
  std::vector<std::string> leaves;
  for (const std::string& s : subs) {
    for (std::string& leaf : LeafCommands(prefix + " " + s)) leaves.push_back(std::move(leaf));
  }
  return leaves;
}

class CliContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct stat st;
    ASSERT_EQ(stat(testing::HvdiskPath().c_str(), &st), 0) << "build the hvdisk target";
  }
  std::string MakeImage(const std::string& name, const std::string& size = "64M") {
    const std::string path = dir_.File(name);
    EXPECT_EQ(Hvdisk("create --block-size 1M " + Q(path) + " " + size), 0);
    return path;
  }
  // Runs hvdisk with stdout discarded; returns its stderr (a pipe).
  static std::string Stderr(const std::string& args, int* rc) {
    std::string err;
    *rc = testing::RunCommand(testing::HvdiskPath() + " " + args + " 2>&1 >/dev/null", &err, false);
    return err;
  }
  // `args` exits `rc`, its stderr naming a code that matches `code` and carrying `hint`.
  static void ExpectError(const std::string& args, int rc, const std::string& code,
                          const std::string& hint) {
    SCOPED_TRACE(args);
    int got = -1;
    const std::string err = Stderr(args, &got);
    EXPECT_EQ(got, rc) << err;
    EXPECT_THAT(err, ::testing::ContainsRegex(code));
    // With --json the error is one JSON object: {"error": {..., "hint": "..."}}.
    const std::string json_hint = "\"hint\":\"" + hint.substr(hint.find(' ') + 1);
    EXPECT_THAT(err, ::testing::AnyOf(HasSubstr(hint), HasSubstr(json_hint)));
  }
  // Runs hvdisk on a pseudo-terminal (script(1)); returns what the terminal showed.
  static std::string OnTerminal(const std::string& args) {
    std::string out;
    const std::string cmd = testing::HvdiskPath() + " " + args;
    EXPECT_EQ(testing::RunCommand("script -qec " + Q(cmd) + " /dev/null", &out, false), 0) << out;
    return out;
  }
  testing::TempDir dir_;
};

TEST_F(CliContractTest, TheCommandTreeIsFound) {
  const std::vector<std::string> leaves = LeafCommands();
  for (const char* name : {"info", "check", "convert", "vm show", "store check", "wmi job"}) {
    EXPECT_THAT(leaves, ::testing::Contains(name));
  }
}

TEST_F(CliContractTest, HelpCommandPrintsTheCommandsHelpWithItsExitCodes) {
  std::string top, help_top;
  ASSERT_EQ(Hvdisk("--help", &top), 0);
  ASSERT_EQ(Hvdisk("help", &help_top), 0);
  EXPECT_EQ(top, help_top);
  for (const std::string& cmd : LeafCommands()) {
    SCOPED_TRACE(cmd);
    std::string own, via_help;
    EXPECT_EQ(Hvdisk(cmd + " --help", &own), 0);
    EXPECT_EQ(Hvdisk("help " + cmd, &via_help), 0);
    EXPECT_EQ(own, via_help);
    EXPECT_THAT(own, HasSubstr("Exit status:"));
    EXPECT_THAT(own, HasSubstr("bad arguments"));
  }
  std::string out;
  EXPECT_EQ(Hvdisk("help no-such-command", &out), 2) << out;
}

TEST_F(CliContractTest, AnUnknownOptionExits2EverywhereWithAHint) {
  for (const std::string& cmd : LeafCommands()) {
    SCOPED_TRACE(cmd);
    std::string out;
    std::string prefix = cmd;
    if (cmd.rfind("vm ", 0) == 0 || cmd.rfind("wmi ", 0) == 0) {
      prefix.insert(cmd.find(' '), " --store " + Q(dir_.File("s")));
    }
    EXPECT_EQ(Hvdisk(prefix + " --no-such-option", &out), 2) << out;
    EXPECT_THAT(out, HasSubstr("--help"));
  }
}

// The options of a help text that take a checked value: "--count" for
// "  -c,--count UINT:POSITIVE    Number of requests", with the type ("UINT:POSITIVE").
std::vector<std::pair<std::string, std::string>> CheckedOptionsOf(const std::string& help) {
  std::vector<std::pair<std::string, std::string>> options;
  std::istringstream in(help);
  std::string line;
  bool listed = false;
  while (std::getline(in, line)) {
    if (line == "Options:") listed = true;
    if (!listed || line.rfind("  -", 0) != 0) continue;
    std::istringstream words(line);
    std::string names, type;
    words >> names >> type;
    const size_t long_name = names.rfind("--");
    const bool checked = type.rfind("UINT", 0) == 0 || type.rfind("INT", 0) == 0 ||
                         type.rfind("FLOAT", 0) == 0 || type.find(":{") != std::string::npos ||
                         type == "TEXT:SIZE";
    if (long_name != std::string::npos && checked) {
      options.emplace_back(names.substr(long_name), type);
    }
  }
  return options;
}

// Every option that checks its value (a number, a size, one of a list), on every command, given
// a value it cannot take: exit 2, and the error names the option (so it is the value that was
// refused, not a missing positional).
TEST_F(CliContractTest, EveryBadValueOfEveryOptionExits2NamingTheOption) {
  int checked = 0;
  for (const std::string& cmd : LeafCommands()) {
    std::string prefix = cmd;
    if (cmd.rfind("vm ", 0) == 0 || cmd.rfind("wmi ", 0) == 0) {
      prefix.insert(cmd.find(' '), " --store " + Q(dir_.File("s")));
    }
    std::string help;
    Hvdisk(cmd + " --help", &help);
    for (const auto& [option, type] : CheckedOptionsOf(help)) {
      SCOPED_TRACE(cmd + " " + option + " (" + type + ")");
      std::string out;
      EXPECT_EQ(Hvdisk(prefix + " " + option + "=bogus-7q", &out), 2) << out;
      EXPECT_THAT(out, HasSubstr(option)) << "the error should name the option";
      ++checked;
    }
  }
  EXPECT_GE(checked, 40) << "fewer checked options than expected: is the help format changed?";
}

// The bad arguments the first users met, each exiting 2 (bad arguments), not 1.
TEST_F(CliContractTest, BadArgumentsUsersMetExit2) {
  const std::string img = MakeImage("d.vhdx", "8M");
  const std::string store = dir_.File("s");
  ASSERT_EQ(Hvdisk("store create " + Q(store)), 0);
  ASSERT_EQ(Hvdisk("vm --store " + Q(store) + " create vm1 --base " + Q(img)), 0);
  for (const std::string& args : {
           "vm --store " + Q(store) + " checkpoint vm1 --type app",
           "create -o nosuch=1 " + Q(dir_.File("o.vhdx")) + " 8M",
           "create -o block_size=3M " + Q(dir_.File("o.vhdx")) + " 8M",
           "convert -o subformat=sparse " + Q(img) + " " + Q(dir_.File("o2.vhdx")),
           "create " + Q(dir_.File("z.vhdx")) + " 0",
           "read " + Q(img) + " 0",
           "resize " + Q(img) + " 4M",
           "create -b " + Q(img) + " " + Q(dir_.File("c.avhdx")) + " 8M",
       }) {
    SCOPED_TRACE(args);
    std::string out;
    EXPECT_EQ(Hvdisk(args, &out), 2) << out;
  }
}

TEST_F(CliContractTest, AnInvalidArgumentNamesTheCommandsHelp) {
  const std::string img = MakeImage("d.vhdx", "8M");
  std::string out;
  EXPECT_EQ(Hvdisk("read " + Q(img) + " 8M 1", &out), 2);
  EXPECT_THAT(out, HasSubstr("invalid argument"));
  EXPECT_THAT(out, HasSubstr("hint: run 'hvdisk read --help'"));
}

TEST_F(CliContractTest, SizesTakeSuffixesEverywhere) {
  const std::string img = Q(dir_.File("s.vhdx"));
  std::string out;
  ASSERT_EQ(Hvdisk("create --block-size 1M --logical-sector 4K --physical-sector 4K " + img + " 8M",
                   &out),
            0)
      << out;
  ASSERT_EQ(Hvdisk("info --json " + img, &out, false), 0);
  EXPECT_THAT(out, HasSubstr("\"logical-sector-size\": 4096"));
  EXPECT_EQ(Hvdisk("write " + img + " 1M --pattern 7 --length 4K", &out), 0) << out;
  std::string data;
  EXPECT_EQ(Hvdisk("read " + img + " 1M 1K", &data, false), 0);
  EXPECT_EQ(data, std::string(1024, '\x07'));
  EXPECT_EQ(Hvdisk("bench -c 8 -s 4K -S 8K -o 1M " + img, &out), 0) << out;
  EXPECT_EQ(
      Hvdisk("convert --block-size 2M --logical-sector 512 " + img + " " + Q(dir_.File("c.vhdx")),
             &out),
      0)
      << out;
}

TEST_F(CliContractTest, AMissingFileExits1WithNotFound) {
  const std::string img = MakeImage("d.vhdx", "8M");
  const std::string gone = Q(dir_.File("gone.vhdx"));
  const std::pair<std::string, int> cases[] = {
      {"info " + gone, 1},
      {"check " + gone, 1},
      {"map " + gone, 1},
      {"digest " + gone, 1},
      {"read " + gone + " 0 1", 1},
      {"write " + gone + " 0 --pattern 1 --length 1", 1},
      {"bench " + gone, 1},
      {"convert " + gone + " " + Q(dir_.File("o.raw")), 1},
      {"compare " + Q(img) + " " + gone, 2},
      {"merge " + gone, 1},
      {"reparent " + gone + " " + Q(img), 1},
      {"create -p " + gone + " " + Q(dir_.File("c.avhdx")), 1},
  };
  for (const auto& [args, rc] : cases) ExpectError(args, rc, "not found", "hint: ");
}

TEST_F(CliContractTest, AMissingStoreExits1WithAHint) {
  const std::string gone = Q(dir_.File("no-store"));
  for (const std::string& args :
       {"store check --json " + gone, "store recover " + gone, "vm --store " + gone + " list",
        "vm --store " + gone + " commit web --json",
        "wmi --store " + gone + " job 00000000-0000-0000-0000-000000000001"}) {
    ExpectError(args, 1, "not found|unavailable", "hint: ");
  }
}

TEST_F(CliContractTest, StoreCommitShowsProgressOnATerminalOnly) {
  const std::string store = Q(dir_.File("store"));
  const std::string vm = "vm --store " + store + " ";
  ASSERT_EQ(Hvdisk("store create " + store), 0);
  ASSERT_EQ(Hvdisk(vm + "create web --base " + Q(MakeImage("b.vhdx", "8M"))), 0);
  ASSERT_EQ(Hvdisk(vm + "checkpoint web"), 0);
  ASSERT_EQ(Hvdisk(vm + "failover web"), 0);
  EXPECT_THAT(OnTerminal(vm + "commit web"), HasSubstr("\rcommit: "));
  ASSERT_EQ(Hvdisk(vm + "create db --base " + Q(MakeImage("c.vhdx", "8M"))), 0);
  ASSERT_EQ(Hvdisk(vm + "checkpoint db"), 0);
  ASSERT_EQ(Hvdisk(vm + "failover db"), 0);
  int rc = -1;
  EXPECT_EQ(Stderr(vm + "commit db", &rc), "");
  EXPECT_EQ(rc, 0);
}

TEST_F(CliContractTest, ACorruptImageIsRefusedAndCheckExits2) {
  const std::string img = MakeImage("h.vhdx", "8M");
  {
    std::fstream f(img, std::ios::in | std::ios::out | std::ios::binary);
    const std::string zeros(128 << 10, '\0');
    f.seekp(64 << 10);  // both headers
    f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
  std::string out;
  EXPECT_EQ(Hvdisk("check --json " + Q(img), &out, false), 2);
  EXPECT_THAT(out, HasSubstr("\"result\": \"corrupt\""));
  const std::string good = MakeImage("g.vhdx", "8M");
  const std::string i = " " + Q(img);
  const std::pair<std::string, int> cases[] = {
      {"info --json" + i, 1},
      {"map --json" + i, 1},
      {"digest --json" + i, 1},
      {"bench --json" + i, 1},
      {"read" + i + " 0 1", 1},
      {"write --json" + i + " 0 --pattern 1 --length 1", 1},
      {"convert --json" + i + " " + Q(dir_.File("o.raw")), 1},
      {"compare --json" + i + " " + Q(good), 2},
      {"merge --json" + i, 1},
      {"reparent --json" + i + " " + Q(good), 1},
      {"create -p" + i + " " + Q(dir_.File("c.avhdx")), 1},
  };
  for (const auto& [args, rc] : cases) {
    ExpectError(args, rc, "corrupt", "hint: run 'hvdisk check " + img + "'");
  }
}

TEST_F(CliContractTest, ProgressShowsOnATerminalOnly) {
  const std::string img = MakeImage("p.vhdx", "64M");
  ASSERT_EQ(Hvdisk("write " + Q(img) + " 0 --pattern 0x5a --length 40M"), 0);
  const std::string cases[][2] = {
      {"convert", "convert " + Q(img) + " " + Q(dir_.File("o%d.raw"))},
      {"digest", "digest " + Q(img)},
      {"compare", "compare " + Q(img) + " " + Q(img)},
  };
  int n = 0;
  for (const auto& [label, args0] : cases) {
    SCOPED_TRACE(label);
    std::string args = args0;
    auto fresh = [&] {  // convert needs a new destination each run
      std::string a = args;
      if (size_t p = a.find("%d"); p != std::string::npos) a.replace(p, 2, std::to_string(++n));
      return a;
    };
    const std::string tty = OnTerminal(fresh());
    EXPECT_THAT(tty, HasSubstr("\r" + label + ": "));
    EXPECT_THAT(tty, HasSubstr("100%"));
    EXPECT_THAT(OnTerminal(fresh() + " --json"), Not(HasSubstr("\r" + label)));
    int rc = -1;
    EXPECT_EQ(Stderr(fresh(), &rc), "");
    EXPECT_EQ(rc, 0);
  }
}

TEST_F(CliContractTest, CheckShowsProgressOnATerminalOnly) {
  const std::string img = MakeImage("k.vhdx", "64M");
  const std::string tty = OnTerminal("check " + Q(img));
  EXPECT_THAT(tty, HasSubstr("\rcheck: "));
  EXPECT_THAT(tty, HasSubstr("100%"));
  EXPECT_THAT(OnTerminal("check --json " + Q(img)), Not(HasSubstr("\rcheck")));
  int rc = -1;
  EXPECT_EQ(Stderr("check " + Q(img), &rc), "");
  EXPECT_EQ(rc, 0);
}

TEST_F(CliContractTest, MergeShowsProgressOnATerminalOnly) {
  for (const bool json : {false, true}) {
    const std::string base = MakeImage(json ? "bj.vhdx" : "b.vhdx", "64M");
    const std::string child = dir_.File(json ? "cj.avhdx" : "c.avhdx");
    ASSERT_EQ(Hvdisk("create -p " + Q(base) + " " + Q(child)), 0);
    ASSERT_EQ(Hvdisk("write " + Q(child) + " 0 --pattern 0x5a --length 20M"), 0);
    const std::string tty = OnTerminal("merge " + Q(child) + (json ? " --json" : ""));
    if (json) {
      EXPECT_THAT(tty, Not(HasSubstr("\rmerge: ")));
    } else {
      EXPECT_THAT(tty, HasSubstr("\rmerge: "));
      EXPECT_THAT(tty, HasSubstr("100%"));
    }
  }
}

}  // namespace
}  // namespace hvdisk
