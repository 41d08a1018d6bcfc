#include "platform/crash_file_system.h"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <iterator>
#include <random>
#include <set>
#include <utility>

namespace hvdisk {
namespace {

// An inode with its durability state; `data` (from memfs::Inode) is the current content.
// Everything here is guarded by `mu`.
struct CrashInode final : memfs::Inode {
  memfs::SparseBytes durable;  // content and size as of the last Flush
  std::set<uint64_t> dirty;    // sectors written since then; each starts below data.size()
  uint64_t low_water = 0;      // the smallest size since then
};

CrashInode& AsCrash(memfs::Inode& inode) { return static_cast<CrashInode&>(inode); }

Status CrashedError(std::string_view op, std::string_view path) {
  return IoError(std::string(op) + " " + std::string(path) + ": simulated crash");
}

bool Keep(std::mt19937_64& rng, CrashMode mode) {
  return mode == CrashMode::kKeepAll || (mode == CrashMode::kRandom && (rng() >> 63) != 0);
}

void MarkDirty(CrashInode& n, uint64_t offset, size_t length, size_t sector) {
  if (length == 0) return;
  auto hint = n.dirty.lower_bound(offset / sector);
  for (uint64_t s = offset / sector; s <= (offset + length - 1) / sector; ++s) {
    hint = std::next(n.dirty.insert(hint, s));
  }
}

void ResizeInode(CrashInode& n, uint64_t size, size_t sector) {
  n.data.Resize(size);
  n.low_water = std::min(n.low_water, size);
  n.dirty.erase(n.dirty.lower_bound((size + sector - 1) / sector), n.dirty.end());
}

// Copies sector s of `from` into `to`, zero-padding it to cover `to`'s bytes of that sector.
void CopySector(const memfs::SparseBytes& from, uint64_t s, size_t sector, memfs::SparseBytes& to,
                std::vector<std::byte>& buf) {
  const uint64_t pos = s * sector;
  std::fill(buf.begin(), buf.end(), std::byte{0});
  size_t len = from.Read(pos, buf);
  if (to.size() > pos) len = std::max<size_t>(len, std::min<uint64_t>(sector, to.size() - pos));
  to.Write(pos, std::span(buf).first(len));
}

void FlushInode(CrashInode& n, size_t sector) {
  n.durable.Resize(n.low_water);
  n.durable.Resize(n.data.size());
  std::vector<std::byte> buf(sector);
  for (uint64_t s : n.dirty) CopySector(n.data, s, sector, n.durable, buf);
  n.dirty.clear();
  n.low_water = n.data.size();
}

// Replaces the inode's state by what survives a crash: the durable content, plus the size change
// and each unsynced sector if kept.
void RecoverInode(CrashInode& n, size_t sector, std::mt19937_64& rng, CrashMode mode) {
  memfs::SparseBytes result = std::move(n.durable);
  if (Keep(rng, mode)) {
    result.Resize(n.low_water);
    result.Resize(n.data.size());
  }
  std::vector<std::byte> buf(sector);
  for (uint64_t s : n.dirty) {
    if (Keep(rng, mode)) CopySector(n.data, s, sector, result, buf);
  }
  n.data = result;
  n.durable = std::move(result);
  n.dirty.clear();
  n.low_water = n.data.size();
}

}  // namespace

class CrashFileSystem::CrashFile final : public File {
 public:
  CrashFile(CrashFileSystem* fs, std::string path, std::shared_ptr<memfs::Inode> inode,
            bool writable, bool direct, uint64_t generation)
      : File(std::move(path)),
        fs_(fs),
        inode_(std::move(inode)),
        writable_(writable),
        direct_(direct),
        generation_(generation) {}
  ~CrashFile() override {
    std::lock_guard lock(inode_->mu);
    inode_->locks.Release(owner_);
  }

  Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> dst) override {
    std::shared_lock crash_lock(fs_->crash_mu_);
    RETURN_IF_ERROR(Check("read", false));
    RETURN_IF_ERROR(memfs::CheckIo("read", path(), direct_, false, offset, dst.size(), dst.data()));
    std::lock_guard lock(inode_->mu);
    return inode_->data.Read(offset, dst);
  }

  Status WriteAt(uint64_t offset, std::span<const std::byte> src) override {
    std::shared_lock crash_lock(fs_->crash_mu_);
    RETURN_IF_ERROR(Check("write", true));
    if (!writable_) return memfs::ReadOnlyError("write", path());
    RETURN_IF_ERROR(memfs::CheckIo("write", path(), direct_, true, offset, src.size(), src.data()));
    std::lock_guard lock(inode_->mu);
    CrashInode& n = AsCrash(*inode_);
    n.data.Write(offset, src);
    MarkDirty(n, offset, src.size(), fs_->sector_size_);
    return Status::Ok();
  }

  Status Flush() override {
    std::shared_lock crash_lock(fs_->crash_mu_);
    RETURN_IF_ERROR(Check("flush", true));
    std::lock_guard lock(inode_->mu);
    FlushInode(AsCrash(*inode_), fs_->sector_size_);
    return Status::Ok();
  }

  Status Truncate(uint64_t size) override {
    std::shared_lock crash_lock(fs_->crash_mu_);
    RETURN_IF_ERROR(Check("truncate", true));
    if (!writable_) return memfs::ReadOnlyError("truncate", path());
    if (size > memfs::kMaxFileSize) return ErrnoStatus(EFBIG, "truncate", path());
    std::lock_guard lock(inode_->mu);
    ResizeInode(AsCrash(*inode_), size, fs_->sector_size_);
    return Status::Ok();
  }

  Status Allocate(uint64_t offset, uint64_t length) override {
    std::shared_lock crash_lock(fs_->crash_mu_);
    RETURN_IF_ERROR(Check("allocate", true));
    if (!writable_) return memfs::ReadOnlyError("allocate", path());
    if (length == 0) return ErrnoStatus(EINVAL, "allocate", path());
    if (offset > memfs::kMaxFileSize || length > memfs::kMaxFileSize - offset) {
      return ErrnoStatus(EFBIG, "allocate", path());
    }
    std::lock_guard lock(inode_->mu);
    if (offset + length > inode_->data.size()) inode_->data.Resize(offset + length);
    return Status::Ok();
  }

  Result<uint64_t> Size() override {
    std::shared_lock crash_lock(fs_->crash_mu_);
    RETURN_IF_ERROR(Check("size", false));
    std::lock_guard lock(inode_->mu);
    return inode_->data.size();
  }

  bool direct() const override { return direct_; }

  // Locks are not durable: not mutating ops, and a crash drops them all (Crash()).
  Status Lock(uint64_t start, uint64_t length, LockMode mode) override {
    std::shared_lock crash_lock(fs_->crash_mu_);
    RETURN_IF_ERROR(Check("lock", false));
    return memfs::LockInode(*inode_, owner_, writable_, path(), start, length, mode);
  }
  Status Unlock(uint64_t start, uint64_t length) override {
    std::shared_lock crash_lock(fs_->crash_mu_);
    RETURN_IF_ERROR(Check("unlock", false));
    return memfs::LockInode(*inode_, owner_, writable_, path(), start, length, std::nullopt);
  }
  Result<std::optional<RangeLock>> TestLock(uint64_t start, uint64_t length,
                                            LockMode mode) override {
    std::shared_lock crash_lock(fs_->crash_mu_);
    RETURN_IF_ERROR(Check("test lock", false));
    return memfs::TestLockInode(*inode_, owner_, path(), start, length, mode);
  }

 private:
  // REQUIRES: crash_mu_ held (shared).
  Status Check(std::string_view op, bool mutating) {
    if (generation_ != fs_->generation_) {
      return IoError(std::string(op) + " " + path() + ": file handle lost in a simulated crash");
    }
    return fs_->Gate(mutating, op, path());
  }

  CrashFileSystem* const fs_;
  const std::shared_ptr<memfs::Inode> inode_;
  const bool writable_;
  const bool direct_;
  const uint64_t generation_;
  const uint64_t owner_ = memfs::LockTable::NewOwner();
};

CrashFileSystem::CrashFileSystem(size_t sector_size) : sector_size_(sector_size) {
  assert(sector_size == 512 || sector_size == 4096);
}

CrashFileSystem::~CrashFileSystem() = default;

Status CrashFileSystem::Gate(bool mutating, std::string_view op, std::string_view path) {
  std::lock_guard lock(trigger_mu_);
  if (crashed_) return CrashedError(op, path);
  if (!mutating) return Status::Ok();
  if (crash_at_ != 0 && ops_ + 1 == crash_at_) {
    crashed_ = true;
    return CrashedError(op, path);
  }
  ++ops_;
  return Status::Ok();
}

void CrashFileSystem::Log(DirOp op, std::vector<std::string> dirs) {
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  op.unsynced_dirs = std::move(dirs);
  log_.push_back(std::move(op));
}

void CrashFileSystem::Compact() {
  while (!log_.empty() && log_.front().unsynced_dirs.empty()) {
    Apply(durable_, log_.front());
    log_.pop_front();
  }
}

void CrashFileSystem::Apply(memfs::Namespace& ns, const DirOp& op) {
  // An op that no longer applies (its directory or source is gone) is skipped.
  Status ignored;
  switch (op.kind) {
    case FileOp::kOpen:
      ignored = ns.AddFile(op.path, op.inode, "open");
      break;
    case FileOp::kRename:
      ignored = ns.Rename(op.path, op.to);
      break;
    case FileOp::kUnlink:
      ignored = ns.Unlink(op.path);
      break;
    case FileOp::kMkdir:
      ignored = ns.Mkdir(op.path);
      break;
    case FileOp::kRmdir:
      ignored = ns.Rmdir(op.path);
      break;
    default:
      break;
  }
}

Result<std::unique_ptr<File>> CrashFileSystem::Open(const std::string& path,
                                                    const OpenOptions& opts) {
  if ((opts.create || opts.truncate) && !opts.write) {
    return InvalidArgument("open " + path + ": create and truncate need write");
  }
  // No symbolic links here: confinement is the path's form.
  if (!opts.beneath.empty()) RETURN_IF_ERROR(PathBeneath(opts.beneath, path).status());
  std::shared_lock crash_lock(crash_mu_);
  RETURN_IF_ERROR(Gate(opts.create || opts.truncate, "open", path));
  ASSIGN_OR_RETURN(std::string p, memfs::Namespace::Normalize(path, "open"));
  std::lock_guard lock(mu_);
  bool created;
  ASSIGN_OR_RETURN(std::shared_ptr<memfs::Inode> inode,
                   current_.Open(
                       p, opts, [] { return std::make_shared<CrashInode>(); }, &created));
  if (created) Log({FileOp::kOpen, p, "", inode, {}}, {DirName(p)});
  if (opts.truncate) {
    std::lock_guard inode_lock(inode->mu);
    ResizeInode(AsCrash(*inode), 0, sector_size_);
  }
  return std::unique_ptr<File>(std::make_unique<CrashFile>(this, path, std::move(inode), opts.write,
                                                           opts.direct, generation_));
}

Status CrashFileSystem::Rename(const std::string& from, const std::string& to) {
  return DoRename(from, to, /*replace=*/true);
}

// Logged as a rename either way: replaying it onto the durable namespace, where `to` may still
// exist (its unlink not yet synced), replaces it as the real file system's ordered updates do.
Status CrashFileSystem::RenameNoReplace(const std::string& from, const std::string& to) {
  return DoRename(from, to, /*replace=*/false);
}

Status CrashFileSystem::DoRename(const std::string& from, const std::string& to, bool replace) {
  std::shared_lock crash_lock(crash_mu_);
  RETURN_IF_ERROR(Gate(true, "rename", from + " -> " + to));
  ASSIGN_OR_RETURN(std::string f, memfs::Namespace::Normalize(from, "rename"));
  ASSIGN_OR_RETURN(std::string t, memfs::Namespace::Normalize(to, "rename"));
  std::lock_guard lock(mu_);
  if (!replace && current_.Get(t) != nullptr) {
    return memfs::PosixError(EEXIST, "rename", f + " -> " + t);
  }
  RETURN_IF_ERROR(current_.Rename(f, t));
  if (f != t) Log({FileOp::kRename, f, t, nullptr, {}}, {DirName(f), DirName(t)});
  return Status::Ok();
}

Status CrashFileSystem::Unlink(const std::string& path) {
  std::shared_lock crash_lock(crash_mu_);
  RETURN_IF_ERROR(Gate(true, "unlink", path));
  ASSIGN_OR_RETURN(std::string p, memfs::Namespace::Normalize(path, "unlink"));
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(current_.Unlink(p));
  Log({FileOp::kUnlink, p, "", nullptr, {}}, {DirName(p)});
  return Status::Ok();
}

Status CrashFileSystem::CreateDir(const std::string& path) {
  std::shared_lock crash_lock(crash_mu_);
  RETURN_IF_ERROR(Gate(true, "mkdir", path));
  ASSIGN_OR_RETURN(std::string p, memfs::Namespace::Normalize(path, "mkdir"));
  std::lock_guard lock(mu_);
  if (const memfs::Namespace::Node* node = current_.Get(p); node != nullptr && node->is_dir()) {
    return Status::Ok();
  }
  RETURN_IF_ERROR(current_.Mkdir(p));
  Log({FileOp::kMkdir, p, "", nullptr, {}}, {DirName(p)});
  return Status::Ok();
}

Status CrashFileSystem::RemoveDir(const std::string& path) {
  std::shared_lock crash_lock(crash_mu_);
  RETURN_IF_ERROR(Gate(true, "rmdir", path));
  ASSIGN_OR_RETURN(std::string p, memfs::Namespace::Normalize(path, "rmdir"));
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(current_.Rmdir(p));
  Log({FileOp::kRmdir, p, "", nullptr, {}}, {DirName(p)});
  return Status::Ok();
}

Status CrashFileSystem::SyncDir(const std::string& path) {
  std::shared_lock crash_lock(crash_mu_);
  RETURN_IF_ERROR(Gate(true, "syncdir", path));
  ASSIGN_OR_RETURN(std::string p, memfs::Namespace::Normalize(path, "syncdir"));
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(const memfs::Namespace::Node* node, current_.Lookup(p, "syncdir"));
  if (!node->is_dir()) return memfs::PosixError(ENOTDIR, "syncdir", p);
  for (DirOp& op : log_) std::erase(op.unsynced_dirs, p);
  Compact();
  return Status::Ok();
}

Result<std::vector<std::string>> CrashFileSystem::List(const std::string& dir) {
  std::shared_lock crash_lock(crash_mu_);
  RETURN_IF_ERROR(Gate(false, "list", dir));
  ASSIGN_OR_RETURN(std::string p, memfs::Namespace::Normalize(dir, "list"));
  std::lock_guard lock(mu_);
  return current_.List(p, "list");
}

Result<bool> CrashFileSystem::IsDirectory(const std::string& path) {
  std::shared_lock crash_lock(crash_mu_);
  RETURN_IF_ERROR(Gate(false, "stat", path));
  ASSIGN_OR_RETURN(std::string p, memfs::Namespace::Normalize(path, "stat"));
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(const memfs::Namespace::Node* node, current_.Lookup(p, "stat"));
  return node->is_dir();
}

Result<FileKind> CrashFileSystem::KindOf(const std::string& path) {
  ASSIGN_OR_RETURN(bool is_dir, IsDirectory(path));
  return is_dir ? FileKind::kDirectory : FileKind::kFile;
}

Result<std::string> CrashFileSystem::RealPath(const std::string& path) {
  std::shared_lock crash_lock(crash_mu_);
  RETURN_IF_ERROR(Gate(false, "realpath", path));
  ASSIGN_OR_RETURN(std::string p, memfs::Namespace::Normalize(path, "realpath"));
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(current_.Lookup(p, "realpath").status());
  return p;
}

void CrashFileSystem::Crash(uint64_t seed, CrashMode mode) {
  std::unique_lock crash_lock(crash_mu_);
  std::lock_guard lock(mu_);
  std::mt19937_64 rng(seed);
  memfs::Namespace result = durable_;
  for (const DirOp& op : log_) {
    if (op.unsynced_dirs.empty() || Keep(rng, mode)) Apply(result, op);
  }
  log_.clear();
  for (const auto& [path, node] : result.nodes()) {
    if (node.is_dir()) continue;
    std::lock_guard inode_lock(node.inode->mu);
    RecoverInode(AsCrash(*node.inode), sector_size_, rng, mode);
    node.inode->locks.Clear();  // their holders died with the "power"
  }
  current_ = result;
  durable_ = std::move(result);
  ++generation_;
  std::lock_guard trigger_lock(trigger_mu_);
  crashed_ = false;
  crash_at_ = 0;
}

void CrashFileSystem::SetCrashPoint(uint64_t n) {
  std::lock_guard lock(trigger_mu_);
  crash_at_ = n == 0 ? 0 : ops_ + n;
}

uint64_t CrashFileSystem::mutating_ops() const {
  std::lock_guard lock(trigger_mu_);
  return ops_;
}

bool CrashFileSystem::crash_point_reached() const {
  std::lock_guard lock(trigger_mu_);
  return crashed_;
}

void CrashFileSystem::SyncAll() {
  std::unique_lock crash_lock(crash_mu_);
  std::lock_guard lock(mu_);
  for (DirOp& op : log_) op.unsynced_dirs.clear();
  Compact();
  for (const auto& [path, node] : current_.nodes()) {
    if (node.is_dir()) continue;
    std::lock_guard inode_lock(node.inode->mu);
    FlushInode(AsCrash(*node.inode), sector_size_);
  }
}

Status CrashFileSystem::ExportTo(FileSystem* dst, const std::string& dir) {
  return CopyTree(this, "/", dst, dir);
}

Status CrashFileSystem::ImportFrom(FileSystem* src, const std::string& dir) {
  RETURN_IF_ERROR(CopyTree(src, dir, this, "/"));
  SyncAll();
  return Status::Ok();
}

Result<std::string> CrashFileSystem::GetFile(const std::string& path) {
  std::shared_lock crash_lock(crash_mu_);
  ASSIGN_OR_RETURN(std::string p, memfs::Namespace::Normalize(path, "open"));
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(const memfs::Namespace::Node* node, current_.Lookup(p, "open"));
  if (node->is_dir()) return memfs::PosixError(EISDIR, "open", p);
  std::lock_guard inode_lock(node->inode->mu);
  return node->inode->data.ToString();
}

}  // namespace hvdisk
