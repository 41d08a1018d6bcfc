#include "ops/wmi/job.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "ops/store_files.h"
#include "ops/store_paths.h"
#include "ops/vm_record.h"

namespace hvdisk::ops::wmi {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kRecordSuffix = ".json";

std::string GuidText(const Guid& g) { return g.ToString(false); }

Guid GuidFrom(const Json& j, const char* key) {
  std::optional<Guid> g = Guid::Parse(j.at(key).get<std::string>());
  if (!g) throw std::runtime_error(std::string(key) + " is not a GUID");
  return *g;
}

Job JobFromJson(const Json& j) {
  Job job;
  job.id = GuidFrom(j, "instance_id");
  job.type = static_cast<JobType>(j.at("job_type").get<uint16_t>());
  job.state = static_cast<JobState>(j.at("job_state").get<uint16_t>());
  job.percent = j.at("percent_complete").get<uint16_t>();
  job.error_code = j.at("error_code").get<uint32_t>();
  job.error_description = j.at("error_description").get<std::string>();
  job.submitted_ms = j.at("time_submitted_ms").get<int64_t>();
  job.started_ms = j.at("start_time_ms").get<int64_t>();
  job.finished_ms = j.at("finished_ms").get<int64_t>();
  job.cancellable = j.at("cancellable").get<bool>();
  job.vm = GuidFrom(j, "vm");
  job.resulting_system = GuidFrom(j, "resulting_system");
  job.owner_pid = j.at("owner_pid").get<int64_t>();
  job.owner_host = j.value("owner_host", std::string());
  if (job.owner_host.size() > 255) throw std::invalid_argument("owner_host longer than 255 bytes");
  return job;
}

std::string FormatUtc(int64_t ms, const char* tail) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d%02d%02d%02d%02d%02d.%06d%s", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000) * 1000, tail);
  return buf;
}

}  // namespace

int64_t Job::ElapsedMs(int64_t now_ms) const {
  if (started_ms == 0) return 0;
  return std::max<int64_t>(0, (finished_ms != 0 ? finished_ms : now_ms) - started_ms);
}

std::string EncodeJob(const Job& job) {
  Json j{{"instance_id", GuidText(job.id)},
         {"job_type", static_cast<uint16_t>(job.type)},
         {"job_state", static_cast<uint16_t>(job.state)},
         {"percent_complete", job.percent},
         {"error_code", job.error_code},
         {"error_description", job.error_description},
         {"time_submitted_ms", job.submitted_ms},
         {"start_time_ms", job.started_ms},
         {"finished_ms", job.finished_ms},
         {"cancellable", job.cancellable},
         {"vm", GuidText(job.vm)},
         {"resulting_system", GuidText(job.resulting_system)},
         {"owner_pid", job.owner_pid},
         {"owner_host", job.owner_host}};
  return j.dump(2) + "\n";
}

Result<Job> DecodeJob(std::string_view text, std::string_view where) {
  RETURN_IF_ERROR(CheckJsonDepth(text, kMaxJsonDepth, where));
  try {
    return JobFromJson(Json::parse(text));
  } catch (const std::exception& e) {
    return Corrupt(std::string(where) + ": malformed job record: " + e.what());
  }
}

std::string CimDateTime(int64_t ms_since_epoch) {
  if (ms_since_epoch <= 0) return "";
  return FormatUtc(ms_since_epoch, "+000");
}

std::string CimInterval(int64_t ms) {
  const int64_t secs = ms / 1000;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%08lld%02lld%02lld%02lld.%06lld:000",
                static_cast<long long>(secs / 86400), static_cast<long long>(secs / 3600 % 24),
                static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60),
                static_cast<long long>(ms % 1000) * 1000);
  return buf;
}

JobStore::JobStore(FileSystem* fs, std::string jobs_dir, std::string lock_dir,
                   std::chrono::milliseconds retention)
    : fs_(fs),
      jobs_dir_(std::move(jobs_dir)),
      lock_dir_(std::move(lock_dir)),
      retention_(retention) {}

std::string JobStore::RecordPath(const Guid& id) const {
  return JoinPath(jobs_dir_, GuidText(id) + std::string(kRecordSuffix));
}

std::string JobStore::OwnerLockPath(const Guid& id) const {
  return JoinPath(JoinPath(lock_dir_, "locks"), "job-" + GuidText(id) + ".lock");
}

Result<std::unique_ptr<FileLock>> JobStore::Own(const Guid& id) {
  return FileLock::Acquire(fs_, OwnerLockPath(id), LockMode::kExclusive, FileLock::kTry);
}

Status JobStore::Write(const Job& job) {
  const std::string text = EncodeJob(job);
  return WriteFileAtomically(fs_, RecordPath(job.id), std::as_bytes(std::span(text)));
}

Result<Job> JobStore::ReadRecord(const Guid& id) {
  Result<std::string> text = ReadStoreFile(fs_, RecordPath(id), kMaxJobRecordBytes);
  if (!text.ok() && text.status().code() == Code::kNotFound) {
    return NotFound("no job " + id.ToString() + " (unknown, or finished and pruned)");
  }
  if (!text.ok()) return text.status();
  ASSIGN_OR_RETURN(Job job, DecodeJob(*text, RecordPath(id)));
  if (job.id != id) {
    return Corrupt(RecordPath(id) + " carries the id of job " + job.id.ToString() +
                   ", not its file name's; not used");
  }
  return job;
}

Result<std::vector<std::string>> JobStore::ListRecords() {
  RETURN_IF_ERROR(CheckRealDir(fs_, jobs_dir_, "jobs/"));
  return fs_->List(jobs_dir_);
}

namespace {

// `job` as lost with its process: 10 Exception, 32771.
Job Lost(Job job) {
  job.state = JobState::kException;
  job.error_code = kStatusUnknown;
  job.error_description = "the job was lost with its process (pid " +
                          std::to_string(job.owner_pid) +
                          (job.owner_host.empty() ? "" : " on host " + job.owner_host) +
                          "); its outcome cannot be read back: check the VM's state";
  job.cancellable = false;
  job.finished_ms = NowMs();
  return job;
}

}  // namespace

// An unfinished record whose owner lock is free: the owner is gone. A held lock (IsHeld takes
// nothing, so a poller never stands in the owner's way) is a live job. Re-read under the lock
// (the owner may have finished between the first read and its unlock) before declaring it lost.
// A store this process cannot write (read-only, another user's) shows the job lost, unrecorded.
Result<Job> JobStore::MarkIfLost(Job job) {
  if (IsFinished(job.state)) return job;
  Result<bool> alive = FileLock::IsHeld(fs_, OwnerLockPath(job.id));
  if (!alive.ok() || *alive) return job;
  Result<std::unique_ptr<FileLock>> lock = Own(job.id);
  if (!lock.ok() && lock.status().code() == Code::kAccessDenied) {
    ASSIGN_OR_RETURN(job, ReadRecord(job.id));
    return IsFinished(job.state) ? job : Lost(std::move(job));
  }
  if (!lock.ok()) return job;  // the owner is alive (or another reader is marking it)
  ASSIGN_OR_RETURN(job, ReadRecord(job.id));
  if (IsFinished(job.state)) return job;
  job = Lost(std::move(job));
  RETURN_IF_ERROR(Write(job));
  return job;
}

Result<Job> JobStore::Read(const Guid& id) {
  ASSIGN_OR_RETURN(Job job, ReadRecord(id));
  return MarkIfLost(std::move(job));
}

Status JobStore::Prune() {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListRecords());
  const int64_t cutoff = NowMs() - retention_.count();
  for (const std::string& name : names) {
    if (!name.ends_with(kRecordSuffix)) continue;
    std::optional<Guid> id = Guid::Parse(name.substr(0, name.size() - kRecordSuffix.size()));
    if (!id) continue;
    Result<Job> job = Read(*id);
    if (!job.ok() || !IsFinished(job->state) || job->finished_ms > cutoff) continue;
    Status st = fs_->Unlink(RecordPath(*id));
    if (!st.ok() && st.code() != Code::kNotFound) return st;
    (void)fs_->Unlink(OwnerLockPath(*id));  // best effort: only a lock file
  }
  return Status::Ok();
}

Result<std::vector<Job>> JobStore::List() {
  RETURN_IF_ERROR(Prune());
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListRecords());
  std::vector<Job> out;
  for (const std::string& name : names) {
    if (!name.ends_with(kRecordSuffix)) continue;
    std::optional<Guid> id = Guid::Parse(name.substr(0, name.size() - kRecordSuffix.size()));
    if (!id) continue;
    Result<Job> job = Read(*id);
    if (!job.ok() && job.status().code() == Code::kNotFound) continue;  // pruned meanwhile
    if (!job.ok()) return job.status();
    out.push_back(std::move(job).value());
  }
  std::sort(out.begin(), out.end(),
            [](const Job& a, const Job& b) { return a.submitted_ms < b.submitted_ms; });
  return out;
}

}  // namespace hvdisk::ops::wmi
