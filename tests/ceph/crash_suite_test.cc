// The single-host crash suite (crash_tests: hvdisk processes SIGKILLed at random instants in the
// middle of revert and commit, and two processes racing one VM) run once with its files on host
// A's CephFS mount, through HVDISK_TEST_TMPDIR. Its in-memory part (NbdExportCrash, on a
// CrashFileSystem) touches no file and runs in the crash label only.
#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>
#include <string>

#include "tests/testutil/ceph_cluster.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::testing {
namespace {

using CephCrashSuiteTest = CephTest;

TEST_F(CephCrashSuiteTest, StoreKillAndRaceSuitePassesWithItsFilesOnCephFs) {
  ASSERT_OK_AND_ASSIGN(const std::string dir, cluster().FreshDir(CephHost::kA, "crash-suite"));
  const std::string cmd = "HVDISK_TEST_TMPDIR=" + Q(dir) + " TMPDIR=" + Q(dir) +
                          " HVDISK_KILL_ROUNDS=6 timeout 600 " +
                          Q(std::string(HVDISK_BINARY_DIR) + "/tests/crash_tests") +
                          " --gtest_filter=-NbdExportCrash.*";
  std::string out;
  const int rc = RunCommand(cmd, &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("[  PASSED  ]"), std::string::npos) << out;
  EXPECT_EQ(out.find("[  FAILED  ]"), std::string::npos) << out;
  std::istringstream lines(out);  // the per-test times and kill rounds, for the log
  for (std::string line; std::getline(lines, line);) {
    if (line.find("OK ]") != std::string::npos || line.find("rounds") != std::string::npos) {
      std::printf("  crash_tests: %s\n", line.c_str());
    }
  }
  EXPECT_TRUE(DirNames(dir).empty()) << "the suite left files on CephFS";
}

}  // namespace
}  // namespace hvdisk::testing
