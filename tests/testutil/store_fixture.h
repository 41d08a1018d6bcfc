// Replica stores for the ops tests: small disks (3 MiB, 1 MiB blocks), a base with a pattern,
// changes applied as patterns, content digests, and the crash contract (docs/design.md) as a
// check.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ops/store.h"
#include "platform/file.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::ops::testing {

inline constexpr uint64_t kDiskSize = 3ull << 20;
inline constexpr uint32_t kBlockSize = 1u << 20;

// A dynamic 3 MiB VHDX with a pattern in its first and third blocks.
Status MakeBaseDisk(FileSystem* fs, const std::string& path, uint64_t seed = 1);
// Writes `length` pattern bytes at `offset` into the VM's head (ApplyChanges).
Status ApplyPattern(Store& store, const Guid& vm, uint64_t offset, uint64_t length, uint64_t seed);
// XXH3-128 hex of the virtual content seen through `leaf` (a path in the store's FileSystem).
Result<std::string> DiskDigest(FileSystem* fs, const std::string& leaf);

// What the crash contract compares: each VM record and the content digest of every recovery point,
// head, failover disk and test disk (keyed "<vm-guid>/<file>").
struct StoreState {
  std::map<Guid, VmRecord> records;
  std::map<std::string, std::string> digests;
};
Result<StoreState> CaptureState(Store& store);

// Problems with `after` as what an operation on `vm` left of `before`: the record is the
// before-record but for its epoch (*rolled_back set; a takeover marks it, ops/epoch.h) or has a
// later generation and a state of `after_states`; every digest both name is unchanged; rolled back,
// all digests are.
std::vector<std::string> TransitionProblems(const StoreState& before, const StoreState& after,
                                            const Guid& vm,
                                            const std::vector<ReplicationState>& after_states,
                                            bool* rolled_back);

// Problems with the store as docs/design.md's contract states it: CheckStore's findings (pending
// intents, orphans, missing or unclean images, chains that do not open). Empty when it holds.
std::vector<std::string> ContractProblems(Store& store);

// A store on `fs` at /store (its lock files with it, on `fs`).
struct StoreEnv {
  explicit StoreEnv(FileSystem* fs) : fs(fs) {}
  FileSystem* fs;
  // Synchronous reclamation: the trash is empty whenever an operation returns (deterministic).
  StoreOptions options() const { return {.reclaim = StoreOptions::Reclaim::kSynchronous}; }
  Result<std::unique_ptr<Store>> Create();  // Store::Create then Open
  Result<std::unique_ptr<Store>> Open() { return Store::Open(fs, "/store", options()); }
  // Creates a VM "vm1" from a fresh base at /base.vhdx, applies a change and takes `points`
  // recovery points, each after a change of its own.
  Result<Guid> MakeVm(Store& store, int points, uint32_t retention = 24);
};

}  // namespace hvdisk::ops::testing
