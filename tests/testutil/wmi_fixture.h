// Helpers for the WMI facade tests: references, an os-win style job poller, replica VMs on any
// FileSystem, and GateFileSystem, which holds an operation at a chosen file so a test can act
// while a job is running (cancel it, inject a fault, kill its process).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

#include "ops/store.h"
#include "ops/wmi/replication_service.h"
#include "platform/file.h"

namespace hvdisk::ops::wmi::testing {

std::string VmRef(const Guid& vm);        // the full Msvm_ComputerSystem path
std::string PointRef(const Guid& point);  // Msvm_VirtualSystemSettingData.InstanceID=...

// As os-win's JobUtils: polls the job every `poll` until JobState is 7, 8, 9 or 10.
Result<Job> WaitForJob(ReplicationService& service, const std::string& job,
                       std::chrono::milliseconds poll = std::chrono::milliseconds(10));

// A replica VM `name` made from a fresh base at `base_path` (on the store's FileSystem) with
// `points` recovery points, each after a change of its own, and one more change in the head.
Result<Guid> MakeReplica(Store& store, const std::string& base_path, int points,
                         const std::string& name = "vm1", uint64_t seed = 1);

// Blocks Open of every path containing `needle` (once armed) until Release().
class GateFileSystem : public FileSystemWrapper {
 public:
  explicit GateFileSystem(FileSystem* target) : FileSystemWrapper(target) {}
  void Arm(std::string needle);
  // Waits until an Open is held at the gate.
  void WaitUntilHeld();
  void Release();

  Result<std::unique_ptr<File>> Open(const std::string& path, const OpenOptions& opts) override;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string needle_;
  bool held_ = false;
  bool released_ = false;
};

}  // namespace hvdisk::ops::wmi::testing
