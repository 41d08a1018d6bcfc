// Issue 18, part 2: the change-set writer and `hvdisk diff`'s core (DiffToChangeSet): what it
// writes reads back as a change set, the diff reads nothing both disks leave unallocated, and a
// crash at any write, flush or rename never leaves a file at the final name that looks whole.
#include "ops/change_set_writer.h"

#include <gtest/gtest.h>

#include "disk/open.h"
#include "ops/change_set.h"
#include "platform/atomic_output.h"
#include "platform/crash_file_system.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/crash_sweep.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::ops {
namespace {

constexpr uint64_t kSize = 4u << 20;

std::vector<std::byte> Pattern(size_t n, int seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::byte((i * 7 + seed) & 0xff);
  return v;
}

// OLD: data in its first MiB; NEW: the same, one sector changed, a MiB zeroed, a MiB added.
void MakeDisks(FileSystem* fs) {
  auto old_disk = disk::CreateRaw(fs, "/old.raw", kSize).value();
  auto new_disk = disk::CreateRaw(fs, "/new.raw", kSize).value();
  const std::vector<std::byte> a = Pattern(1 << 20, 1), b = Pattern(1 << 20, 2);
  ASSERT_OK(old_disk->Write(0, a));
  ASSERT_OK(old_disk->Write(2 << 20, a));
  ASSERT_OK(new_disk->Write(0, a));
  ASSERT_OK(new_disk->Write(4096, std::span(b).first(512)));
  ASSERT_OK(new_disk->Write(3 << 20, b));
  ASSERT_OK(old_disk->Flush());
  ASSERT_OK(new_disk->Flush());
  ASSERT_OK(old_disk->Close());
  ASSERT_OK(new_disk->Close());
}

// The extents of a change set file, checked whole (header, bounds, checksum).
Result<std::vector<std::pair<uint64_t, uint64_t>>> Extents(FileSystem* fs, const std::string& p) {
  ASSIGN_OR_RETURN(ChangeSetReader r, ChangeSetReader::Open(fs, p));
  std::vector<std::pair<uint64_t, uint64_t>> out;
  RETURN_IF_ERROR(r.Scan(kSize, [&](uint64_t off, std::span<const std::byte> d) {
    if (!out.empty() && out.back().first + out.back().second == off) {
      out.back().second += d.size();
    } else {
      out.push_back({off, d.size()});
    }
    return Status::Ok();
  }));
  return out;
}

Result<DiffReport> Diff(FileSystem* fs, const std::string& path) {
  ASSIGN_OR_RETURN(auto a, disk::Open(fs, "/old.raw", {}));
  ASSIGN_OR_RETURN(auto b, disk::Open(fs, "/new.raw", {}));
  return DiffToChangeSet(fs, a.get(), b.get(), path);
}

TEST(ChangeSetDiff, TheDiffHoldsExactlyTheChangedSectorsAndZeroedRangesAsExtents) {
  MemFileSystem fs;
  MakeDisks(&fs);
  ASSERT_OK(fs.Open("/cs", OpenOptions::CreateNew()).status());
  ASSERT_OK_AND_ASSIGN(DiffReport r, Diff(&fs, "/cs"));
  ASSERT_OK_AND_ASSIGN(auto extents, Extents(&fs, "/cs"));
  // (adjacent extents read back as one run: the zeroed MiB and the added one)
  const std::vector<std::pair<uint64_t, uint64_t>> want = {{4096, 512}, {2u << 20, 2u << 20}};
  EXPECT_EQ(extents, want);
  EXPECT_EQ(r.data_bytes, 512u + (2u << 20));
}

TEST(ChangeSetDiff, DisksOfDifferentSizesAreRefusedAndNothingIsWritten) {
  MemFileSystem fs;
  MakeDisks(&fs);
  ASSERT_OK(disk::CreateRaw(&fs, "/big.raw", kSize * 2).status());
  ASSERT_OK(fs.Open("/cs", OpenOptions::CreateNew()).status());
  auto a = disk::Open(&fs, "/old.raw", {}).value();
  auto b = disk::Open(&fs, "/big.raw", {}).value();
  EXPECT_CODE(DiffToChangeSet(&fs, a.get(), b.get(), "/cs").status(), Code::kInvalidArgument);
  EXPECT_EQ(fs.Open("/cs", {}).value()->Size().value(), 0u);
}

TEST(ChangeSetWriter, AnUnfinishedFileIsNotAChangeSetApplyWouldTake) {
  MemFileSystem fs;
  ASSERT_OK(fs.Open("/cs", OpenOptions::CreateNew()).status());
  ASSERT_OK_AND_ASSIGN(auto w, ChangeSetWriter::Open(&fs, "/cs", kSize));
  const std::vector<std::byte> d = Pattern(3 << 20, 5);
  ASSERT_OK(w->Add(0, d.size(), d.data()));
  EXPECT_CODE(w->Add(kSize - 1, 2, d.data()), Code::kInvalidArgument);
  // Not finished: the data is there, the count and the checksum are not.
  EXPECT_FALSE(Extents(&fs, "/cs").ok());
  ASSERT_OK(w->Finish());
  ASSERT_OK_AND_ASSIGN(auto extents, Extents(&fs, "/cs"));
  ASSERT_EQ(extents.size(), 1u);
  EXPECT_EQ(extents[0].second, d.size());
}

// Steps of `hvdisk diff` (cli/diff_command.cc) on a crash file system: at every mutating
// operation, the final name either does not exist or holds the whole, valid change set.
TEST(ChangeSetDiffCrash, ACrashAtEveryWriteFlushAndRenameLeavesNoFileThatLooksWhole) {
  auto workload = [](FileSystem* fs) -> Status {
    ASSIGN_OR_RETURN(auto out,
                     AtomicOutput::Create(fs, "/out/cs.hvdkchg", {}, [fs](const std::string& t) {
                       return fs->Open(t, OpenOptions::CreateNew()).status();
                     }));
    RETURN_IF_ERROR(Diff(fs, out->temp_path()).status());
    return out->Commit();
  };
  auto setup = [](CrashFileSystem& fs) {
    MakeDisks(&fs);
    ASSERT_OK(fs.CreateDir("/out"));
    fs.SyncAll();
  };
  uint64_t ops = 0;
  {
    CrashFileSystem fs;
    setup(fs);
    const uint64_t before = fs.mutating_ops();
    ASSERT_OK(workload(&fs));
    ops = fs.mutating_ops() - before;
  }
  hvdisk::testing::CrashEverywhere(ops, [&](const hvdisk::testing::CrashRun& run) {
    CrashFileSystem fs;
    setup(fs);
    fs.SetCrashPoint(run.point);
    Status st = workload(&fs);
    fs.Crash(run.seed, run.mode);
    Result<bool> exists = fs.Exists("/out/cs.hvdkchg");
    ASSERT_OK(exists.status());
    if (*exists) {
      auto extents = Extents(&fs, "/out/cs.hvdkchg");
      ASSERT_TRUE(extents.ok()) << run.where << ": " << extents.status().ToString();
      EXPECT_EQ(extents->size(), 2u) << run.where;
    }
    (void)st;
  });
}

}  // namespace
}  // namespace hvdisk::ops
