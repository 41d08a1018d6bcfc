// The crash contract of a replication cycle (ops/replicate.h), on CrashFileSystem: `Replicate
// --checkpoint` from a raw file and from a delta .avhdx is crashed at every mutating operation of
// its apply path, its checkpoint and its statistics record (one crash mode per point, rotating
// over two random seeds, drop-all and keep-all). After each crash the store reopens (recovery runs)
// with:
//   * the contract of docs/design.md holding (ContractProblems: no pending intent, no orphan,
//     every chain opens and checks clean);
//   * the VM in Replicating, its points those it had (their content unchanged), or those plus one
//     new point reading exactly as the source (a checkpoint that committed);
//   * the next cycle from the same source completing it: its point reads as the source.
#include <gtest/gtest.h>

#include "chain/chain.h"
#include "disk/open.h"
#include "ops/replicate.h"
#include "platform/crash_file_system.h"
#include "platform/digest.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/crash_sweep.h"
#include "tests/testutil/store_fixture.h"

namespace hvdisk::ops {
namespace {

using testing::kBlockSize;
using testing::kDiskSize;

// XXH3-128 hex of the virtual content of `path` (raw, VHDX or a chain's leaf).
Result<std::string> Digest(FileSystem* fs, const std::string& path) {
  ASSIGN_OR_RETURN(auto disk, disk::Open(fs, path, {}));
  std::vector<std::byte> content(disk->size());
  RETURN_IF_ERROR(disk->Read(0, content));
  RETURN_IF_ERROR(disk->Close());
  Digest128 digest;
  digest.Update(content);
  return digest.Finish().ToHex();
}

// Writes the source of `kind` into `fs`: a raw file with two pattern runs, or a delta .avhdx on a
// copy of the VM's current content with writes in two blocks. Returns its path.
Result<std::string> MakeSource(FileSystem* fs, Store& store, const Guid& vm, bool delta) {
  if (!delta) {
    std::vector<std::byte> content(kDiskSize);
    auto a = hvdisk::testing::PatternBytes(300000, 41);
    std::copy(a.begin(), a.end(), content.begin() + (600 << 10));
    ASSIGN_OR_RETURN(auto f, fs->Open("/src.raw", OpenOptions::CreateOrTruncate()));
    RETURN_IF_ERROR(f->WriteAt(0, content));
    RETURN_IF_ERROR(f->Flush());
    return std::string("/src.raw");
  }
  ASSIGN_OR_RETURN(VmRecord r, store.GetVm(vm));
  ASSIGN_OR_RETURN(auto head, disk::Open(fs, store.DiskPath(vm, r.head), {}));
  std::vector<std::byte> current(kDiskSize);
  RETURN_IF_ERROR(head->Read(0, current));
  RETURN_IF_ERROR(head->Close());
  ASSIGN_OR_RETURN(
      auto parent,
      disk::CreateVhdx(fs, "/parent.vhdx", {.virtual_size = kDiskSize, .block_size = kBlockSize}));
  RETURN_IF_ERROR(parent->Write(0, current));
  RETURN_IF_ERROR(parent->Close());
  RETURN_IF_ERROR(chain::CreateChild(fs, "/parent.vhdx", "/delta.avhdx"));
  ASSIGN_OR_RETURN(auto d, disk::Open(fs, "/delta.avhdx", {.writable = true}));
  RETURN_IF_ERROR(d->Write(kBlockSize + 512, hvdisk::testing::PatternBytes(4096, 5)));
  RETURN_IF_ERROR(d->Write(2 * kBlockSize, hvdisk::testing::PatternBytes(70000, 6)));
  RETURN_IF_ERROR(d->Flush());
  RETURN_IF_ERROR(d->Close());
  return std::string("/delta.avhdx");
}

class ReplicateCrashTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    CrashFileSystem fs;
    testing::StoreEnv env(&fs);
    ASSERT_OK_AND_ASSIGN(auto store, env.Create());
    ASSERT_OK_AND_ASSIGN(vm_, env.MakeVm(*store, 1));
    ASSERT_OK_AND_ASSIGN(from_, MakeSource(&fs, *store, vm_, GetParam()));
    ASSERT_OK_AND_ASSIGN(want_, Digest(&fs, from_));
    ASSERT_OK_AND_ASSIGN(before_, store->GetVm(vm_));
    for (const RecoveryPoint& p : before_.points) {
      ASSERT_OK_AND_ASSIGN(points_[p.file], Digest(&fs, store->DiskPath(vm_, p.file)));
    }
    store.reset();
    ASSERT_OK(fs.ExportTo(&image_, "/"));
  }
  std::unique_ptr<CrashFileSystem> Fresh() {
    auto fs = std::make_unique<CrashFileSystem>(4096);
    EXPECT_OK(fs->ImportFrom(&image_, "/"));
    return fs;
  }
  ReplicateOptions Options() const {
    return {.from = from_, .checkpoint = true, .request = 256 << 10};
  }
  // Runs one cycle with the crash armed at `point` (0: none); returns the mutating ops it used.
  uint64_t Run(CrashFileSystem* fs, uint64_t point) {
    testing::StoreEnv env(fs);
    auto store = env.Open();
    if (!store.ok()) return 0;
    const uint64_t start = fs->mutating_ops();
    fs->SetCrashPoint(point);
    Result<ReplicateReport> r = Replicate(**store, vm_, Options());
    if (point == 0) EXPECT_OK(r.status());
    return fs->mutating_ops() - start;
  }
  // The reopened store after a crash, then the cycle run again.
  void Verify(CrashFileSystem* fs, const std::string& where) {
    testing::StoreEnv env(fs);
    ASSERT_OK_AND_ASSIGN(auto store, env.Open());
    std::vector<std::string> problems = testing::ContractProblems(*store);
    ASSERT_TRUE(problems.empty()) << where << ": " << problems.front();
    ASSERT_OK_AND_ASSIGN(VmRecord r, store->GetVm(vm_));
    EXPECT_EQ(r.state, ReplicationState::kReplicating) << where;
    ASSERT_GE(r.points.size(), before_.points.size()) << where;
    ASSERT_LE(r.points.size(), before_.points.size() + 1) << where;
    for (const auto& [file, digest] : points_) {
      EXPECT_EQ(Digest(fs, store->DiskPath(vm_, file)).value(), digest) << where << " " << file;
    }
    if (r.points.size() > before_.points.size()) {
      EXPECT_EQ(Digest(fs, store->DiskPath(vm_, r.points.back().file)).value(), want_) << where;
    }
    ASSERT_OK_AND_ASSIGN(ReplicateReport again, Replicate(*store, vm_, Options()));
    ASSERT_TRUE(again.point.has_value());
    EXPECT_EQ(Digest(fs, store->DiskPath(vm_, again.point->file)).value(), want_) << where;
  }
  MemFileSystem image_;
  Guid vm_;
  std::string from_, want_;
  VmRecord before_;
  std::map<std::string, std::string> points_;
};

TEST_P(ReplicateCrashTest, EveryCrashPointLeavesThePointsAndTheNextCycleConverges) {
  uint64_t ops = 0;
  {
    auto fs = Fresh();
    ops = Run(fs.get(), 0);
    Verify(fs.get(), "no crash");
  }
  ASSERT_GT(ops, 5u);
  // One crash per point, the mode rotating with the point (each trial runs two cycles).
  hvdisk::testing::CrashEverywhere(
      ops,
      [&](const hvdisk::testing::CrashRun& run) {
        auto fs = Fresh();
        Run(fs.get(), run.point);
        fs->Crash(run.seed, run.mode);
        Verify(fs.get(), run.where);
      },
      /*rotate=*/true);
}

INSTANTIATE_TEST_SUITE_P(Sources, ReplicateCrashTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "DeltaAvhdx" : "RawFile"; });

}  // namespace
}  // namespace hvdisk::ops
