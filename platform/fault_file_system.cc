#include "platform/fault_file_system.h"

#include <array>
#include <mutex>
#include <optional>
#include <random>
#include <utility>

namespace hvdisk {

struct FaultFileSystem::State {
  struct Kind {
    uint64_t count = 0;     // attempts since construction
    uint64_t injected = 0;  // failures injected since construction
    std::optional<FaultRule> rule;
    uint64_t since_rule = 0;  // attempts since SetRule
    bool tripped = false;     // a persistent rule has fired
  };

  explicit State(uint64_t seed) : rng(seed) {}

  // Counts an attempt; returns the errno to inject, or nullopt to proceed.
  // `extends`: a write past the file's end (FaultRule::extending_only).
  std::optional<int> Decide(FileOp op, bool extends = true) {
    std::lock_guard lock(mu);
    Kind& k = kinds[static_cast<size_t>(op)];
    ++k.count;
    if (!k.rule || (k.rule->extending_only && !extends)) return std::nullopt;
    ++k.since_rule;
    const bool fail = k.tripped || (k.rule->nth != 0 && k.since_rule == k.rule->nth) ||
                      (k.rule->one_in != 0 && rng() % k.rule->one_in == 0);
    if (!fail) return std::nullopt;
    ++k.injected;
    if (k.rule->persistent) k.tripped = true;
    return k.rule->err;
  }

  Status Intercept(FileOp op, std::string_view path, bool extends = true) {
    std::optional<int> err = Decide(op, extends);
    return err ? ErrnoStatus(*err, FileOpName(op), path) : Status::Ok();
  }

  mutable std::mutex mu;
  std::mt19937_64 rng;
  std::array<Kind, static_cast<size_t>(FileOp::kCount)> kinds;
};

// Wraps a File of the target: every counted op passes through State::Intercept first.
class FaultFileSystem::FaultFile final : public File {
 public:
  FaultFile(std::unique_ptr<File> base, std::shared_ptr<State> state)
      : File(base->path()), base_(std::move(base)), state_(std::move(state)) {}

  Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> dst) override {
    RETURN_IF_ERROR(state_->Intercept(FileOp::kRead, path()));
    return base_->ReadAt(offset, dst);
  }
  Status WriteAt(uint64_t offset, std::span<const std::byte> src) override {
    Result<uint64_t> size = base_->Size();
    const bool extends = !size.ok() || offset + src.size() > *size;
    RETURN_IF_ERROR(state_->Intercept(FileOp::kWrite, path(), extends));
    return base_->WriteAt(offset, src);
  }
  Status Flush() override {
    RETURN_IF_ERROR(state_->Intercept(FileOp::kFlush, path()));
    return base_->Flush();
  }
  Status Truncate(uint64_t size) override {
    RETURN_IF_ERROR(state_->Intercept(FileOp::kTruncate, path()));
    return base_->Truncate(size);
  }
  Status Allocate(uint64_t offset, uint64_t length) override {
    RETURN_IF_ERROR(state_->Intercept(FileOp::kAllocate, path()));
    return base_->Allocate(offset, length);
  }
  Result<uint64_t> Size() override { return base_->Size(); }
  void StartWriteback() override { base_->StartWriteback(); }
  Status Lock(uint64_t start, uint64_t length, LockMode mode) override {
    return base_->Lock(start, length, mode);
  }
  Status Unlock(uint64_t start, uint64_t length) override { return base_->Unlock(start, length); }
  Result<std::optional<RangeLock>> TestLock(uint64_t start, uint64_t length,
                                            LockMode mode) override {
    return base_->TestLock(start, length, mode);
  }
  uint64_t NextData(uint64_t offset) override { return base_->NextData(offset); }
  int native_handle() const override { return base_->native_handle(); }
  bool direct() const override { return base_->direct(); }

 private:
  const std::unique_ptr<File> base_;
  const std::shared_ptr<State> state_;
};

FaultFileSystem::FaultFileSystem(FileSystem* target, uint64_t seed)
    : FileSystemWrapper(target), state_(std::make_shared<State>(seed)) {}

FaultFileSystem::~FaultFileSystem() = default;

void FaultFileSystem::SetRule(FileOp op, const FaultRule& rule) {
  std::lock_guard lock(state_->mu);
  State::Kind& k = state_->kinds[static_cast<size_t>(op)];
  k.rule = rule;
  k.since_rule = 0;
  k.tripped = false;
}

void FaultFileSystem::ClearRule(FileOp op) {
  std::lock_guard lock(state_->mu);
  State::Kind& k = state_->kinds[static_cast<size_t>(op)];
  k.rule.reset();
  k.tripped = false;
}

void FaultFileSystem::ClearRules() {
  for (size_t i = 0; i < static_cast<size_t>(FileOp::kCount); ++i) {
    ClearRule(static_cast<FileOp>(i));
  }
}

uint64_t FaultFileSystem::count(FileOp op) const {
  std::lock_guard lock(state_->mu);
  return state_->kinds[static_cast<size_t>(op)].count;
}

uint64_t FaultFileSystem::injected(FileOp op) const {
  std::lock_guard lock(state_->mu);
  return state_->kinds[static_cast<size_t>(op)].injected;
}

Status FaultFileSystem::Intercept(FileOp op, std::string_view path) {
  return state_->Intercept(op, path);
}

Result<std::unique_ptr<File>> FaultFileSystem::Open(const std::string& path,
                                                    const OpenOptions& opts) {
  RETURN_IF_ERROR(Intercept(FileOp::kOpen, path));
  ASSIGN_OR_RETURN(std::unique_ptr<File> base, target()->Open(path, opts));
  return std::unique_ptr<File>(std::make_unique<FaultFile>(std::move(base), state_));
}

Status FaultFileSystem::Rename(const std::string& from, const std::string& to) {
  RETURN_IF_ERROR(Intercept(FileOp::kRename, from + " -> " + to));
  return target()->Rename(from, to);
}

Status FaultFileSystem::RenameNoReplace(const std::string& from, const std::string& to) {
  RETURN_IF_ERROR(Intercept(FileOp::kRename, from + " -> " + to));
  return target()->RenameNoReplace(from, to);
}

Status FaultFileSystem::Unlink(const std::string& path) {
  RETURN_IF_ERROR(Intercept(FileOp::kUnlink, path));
  return target()->Unlink(path);
}

Status FaultFileSystem::RenameBeneath(const std::string& dir, const std::string& from,
                                      const std::string& to) {
  RETURN_IF_ERROR(Intercept(FileOp::kRename, from + " -> " + to));
  return target()->RenameBeneath(dir, from, to);
}

Status FaultFileSystem::UnlinkBeneath(const std::string& dir, const std::string& path) {
  RETURN_IF_ERROR(Intercept(FileOp::kUnlink, path));
  return target()->UnlinkBeneath(dir, path);
}

Status FaultFileSystem::CreateDir(const std::string& path) {
  RETURN_IF_ERROR(Intercept(FileOp::kMkdir, path));
  return target()->CreateDir(path);
}

Status FaultFileSystem::RemoveDir(const std::string& path) {
  RETURN_IF_ERROR(Intercept(FileOp::kRmdir, path));
  return target()->RemoveDir(path);
}

Status FaultFileSystem::SyncDir(const std::string& path) {
  RETURN_IF_ERROR(Intercept(FileOp::kSyncDir, path));
  return target()->SyncDir(path);
}

Result<std::vector<std::string>> FaultFileSystem::List(const std::string& dir) {
  RETURN_IF_ERROR(Intercept(FileOp::kList, dir));
  return target()->List(dir);
}

}  // namespace hvdisk
