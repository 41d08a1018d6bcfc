#include "tests/testutil/store_fixture.h"

#include <algorithm>

#include "chain/chain.h"
#include "ops/recovery_point.h"
#include "ops/replication.h"
#include "ops/store_check.h"
#include "platform/digest.h"
#include "vhdx/image.h"

namespace hvdisk::ops::testing {

Status MakeBaseDisk(FileSystem* fs, const std::string& path, uint64_t seed) {
  RETURN_IF_ERROR(
      vhdx::Image::Create(fs, path, {.virtual_size = kDiskSize, .block_size = kBlockSize}));
  ASSIGN_OR_RETURN(auto image, vhdx::Image::Open(fs, path, {.read_only = false}));
  RETURN_IF_ERROR(image->Write(0, hvdisk::testing::PatternBytes(kBlockSize, seed)));
  RETURN_IF_ERROR(image->Write(2 * kBlockSize + 4096, hvdisk::testing::PatternBytes(8192, seed)));
  return image->Close();
}

Status ApplyPattern(Store& store, const Guid& vm, uint64_t offset, uint64_t length, uint64_t seed) {
  std::vector<std::byte> data = hvdisk::testing::PatternBytes(length, seed);
  ChangeExtent e{offset, data};
  return ApplyChanges(store, vm, std::span(&e, 1));
}

Result<std::string> DiskDigest(FileSystem* fs, const std::string& leaf) {
  ASSIGN_OR_RETURN(auto disk, chain::Chain::Open(fs, leaf, {}));
  Digest128 digest;
  std::vector<std::byte> buf(kBlockSize);
  for (uint64_t off = 0; off < disk->virtual_size(); off += buf.size()) {
    std::span<std::byte> chunk(buf.data(),
                               std::min<uint64_t>(buf.size(), disk->virtual_size() - off));
    RETURN_IF_ERROR(disk->Read(off, chunk));
    digest.Update(chunk);
  }
  return digest.Finish().ToHex();
}

Result<StoreState> CaptureState(Store& store) {
  StoreState state;
  ASSIGN_OR_RETURN(std::vector<VmRecord> vms, store.ListVms());
  for (const VmRecord& r : vms) {
    state.records[r.id] = r;
    std::vector<std::string> leaves;
    for (const RecoveryPoint& p : r.points) leaves.push_back(p.file);
    if (!r.head.empty()) leaves.push_back(r.head);
    if (!r.failover_disk.empty()) leaves.push_back(r.failover_disk);
    for (const std::string& f : leaves) {
      ASSIGN_OR_RETURN(state.digests[r.id.ToString(false) + "/" + f],
                       DiskDigest(store.fs(), store.DiskPath(r.id, f)));
    }
    if (!r.test_disk.empty()) {
      ASSIGN_OR_RETURN(state.digests[r.attached],
                       DiskDigest(store.fs(), store.layout().Abs(r.attached)));
    }
  }
  return state;
}

std::vector<std::string> TransitionProblems(const StoreState& before, const StoreState& after,
                                            const Guid& vm,
                                            const std::vector<ReplicationState>& after_states,
                                            bool* rolled_back) {
  std::vector<std::string> out;
  if (!after.records.count(vm)) return {"VM record gone"};
  const VmRecord& rec = after.records.at(vm);
  const VmRecord& old = before.records.at(vm);
  VmRecord same_epoch = rec;  // a recovery's takeover marks the record with a newer epoch only
  same_epoch.epoch = old.epoch;
  *rolled_back = same_epoch == old;
  const bool state_ok =
      std::find(after_states.begin(), after_states.end(), rec.state) != after_states.end();
  if (!*rolled_back && (!state_ok || rec.generation <= old.generation)) {
    out.push_back("state " + std::to_string(static_cast<int>(rec.state)) + " generation " +
                  std::to_string(rec.generation) + " is neither before nor after");
  }
  for (const auto& [key, digest] : after.digests) {
    if (before.digests.count(key) && before.digests.at(key) != digest) {
      out.push_back("content of " + key + " changed");
    }
  }
  if (*rolled_back && after.digests != before.digests) out.push_back("rolled back, disks differ");
  return out;
}

std::vector<std::string> ContractProblems(Store& store) {
  Result<StoreCheckReport> rep = CheckStore(&store);
  if (!rep.ok()) return {rep.status().ToString()};
  return rep->problems;
}

Result<std::unique_ptr<Store>> StoreEnv::Create() {
  RETURN_IF_ERROR(Store::Create(fs, "/store", options()));
  return Open();
}

Result<Guid> StoreEnv::MakeVm(Store& store, int points, uint32_t retention) {
  RETURN_IF_ERROR(MakeBaseDisk(fs, "/base.vhdx"));
  ASSIGN_OR_RETURN(
      Guid vm,
      CreateReplicaVm(store, {.name = "vm1", .base_path = "/base.vhdx", .retention = retention}));
  for (int i = 0; i < points; ++i) {
    const uint64_t off = (static_cast<uint64_t>(i) * 700 * 1024) % (kDiskSize - 65536);
    RETURN_IF_ERROR(ApplyPattern(store, vm, off, 65536 + 512 * i, 100 + i));
    RETURN_IF_ERROR(TakeRecoveryPoint(store, vm).status());
  }
  RETURN_IF_ERROR(ApplyPattern(store, vm, kDiskSize - 8192, 8192, 99));
  return vm;
}

}  // namespace hvdisk::ops::testing
