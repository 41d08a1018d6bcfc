// CephCluster: a throwaway single-node Ceph cluster on 127.0.0.1 with CephFS mounted twice, as two
// "hosts" A and B (each its own ceph-fuse process and client name, page cache off), built and torn
// down by tests/ceph/cluster.sh. One cluster serves a whole test binary (cold start ~11 s):
// ceph_tests registers CephEnvironment, and its tests derive from CephTest.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <memory>
#include <string>

#include "platform/status.h"

namespace hvdisk::testing {

enum class CephHost { kA, kB };

// Thread safety: none (drive it from the test's main thread). Every port is chosen free, so
// several clusters (two binaries, ctest -j2) run at once.
class CephCluster {
 public:
  // Builds a cluster under a fresh directory of $TMPDIR (or /tmp) and mounts both hosts. Fails,
  // naming the packages, when Ceph is not installed; fails when not root.
  static Result<std::unique_ptr<CephCluster>> Start();
  // Stop(): no process and no mount is left behind. A watchdog started with the cluster also tears
  // it down if this process dies without destroying it.
  ~CephCluster();
  CephCluster(const CephCluster&) = delete;
  CephCluster& operator=(const CephCluster&) = delete;

  // The directory where host `h` mounts the file system (the same files on both hosts).
  std::string Mount(CephHost h) const;
  // A fresh, empty directory on the file system, named `name` (replaced if present); the same
  // path seen from host `h`. Use PathOn to see it from the other host.
  Result<std::string> FreshDir(CephHost h, const std::string& name);
  // `path` (under one host's mount) as seen from host `h`.
  std::string PathOn(CephHost h, const std::string& path) const;
  // The pid of host `h`'s ceph-fuse (SIGKILL it to crash the host, SIGSTOP to freeze it), or -1.
  pid_t FusePid(CephHost h) const;
  // Replaces host `h`'s mount with a fresh one (a new ceph-fuse and client session): after the
  // host was killed or frozen. Its old pid is ended first.
  Status Remount(CephHost h);
  // How long the MDS waits for a silent client before evicting (and blocklisting) it: 30 s is
  // Ceph's minimum; the default is 60.
  Status SetSessionTimeout(int seconds);
  // Runs `ceph ARGS` against the cluster; `out` gets its stdout and stderr.
  Status Ceph(const std::string& args, std::string* out = nullptr);
  // Unmounts both hosts and ends every daemon by pid (SIGTERM, then SIGKILL). Idempotent.
  Status Stop();
  // The cluster's directory (ceph.conf, log/, pid/).
  const std::string& dir() const { return dir_; }

 private:
  explicit CephCluster(std::string dir) : dir_(std::move(dir)) {}
  Status Script(const std::string& args, std::string* out = nullptr);

  std::string dir_;
  bool stopped_ = false;
};

// The cluster shared by the tests of one binary: started by CephEnvironment's SetUp, nullptr
// before (or when it failed to start).
CephCluster* SharedCephCluster();

// A gtest global environment owning SharedCephCluster(). Register it once per binary:
//   static auto* const kEnv = ::testing::AddGlobalTestEnvironment(new CephEnvironment);
class CephEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
  void TearDown() override;
};

// Base of the tests that use the shared cluster: fails the test (never skips) when it is not up.
class CephTest : public ::testing::Test {
 protected:
  void SetUp() override;
  CephCluster& cluster() { return *SharedCephCluster(); }
};

}  // namespace hvdisk::testing
