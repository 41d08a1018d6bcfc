#include "tests/testutil/ceph_cluster.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/testutil/testutil.h"

namespace hvdisk::testing {
namespace {

std::unique_ptr<CephCluster>& Shared() {
  static std::unique_ptr<CephCluster> cluster;
  return cluster;
}

const char* HostName(CephHost h) { return h == CephHost::kA ? "a" : "b"; }

// Whether anything is still mounted at or below `dir` (then its files must not be removed).
bool AnythingMountedUnder(const std::string& dir) {
  std::ifstream mounts("/proc/mounts");
  std::string device, point, rest;
  while (mounts >> device >> point && std::getline(mounts, rest)) {
    if (point == dir || point.rfind(dir + "/", 0) == 0) return true;
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<CephCluster>> CephCluster::Start() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/hvdisk-ceph-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return ErrnoStatus(errno, "mkdtemp", tmpl);
  std::unique_ptr<CephCluster> cluster(new CephCluster(tmpl));
  std::string out;
  Status s = cluster->Script("start " + tmpl + " " + std::to_string(getpid()), &out);
  if (!s.ok()) {
    (void)cluster->Stop();
    return Unavailable("the CephFS test cluster did not start: " + out);
  }
  return cluster;
}

CephCluster::~CephCluster() {
  (void)Stop();
  std::error_code ec;
  if (!AnythingMountedUnder(dir_)) std::filesystem::remove_all(dir_, ec);
}

Status CephCluster::Script(const std::string& args, std::string* out) {
  const std::string cmd = std::string(HVDISK_CEPH_CLUSTER_SCRIPT) + " " + args;
  std::string captured;
  const int rc = RunCommand(cmd, &captured);
  if (out) *out = captured;
  if (rc != 0) return IoError(cmd + " exited " + std::to_string(rc) + ": " + captured);
  return Status::Ok();
}

std::string CephCluster::Mount(CephHost h) const { return dir_ + "/mnt/" + HostName(h); }

std::string CephCluster::PathOn(CephHost h, const std::string& path) const {
  for (CephHost from : {CephHost::kA, CephHost::kB}) {
    const std::string m = Mount(from);
    if (path == m || path.rfind(m + "/", 0) == 0) return Mount(h) + path.substr(m.size());
  }
  return path;
}

Result<std::string> CephCluster::FreshDir(CephHost h, const std::string& name) {
  const std::string path = Mount(h) + "/" + name;
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (!std::filesystem::create_directories(path, ec) || ec) {
    return IoError("cannot create " + path + " on CephFS: " + ec.message());
  }
  return path;
}

pid_t CephCluster::FusePid(CephHost h) const {
  std::ifstream in(dir_ + "/pid/fuse." + HostName(h));
  pid_t pid = -1;
  return in >> pid ? pid : -1;
}

Status CephCluster::Remount(CephHost h) { return Script("mount " + dir_ + " " + HostName(h)); }

Status CephCluster::SetSessionTimeout(int seconds) {
  return Ceph("fs set cephfs session_timeout " + std::to_string(seconds));
}

Status CephCluster::Ceph(const std::string& args, std::string* out) {
  return Script("ceph " + dir_ + " " + args, out);
}

Status CephCluster::Stop() {
  if (stopped_) return Status::Ok();
  stopped_ = true;
  return Script("stop " + dir_);
}

CephCluster* SharedCephCluster() { return Shared().get(); }

void CephEnvironment::SetUp() {
  Result<std::unique_ptr<CephCluster>> started = CephCluster::Start();
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  Shared() = std::move(started).value();
}

void CephEnvironment::TearDown() { Shared().reset(); }

void CephTest::SetUp() {
  ASSERT_NE(SharedCephCluster(), nullptr) << "the CephFS test cluster is not running (see above)";
}

}  // namespace hvdisk::testing
