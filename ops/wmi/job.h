// Msvm_ConcreteJob: what a client polls after a method returned 4096, and JobStore, the job
// records under STORE/jobs/ through which every process on the store sees every job.
//
// A job record (jobs/<job-guid>.json, replaced atomically) is written only by the job's owner:
// the thread running it, which holds the owner lock locks/job-<job-guid>.lock (in the store's
// lock directory) from before the first record until after the last. A record that says the job
// is unfinished while its owner lock is free belongs to a job lost with its process: reading it
// turns it, once and for all, into 10 Exception with ErrorCode 32771 Status is unknown.
// Finished jobs are kept `retention` (5 minutes by default) and then pruned.
//
// Records are untrusted input, as VM records are (docs/store-layout.md, "What the store trusts"):
// jobs/ must be a directory itself and each record a regular file itself (a symbolic link is
// kCorrupt, never followed), at most kMaxJobRecordBytes, nested at most kMaxJsonDepth, and
// carrying the id of its file name; kCorrupt naming the problem otherwise.
//
// Thread safety: Job is a value. JobStore is thread-safe; its FileSystem must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ops/wmi/return_codes.h"
#include "platform/file.h"
#include "platform/file_lock.h"
#include "platform/guid.h"
#include "platform/status.h"

namespace hvdisk::ops::wmi {

struct Job {
  Guid id;  // InstanceID
  JobType type = JobType::kInitiateFailover;
  JobState state = JobState::kNew;
  uint16_t percent = 0;           // PercentComplete
  uint32_t error_code = 0;        // ErrorCode: 0, or the return value of the failure
  std::string error_description;  // ErrorDescription
  int64_t submitted_ms = 0;       // TimeSubmitted (ms since the Unix epoch, UTC)
  int64_t started_ms = 0;         // StartTime; 0 before the job starts
  int64_t finished_ms = 0;        // when it reached a finished state; 0 before
  bool cancellable = false;       // Cancellable
  Guid vm;                        // the affected VM
  Guid resulting_system;          // TestReplicaSystem: the test VM, once created
  int64_t owner_pid = 0;
  // The owner's host (ops/host_id.h); empty in older records. A job is alive while its owner
  // lock is held, from whichever host: a pid that is not local is no sign of a lost job.
  std::string owner_host;

  // ElapsedTime at `now_ms`: from StartTime to the end (or to now while it runs).
  int64_t ElapsedMs(int64_t now_ms) const;
  bool operator==(const Job&) const = default;
};

std::string EncodeJob(const Job& job);
// kCorrupt when the text is not a well-formed job record.
Result<Job> DecodeJob(std::string_view text, std::string_view where);

// CIM datetime "yyyymmddHHMMSS.mmmmmm+000" (UTC) and interval "ddddddddHHMMSS.mmmmmm:000".
std::string CimDateTime(int64_t ms_since_epoch);
std::string CimInterval(int64_t ms);

inline constexpr uint64_t kMaxJobRecordBytes = 64u << 10;

class JobStore {
 public:
  static constexpr std::chrono::minutes kDefaultRetention{5};

  // `jobs_dir` on `fs`; owner locks under `lock_dir`/locks/ on `fs` too.
  JobStore(FileSystem* fs, std::string jobs_dir, std::string lock_dir,
           std::chrono::milliseconds retention = kDefaultRetention);

  // Takes the owner lock of job `id` (kInUse if held). The owner keeps it until its last Write.
  Result<std::unique_ptr<FileLock>> Own(const Guid& id);
  // Replaces the record. REQUIRES: the caller owns the job.
  Status Write(const Job& job);
  // The job; kNotFound if unknown or pruned. Turns a lost job into 10 / 32771 (see above).
  Result<Job> Read(const Guid& id);
  // Every job not yet pruned (pruning first), by TimeSubmitted.
  Result<std::vector<Job>> List();
  // Removes the records (and owner lock files) of jobs finished more than `retention` ago.
  Status Prune();

  std::string RecordPath(const Guid& id) const;
  std::string OwnerLockPath(const Guid& id) const;
  FileSystem* fs() const { return fs_; }

 private:
  Result<Job> ReadRecord(const Guid& id);
  Result<std::vector<std::string>> ListRecords();  // the names in jobs/, a real directory
  Result<Job> MarkIfLost(Job job);

  FileSystem* fs_;
  std::string jobs_dir_;
  std::string lock_dir_;
  std::chrono::milliseconds retention_;
};

}  // namespace hvdisk::ops::wmi
