#include "ops/wmi/job_runner.h"

#include <unistd.h>

#include <algorithm>

#include "ops/host_id.h"
#include "ops/vm_record.h"

namespace hvdisk::ops::wmi {

JobRunner::JobRunner(JobStore* jobs, Job job, Operation op)
    : jobs_(jobs), op_(std::move(op)), job_(std::move(job)) {}

JobRunner::~JobRunner() { Join(); }

Status JobRunner::Start() {
  {
    std::lock_guard<std::mutex> guard(mu_);
    job_.owner_pid = getpid();
    job_.owner_host = HostId();
    job_.state = JobState::kStarting;
  }
  worker_ = std::thread([this] { Run(); });
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return accepted_ || done_; });
  if (accepted_) return Status::Ok();
  return refused_;
}

void JobRunner::Run() {
  Result<std::unique_ptr<FileLock>> owner = jobs_->Own(job_.id);
  if (!owner.ok()) return Finish(owner.status());
  {
    std::lock_guard<std::mutex> guard(mu_);
    owner_ = std::move(owner).value();
    job_.started_ms = NowMs();
  }
  OpControl control;
  control.progress = [this](int percent) { OnProgress(percent); };
  control.cancel = &cancel_;
  Finish(op_(control));
}

// The first report is the acceptance: from here on the job exists for every process.
void JobRunner::OnProgress(int percent) {
  std::lock_guard<std::mutex> guard(mu_);
  job_.percent = static_cast<uint16_t>(std::clamp(percent, 0, 100));
  job_.state = JobState::kRunning;
  (void)jobs_->Write(job_);  // a failed progress write only delays what pollers see
  if (!accepted_) {
    accepted_ = true;
    cv_.notify_all();
  }
}

void JobRunner::Finish(const Result<Guid>& result) {
  std::lock_guard<std::mutex> guard(mu_);
  done_ = true;
  if (!result.ok() && !accepted_) {
    refused_ = result.status();
    owner_.reset();
    (void)jobs_->fs()->Unlink(jobs_->OwnerLockPath(job_.id));  // no job: no lock file
    cv_.notify_all();
    return;
  }
  accepted_ = true;
  job_.cancellable = false;
  job_.finished_ms = NowMs();
  if (result.ok()) {
    job_.state = JobState::kCompleted;
    job_.percent = 100;
    job_.resulting_system = *result;
  } else {
    const Status& st = result.status();
    job_.state = st.code() == Code::kCancelled ? JobState::kKilled : JobState::kException;
    job_.error_code = ReturnValueFor(st.code());
    job_.error_description = st.ToString();
  }
  (void)jobs_->Write(job_);  // if this fails, readers see the job lost (32771) once we unlock
  owner_.reset();
  cv_.notify_all();
}

bool JobRunner::Cancel() {
  std::lock_guard<std::mutex> guard(mu_);
  if (done_ || !job_.cancellable) return false;
  cancel_.store(true);
  return true;
}

Job JobRunner::Snapshot() const {
  std::lock_guard<std::mutex> guard(mu_);
  return job_;
}

bool JobRunner::finished() const {
  std::lock_guard<std::mutex> guard(mu_);
  return done_;
}

void JobRunner::Join() {
  if (worker_.joinable()) worker_.join();
}

}  // namespace hvdisk::ops::wmi
