// Crash proof for images (SQLite-style): an allocating-write workload on dynamic images is
// crashed by CrashFileSystem at every mutating operation (write, flush, truncate, allocate),
// with several seeds, and every sector must then hold either its content as of the last
// completed Flush or one of the values written to it after that flush: whole sectors only.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "platform/crash_file_system.h"
#include "platform/digest.h"
#include "tests/testutil/testutil.h"
#include "vhdx/image.h"

namespace hvdisk::vhdx {
namespace {

constexpr uint64_t kDiskSize = 16 * kMiB;
constexpr uint64_t kSector = 512;
const std::string kPath = "/d.vhdx";

// What each sector may hold after a crash.
class SectorModel {
 public:
  SectorModel() : durable_(kDiskSize / kSector, Zero()), pending_(kDiskSize / kSector) {}
  void Write(uint64_t off, std::span<const std::byte> data) {
    for (uint64_t i = 0; i < data.size() / kSector; ++i) {
      pending_[off / kSector + i].insert(Xxh3_64(data.subspan(i * kSector, kSector)));
    }
  }
  // A completed flush: the last value written to each sector is now the durable one.
  void Flush(const std::vector<std::byte>& current) {
    for (uint64_t s = 0; s < durable_.size(); ++s) {
      if (!pending_[s].empty()) {
        durable_[s] = Xxh3_64(std::span(current).subspan(s * kSector, kSector));
        pending_[s].clear();
      }
    }
  }
  // Empty when every sector is allowed; else the first offending offset.
  std::string Verify(const std::vector<std::byte>& got) const {
    for (uint64_t s = 0; s < durable_.size(); ++s) {
      uint64_t h = Xxh3_64(std::span(got).subspan(s * kSector, kSector));
      if (h != durable_[s] && !pending_[s].count(h))
        return "sector @" + std::to_string(s * kSector);
    }
    return "";
  }

 private:
  static uint64_t Zero() {
    std::vector<std::byte> z(kSector);
    return Xxh3_64(z);
  }
  std::vector<uint64_t> durable_;
  std::vector<std::set<uint64_t>> pending_;
};

struct Step {
  uint64_t offset;
  uint64_t length;  // 0: Flush
};

std::vector<Step> Workload(uint64_t block) {
  return {{block / 2, 4096},
          {3 * block, block},
          {0},
          {5 * block + 512, 1536},
          {3 * block, 512},
          {7 * block, 2 * block},
          {0},
          {block / 2 + 8192, block},
          {11 * block, 4096},
          {0},
          {kSector, 2 * kSector},
          {12 * block, block}};
}

// Runs the workload until it fails (the crash point) and records what the model allows.
void RunWorkload(FileSystem* fs, uint64_t block, SectorModel* model) {
  auto img = Image::Open(fs, kPath, {.read_only = false});
  if (!img.ok()) return;
  std::vector<std::byte> current(kDiskSize);
  uint64_t seed = 1;
  for (const Step& st : Workload(block)) {
    if (st.length == 0) {
      if (!(*img)->Flush().ok()) return;
      model->Flush(current);
      continue;
    }
    if (st.offset >= kDiskSize) continue;
    uint64_t len = std::min(st.length, kDiskSize - st.offset);
    auto data = testing::PatternBytes(len, seed++);
    model->Write(st.offset, data);
    if (!(*img)->Write(st.offset, data).ok()) return;
    std::copy(data.begin(), data.end(), current.begin() + static_cast<ptrdiff_t>(st.offset));
  }
  if ((*img)->Close().ok()) model->Flush(current);
}

void CrashAt(uint64_t block, uint64_t point, uint64_t seed, CrashMode mode) {
  CrashFileSystem fs(kSector);
  ASSERT_OK(Image::Create(&fs, kPath,
                          {.virtual_size = kDiskSize, .block_size = static_cast<uint32_t>(block)}));
  fs.SyncAll();
  SectorModel model;
  fs.SetCrashPoint(point);
  RunWorkload(&fs, block, &model);
  fs.Crash(seed, mode);
  // Reopen read-write (replays the log, trims unreferenced space), then check and verify.
  auto img = Image::Open(&fs, kPath, {.read_only = false});
  ASSERT_TRUE(img.ok()) << "point " << point << " seed " << seed << ": " << img.status().ToString();
  std::vector<std::byte> got(kDiskSize);
  ASSERT_OK((*img)->Read(0, got));
  ASSERT_OK((*img)->Close());
  EXPECT_EQ(model.Verify(got), "") << "point " << point << " seed " << seed;
  ASSERT_OK_AND_ASSIGN(CheckReport rep, Image::Check(&fs, kPath));
  EXPECT_TRUE(rep.corruptions.empty()) << "point " << point << ": " << rep.corruptions[0];
  EXPECT_TRUE(rep.leaks.empty()) << "point " << point << ": " << rep.leaks[0];
}

uint64_t CountOps(uint64_t block) {
  CrashFileSystem fs(kSector);
  EXPECT_OK(Image::Create(&fs, kPath,
                          {.virtual_size = kDiskSize, .block_size = static_cast<uint32_t>(block)}));
  fs.SyncAll();
  uint64_t before = fs.mutating_ops();
  SectorModel model;
  RunWorkload(&fs, block, &model);
  return fs.mutating_ops() - before;
}

class ImageCrashTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(ImageCrashTest, AllocatingWritesSurviveACrashAtEveryOperation) {
  uint64_t block = GetParam();
  uint64_t ops = CountOps(block);
  ASSERT_GT(ops, 20u);
  for (uint64_t point = 1; point <= ops + 1; ++point) {
    for (uint64_t seed : {1, 2, 3}) CrashAt(block, point, seed, CrashMode::kRandom);
    CrashAt(block, point, 0, CrashMode::kDropAll);
    CrashAt(block, point, 0, CrashMode::kKeepAll);
    if (HasFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(BlockSizes, ImageCrashTest, ::testing::Values(1 * kMiB, 2 * kMiB),
                         [](const auto& info) { return std::to_string(info.param >> 20) + "MiB"; });

}  // namespace
}  // namespace hvdisk::vhdx
