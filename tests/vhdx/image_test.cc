#include "vhdx/image.h"

#include <gtest/gtest.h>

#include "platform/fault_file_system.h"
#include "platform/posix_file.h"
#include "tests/testutil/testutil.h"
#include "vhdx/log.h"

namespace hvdisk::vhdx {
namespace {

using testing::PatternBytes;

class ImageTest : public ::testing::Test {
 protected:
  std::string Make(CreateOptions o, const std::string& name = "d.vhdx") {
    std::string p = dir_.File(name);
    EXPECT_OK(Image::Create(fs_, p, o));
    return p;
  }
  std::unique_ptr<Image> OpenRw(const std::string& p) {
    auto r = Image::Open(fs_, p, {.read_only = false});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  std::vector<std::byte> ReadAll(Image* img, uint64_t off, size_t len) {
    std::vector<std::byte> out(len);
    EXPECT_OK(img->Read(off, out));
    return out;
  }
  Result<uint64_t> FileSize(const std::string& p) {
    ASSIGN_OR_RETURN(auto f, fs_->Open(p, {}));
    return f->Size();
  }
  testing::TempDir dir_;
  FileSystem* fs_ = DefaultFileSystem();
};

TEST_F(ImageTest, DynamicImageReadsZerosAndRoundTripsWritesAcrossReopen) {
  std::string p = Make({.virtual_size = 64 * kMiB, .block_size = 1 * kMiB});
  auto data = PatternBytes(3 * kMiB + 1000, 1);
  {
    auto img = OpenRw(p);
    EXPECT_EQ(ReadAll(img.get(), 0, 4096), std::vector<std::byte>(4096));
    ASSERT_OK(img->Write(5 * kMiB + 333, data));  // unaligned start and end
    EXPECT_EQ(ReadAll(img.get(), 5 * kMiB + 333, data.size()), data);
    EXPECT_EQ(img->allocated_blocks(), 4u);
    ASSERT_OK(img->Close());
  }
  ASSERT_OK_AND_ASSIGN(auto ro, Image::Open(fs_, p, {}));
  EXPECT_EQ(ReadAll(ro.get(), 5 * kMiB + 333, data.size()), data);
  EXPECT_EQ(ReadAll(ro.get(), 5 * kMiB, 333), std::vector<std::byte>(333));
  EXPECT_TRUE(ro->log_guid().IsZero());
  ASSERT_OK_AND_ASSIGN(CheckReport rep, Image::Check(fs_, p));
  EXPECT_TRUE(rep.corruptions.empty() && rep.leaks.empty());
}

TEST_F(ImageTest, PlannedWritesThroughAQueueReadBackAfterReopen) {
  std::string p = Make({.virtual_size = 16 * kMiB, .block_size = kMiB});
  auto data = PatternBytes(3 * kMiB, 7);
  {
    auto img = OpenRw(p);
    std::vector<IoRequest> reqs;
    ASSERT_OK(img->PlanWrite(kMiB + 4096, data, &reqs));  // spans four blocks
    EXPECT_EQ(reqs.size(), 4u);
    ASSERT_OK(img->PlanWrite(100, std::span(data).first(10), &reqs));  // unaligned: written now
    EXPECT_EQ(reqs.size(), 4u);
    ASSERT_OK_AND_ASSIGN(auto queue, CreateIoQueue(IoBackend::kSync, 4));
    ASSERT_OK(RunAll(queue.get(), reqs));
    ASSERT_OK(img->Close());
  }
  ASSERT_OK_AND_ASSIGN(auto ro, Image::Open(fs_, p, {}));
  EXPECT_EQ(ReadAll(ro.get(), kMiB + 4096, data.size()), data);
  EXPECT_EQ(ReadAll(ro.get(), 100, 10), std::vector<std::byte>(data.begin(), data.begin() + 10));
  ASSERT_OK_AND_ASSIGN(CheckReport rep, Image::Check(fs_, p));
  EXPECT_TRUE(rep.corruptions.empty() && rep.leaks.empty());
}

TEST_F(ImageTest, FixedImageIsFullyAllocatedAndWritable) {
  std::string p = Make({.type = DiskType::kFixed, .virtual_size = 8 * kMiB, .block_size = kMiB});
  auto img = OpenRw(p);
  EXPECT_EQ(img->allocated_blocks(), 8u);
  auto data = PatternBytes(kMiB, 2);
  ASSERT_OK(img->Write(2 * kMiB, data));
  ASSERT_OK(img->Trim(4 * kMiB, kMiB));
  ASSERT_OK(img->Close());
  ASSERT_OK_AND_ASSIGN(auto ro, Image::Open(fs_, p, {}));
  EXPECT_EQ(ReadAll(ro.get(), 2 * kMiB, kMiB), data);
}

TEST_F(ImageTest, WholeBlockTrimReadsZerosAfterwards) {
  std::string p = Make({.virtual_size = 16 * kMiB, .block_size = kMiB});
  auto img = OpenRw(p);
  ASSERT_OK(img->Write(0, PatternBytes(4 * kMiB, 3)));
  ASSERT_OK(img->Trim(kMiB, 2 * kMiB + 512));
  EXPECT_EQ(ReadAll(img.get(), kMiB, 2 * kMiB + 512), std::vector<std::byte>(2 * kMiB + 512));
  auto all = PatternBytes(4 * kMiB, 3);
  EXPECT_EQ(ReadAll(img.get(), 3 * kMiB + 512, 512),
            std::vector<std::byte>(all.begin() + 3 * kMiB + 512, all.begin() + 3 * kMiB + 1024));
}

TEST_F(ImageTest, UnflushedMetadataIsLoggedAndReplayedAfterAbandonment) {
  std::string p = Make({.virtual_size = 32 * kMiB, .block_size = kMiB});
  auto data = PatternBytes(2 * kMiB, 4);
  std::string dirty = dir_.File("dirty.vhdx");
  {
    auto img = OpenRw(p);
    ASSERT_OK(img->Write(kMiB, data));
    ASSERT_OK(img->Flush());
    // A process killed here leaves the file as it is now: LogGuid set, an applied entry.
    EXPECT_FALSE(img->log_guid().IsZero());
    std::string out;
    ASSERT_EQ(testing::RunCommand("cp " + p + " " + dirty, &out), 0) << out;
  }
  p = dirty;
  ASSERT_OK_AND_ASSIGN(auto ro, Image::Open(fs_, p, {}));
  EXPECT_FALSE(ro->log_guid().IsZero());
  EXPECT_EQ(ReadAll(ro.get(), kMiB, data.size()), data);
  ro.reset();  // a writer opens the image alone (image locks)
  auto rw = OpenRw(p);
  EXPECT_TRUE(rw->log_guid().IsZero());  // replayed on disk, LogGuid cleared
  EXPECT_EQ(ReadAll(rw.get(), kMiB, data.size()), data);
}

// File space is reserved ahead of allocations in 64 MiB steps (one fallocate per step, not per
// block); what a session did not use is given back at Close.
TEST_F(ImageTest, AllocatingWritesReserveSpaceInStepsAndCloseTrimsTheRest) {
  std::string p = Make({.virtual_size = 512 * kMiB, .block_size = kMiB});
  FaultFileSystem counting(fs_);
  auto data = PatternBytes(kMiB, 9);
  ASSERT_OK_AND_ASSIGN(auto img, Image::Open(&counting, p, {.read_only = false}));
  for (uint64_t b = 0; b < 100; ++b) ASSERT_OK(img->Write(b * kMiB, data));
  EXPECT_EQ(counting.count(FileOp::kAllocate), 2u);  // 100 blocks: two 64 MiB steps
  ASSERT_OK(img->Flush());
  ASSERT_OK_AND_ASSIGN(uint64_t open_size, FileSize(p));
  ASSERT_OK(img->Close());
  ASSERT_OK_AND_ASSIGN(uint64_t closed_size, FileSize(p));
  EXPECT_EQ(open_size - closed_size, 28 * kMiB);  // 128 MiB reserved, 100 used
  ASSERT_OK_AND_ASSIGN(CheckReport rep, Image::Check(fs_, p));
  EXPECT_TRUE(rep.corruptions.empty() && rep.leaks.empty()) << rep.leaks.size();
  ASSERT_OK_AND_ASSIGN(auto ro, Image::Open(fs_, p, {}));
  EXPECT_EQ(ReadAll(ro.get(), 99 * kMiB, kMiB), data);
}

// The reservation never exceeds what the disk could still allocate.
TEST_F(ImageTest, ReservationStopsAtWhatTheDiskCanStillUse) {
  std::string p = Make({.virtual_size = 8 * kMiB, .block_size = kMiB});
  auto img = OpenRw(p);
  ASSERT_OK(img->Write(0, PatternBytes(8 * kMiB, 3)));
  ASSERT_OK_AND_ASSIGN(uint64_t open_size, FileSize(p));
  ASSERT_OK(img->Close());
  ASSERT_OK_AND_ASSIGN(uint64_t closed_size, FileSize(p));
  EXPECT_EQ(open_size, closed_size);
}

// A process killed with a reservation outstanding leaves unreferenced space: a read-only check
// reports it as a leak, and a writable open trims it.
TEST_F(ImageTest, AReservationLeftByAKilledWriterIsTrimmedByAWritableOpen) {
  std::string p = Make({.virtual_size = 256 * kMiB, .block_size = kMiB});
  std::string killed = dir_.File("killed.vhdx");
  {
    auto img = OpenRw(p);
    ASSERT_OK(img->Write(0, PatternBytes(2 * kMiB, 5)));
    ASSERT_OK(img->Flush());
    std::string out;
    ASSERT_EQ(testing::RunCommand("cp " + p + " " + killed, &out), 0) << out;
  }
  ASSERT_OK_AND_ASSIGN(CheckReport before, Image::Check(fs_, killed));
  EXPECT_TRUE(before.corruptions.empty());
  EXPECT_EQ(before.leaks.size(), 1u);
  OpenRw(killed).reset();
  ASSERT_OK_AND_ASSIGN(CheckReport after, Image::Check(fs_, killed));
  EXPECT_TRUE(after.corruptions.empty() && after.leaks.empty());
  ASSERT_OK_AND_ASSIGN(auto ro, Image::Open(fs_, killed, {}));
  EXPECT_EQ(ReadAll(ro.get(), 0, 2 * kMiB), PatternBytes(2 * kMiB, 5));
}

// CopyFrom allocates and writes like Write, taking the bytes from another file.
TEST_F(ImageTest, CopyFromAFileReadsBackLikeAWrite) {
  std::string p = Make({.virtual_size = 16 * kMiB, .block_size = kMiB});
  auto data = PatternBytes(3 * kMiB, 8);
  ASSERT_OK_AND_ASSIGN(auto src, fs_->Open(dir_.File("src.raw"), OpenOptions::CreateNew()));
  ASSERT_OK(src->WriteAt(0, data));
  {
    auto img = OpenRw(p);
    ASSERT_OK(img->CopyFrom(kMiB + 1536, *src, 512, 2 * kMiB));  // spans three blocks
    EXPECT_EQ(img->allocated_blocks(), 3u);
    EXPECT_CODE(img->CopyFrom(100, *src, 0, 512), Code::kInvalidArgument);
    EXPECT_CODE(img->CopyFrom(15 * kMiB, *src, 0, 2 * kMiB), Code::kInvalidArgument);
    ASSERT_OK(img->Close());
  }
  ASSERT_OK_AND_ASSIGN(auto ro, Image::Open(fs_, p, {}));
  EXPECT_EQ(ReadAll(ro.get(), kMiB + 1536, 2 * kMiB),
            std::vector<std::byte>(data.begin() + 512, data.begin() + 512 + 2 * kMiB));
  EXPECT_EQ(ReadAll(ro.get(), kMiB, 1536), std::vector<std::byte>(1536));
  ASSERT_OK_AND_ASSIGN(CheckReport rep, Image::Check(fs_, p));
  EXPECT_TRUE(rep.corruptions.empty() && rep.leaks.empty());
}

TEST_F(ImageTest, DataWriteGuidChangesOnlyOnFirstWrite) {
  std::string p = Make({.virtual_size = 8 * kMiB, .block_size = kMiB});
  Guid before;
  {
    ASSERT_OK_AND_ASSIGN(auto ro, Image::Open(fs_, p, {}));
    before = ro->data_write_guid();
  }
  {
    auto rw = OpenRw(p);
    EXPECT_EQ(rw->data_write_guid(), before);  // open alone changes FileWriteGuid only
  }
  auto rw = OpenRw(p);
  ASSERT_OK(rw->Write(0, PatternBytes(4096, 5)));
  EXPECT_NE(rw->data_write_guid(), before);
}

TEST_F(ImageTest, ResizeGrowsAndRelocatesTheBat) {
  std::string p = Make({.virtual_size = 64 * kMiB, .block_size = kMiB});
  auto data = PatternBytes(kMiB, 6);
  {
    auto img = OpenRw(p);
    ASSERT_OK(img->Write(10 * kMiB, data));
    ASSERT_OK(img->Resize(300 * kGiB));  // 300k entries: past the 1 MiB BAT region
    ASSERT_OK(img->Write(299 * kGiB, data));
    ASSERT_OK(img->Close());
  }
  ASSERT_OK_AND_ASSIGN(auto ro, Image::Open(fs_, p, {}));
  EXPECT_EQ(ro->virtual_size(), 300 * kGiB);
  EXPECT_EQ(ReadAll(ro.get(), 10 * kMiB, kMiB), data);
  EXPECT_EQ(ReadAll(ro.get(), 299 * kGiB, kMiB), data);
}

TEST_F(ImageTest, LogicalSector4096RoundTrips) {
  std::string p =
      Make({.virtual_size = 16 * kMiB, .block_size = kMiB, .logical_sector_size = 4096});
  auto img = OpenRw(p);
  auto data = PatternBytes(10000, 7);
  ASSERT_OK(img->Write(4095, data));
  EXPECT_EQ(ReadAll(img.get(), 4095, data.size()), data);
}

TEST_F(ImageTest, ReadOnlyImageRefusesWrites) {
  std::string p = Make({.virtual_size = 8 * kMiB, .block_size = kMiB});
  ASSERT_OK_AND_ASSIGN(auto ro, Image::Open(fs_, p, {}));
  EXPECT_CODE(ro->Write(0, PatternBytes(512, 1)), Code::kAccessDenied);
}

TEST_F(ImageTest, QemuImgCheckAcceptsOurImages) {
  for (auto type : {DiskType::kFixed, DiskType::kDynamic}) {
    std::string p = Make({.type = type, .virtual_size = 40 * kMiB, .block_size = 8 * kMiB},
                         type == DiskType::kFixed ? "f.vhdx" : "d.vhdx");
    {
      auto img = OpenRw(p);
      ASSERT_OK(img->Write(3 * kMiB + 512, PatternBytes(9 * kMiB, 8)));
      ASSERT_OK(img->Close());
    }
    std::string out;
    EXPECT_EQ(testing::RunCommand("qemu-img check -f vhdx " + p, &out), 0) << out;
  }
}

}  // namespace
}  // namespace hvdisk::vhdx
