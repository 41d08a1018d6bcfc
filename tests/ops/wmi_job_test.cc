// Job records are untrusted input, as VM records are (issue 15, Deliver 2; ops/wmi/job.h): a
// record that is a symbolic link, oversized, nested too deep or carrying another job's id, and a
// jobs/ directory that is a link, are refused (kCorrupt) and never followed.
#include <gtest/gtest.h>

#include <filesystem>

#include "ops/vm_record.h"
#include "ops/wmi/job.h"
#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::ops::wmi {
namespace {

namespace stdfs = std::filesystem;

class WmiJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stdfs::create_directories(jobs_dir_);
    stdfs::create_directories(tmp_.File("locks"));
    stdfs::create_directories(outside_);
  }
  Job AJob(const Guid& id) {
    return Job{
        .id = id, .state = JobState::kCompleted, .submitted_ms = NowMs(), .finished_ms = NowMs()};
  }
  static void Put(const std::string& path, const std::string& text) {
    const auto* b = reinterpret_cast<const std::byte*>(text.data());
    hvdisk::testing::WriteBinaryFile(path, std::vector<std::byte>(b, b + text.size()));
  }

  hvdisk::testing::TempDir tmp_;
  const std::string jobs_dir_ = tmp_.File("jobs");
  const std::string outside_ = tmp_.File("outside");
  JobStore jobs_{DefaultFileSystem(), jobs_dir_, tmp_.path()};
};

TEST_F(WmiJobTest, AJobRecordThatIsASymbolicLinkIsRefusedNeverFollowed) {
  const Guid id = Guid::Random();
  Put(outside_ + "/job.json", EncodeJob(AJob(id)));
  stdfs::create_symlink(outside_ + "/job.json", jobs_.RecordPath(id));
  Result<Job> job = jobs_.Read(id);
  EXPECT_CODE(job, Code::kCorrupt);
  EXPECT_NE(job.status().message().find("symbolic link"), std::string::npos)
      << job.status().message();
}

TEST_F(WmiJobTest, AnOversizedJobRecordIsRefusedBeforeItIsParsed) {
  const Guid id = Guid::Random();
  Job big = AJob(id);
  big.error_description.assign(kMaxJobRecordBytes, 'x');
  Put(jobs_.RecordPath(id), EncodeJob(big));
  EXPECT_CODE(jobs_.Read(id), Code::kCorrupt);
}

TEST_F(WmiJobTest, AJobRecordNestedTooDeepIsRefused) {
  const Guid id = Guid::Random();
  std::string text = EncodeJob(AJob(id));  // well formed, with a field nested 100 deep
  text.insert(text.rfind('}'), ", \"extra\": " + std::string(100, '[') + std::string(100, ']'));
  Put(jobs_.RecordPath(id), text);
  EXPECT_CODE(jobs_.Read(id), Code::kCorrupt);
}

TEST_F(WmiJobTest, AJobRecordCarryingAnotherJobsIdIsRefused) {
  const Guid id = Guid::Random();
  Put(jobs_.RecordPath(id), EncodeJob(AJob(Guid::Random())));
  Result<Job> job = jobs_.Read(id);
  EXPECT_CODE(job, Code::kCorrupt);
  EXPECT_NE(job.status().message().find("carries the id"), std::string::npos)
      << job.status().message();
}

TEST_F(WmiJobTest, AJobsDirectoryThatIsASymbolicLinkIsNeverListed) {
  const Guid id = Guid::Random();
  stdfs::remove(jobs_dir_);
  stdfs::create_directory_symlink(outside_, jobs_dir_);
  Put(outside_ + "/" + id.ToString(false) + ".json", EncodeJob(AJob(id)));
  EXPECT_CODE(jobs_.List(), Code::kCorrupt);
  EXPECT_TRUE(stdfs::exists(outside_ + "/" + id.ToString(false) + ".json"));
}

}  // namespace
}  // namespace hvdisk::ops::wmi
