#include "tests/testutil/wmi_fixture.h"

#include <thread>

#include "ops/recovery_point.h"
#include "ops/replication.h"
#include "ops/wmi/cim_reference.h"
#include "tests/testutil/store_fixture.h"

namespace hvdisk::ops::wmi::testing {

std::string VmRef(const Guid& vm) { return ComputerSystemPath(vm); }

std::string PointRef(const Guid& point) {
  return "Msvm_VirtualSystemSettingData.InstanceID=\"Microsoft:" + point.ToString(false) + "\"";
}

Result<Job> WaitForJob(ReplicationService& service, const std::string& job,
                       std::chrono::milliseconds poll) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while (true) {
    ASSIGN_OR_RETURN(Job j, service.GetJob(job));
    if (IsFinished(j.state)) return j;
    if (std::chrono::steady_clock::now() > deadline) return Timeout("job " + job + " never ended");
    std::this_thread::sleep_for(poll);
  }
}

Result<Guid> MakeReplica(Store& store, const std::string& base_path, int points,
                         const std::string& name, uint64_t seed) {
  using ops::testing::ApplyPattern;
  using ops::testing::kDiskSize;
  RETURN_IF_ERROR(ops::testing::MakeBaseDisk(store.fs(), base_path, seed));
  ASSIGN_OR_RETURN(Guid vm, CreateReplicaVm(store, {.name = name, .base_path = base_path}));
  for (int i = 0; i < points; ++i) {
    const uint64_t off = (static_cast<uint64_t>(i) * 700 * 1024) % (kDiskSize - 65536);
    RETURN_IF_ERROR(ApplyPattern(store, vm, off, 65536 + 512 * i, seed * 100 + i));
    RETURN_IF_ERROR(TakeRecoveryPoint(store, vm).status());
  }
  RETURN_IF_ERROR(ApplyPattern(store, vm, kDiskSize - 8192, 8192, seed * 100 + 99));
  return vm;
}

void GateFileSystem::Arm(std::string needle) {
  std::lock_guard<std::mutex> guard(mu_);
  needle_ = std::move(needle);
  held_ = released_ = false;
}

void GateFileSystem::WaitUntilHeld() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return held_; });
}

void GateFileSystem::Release() {
  std::lock_guard<std::mutex> guard(mu_);
  released_ = true;
  cv_.notify_all();
}

Result<std::unique_ptr<File>> GateFileSystem::Open(const std::string& path,
                                                   const OpenOptions& opts) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!needle_.empty() && path.find(needle_) != std::string::npos) {
      held_ = true;
      cv_.notify_all();
      cv_.wait(lock, [this] { return released_; });
    }
  }
  return FileSystemWrapper::Open(path, opts);
}

}  // namespace hvdisk::ops::wmi::testing
