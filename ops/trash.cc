#include "ops/trash.h"

#include <set>
#include <system_error>

#include "ops/store_files.h"

namespace hvdisk::ops {
namespace {

bool IsMissing(const Status& st) { return st.code() == Code::kNotFound; }

// The entry's size; 0 when it is gone, not a regular file or cannot be opened (never fatal).
uint64_t EntrySize(FileSystem* fs, const std::string& path) {
  if (!CheckRegularFile(fs, path, path).ok()) return 0;
  OpenOptions opts = OpenOptions::ReadOnly();
  opts.no_follow = true;
  Result<std::unique_ptr<File>> f = fs->Open(path, opts);
  if (!f.ok()) return 0;
  Result<uint64_t> size = (*f)->Size();
  return size.ok() ? *size : 0;
}

// The trash's entries; none when the trash does not exist; kCorrupt when it is not a real
// directory (a symbolic link is never followed: its target is not the store's).
Result<std::vector<std::string>> ListTrash(FileSystem* fs, const StoreLayout& layout) {
  Status kind = CheckTrashDir(fs, layout);
  if (IsMissing(kind)) return std::vector<std::string>();
  RETURN_IF_ERROR(kind);
  Result<std::vector<std::string>> names = fs->List(layout.TrashDir());
  if (!names.ok() && IsMissing(names.status())) return std::vector<std::string>();
  return names;
}

}  // namespace

std::string TrashName(const Guid& op, std::string_view rel) {
  return LowerGuid(op) + "-" + BaseName(rel);
}

Status EnsureTrashDir(FileSystem* fs, const StoreLayout& layout) {
  // Anything in the way (a symbolic link, a file) is left as it is: CheckTrashDir refuses it
  // where the trash is used, and the store check names it.
  Result<FileKind> kind = fs->KindOf(layout.TrashDir());
  if (kind.ok() || !IsMissing(kind.status())) return Status::Ok();
  RETURN_IF_ERROR(fs->CreateDir(layout.TrashDir()));
  return fs->SyncDir(layout.root);
}

Status CheckTrashDir(FileSystem* fs, const StoreLayout& layout) {
  return CheckRealDir(fs, layout.TrashDir(), "trash/");
}

Status MoveToTrash(FileSystem* fs, const StoreLayout& layout, const Guid& op,
                   const std::vector<std::string>& rels) {
  if (!rels.empty()) RETURN_IF_ERROR(CheckTrashDir(fs, layout));
  std::set<std::string> dirs;
  for (const std::string& rel : rels) {
    const std::string from = layout.Abs(rel);
    Status st = fs->Rename(from, JoinPath(layout.TrashDir(), TrashName(op, rel)));
    if (IsMissing(st)) continue;  // moved before a crash, or never created
    RETURN_IF_ERROR(st);
    dirs.insert(DirName(from));
  }
  if (dirs.empty()) return Status::Ok();
  for (const std::string& d : dirs) RETURN_IF_ERROR(fs->SyncDir(d));
  return fs->SyncDir(layout.TrashDir());
}

Result<TrashReport> SurveyTrash(FileSystem* fs, const StoreLayout& layout) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListTrash(fs, layout));
  TrashReport rep;
  for (const std::string& n : names) {
    ++rep.files;
    rep.bytes += EntrySize(fs, JoinPath(layout.TrashDir(), n));
  }
  return rep;
}

Result<bool> TrashHasEntries(FileSystem* fs, const StoreLayout& layout) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListTrash(fs, layout));
  return !names.empty();
}

bool DiscardsFiles(const Intent& intent) {
  return !intent.deletes.empty() || !intent.merges.empty();
}

Result<TrashReport> ReclaimTrash(FileSystem* fs, const StoreLayout& layout,
                                 const std::atomic<bool>* stop) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListTrash(fs, layout));
  TrashReport rep;
  for (const std::string& n : names) {
    if (stop != nullptr && stop->load()) break;
    const std::string path = JoinPath(layout.TrashDir(), n);
    Result<FileKind> kind = fs->KindOf(path);
    if (kind.ok() && *kind == FileKind::kDirectory) continue;  // not ours: left for the operator
    const uint64_t size = EntrySize(fs, path);
    Status st = fs->Unlink(path);  // a symbolic link: the link goes, never its target
    if (IsMissing(st)) continue;   // another reclaim was first
    RETURN_IF_ERROR(st.WithContext("reclaim"));
    ++rep.files;
    rep.bytes += size;
  }
  if (rep.files > 0) RETURN_IF_ERROR(fs->SyncDir(layout.TrashDir()));
  return rep;
}

Result<TrashReport> ReclaimStoreTrash(FileSystem* fs, const std::string& dir) {
  const StoreLayout layout{dir};
  RETURN_IF_ERROR(CheckStoreDirs(fs, layout));
  return ReclaimTrash(fs, layout);
}

TrashReaper::~TrashReaper() {
  {
    std::lock_guard<std::mutex> guard(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TrashReaper::Changed() {
  switch (mode_) {
    case ReclaimMode::kBackground:
      Request();
      return;
    case ReclaimMode::kSynchronous:
      (void)ReclaimTrash(fs_, *layout_);
      return;
    case ReclaimMode::kExternal:
      return;
  }
}

void TrashReaper::Request() {
  std::lock_guard<std::mutex> guard(mu_);
  pending_ = true;
  if (!thread_.joinable()) {
    try {
      thread_ = std::thread([this] { Loop(); });
    } catch (const std::system_error&) {
      pending_ = false;
    }
  }
  cv_.notify_all();
}

void TrashReaper::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return stop_ || (!pending_ && !busy_); });
}

void TrashReaper::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return pending_ || stop_; });
    if (stop_) break;
    pending_ = false;
    busy_ = true;
    lock.unlock();
    // A failure leaves entries for the next reclaim; nobody waits on this one's result.
    (void)ReclaimTrash(fs_, *layout_, &stop_);
    lock.lock();
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace hvdisk::ops
