// End-to-end tests of `hvdisk create`, `info` and `check`, and of the rules every command shares:
// usage errors exit 2, failures exit 1 with the Code on stderr, a .vhdx without the VHDX
// signature is refused, `-f raw` forces raw. They run the built binary in a TempDir.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "platform/file.h"
#include "platform/guid.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"
#include "vhdx/image.h"

namespace hvdisk {
namespace {

using testing::Q;

using ::testing::HasSubstr;

const std::string& kHvdisk = testing::HvdiskPath();

struct CmdResult {
  int rc = -1;
  std::string out;  // stdout and stderr
};

CmdResult Hvdisk(const std::string& args) {
  CmdResult r;
  r.rc = testing::RunCommand(kHvdisk + " " + args, &r.out);
  return r;
}

// Only stdout, for --json.
CmdResult HvdiskStdout(const std::string& args) {
  CmdResult r;
  r.rc = testing::RunCommand(kHvdisk + " " + args + " 2>/dev/null", &r.out, false);
  return r;
}

void WriteTextFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// Runs `hvdisk ARGS` (stdout and stderr to /dev/null) under `timeout 60`; returns its exit status
// and its peak resident memory in KiB (wait4's rusage covers timeout's own child).
std::pair<int, long> HvdiskPeakRss(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"timeout", "60", kHvdisk};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    std::freopen("/dev/null", "w", stdout);
    std::freopen("/dev/null", "w", stderr);
    execv("/usr/bin/timeout", cargv.data());
    _exit(127);
  }
  int status = 0;
  struct rusage ru {};
  if (pid < 0 || wait4(pid, &status, 0, &ru) != pid) return {-1, 0};
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ru.ru_maxrss};
}

class ImageCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct stat st;
    ASSERT_EQ(stat(kHvdisk.c_str(), &st), 0) << kHvdisk << " is missing: build the hvdisk target";
  }
  testing::TempDir dir_;
};

TEST_F(ImageCommandsTest, CreateDynamicThenInfoJsonParsesBack) {
  const std::string img = dir_.File("d.vhdx");
  CmdResult c =
      Hvdisk("create -t dynamic --block-size 1M --logical-sector 512 --physical-sector 512 " +
             Q(img) + " 64M");
  ASSERT_EQ(c.rc, 0) << c.out;
  CmdResult info = HvdiskStdout("info --json " + Q(img));
  ASSERT_EQ(info.rc, 0) << info.out;
  nlohmann::json j = nlohmann::json::parse(info.out);
  EXPECT_EQ(j["format"], "vhdx");
  EXPECT_EQ(j["type"], "dynamic");
  EXPECT_EQ(j["virtual-size"], 64ull << 20);
  EXPECT_EQ(j["block-size"], 1u << 20);
  EXPECT_EQ(j["logical-sector-size"], 512);
  EXPECT_EQ(j["physical-sector-size"], 512);
  EXPECT_EQ(j["allocated-blocks"], 0);
  EXPECT_EQ(j["total-blocks"], 64);
  EXPECT_GE(j["file-size"].get<uint64_t>(), 4ull << 20);
  for (const char* key : {"virtual-disk-id", "data-write-guid", "file-write-guid", "log-guid"}) {
    EXPECT_TRUE(Guid::Parse(j[key].get<std::string>()).has_value()) << key;
  }
  EXPECT_FALSE(Guid::Parse(j["virtual-disk-id"].get<std::string>())->IsZero());
  EXPECT_TRUE(Guid::Parse(j["log-guid"].get<std::string>())->IsZero()) << "closed cleanly";
  EXPECT_FALSE(j.contains("parent-locator"));
}

// A 64 TiB image with 1 MiB blocks has a 512 MiB BAT. Opening it read the BAT whole (1 GiB of
// memory per open, 4.6 s to check); the BAT is now paged (vhdx/bat_pages.h: at most 16 MiB of
// clean pages), so `info` and `check`, which streams it, stay within a small bound.
TEST_F(ImageCommandsTest, A64TiBImageWith1MiBBlocksOpensAndChecksInBoundedMemory) {
  const std::string img = dir_.File("big.vhdx");
  ASSERT_EQ(Hvdisk("create --block-size 1M " + Q(img) + " 64T").rc, 0);
  constexpr long kBoundKib = 128 * 1024;
  for (const char* cmd : {"info", "check"}) {
    auto [rc, peak_kib] = HvdiskPeakRss({cmd, img});
    EXPECT_EQ(rc, 0) << cmd << " (124: the watchdog fired)";
    EXPECT_LT(peak_kib, kBoundKib) << cmd << ": peak resident memory in KiB";
  }
}

TEST_F(ImageCommandsTest, CreateFixedIsFullyAllocated) {
  const std::string img = dir_.File("f.vhdx");
  ASSERT_EQ(Hvdisk("create -t fixed --block-size 2M " + Q(img) + " 10M").rc, 0);
  CmdResult info = HvdiskStdout("info --json " + Q(img));
  ASSERT_EQ(info.rc, 0);
  nlohmann::json j = nlohmann::json::parse(info.out);
  EXPECT_EQ(j["type"], "fixed");
  EXPECT_EQ(j["allocated-blocks"], 5);
  EXPECT_EQ(j["total-blocks"], 5);
  EXPECT_GE(j["file-size"].get<uint64_t>(), 10ull << 20);
}

TEST_F(ImageCommandsTest, CreateWith4KLogicalSectors) {
  const std::string img = dir_.File("4k.vhdx");
  ASSERT_EQ(Hvdisk("create --logical-sector 4096 " + Q(img) + " 8M").rc, 0);
  nlohmann::json j = nlohmann::json::parse(HvdiskStdout("info --json " + Q(img)).out);
  EXPECT_EQ(j["logical-sector-size"], 4096);
  EXPECT_EQ(j["block-size"], 32u << 20) << "the default block size";
}

TEST_F(ImageCommandsTest, InfoTextShowsTheFields) {
  const std::string img = dir_.File("t.vhdx");
  ASSERT_EQ(Hvdisk("create " + Q(img) + " 3G").rc, 0);
  CmdResult info = Hvdisk("info " + Q(img));
  ASSERT_EQ(info.rc, 0);
  EXPECT_THAT(info.out, HasSubstr("format: vhdx"));
  EXPECT_THAT(info.out, HasSubstr("type: dynamic"));
  EXPECT_THAT(info.out, HasSubstr("virtual size: 3 GiB (3221225472 bytes)"));
  EXPECT_THAT(info.out, HasSubstr("block size: 32 MiB"));
  EXPECT_THAT(info.out, HasSubstr("virtual disk id: {"));
  EXPECT_THAT(info.out, HasSubstr("allocated blocks: 0"));
}

TEST_F(ImageCommandsTest, BadArgumentsExit2) {
  const std::string img = Q(dir_.File("x.vhdx"));
  for (const std::string& args : std::vector<std::string>{
           std::string(""),
           "nosuchcommand",
           "create",
           "create " + img,
           "create " + img + " 12Q",
           "create " + img + " -5M",
           "create --block-size 3M " + img + " 1G",
           "create --block-size 512M " + img + " 1G",
           "create --block-size 512K " + img + " 1G",
           "create -t sparse " + img + " 1G",
           "create --logical-sector 1000 " + img + " 1G",
           "create --logical-sector 4096 " + img + " 1001K",
           "create " + img + " 0",
           "create " + img + " 65T",
           "info",
           "info --bogus " + img,
           "info -f qcow2 " + img,
           "check",
       }) {
    CmdResult r = Hvdisk(args);
    EXPECT_EQ(r.rc, 2) << "hvdisk " << args << "\n" << r.out;
  }
  struct stat st;
  EXPECT_NE(stat(dir_.File("x.vhdx").c_str(), &st), 0) << "nothing was created";
}

TEST_F(ImageCommandsTest, InfoShowsADifferencingImagesParentLocator) {
  const std::string img = dir_.File("child.avhdx");
  vhdx::CreateOptions o;
  o.type = vhdx::DiskType::kDifferencing;
  o.virtual_size = 8 << 20;
  o.block_size = 2 << 20;
  o.parent_locator = {{"parent_linkage", "{83C9B4D4-7A71-4C0E-9B1B-2D4F5A6B7C8D}"},
                      {"relative_path", ".\\base.vhdx"}};
  ASSERT_OK(vhdx::Image::Create(DefaultFileSystem(), img, o));
  CmdResult info = HvdiskStdout("info --json " + Q(img));
  ASSERT_EQ(info.rc, 0) << info.out;
  nlohmann::json j = nlohmann::json::parse(info.out);
  EXPECT_EQ(j["type"], "differencing");
  EXPECT_EQ(j["parent-locator"]["parent_linkage"], "{83C9B4D4-7A71-4C0E-9B1B-2D4F5A6B7C8D}");
  EXPECT_EQ(j["parent-locator"]["relative_path"], ".\\base.vhdx");
  CmdResult text = Hvdisk("info " + Q(img));
  EXPECT_THAT(text.out, HasSubstr("parent locator:\n    parent_linkage: {83C9B4D4-"));
}

TEST_F(ImageCommandsTest, CreateRefusesAnExistingFile) {
  const std::string img = dir_.File("e.vhdx");
  ASSERT_EQ(Hvdisk("create " + Q(img) + " 1M").rc, 0);
  CmdResult r = Hvdisk("create " + Q(img) + " 1M");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.out, HasSubstr("in use"));
}

TEST_F(ImageCommandsTest, MissingFileExits1WithTheCode) {
  const std::string missing = Q(dir_.File("missing.vhdx"));
  for (const std::string cmd : {"info", "check", "digest", "map"}) {
    CmdResult r = Hvdisk(cmd + " " + missing);
    EXPECT_EQ(r.rc, 1) << cmd << ": " << r.out;
    EXPECT_THAT(r.out, HasSubstr("hvdisk: not found")) << cmd;
    EXPECT_THAT(r.out, HasSubstr("hint: ")) << cmd;
  }
}

TEST_F(ImageCommandsTest, VhdxNameWithoutSignatureIsRefused) {
  const std::string fake = dir_.File("fake.vhdx");
  WriteTextFile(fake, std::string(8192, 'x'));
  for (const std::string cmd : {"info", "digest", "map", "read", "write"}) {
    std::string args = cmd + " " + Q(fake);
    if (cmd == "read") args += " 0 512";
    if (cmd == "write") args += " 0 --pattern 1 --length 512";
    CmdResult r = Hvdisk(args);
    EXPECT_EQ(r.rc, 1) << args << ": " << r.out;
    EXPECT_THAT(r.out, HasSubstr("corrupt")) << args;
  }
  EXPECT_EQ(Hvdisk("check " + Q(fake)).rc, 2) << "a damaged image is corrupted";
  EXPECT_EQ(Hvdisk("compare " + Q(fake) + " " + Q(fake)).rc, 2);
  std::ifstream in(fake, std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, std::string(8192, 'x')) << "the refused write changed nothing";
}

TEST_F(ImageCommandsTest, AvhdxNameWithoutSignatureIsRefused) {
  const std::string fake = dir_.File("child.AVHDX");
  WriteTextFile(fake, std::string(4096, '\0'));
  CmdResult r = Hvdisk("info " + Q(fake));
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.out, HasSubstr("corrupt"));
}

TEST_F(ImageCommandsTest, FormatRawForcesRaw) {
  const std::string fake = dir_.File("fake.vhdx");
  WriteTextFile(fake, std::string(4096, 'x'));
  CmdResult info = HvdiskStdout("info --json -f raw " + Q(fake));
  ASSERT_EQ(info.rc, 0) << info.out;
  nlohmann::json j = nlohmann::json::parse(info.out);
  EXPECT_EQ(j["format"], "raw");
  EXPECT_EQ(j["virtual-size"], 4096);
  EXPECT_FALSE(j.contains("type"));
  CmdResult read = HvdiskStdout("read -f raw " + Q(fake) + " 100 3");
  EXPECT_EQ(read.rc, 0);
  EXPECT_EQ(read.out, "xxx");
}

TEST_F(ImageCommandsTest, OtherFilesAreRaw) {
  const std::string raw = dir_.File("disk.img");
  WriteTextFile(raw, std::string(1024, 'r'));
  nlohmann::json j = nlohmann::json::parse(HvdiskStdout("info --json " + Q(raw)).out);
  EXPECT_EQ(j["format"], "raw");
  EXPECT_EQ(j["virtual-size"], 1024);
}

TEST_F(ImageCommandsTest, VhdxSignatureWinsOverTheName) {
  const std::string img = dir_.File("a.vhdx");
  ASSERT_EQ(Hvdisk("create " + Q(img) + " 4M").rc, 0);
  const std::string renamed = dir_.File("a.bin");
  ASSERT_EQ(std::rename(img.c_str(), renamed.c_str()), 0);
  nlohmann::json j = nlohmann::json::parse(HvdiskStdout("info --json " + Q(renamed)).out);
  EXPECT_EQ(j["format"], "vhdx");
  EXPECT_EQ(j["virtual-size"], 4 << 20);
}

TEST_F(ImageCommandsTest, CheckCleanImageExits0) {
  const std::string img = dir_.File("c.vhdx");
  ASSERT_EQ(Hvdisk("create --block-size 1M " + Q(img) + " 8M").rc, 0);
  ASSERT_EQ(Hvdisk("write " + Q(img) + " 1M --pattern 0x11 --length 1M").rc, 0);
  CmdResult r = Hvdisk("check " + Q(img));
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("No errors were found on the image."));
  EXPECT_THAT(r.out, HasSubstr("1/8 = 12.50% allocated"));
}

TEST_F(ImageCommandsTest, CheckCleanAfterWritingAPartialLastBlock) {
  const std::string img = dir_.File("p.vhdx");
  ASSERT_EQ(Hvdisk("create --block-size 32M " + Q(img) + " 20M").rc,
            0);  // one block, 12 MiB past the end
  ASSERT_EQ(Hvdisk("write " + Q(img) + " 19M --pattern 0x22 --length 4K").rc, 0);
  CmdResult r = Hvdisk("check " + Q(img));
  EXPECT_EQ(r.rc, 0) << "the last block is allocated whole, as Hyper-V does:\n" << r.out;
}

TEST_F(ImageCommandsTest, CheckLeakExits3) {
  const std::string img = dir_.File("l.vhdx");
  ASSERT_EQ(Hvdisk("create --block-size 1M " + Q(img) + " 8M").rc, 0);
  ASSERT_EQ(truncate(img.c_str(), 16 << 20), 0);  // unreferenced space past the last block
  CmdResult r = Hvdisk("check " + Q(img));
  EXPECT_EQ(r.rc, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("leaked"));
}

TEST_F(ImageCommandsTest, CheckCorruptHeadersExits2) {
  const std::string img = dir_.File("h.vhdx");
  ASSERT_EQ(Hvdisk("create " + Q(img) + " 8M").rc, 0);
  {
    std::fstream f(img, std::ios::in | std::ios::out | std::ios::binary);
    const std::string zeros(128 << 10, '\0');
    f.seekp(64 << 10);  // both headers
    f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
  CmdResult r = Hvdisk("check " + Q(img));
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("header"));
}

TEST_F(ImageCommandsTest, CheckRawFileExits1) {
  const std::string raw = dir_.File("r.img");
  WriteTextFile(raw, std::string(4096, 'r'));
  CmdResult r = Hvdisk("check " + Q(raw));
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("wrong type"));
}

TEST_F(ImageCommandsTest, VersionAndHelpExit0) {
  EXPECT_EQ(Hvdisk("--version").rc, 0);
  CmdResult help = Hvdisk("--help");
  EXPECT_EQ(help.rc, 0);
  for (const char* cmd : {"create", "info", "check", "convert", "compare", "digest", "map", "read",
                          "write", "bench", "demo"}) {
    EXPECT_THAT(help.out, HasSubstr(cmd));
  }
}

}  // namespace
}  // namespace hvdisk
