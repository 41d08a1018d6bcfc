// FaultFileSystem: a FileSystemWrapper that injects errors, per operation kind (FileOp), into the
// file system calls and into every File it opens.
//
// Each kind has a counter (every attempt, failed or not) and at most one FaultRule. An injected
// failure is ErrnoStatus(rule.err, FileOpName(op), path) (so EIO arrives as kIoError, ENOSPC as
// kNoSpace, ...; a rename names "from -> to") and the operation is not passed to the target.
// IsDirectory, RealPath, File::Size and the byte-range locks (File::Lock, Unlock, TestLock:
// forwarded) are never counted nor failed.
//
// Thread safety: thread-safe. The target must outlive the wrapper; Files opened through it may
// outlive the wrapper (they share its counters and rules).
#pragma once

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "platform/file.h"
#include "platform/status.h"

namespace hvdisk {

struct FaultRule {
  // Fails the nth op of the kind counted from SetRule (1-based); 0: no nth trigger.
  uint64_t nth = 0;
  // Fails each op of the kind with probability 1/one_in (seeded RNG); 0: no random trigger.
  uint64_t one_in = 0;
  // The errno injected.
  int err = EIO;
  // false (transient): only the triggered op fails, the next one may succeed.
  // true (persistent): once triggered, every later op of the kind fails too.
  bool persistent = false;
  // kWrite only: the rule sees (counts towards nth, may fail) only writes that extend the file
  // past its size, as a full disk fails them (with fallocate, an ENOSPC mode).
  bool extending_only = false;
};

class FaultFileSystem : public FileSystemWrapper {
 public:
  // `seed` drives the one_in triggers: the same seed and call sequence give the same failures.
  explicit FaultFileSystem(FileSystem* target, uint64_t seed = 1);
  ~FaultFileSystem() override;
  FaultFileSystem(const FaultFileSystem&) = delete;
  FaultFileSystem& operator=(const FaultFileSystem&) = delete;

  // Replaces the rule of `op` and restarts its nth counting and persistent state.
  // REQUIRES: op != FileOp::kCount.
  void SetRule(FileOp op, const FaultRule& rule);
  void ClearRule(FileOp op);
  void ClearRules();

  // Ops of kind `op` attempted so far through this wrapper and its Files (including failed ones).
  uint64_t count(FileOp op) const;
  // Failures injected so far into ops of kind `op`.
  uint64_t injected(FileOp op) const;

  Result<std::unique_ptr<File>> Open(const std::string& path, const OpenOptions& opts) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status RenameNoReplace(const std::string& from, const std::string& to) override;
  Status Unlink(const std::string& path) override;
  Status RenameBeneath(const std::string& dir, const std::string& from,
                       const std::string& to) override;
  Status UnlinkBeneath(const std::string& dir, const std::string& path) override;
  Status CreateDir(const std::string& path) override;
  Status RemoveDir(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  Result<std::vector<std::string>> List(const std::string& dir) override;

  // Counts one op of kind `op` on `path`; returns the injected failure, or OK to proceed.
  // For wrappers that add operations of their own.
  Status Intercept(FileOp op, std::string_view path);

 private:
  struct State;
  class FaultFile;

  std::shared_ptr<State> state_;
};

}  // namespace hvdisk
