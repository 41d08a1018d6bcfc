// Replication cycles (ops/replicate.h) from file sources in memory: a full sync from a raw file, a
// delta .avhdx applying only its present sectors, a source of the wrong size refused with nothing
// applied, a source failing mid-cycle leaving the VM consistent and no point taken, and every cycle
// recorded in the VM's replication statistics. (NBD sources: tests/interop/replicate_interop_test.)
#include "ops/replicate.h"

#include <gtest/gtest.h>

#include "chain/chain.h"
#include "disk/open.h"
#include "ops/replication.h"
#include "ops/replication_stats.h"
#include "platform/fault_file_system.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/store_fixture.h"

namespace hvdisk::ops {
namespace {

using testing::kBlockSize;
using testing::kDiskSize;

// The virtual content of the disk `path` (raw, VHDX or a chain's leaf).
std::vector<std::byte> Content(FileSystem* fs, const std::string& path) {
  auto disk = disk::Open(fs, path, {});
  EXPECT_OK(disk.status());
  if (!disk.ok()) return {};
  std::vector<std::byte> out((*disk)->size());
  EXPECT_OK((*disk)->Read(0, out));
  EXPECT_OK((*disk)->Close());
  return out;
}

class ReplicateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, env_.Create());
    ASSERT_OK_AND_ASSIGN(vm_, env_.MakeVm(*store_, 1));
  }
  std::string Head() { return store_->DiskPath(vm_, store_->GetVm(vm_)->head); }
  // A raw file of `size` bytes: pattern data at 512 KiB and at 2 MiB + 4 KiB, zeros elsewhere.
  std::vector<std::byte> MakeRaw(const std::string& path, uint64_t size = kDiskSize) {
    std::vector<std::byte> content(size);
    auto a = hvdisk::testing::PatternBytes(300000, 41), b = hvdisk::testing::PatternBytes(5000, 42);
    std::copy(a.begin(), a.end(), content.begin() + (512 << 10));
    if (size > (2 << 20) + 4096 + b.size()) {
      std::copy(b.begin(), b.end(), content.begin() + (2 << 20) + 4096);
    }
    auto f = fs_.Open(path, OpenOptions::CreateOrTruncate());
    EXPECT_OK(f.status());
    EXPECT_OK((*f)->WriteAt(0, content));
    return content;
  }
  MemFileSystem fs_;
  testing::StoreEnv env_{&fs_};
  std::unique_ptr<Store> store_;
  Guid vm_;
};

TEST_F(ReplicateTest, FullSyncFromARawFileMakesTheHeadAndItsPointReadAsTheSource) {
  const std::vector<std::byte> src = MakeRaw("/src.raw");
  ASSERT_OK_AND_ASSIGN(ReplicateReport r,
                       Replicate(*store_, vm_, {.from = "/src.raw", .checkpoint = true}));
  ASSERT_TRUE(r.point.has_value());
  EXPECT_EQ(Content(&fs_, store_->DiskPath(vm_, r.point->file)), src);
  EXPECT_EQ(Content(&fs_, Head()), src);
  EXPECT_EQ(r.size, kDiskSize);
  EXPECT_EQ(r.bytes, kDiskSize) << "a file without holes is all data, moved once";
  EXPECT_GT(r.zero_bytes, 0u) << "its zero requests are applied as zeros";
  ASSERT_OK_AND_ASSIGN(VmRecord rec, store_->GetVm(vm_));
  EXPECT_EQ(rec.points.size(), 2u);
  EXPECT_EQ(rec.state, ReplicationState::kReplicating);
  ASSERT_OK_AND_ASSIGN(ReplicationStats stats, LoadReplicationStats(*store_, vm_));
  EXPECT_EQ(stats.cycles, 1u);
  EXPECT_TRUE(stats.last_succeeded);
  EXPECT_EQ(stats.last_bytes, kDiskSize);
  EXPECT_EQ(stats.source, "/src.raw");
  EXPECT_TRUE(testing::ContractProblems(*store_).empty());
}

TEST_F(ReplicateTest, DeltaAvhdxAppliesOnlyItsPresentSectorsOverTheReplicasContent) {
  // The primary's parent is the replica's current content: a copy of its head's view.
  const std::vector<std::byte> current = Content(&fs_, Head());
  {
    ASSERT_OK_AND_ASSIGN(auto parent,
                         disk::CreateVhdx(&fs_, "/parent.vhdx",
                                          {.virtual_size = kDiskSize, .block_size = kBlockSize}));
    ASSERT_OK(parent->Write(0, current));
    ASSERT_OK(parent->Close());
  }
  ASSERT_OK(chain::CreateChild(&fs_, "/parent.vhdx", "/delta.avhdx"));
  {
    ASSERT_OK_AND_ASSIGN(auto delta, disk::Open(&fs_, "/delta.avhdx", {.writable = true}));
    ASSERT_OK(delta->Write(kBlockSize + 512, hvdisk::testing::PatternBytes(4096, 5)));
    ASSERT_OK(delta->Write(2 * kBlockSize, hvdisk::testing::PatternBytes(65536, 6)));
    ASSERT_OK(delta->Flush());
    ASSERT_OK(delta->Close());
  }
  const std::vector<std::byte> want = Content(&fs_, "/delta.avhdx");
  ASSERT_OK_AND_ASSIGN(ReplicateReport r, Replicate(*store_, vm_, {.from = "/delta.avhdx"}));
  EXPECT_EQ(r.bytes, 4096u + 65536u) << "only the delta's present sectors move";
  EXPECT_EQ(r.extents, 2u);
  EXPECT_EQ(Content(&fs_, Head()), want);
}

TEST_F(ReplicateTest, SourceOfAnotherSizeIsRefusedWithNothingAppliedAndTheFailureRecorded) {
  MakeRaw("/small.raw", 2 << 20);
  const std::vector<std::byte> before = Content(&fs_, Head());
  EXPECT_CODE(Replicate(*store_, vm_, {.from = "/small.raw", .checkpoint = true}),
              Code::kInvalidArgument);
  EXPECT_EQ(Content(&fs_, Head()), before);
  ASSERT_OK_AND_ASSIGN(VmRecord rec, store_->GetVm(vm_));
  EXPECT_EQ(rec.points.size(), 1u);
  ASSERT_OK_AND_ASSIGN(ReplicationStats stats, LoadReplicationStats(*store_, vm_));
  EXPECT_EQ(stats.cycles, 1u);
  EXPECT_FALSE(stats.last_succeeded);
  EXPECT_NE(stats.last_error.find("nothing was applied"), std::string::npos) << stats.last_error;
}

TEST_F(ReplicateTest, BitmapWithAFileAndMissingSourcesAreRefused) {
  MakeRaw("/src.raw");
  EXPECT_CODE(Replicate(*store_, vm_, {.from = "/src.raw", .bitmap = "b0"}),
              Code::kInvalidArgument);
  EXPECT_CODE(Replicate(*store_, vm_, {.from = "/gone.raw"}), Code::kNotFound);
  EXPECT_CODE(Replicate(*store_, vm_, {.from = "/src.raw", .depth = 0}), Code::kInvalidArgument);
  ASSERT_OK(SuspendReplication(*store_, vm_));
  EXPECT_CODE(Replicate(*store_, vm_, {.from = "/src.raw"}), Code::kInvalidState);
}

TEST_F(ReplicateTest, QcowFileIsRefusedNamingItsNbdExport) {
  auto f = fs_.Open("/img.qcow2", OpenOptions::CreateOrTruncate());
  ASSERT_OK(f.status());
  std::vector<std::byte> data(kDiskSize);
  data[0] = std::byte{'Q'}, data[1] = std::byte{'F'}, data[2] = std::byte{'I'};
  data[3] = std::byte{0xfb};
  ASSERT_OK((*f)->WriteAt(0, data));
  Result<ReplicateReport> r = Replicate(*store_, vm_, {.from = "/img.qcow2"});
  EXPECT_CODE(r, Code::kUnsupported);
  EXPECT_NE(r.status().message().find("qemu-nbd"), std::string::npos);
}

// A source whose reads fail after a while (a disk that goes away mid-cycle): the cycle fails,
// no point is taken, the VM stays consistent in Replicating, and the next cycle completes it.
TEST_F(ReplicateTest, SourceFailingMidCycleLeavesTheVmConsistentAndTheNextCycleCompletesIt) {
  const std::vector<std::byte> src = MakeRaw("/src.raw");
  FaultFileSystem faulty(&fs_);
  ASSERT_OK_AND_ASSIGN(auto source, disk::OpenSource(&faulty, "/src.raw", {}));
  faulty.SetRule(FileOp::kRead, {.nth = 2, .persistent = true});
  ReplicateOptions o{.from = "/src.raw", .checkpoint = true, .request = 1 << 20};
  EXPECT_CODE(ReplicateFrom(*store_, vm_, *source, o), Code::kIoError);
  ASSERT_OK_AND_ASSIGN(VmRecord rec, store_->GetVm(vm_));
  EXPECT_EQ(rec.points.size(), 1u) << "no point after a failed cycle";
  EXPECT_EQ(rec.state, ReplicationState::kReplicating);
  EXPECT_TRUE(testing::ContractProblems(*store_).empty());
  ASSERT_OK_AND_ASSIGN(ReplicateReport r, Replicate(*store_, vm_, o));
  ASSERT_TRUE(r.point.has_value());
  EXPECT_EQ(Content(&fs_, store_->DiskPath(vm_, r.point->file)), src);
  ASSERT_OK_AND_ASSIGN(ReplicationStats stats, LoadReplicationStats(*store_, vm_));
  EXPECT_EQ(stats.cycles, 2u);
  EXPECT_EQ(stats.failed_cycles, 1u);
  EXPECT_TRUE(stats.last_succeeded);
}

}  // namespace
}  // namespace hvdisk::ops
