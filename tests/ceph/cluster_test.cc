// (tests/ceph: one CephFS cluster serves this whole binary; ctest runs it as one entry.)
// The fixture itself: two hosts see one file system, each through its own ceph-fuse, and a host
// can be crashed and mounted again. The global environment registered here serves every test of
// ceph_tests (derive from testing::CephTest).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tests/testutil/ceph_cluster.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::testing {
namespace {

[[maybe_unused]] ::testing::Environment* const kCephEnvironment =
    ::testing::AddGlobalTestEnvironment(new CephEnvironment);

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

using CephClusterTest = CephTest;

TEST_F(CephClusterTest, BothHostsSeeOneFileSystemThroughTheirOwnCephFuse) {
  ASSERT_OK_AND_ASSIGN(const std::string dir, cluster().FreshDir(CephHost::kA, "fixture"));
  std::ofstream(dir + "/hello") << "from host A";
  EXPECT_EQ(ReadAll(cluster().PathOn(CephHost::kB, dir) + "/hello"), "from host A");
  const pid_t a = cluster().FusePid(CephHost::kA), b = cluster().FusePid(CephHost::kB);
  ASSERT_GT(a, 0);
  ASSERT_GT(b, 0);
  EXPECT_NE(a, b);
  EXPECT_EQ(kill(a, 0), 0);
  EXPECT_EQ(kill(b, 0), 0);
  EXPECT_NE(cluster().Mount(CephHost::kA), cluster().Mount(CephHost::kB));
}

TEST_F(CephClusterTest, SessionTimeoutIsSetOnTheFileSystem) {
  ASSERT_OK(cluster().SetSessionTimeout(45));
  std::string out;
  ASSERT_OK(cluster().Ceph("fs get cephfs", &out));
  EXPECT_NE(out.find("session_timeout\t45"), std::string::npos) << out;
  ASSERT_OK(cluster().SetSessionTimeout(60));
}

TEST_F(CephClusterTest, AHostKilledMountsAgainWithAFreshCephFuse) {
  const pid_t old = cluster().FusePid(CephHost::kA);
  ASSERT_GT(old, 0);
  ASSERT_EQ(kill(old, SIGKILL), 0);
  ASSERT_OK(cluster().Remount(CephHost::kA));
  EXPECT_NE(cluster().FusePid(CephHost::kA), old);
  ASSERT_OK_AND_ASSIGN(const std::string dir, cluster().FreshDir(CephHost::kA, "remounted"));
  std::ofstream(dir + "/after") << "again";
  EXPECT_EQ(ReadAll(cluster().PathOn(CephHost::kB, dir) + "/after"), "again");
}

}  // namespace
}  // namespace hvdisk::testing
