// JobRunner: one engine operation run as a Msvm_ConcreteJob on a worker thread.
//
// The caller learns at once whether the method is a job or not: Start() blocks until the
// operation is accepted (its first progress report through OpControl, which every store
// operation makes only after its preconditions passed and its intent was written) or until it
// ended. An operation that failed before being accepted was refused by a precondition: Start
// returns that status, no job record is ever written, and the method returns the mapped value
// with no job. Otherwise the job is visible in the JobStore (4 Running), its record follows the
// progress, and it ends in 7 Completed, 9 Killed (cancelled on request: the operation rolled back
// and returned kCancelled, ErrorCode its mapped value) or 10 Exception (ErrorCode the mapped
// value).
//
// Thread safety: Start once, from the creating thread; Cancel, finished and Join from any thread.
// The JobStore must outlive the runner; the destructor joins the worker.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "ops/op_control.h"
#include "ops/wmi/job.h"

namespace hvdisk::ops::wmi {

class JobRunner {
 public:
  // Runs the engine call; returns the resulting system (a test VM) or a zero GUID.
  using Operation = std::function<Result<Guid>(const OpControl& control)>;

  // `job` carries InstanceID, JobType, the VM, TimeSubmitted and Cancellable.
  JobRunner(JobStore* jobs, Job job, Operation op);
  ~JobRunner();
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  // Starts the worker and waits as described above. OK: the job was accepted (it may already
  // have ended); otherwise the precondition's status, and no job exists.
  Status Start();
  // Asks a running, cancellable job to stop; false if it is finished or not cancellable.
  bool Cancel();
  // The job as this process last wrote it.
  Job Snapshot() const;
  bool finished() const;
  void Join();

 private:
  void Run();
  void OnProgress(int percent);
  void Finish(const Result<Guid>& result);

  JobStore* jobs_;
  Operation op_;
  std::thread worker_;
  std::atomic<bool> cancel_{false};
  std::unique_ptr<FileLock> owner_;  // held by the worker for the job's whole life
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Job job_;                // GUARDED_BY(mu_)
  bool accepted_ = false;  // GUARDED_BY(mu_)
  bool done_ = false;      // GUARDED_BY(mu_)
  Status refused_;         // GUARDED_BY(mu_): the status when done before accepted
};

}  // namespace hvdisk::ops::wmi
