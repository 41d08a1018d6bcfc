#include "ops/fencing_file_system.h"

#include <cerrno>
#include <charconv>
#include <type_traits>

namespace hvdisk::ops {

bool IsFencingErrno(int err) {
  // ESHUTDOWN: what a CephFS client blocklisted by its MDS answers on resume (measured).
  return err == EIO || err == EBADFD || err == ENOTCONN || err == ESTALE || err == ESHUTDOWN;
}

int ErrnoOf(const Status& status) {
  const std::string& m = status.message();
  const size_t at = m.rfind("(errno ");
  if (at == std::string::npos || m.empty() || m.back() != ')') return 0;
  int err = 0;
  const char* first = m.data() + at + 7;
  const char* last = m.data() + m.size() - 1;
  auto [end, ec] = std::from_chars(first, last, err);
  return ec == std::errc() && end == last ? err : 0;
}

Status FencingFileSystem::Latch::Check() {
  if (!fenced.load()) return Status::Ok();
  std::lock_guard<std::mutex> guard(mu);
  return why;
}

Status FencingFileSystem::Latch::Filter(Status st) {
  if (st.ok()) return st;
  if (st.code() == Code::kFenced) return st;
  if (st.code() != Code::kIoError || !IsFencingErrno(ErrnoOf(st))) return st;
  Status fenced_st = Fenced("this host lost its hold on the store (" + st.message() +
                            "): another host may have taken over; stopped without writing further");
  {
    std::lock_guard<std::mutex> guard(mu);
    if (why.ok()) why = fenced_st;
  }
  fenced.store(true);
  return fenced_st;
}

namespace {

// Runs `call` unless latched; filters what it returns.
template <typename Call>
auto Guarded(FencingFileSystem::Latch& latch, Call call) -> decltype(call()) {
  Status before = latch.Check();
  if (!before.ok()) return before;
  auto r = call();
  if (r.ok()) return r;
  if constexpr (std::is_same_v<decltype(r), Status>) {
    return latch.Filter(std::move(r));
  } else {
    return latch.Filter(r.status());
  }
}

}  // namespace

class FencingFileSystem::FencedFile : public File {
 public:
  FencedFile(std::unique_ptr<File> inner, std::shared_ptr<Latch> latch)
      : File(inner->path()), inner_(std::move(inner)), latch_(std::move(latch)) {}

  Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> dst) override {
    return Guarded(*latch_, [&] { return inner_->ReadAt(offset, dst); });
  }
  Status WriteAt(uint64_t offset, std::span<const std::byte> src) override {
    return Guarded(*latch_, [&] { return inner_->WriteAt(offset, src); });
  }
  Status Flush() override {
    return Guarded(*latch_, [&] { return inner_->Flush(); });
  }
  Status Truncate(uint64_t size) override {
    return Guarded(*latch_, [&] { return inner_->Truncate(size); });
  }
  Status Allocate(uint64_t offset, uint64_t length) override {
    return Guarded(*latch_, [&] { return inner_->Allocate(offset, length); });
  }
  Result<uint64_t> Size() override {
    return Guarded(*latch_, [&] { return inner_->Size(); });
  }
  // Unwraps a source of the same kind, so the target copies inside the kernel where it can.
  Status CopyFrom(File& src, uint64_t src_offset, uint64_t offset, uint64_t length) override {
    auto* fenced_src = dynamic_cast<FencedFile*>(&src);
    File& from = fenced_src != nullptr ? *fenced_src->inner_ : src;
    return Guarded(*latch_, [&] { return inner_->CopyFrom(from, src_offset, offset, length); });
  }
  void StartWriteback() override {
    if (!latch_->fenced.load()) inner_->StartWriteback();
  }
  uint64_t NextData(uint64_t offset) override { return inner_->NextData(offset); }
  Status Lock(uint64_t start, uint64_t length, LockMode mode) override {
    return Guarded(*latch_, [&] { return inner_->Lock(start, length, mode); });
  }
  Status Unlock(uint64_t start, uint64_t length) override { return inner_->Unlock(start, length); }
  Result<std::optional<RangeLock>> TestLock(uint64_t start, uint64_t length,
                                            LockMode mode) override {
    return Guarded(*latch_, [&] { return inner_->TestLock(start, length, mode); });
  }
  int native_handle() const override { return inner_->native_handle(); }
  bool direct() const override { return inner_->direct(); }

 private:
  std::unique_ptr<File> inner_;
  std::shared_ptr<Latch> latch_;
};

FencingFileSystem::FencingFileSystem(FileSystem* target)
    : FileSystemWrapper(target), latch_(std::make_shared<Latch>()) {}

void FencingFileSystem::Fence(const Status& why) {
  {
    std::lock_guard<std::mutex> guard(latch_->mu);
    if (latch_->why.ok()) latch_->why = why.code() == Code::kFenced ? why : Fenced(why.message());
  }
  latch_->fenced.store(true);
}

Status FencingFileSystem::why() const { return latch_->Check(); }

Result<std::unique_ptr<File>> FencingFileSystem::Open(const std::string& path,
                                                      const OpenOptions& opts) {
  Result<std::unique_ptr<File>> f = Guarded(*latch_, [&] { return target()->Open(path, opts); });
  if (!f.ok()) return f;
  return std::unique_ptr<File>(std::make_unique<FencedFile>(std::move(f).value(), latch_));
}

Status FencingFileSystem::Rename(const std::string& from, const std::string& to) {
  return Guarded(*latch_, [&] { return target()->Rename(from, to); });
}
Status FencingFileSystem::RenameNoReplace(const std::string& from, const std::string& to) {
  return Guarded(*latch_, [&] { return target()->RenameNoReplace(from, to); });
}
Status FencingFileSystem::Unlink(const std::string& path) {
  return Guarded(*latch_, [&] { return target()->Unlink(path); });
}
Status FencingFileSystem::UnlinkInBackground(const std::string& path) {
  return Guarded(*latch_, [&] { return target()->UnlinkInBackground(path); });
}
Status FencingFileSystem::RenameBeneath(const std::string& dir, const std::string& from,
                                        const std::string& to) {
  return Guarded(*latch_, [&] { return target()->RenameBeneath(dir, from, to); });
}
Status FencingFileSystem::UnlinkBeneath(const std::string& dir, const std::string& path) {
  return Guarded(*latch_, [&] { return target()->UnlinkBeneath(dir, path); });
}
Status FencingFileSystem::CreateDir(const std::string& path) {
  return Guarded(*latch_, [&] { return target()->CreateDir(path); });
}
Status FencingFileSystem::RemoveDir(const std::string& path) {
  return Guarded(*latch_, [&] { return target()->RemoveDir(path); });
}
Status FencingFileSystem::SyncDir(const std::string& path) {
  return Guarded(*latch_, [&] { return target()->SyncDir(path); });
}
Result<std::vector<std::string>> FencingFileSystem::List(const std::string& dir) {
  return Guarded(*latch_, [&] { return target()->List(dir); });
}
Result<bool> FencingFileSystem::IsDirectory(const std::string& path) {
  return Guarded(*latch_, [&] { return target()->IsDirectory(path); });
}
Result<std::string> FencingFileSystem::RealPath(const std::string& path) {
  return Guarded(*latch_, [&] { return target()->RealPath(path); });
}
Result<FileKind> FencingFileSystem::KindOf(const std::string& path) {
  return Guarded(*latch_, [&] { return target()->KindOf(path); });
}

}  // namespace hvdisk::ops
