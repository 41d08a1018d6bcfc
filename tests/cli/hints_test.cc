// Issue 21, item 2: every hint hvdisk gives is tied to the situation it advises on. Each hint of
// cli/hints.h (AllHintTemplates) has a scenario here that puts a user in that situation and
// expects that hint, filled in with the user's own path, store or VM; a hint without a scenario
// fails the test. Codes print as words; with --json the error keeps the code's name.
#include "cli/hints.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"
#include "tests/testutil/tmpfs.h"

namespace hvdisk {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Q;

constexpr uint64_t kMiB = 1 << 20;
const char kNobody[] = "setpriv --reuid=65534 --regid=65534 --clear-groups ";

// Shell words that start a writer holding `img` open for 3 s (write reading a slow stdin), then
// wait for it to open the disk.
std::string WhileWritten(const std::string& img) {
  return "(sleep 3 | " + testing::HvdiskPath() + " write " + Q(img) +
         " 0 >/dev/null 2>&1 &); sleep 1; ";
}

class HintsTest : public ::testing::Test {
 protected:
  // Runs hvdisk; returns stderr (stdout discarded).
  // `before`: shell words before hvdisk (a writer in the background, setpriv, ulimit).
  std::string Err(const std::string& args, int* rc = nullptr, const std::string& before = "") {
    std::string err;
    const int got = testing::RunCommand(
        before + testing::HvdiskPath() + " " + args + " 2>&1 >/dev/null", &err, false);
    if (rc != nullptr) *rc = got;
    return err;
  }
  std::string Image(const std::string& name, const std::string& size = "8M") {
    const std::string path = dir_.File(name);
    EXPECT_EQ(testing::Hvdisk("create --block-size 1M " + Q(path) + " " + size), 0);
    return path;
  }
  std::string Store() {
    const std::string store = dir_.File("store");
    if (!std::filesystem::exists(store)) {
      EXPECT_EQ(testing::Hvdisk("store create " + Q(store)), 0);
      EXPECT_EQ(
          testing::Hvdisk("vm --store " + Q(store) + " create web --base " + Q(Image("base.vhdx"))),
          0);
    }
    return store;
  }
  std::string Vm(const std::string& args) { return "vm --store " + Q(Store()) + " " + args; }
  // A late writer on a file system that does not fence: a revert paused before its commit while
  // another host's takeover raises the VM's epoch (as `vm recover` there would); the revert then
  // stops with kFenced (exit 4) and the hint for it.
  // Returns its stderr; the store is dir_.File("fenced-store").
  std::string LateWriter() {
    const std::string store = dir_.File("fenced-store");
    EXPECT_EQ(testing::Hvdisk("store create " + Q(store)), 0);
    EXPECT_EQ(
        testing::Hvdisk("vm --store " + Q(store) + " create db --base " + Q(Image("fbase.vhdx"))),
        0);
    EXPECT_EQ(testing::Hvdisk("vm --store " + Q(store) + " checkpoint db"), 0);
    EXPECT_EQ(testing::Hvdisk("vm --store " + Q(store) + " failover db"), 0);
    const std::string err = dir_.File("late.err");
    setenv("HVDISK_PAUSE_AT", "revert:commit", 1);
    setenv("HVDISK_PAUSE_SECONDS", "1", 1);
    const int pid = testing::SpawnHvdisk({"vm", "--store", store, "revert", "db"}, err);
    unsetenv("HVDISK_PAUSE_AT");
    unsetenv("HVDISK_PAUSE_SECONDS");
    std::string text;
    for (int i = 0; i < 200 && text.find("paused at") == std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      testing::RunCommand("cat " + Q(err), &text, false);
    }
    EXPECT_EQ(testing::RunCommand("python3 -c \"import json,glob; p=glob.glob('" + store +
                                      "/vms/*/vm.json')[0]; r=json.load(open(p)); r['epoch']=99; "
                                      "open(p,'w').write(json.dumps(r))\"",
                                  nullptr, false),
              0);
    EXPECT_EQ(testing::WaitForExit(pid), 4);
    testing::RunCommand("cat " + Q(err), &text, false);
    return text;
  }
  // Zeroes both VHDX headers.
  static void Damage(const std::string& path) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    const std::string zeros(128 << 10, '\0');
    f.seekp(64 << 10);
    f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
  // Sets both headers' Version to 2 and fixes their CRC-32C (MS-VHDX 2.2.2).
  static void FutureVersion(const std::string& path) {
    const std::string py =
        "import struct,sys\n"
        "def crc(b):\n"
        "  c=0xffffffff\n"
        "  for x in b:\n"
        "    c^=x\n"
        "    for _ in range(8): c=(c>>1)^(0x82f63b78 if c&1 else 0)\n"
        "  return c^0xffffffff\n"
        "f=open(sys.argv[1],'r+b')\n"
        "for off in (65536,131072):\n"
        "  f.seek(off); h=bytearray(f.read(4096))\n"
        "  h[66:68]=struct.pack('<H',2); h[4:8]=b'\\0'*4\n"
        "  h[4:8]=struct.pack('<I',crc(h)); f.seek(off); f.write(h)\n";
    std::ofstream(path + ".py") << py;
    ASSERT_EQ(testing::RunCommand("python3 " + Q(path + ".py") + " " + Q(path)), 0);
  }
  testing::TempDir dir_;
};

// A situation: what it does, and the hint (filled in) the user must see on stderr.
struct Situation {
  std::string stderr_text;
  std::string expected_hint;
};

TEST_F(HintsTest, EveryHintIsGivenInItsSituation) {
  using Make = std::function<Situation()>;
  std::map<std::string, Make> situations = {
      {"run 'hvdisk COMMAND --help'",
       [&] {
         return Situation{Err("read " + Q(Image("r.vhdx")) + " 8M 1"), "run 'hvdisk read --help'"};
       }},
      {"expected a disk file: FILE is a directory",
       [&] {
         return Situation{Err("info " + Q(dir_.path())),
                          "expected a disk file: " + dir_.path() + " is a directory"};
       }},
      {"check the path: FILE does not exist",
       [&] {
         const std::string gone = dir_.File("gone.vhdx");
         return Situation{Err("digest " + Q(gone)), "check the path: " + gone + " does not exist"};
       }},
      {"a parent of FILE is missing ('hvdisk info FILE' shows its locator): restore it, or link "
       "FILE to it with 'hvdisk reparent FILE PARENT'",
       [&] {
         const std::string parent = Image("p.vhdx"), child = dir_.File("c.avhdx");
         EXPECT_EQ(testing::Hvdisk("create --parent " + Q(parent) + " " + Q(child)), 0);
         std::filesystem::remove(parent);
         return Situation{Err("digest " + Q(child)), "a parent of " + child + " is missing"};
       }},
      {"run 'hvdisk check FILE' for details, 'hvdisk check -r all FILE' to repair it, or "
       "'hvdisk convert --salvage FILE NEW' to copy what is readable",
       [&] {
         const std::string img = Image("h.vhdx");
         Damage(img);
         return Situation{Err("info " + Q(img)), "run 'hvdisk check " + img + "' for details"};
       }},
      {"another program (qemu, a running VM, another hvdisk) has FILE open; retry when it is done",
       [&] {
         const std::string img = Image("w.vhdx");
         return Situation{
             Err("write " + Q(img) + " 0 --pattern 1 --length 1", nullptr, WhileWritten(img)),
             "another program (qemu, a running VM, another hvdisk) has " + img +
                 " open; retry when it is done\n"};
       }},
      {"another program (qemu, a running VM, another hvdisk) has FILE open; retry when it is "
       "done, or pass -U to read it anyway",
       [&] {
         const std::string img = Image("u.vhdx");
         return Situation{Err("digest " + Q(img), nullptr, WhileWritten(img)),
                          "or pass -U to read it anyway"};
       }},
      {"FILE uses a VHDX feature hvdisk does not support",
       [&] {
         const std::string img = Image("v2.vhdx");
         FutureVersion(img);
         return Situation{Err("info " + Q(img)),
                          img + " uses a VHDX feature hvdisk does not support"};
       }},
      {"FILE is not a VHDX image: 'hvdisk info -f raw FILE' reads it as raw",
       [&] {
         const std::string raw = dir_.File("raw.vhdx");
         std::ofstream(raw) << std::string(4096, 'x');
         return Situation{
             Err("info " + Q(raw)),
             raw + " is not a VHDX image: 'hvdisk info -f raw " + raw + "' reads it as raw"};
       }},
      {"you may not write this (another user owns it, or it is on a read-only mount): run as its "
       "owner or fix its ownership ('ls -l'); read-only commands still work",
       [&] {
         const std::string img = Image("root.vhdx");
         chmod(dir_.path().c_str(), 0755);
         chmod(img.c_str(), 0644);
         return Situation{Err("write " + Q(img) + " 0 --pattern 1 --length 1", nullptr, kNobody),
                          "you may not write this"};
       }},
      {"check the device and the system log (dmesg), then retry",
       [&] {
         const std::string big = Image("big.vhdx", "64M");
         EXPECT_EQ(testing::Hvdisk("write " + Q(big) + " 0 --pattern 9 --length 24M"), 0);
         return Situation{
             Err("convert -O vhdx --block-size 1M " + Q(big) + " " + Q(dir_.File("o.vhdx")),
                 nullptr, "trap '' XFSZ; ulimit -f 16384; exec "),
             "check the device and the system log (dmesg), then retry"};
       }},
      {"free space on the file system holding FILE",
       [&] {
         testing::SmallTmpfs tmpfs(12 * kMiB);
         EXPECT_TRUE(tmpfs.status().ok()) << tmpfs.status().ToString();
         const std::string f = tmpfs.path() + "/f.vhdx";
         return Situation{Err("create --type fixed --block-size 1M " + Q(f) + " 64M"),
                          "free space on the file system holding " + f};
       }},
      {"FILE exists: remove it or pick another name",
       [&] {
         const std::string img = Image("e.vhdx");
         return Situation{Err("create " + Q(img) + " 8M"),
                          img + " exists: remove it or pick another name"};
       }},
      {"check the path, or make a store there with 'hvdisk store create DIR'",
       [&] {
         const std::string gone = dir_.File("no-store");
         return Situation{Err("vm --store " + Q(gone) + " list"),
                          "make a store there with 'hvdisk store create " + gone + "'"};
       }},
      {"you may not write the store DIR: run as its owner; vm list and vm show still work",
       [&] {
         const std::string store = Store();
         chmod(dir_.path().c_str(), 0755);
         return Situation{Err("vm --store " + Q(store) + " suspend web", nullptr, kNobody),
                          "you may not write the store " + store};
       }},
      {"'hvdisk vm --store DIR list' lists the VMs",
       [&] {
         return Situation{Err(Vm("show nosuch")),
                          "'hvdisk vm --store " + Store() + " list' lists the VMs"};
       }},
      {"'hvdisk vm --store DIR show VM' shows its state; 'hvdisk help vm' lists what each state "
       "allows",
       [&] {
         return Situation{Err(Vm("revert web")),
                          "'hvdisk vm --store " + Store() + " show web' shows its state"};
       }},
      {"another command or a running consumer holds VM; retry when it is done",
       [&] {
         const std::string store = Store();
         std::string id;
         testing::RunCommand(testing::HvdiskPath() + " vm --store " + Q(store) +
                                 " list --json | python3 -c 'import json,sys; "
                                 "print(json.load(sys.stdin)[0][\"id\"].lower(), end=\"\")'",
                             &id, false);
         const std::string lock = store + "/locks/" + id + ".lock";
         const std::string ready = dir_.File("locked");
         const std::string holder = "(python3 -c \"import fcntl,time; f=open('" + lock +
                                    "','a+'); fcntl.lockf(f, fcntl.LOCK_EX, 1, 0); open('" + ready +
                                    "','w'); time.sleep(3)\" &); while [ ! -e " + Q(ready) +
                                    " ]; do sleep 0.1; done; ";
         return Situation{Err(Vm("suspend web"), nullptr, holder),
                          "another command or a running consumer holds web"};
       }},
      {"replicate from the disk VM was created from: 'hvdisk vm --store DIR show VM' shows the "
       "replica's size, 'hvdisk info FILE' (or 'nbdinfo --size URI') the source's",
       [&] {
         const std::string small = Image("small.vhdx", "4M");
         return Situation{Err(Vm("replicate web --from " + Q(small))),
                          "'hvdisk vm --store " + Store() +
                              " show web' shows the replica's size, " + "'hvdisk info " + small +
                              "'"};
       }},
      {"start the NBD server that exports FILE (e.g. 'qemu-nbd -r -B BITMAP -k SOCKET DISK') and "
       "run the cycle again: the VM is consistent, its points unchanged, and a cycle from the same "
       "bitmap completes it",
       [&] {
         const std::string uri = "nbd+unix:///?socket=" + dir_.File("gone.sock");
         return Situation{Err(Vm("replicate web --bitmap b0 --from " + Q(uri))),
                          "start the NBD server that exports " + uri};
       }},
      {"vm apply takes a change set made by 'hvdisk diff OLD NEW -o FILE' (OLD: the replica's "
       "content, NEW: the primary's)",
       [&] {
         const std::string junk = dir_.File("junk.chg");
         testing::WriteBinaryFile(junk, std::vector<std::byte>(100, std::byte{'x'}));
         return Situation{Err(Vm("apply web " + Q(junk))),
                          "vm apply takes a change set made by 'hvdisk diff OLD NEW -o FILE'"};
       }},
      {"vm destroy removes test VMs; use vm remove for a replica",
       [&] {
         return Situation{Err(Vm("destroy web")),
                          "vm destroy removes test VMs; use vm remove for a replica"};
       }},
      {"nothing was left half-done; run the command again to do it",
       [&] {
         const std::string src = Image("s.vhdx", "512M");
         EXPECT_EQ(testing::Hvdisk("write " + Q(src) + " 0 --pattern 7 --length 400M"), 0);
         // Stopped once the output's temporary exists (mid-copy), then SIGINT and resumed.
         const std::string err = dir_.File("int.err");
         const int pid =
             testing::SpawnHvdisk({"convert", "-O", "raw", src, dir_.File("s.raw")}, err);
         const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
         for (bool stopped = false; !stopped && std::chrono::steady_clock::now() < deadline;) {
           std::error_code ec;
           for (const auto& e : std::filesystem::directory_iterator(dir_.path(), ec)) {
             if (e.path().filename().string().starts_with(".s.raw.hvdisk-partial-")) {
               kill(pid, SIGSTOP);
               stopped = true;
               break;
             }
           }
           if (!stopped) std::this_thread::sleep_for(std::chrono::microseconds(200));
         }
         kill(pid, SIGINT);
         kill(pid, SIGCONT);
         testing::WaitForExit(pid);
         std::string text;
         testing::RunCommand("cat " + Q(err), &text, false);
         return Situation{text, "nothing was left half-done; run the command again to do it"};
       }},
      {"this host lost its hold on the store DIR (its mount was evicted, or another host took VM "
       "over) and stopped without writing more: on a host that holds the store, 'hvdisk vm "
       "--store DIR recover VM' finishes or rolls back what was left; remount here before using "
       "it again",
       [&] {
         return Situation{LateWriter(),
                          "this host lost its hold on the store " + dir_.File("fenced-store")};
       }},
  };
  for (const std::string& hint : cli::AllHintTemplates()) {
    SCOPED_TRACE(hint);
    auto it = situations.find(hint);
    if (it == situations.end()) {
      ADD_FAILURE() << "no situation gives this hint";
      continue;
    }
    const Situation s = it->second();
    EXPECT_THAT(s.stderr_text, HasSubstr("hint: ")) << s.stderr_text;
    EXPECT_THAT(s.stderr_text, HasSubstr(s.expected_hint));
  }
  EXPECT_EQ(situations.size(), cli::AllHintTemplates().size()) << "a situation of no hint";
}

// The examples: advice that did not fit its situation is gone.
TEST_F(HintsTest, NoSituationGetsAnotherSituationsHint) {
  const std::string img = Image("d.vhdx");
  EXPECT_THAT(Err("create " + Q(img) + " 8M"), Not(HasSubstr("another process holds")));
  EXPECT_THAT(Err(Vm("destroy web")), Not(HasSubstr("feature hvdisk does not support")));
  EXPECT_THAT(Err("info " + Q(dir_.path())), Not(HasSubstr("dmesg")));
  for (const std::string& args : {Vm("revert web"), Vm("commit web"), "info " + Q(dir_.path())}) {
    const std::string err = Err(args);
    EXPECT_THAT(err, Not(HasSubstr(".md"))) << args;
    EXPECT_THAT(err, Not(::testing::ContainsRegex("\\bk[A-Z][a-zA-Z]+"))) << args;
  }
}

TEST_F(HintsTest, CodesPrintAsWordsAndJsonErrorsKeepTheCodeName) {
  const std::string gone = dir_.File("gone.vhdx");
  int rc = -1;
  const std::string human = Err("info " + Q(gone), &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_THAT(human, HasSubstr("hvdisk: not found: "));
  EXPECT_THAT(human, Not(HasSubstr("kNotFound")));
  const std::string json = Err("info --json " + Q(gone), &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_THAT(json, HasSubstr("{\"error\":{\"code\":\"kNotFound\",\"words\":\"not found\""));
  EXPECT_THAT(json, HasSubstr("\"hint\":\"check the path: " + gone + " does not exist\""));
}

TEST(HintFormat, AnErrorWithoutAdviceHasNoHintLine) {
  EXPECT_EQ(cli::FormatError(IoError("write to stdout: Broken pipe"), "", false),
            "hvdisk: I/O error: write to stdout: Broken pipe\n");
  EXPECT_EQ(cli::FormatError(InUse("x"), "h", false), "hvdisk: in use: x\nhint: h\n");
}

}  // namespace
}  // namespace hvdisk
