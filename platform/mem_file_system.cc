#include "platform/mem_file_system.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

namespace hvdisk {
namespace memfs {

size_t SparseBytes::Read(uint64_t offset, std::span<std::byte> dst) const {
  if (offset >= size_) return 0;
  const size_t n = static_cast<size_t>(std::min<uint64_t>(dst.size(), size_ - offset));
  size_t done = 0;
  while (done < n) {
    const uint64_t pos = offset + done;
    const size_t in_page = static_cast<size_t>(pos % kPageSize);
    const size_t chunk = std::min(n - done, kPageSize - in_page);
    auto it = pages_.find(pos / kPageSize);
    if (it == pages_.end()) {
      std::memset(dst.data() + done, 0, chunk);
    } else {
      std::memcpy(dst.data() + done, it->second.data() + in_page, chunk);
    }
    done += chunk;
  }
  return n;
}

void SparseBytes::Write(uint64_t offset, std::span<const std::byte> src) {
  size_t done = 0;
  while (done < src.size()) {
    const uint64_t pos = offset + done;
    const size_t in_page = static_cast<size_t>(pos % kPageSize);
    const size_t chunk = std::min(src.size() - done, kPageSize - in_page);
    std::vector<std::byte>& page = pages_[pos / kPageSize];
    if (page.empty()) page.resize(kPageSize);
    std::memcpy(page.data() + in_page, src.data() + done, chunk);
    done += chunk;
  }
  size_ = std::max<uint64_t>(size_, offset + src.size());
}

void SparseBytes::Resize(uint64_t size) {
  if (size < size_) {
    pages_.erase(pages_.lower_bound((size + kPageSize - 1) / kPageSize), pages_.end());
    auto it = pages_.find(size / kPageSize);
    if (size % kPageSize != 0 && it != pages_.end()) {
      std::fill(it->second.begin() + static_cast<ptrdiff_t>(size % kPageSize), it->second.end(),
                std::byte{0});
    }
  }
  size_ = size;
}

uint64_t SparseBytes::NextData(uint64_t offset) const {
  auto it = pages_.lower_bound(offset / kPageSize);
  if (it == pages_.end()) return UINT64_MAX;
  return std::max(offset, it->first * kPageSize);
}

std::string SparseBytes::ToString() const {
  std::string out(static_cast<size_t>(size_), '\0');
  Read(0, std::as_writable_bytes(std::span(out)));
  return out;
}

uint64_t LockTable::NewOwner() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1);
}

std::optional<RangeLock> LockTable::Conflict(uint64_t owner, uint64_t start, uint64_t length,
                                             LockMode mode) const {
  const uint64_t end = start + length;
  for (const Held& h : locks_) {
    if (h.owner == owner || h.end <= start || end <= h.start) continue;
    if (mode == LockMode::kExclusive || h.mode == LockMode::kExclusive) {
      return RangeLock{h.mode, h.start, h.end - h.start};
    }
  }
  return std::nullopt;
}

bool LockTable::Set(uint64_t owner, uint64_t start, uint64_t length, std::optional<LockMode> mode) {
  if (mode && Conflict(owner, start, length, *mode)) return false;
  const uint64_t end = start + length;
  std::vector<Held> kept;
  for (const Held& h : locks_) {
    if (h.owner != owner || h.end <= start || end <= h.start) {
      kept.push_back(h);
      continue;
    }
    if (h.start < start) kept.push_back({owner, h.mode, h.start, start});
    if (end < h.end) kept.push_back({owner, h.mode, end, h.end});
  }
  if (mode) kept.push_back({owner, *mode, start, end});
  locks_ = std::move(kept);
  return true;
}

void LockTable::Release(uint64_t owner) {
  std::erase_if(locks_, [owner](const Held& h) { return h.owner == owner; });
}

namespace {

Status CheckLockRange(std::string_view op, std::string_view path, uint64_t start, uint64_t length) {
  if (length == 0 || start > INT64_MAX || length > INT64_MAX - start) {
    return ErrnoStatus(EINVAL, op, path);
  }
  return Status::Ok();
}

}  // namespace

Status LockInode(Inode& inode, uint64_t owner, bool writable, std::string_view path, uint64_t start,
                 uint64_t length, std::optional<LockMode> mode) {
  const std::string_view op = mode ? "lock" : "unlock";
  RETURN_IF_ERROR(CheckLockRange(op, path, start, length));
  if (mode == LockMode::kExclusive && !writable) return ErrnoStatus(EBADF, op, path);
  std::lock_guard lock(inode.mu);
  if (!inode.locks.Set(owner, start, length, mode)) {
    return InUse(std::string(op) + " " + std::string(path) + ": held by another open file");
  }
  return Status::Ok();
}

Result<std::optional<RangeLock>> TestLockInode(Inode& inode, uint64_t owner, std::string_view path,
                                               uint64_t start, uint64_t length, LockMode mode) {
  RETURN_IF_ERROR(CheckLockRange("test lock", path, start, length));
  std::lock_guard lock(inode.mu);
  return inode.locks.Conflict(owner, start, length, mode);
}

Status PosixError(int err, std::string_view op, std::string_view path) {
  Status s = ErrnoStatus(err, op, path);
  if (err == EEXIST) return InUse(s.message());
  return s;
}

Status ReadOnlyError(std::string_view op, std::string_view path) {
  return AccessDenied(std::string(op) + " " + std::string(path) + ": file opened read-only");
}

Status CheckIo(std::string_view op, std::string_view path, bool direct, bool write, uint64_t offset,
               size_t length, const void* buffer) {
  if (direct && (offset % kDirectAlignment != 0 || length % kDirectAlignment != 0 ||
                 reinterpret_cast<uintptr_t>(buffer) % kDirectAlignment != 0)) {
    return ErrnoStatus(EINVAL, op, path);
  }
  if (write && (offset > kMaxFileSize || length > kMaxFileSize - offset)) {
    return ErrnoStatus(EFBIG, op, path);
  }
  return Status::Ok();
}

Namespace::Namespace() { nodes_.emplace("/", Node{}); }

Result<std::string> Namespace::Normalize(std::string_view path, std::string_view op) {
  if (path.empty()) return ErrnoStatus(ENOENT, op, path);
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view part = path.substr(pos, slash - pos);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    pos = slash + 1;
  }
  std::string out;
  for (std::string_view part : parts) {
    out += '/';
    out += part;
  }
  return out.empty() ? std::string("/") : out;
}

const Namespace::Node* Namespace::Get(const std::string& path) const {
  auto it = nodes_.find(path);
  return it == nodes_.end() ? nullptr : &it->second;
}

Status Namespace::MissingError(const std::string& path, std::string_view op) const {
  // Entries exist only under existing directories, so the nearest existing ancestor decides.
  for (std::string dir = DirName(path);; dir = DirName(dir)) {
    const Node* node = Get(dir);
    if (node != nullptr) return PosixError(node->is_dir() ? ENOENT : ENOTDIR, op, path);
    if (dir == "/") return PosixError(ENOENT, op, path);
  }
}

Result<const Namespace::Node*> Namespace::Lookup(const std::string& path,
                                                 std::string_view op) const {
  const Node* node = Get(path);
  if (node == nullptr) return MissingError(path, op);
  return node;
}

Status Namespace::CheckParent(const std::string& path, std::string_view op) const {
  const Node* parent = Get(DirName(path));
  if (parent == nullptr) return MissingError(path, op);
  if (!parent->is_dir()) return PosixError(ENOTDIR, op, path);
  return Status::Ok();
}

bool Namespace::HasChildren(const std::string& dir) const {
  const std::string prefix = dir == "/" ? dir : dir + "/";
  auto it = nodes_.upper_bound(prefix);
  return it != nodes_.end() && it->first.starts_with(prefix);
}

Status Namespace::AddFile(const std::string& path, std::shared_ptr<Inode> inode,
                          std::string_view op) {
  if (Get(path) != nullptr) return PosixError(EEXIST, op, path);
  RETURN_IF_ERROR(CheckParent(path, op));
  nodes_.emplace(path, Node{std::move(inode)});
  return Status::Ok();
}

Result<std::shared_ptr<Inode>> Namespace::Open(const std::string& path, const OpenOptions& opts,
                                               const std::function<std::shared_ptr<Inode>()>& make,
                                               bool* created) {
  *created = false;
  if (const Node* node = Get(path); node != nullptr) {
    if (node->is_dir()) return PosixError(EISDIR, "open", path);
    if (opts.create && opts.exclusive) return PosixError(EEXIST, "open", path);
    return node->inode;
  }
  if (!opts.create) return MissingError(path, "open");
  std::shared_ptr<Inode> inode = make();
  RETURN_IF_ERROR(AddFile(path, inode, "open"));
  *created = true;
  return inode;
}

Status Namespace::Mkdir(const std::string& path) {
  if (Get(path) != nullptr) return PosixError(EEXIST, "mkdir", path);
  RETURN_IF_ERROR(CheckParent(path, "mkdir"));
  nodes_.emplace(path, Node{});
  return Status::Ok();
}

Status Namespace::Rmdir(const std::string& path) {
  if (path == "/") return PosixError(EBUSY, "rmdir", path);
  ASSIGN_OR_RETURN(const Node* node, Lookup(path, "rmdir"));
  if (!node->is_dir()) return PosixError(ENOTDIR, "rmdir", path);
  if (HasChildren(path)) return PosixError(ENOTEMPTY, "rmdir", path);
  nodes_.erase(path);
  return Status::Ok();
}

Status Namespace::Unlink(const std::string& path) {
  ASSIGN_OR_RETURN(const Node* node, Lookup(path, "unlink"));
  if (node->is_dir()) return PosixError(EISDIR, "unlink", path);
  nodes_.erase(path);
  return Status::Ok();
}

Status Namespace::Rename(const std::string& from, const std::string& to) {
  const std::string what = from + " -> " + to;
  if (from == "/" || to == "/") return PosixError(EBUSY, "rename", what);
  const Node* src = Get(from);
  if (src == nullptr) return MissingError(from, "rename");
  RETURN_IF_ERROR(CheckParent(to, "rename"));
  if (from == to) return Status::Ok();
  if (to.starts_with(from + "/")) return PosixError(EINVAL, "rename", what);
  if (const Node* dst = Get(to); dst != nullptr) {
    if (!src->is_dir() && dst->is_dir()) return PosixError(EISDIR, "rename", what);
    if (src->is_dir() && !dst->is_dir()) return PosixError(ENOTDIR, "rename", what);
    if (dst->is_dir() && HasChildren(to)) return PosixError(ENOTEMPTY, "rename", what);
    nodes_.erase(to);
  }
  // Move the entry and, for a directory, every entry under it.
  std::vector<std::pair<std::string, Node>> moved;
  moved.emplace_back(to, *src);
  nodes_.erase(from);
  const std::string prefix = from + "/";
  for (auto it = nodes_.lower_bound(prefix); it != nodes_.end() && it->first.starts_with(prefix);) {
    moved.emplace_back(to + it->first.substr(from.size()), std::move(it->second));
    it = nodes_.erase(it);
  }
  for (auto& [path, node] : moved) nodes_.emplace(std::move(path), std::move(node));
  return Status::Ok();
}

Result<std::vector<std::string>> Namespace::List(const std::string& dir,
                                                 std::string_view op) const {
  ASSIGN_OR_RETURN(const Node* node, Lookup(dir, op));
  if (!node->is_dir()) return PosixError(ENOTDIR, op, dir);
  const std::string prefix = dir == "/" ? dir : dir + "/";
  std::vector<std::string> names;
  for (auto it = nodes_.upper_bound(prefix); it != nodes_.end(); ++it) {
    if (!it->first.starts_with(prefix)) break;
    std::string_view rest = std::string_view(it->first).substr(prefix.size());
    if (rest.find('/') == std::string_view::npos) names.emplace_back(rest);
  }
  return names;
}

Status MakeDirs(FileSystem* fs, const std::string& path) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    if (!prefix.empty() && prefix != "/" && prefix != ".") RETURN_IF_ERROR(fs->CreateDir(prefix));
    if (slash == std::string::npos) return Status::Ok();
  }
}

}  // namespace memfs

namespace {

constexpr size_t kCopyChunk = 1 << 20;

Status CopyFile(FileSystem* src, const std::string& from, FileSystem* dst, const std::string& to) {
  ASSIGN_OR_RETURN(auto in, src->Open(from, OpenOptions::ReadOnly()));
  ASSIGN_OR_RETURN(uint64_t size, in->Size());
  ASSIGN_OR_RETURN(auto out, dst->Open(to, OpenOptions::CreateOrTruncate()));
  RETURN_IF_ERROR(out->Truncate(size));
  std::vector<std::byte> buf(kCopyChunk);
  for (uint64_t pos = 0; pos < size; pos += kCopyChunk) {
    auto chunk =
        std::span(buf).first(static_cast<size_t>(std::min<uint64_t>(kCopyChunk, size - pos)));
    RETURN_IF_ERROR(in->ReadExactAt(pos, chunk, "copy"));
    if (std::all_of(chunk.begin(), chunk.end(), [](std::byte b) { return b == std::byte{0}; })) {
      continue;
    }
    RETURN_IF_ERROR(out->WriteAt(pos, chunk));
  }
  return Status::Ok();
}

}  // namespace

Status CopyTree(FileSystem* src, const std::string& src_dir, FileSystem* dst,
                const std::string& dst_dir) {
  RETURN_IF_ERROR(memfs::MakeDirs(dst, dst_dir));
  ASSIGN_OR_RETURN(std::vector<std::string> names, src->List(src_dir));
  for (const std::string& name : names) {
    const std::string from = JoinPath(src_dir, name);
    const std::string to = JoinPath(dst_dir, name);
    ASSIGN_OR_RETURN(bool is_dir, src->IsDirectory(from));
    RETURN_IF_ERROR(is_dir ? CopyTree(src, from, dst, to) : CopyFile(src, from, dst, to));
  }
  return Status::Ok();
}

namespace {

class MemFile final : public File {
 public:
  MemFile(std::string path, std::shared_ptr<memfs::Inode> inode, bool writable, bool direct)
      : File(std::move(path)), inode_(std::move(inode)), writable_(writable), direct_(direct) {}
  ~MemFile() override {
    std::lock_guard lock(inode_->mu);
    inode_->locks.Release(owner_);
  }

  Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> dst) override {
    RETURN_IF_ERROR(memfs::CheckIo("read", path(), direct_, false, offset, dst.size(), dst.data()));
    std::lock_guard lock(inode_->mu);
    return inode_->data.Read(offset, dst);
  }
  Status WriteAt(uint64_t offset, std::span<const std::byte> src) override {
    if (!writable_) return memfs::ReadOnlyError("write", path());
    RETURN_IF_ERROR(memfs::CheckIo("write", path(), direct_, true, offset, src.size(), src.data()));
    std::lock_guard lock(inode_->mu);
    inode_->data.Write(offset, src);
    return Status::Ok();
  }
  Status Flush() override { return Status::Ok(); }
  Status Truncate(uint64_t size) override {
    if (!writable_) return memfs::ReadOnlyError("truncate", path());
    if (size > memfs::kMaxFileSize) return ErrnoStatus(EFBIG, "truncate", path());
    std::lock_guard lock(inode_->mu);
    inode_->data.Resize(size);
    return Status::Ok();
  }
  Status Allocate(uint64_t offset, uint64_t length) override {
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
    std::lock_guard lock(inode_->mu);
    return inode_->data.size();
  }
  uint64_t NextData(uint64_t offset) override {
    std::lock_guard lock(inode_->mu);
    return inode_->data.NextData(offset);
  }
  bool direct() const override { return direct_; }

  Status Lock(uint64_t start, uint64_t length, LockMode mode) override {
    return memfs::LockInode(*inode_, owner_, writable_, path(), start, length, mode);
  }
  Status Unlock(uint64_t start, uint64_t length) override {
    return memfs::LockInode(*inode_, owner_, writable_, path(), start, length, std::nullopt);
  }
  Result<std::optional<RangeLock>> TestLock(uint64_t start, uint64_t length,
                                            LockMode mode) override {
    return memfs::TestLockInode(*inode_, owner_, path(), start, length, mode);
  }

 private:
  const std::shared_ptr<memfs::Inode> inode_;
  const bool writable_;
  const bool direct_;
  const uint64_t owner_ = memfs::LockTable::NewOwner();
};

}  // namespace

Result<std::unique_ptr<File>> MemFileSystem::Open(const std::string& path,
                                                  const OpenOptions& opts) {
  if ((opts.create || opts.truncate) && !opts.write) {
    return InvalidArgument("open " + path + ": create and truncate need write");
  }
  // No symbolic links here: confinement is the path's form.
  if (!opts.beneath.empty()) RETURN_IF_ERROR(PathBeneath(opts.beneath, path).status());
  ASSIGN_OR_RETURN(std::string p, memfs::Namespace::Normalize(path, "open"));
  std::lock_guard lock(mu_);
  bool created;
  ASSIGN_OR_RETURN(std::shared_ptr<memfs::Inode> inode,
                   ns_.Open(
                       p, opts, [] { return std::make_shared<memfs::Inode>(); }, &created));
  if (opts.truncate) {
    std::lock_guard inode_lock(inode->mu);
    inode->data.Resize(0);
  }
  return std::unique_ptr<File>(std::make_unique<MemFile>(path, inode, opts.write, opts.direct));
}

Status MemFileSystem::Rename(const std::string& from, const std::string& to) {
  ASSIGN_OR_RETURN(std::string f, memfs::Namespace::Normalize(from, "rename"));
  ASSIGN_OR_RETURN(std::string t, memfs::Namespace::Normalize(to, "rename"));
  std::lock_guard lock(mu_);
  return ns_.Rename(f, t);
}

Status MemFileSystem::RenameNoReplace(const std::string& from, const std::string& to) {
  ASSIGN_OR_RETURN(std::string f, memfs::Namespace::Normalize(from, "rename"));
  ASSIGN_OR_RETURN(std::string t, memfs::Namespace::Normalize(to, "rename"));
  std::lock_guard lock(mu_);
  if (ns_.Get(t) != nullptr) return memfs::PosixError(EEXIST, "rename", f + " -> " + t);
  return ns_.Rename(f, t);
}

Status MemFileSystem::Unlink(const std::string& path) {
  ASSIGN_OR_RETURN(std::string p, memfs::Namespace::Normalize(path, "unlink"));
  std::lock_guard lock(mu_);
  return ns_.Unlink(p);
}

Status MemFileSystem::CreateDir(const std::string& path) {
  ASSIGN_OR_RETURN(std::string p, memfs::Namespace::Normalize(path, "mkdir"));
  std::lock_guard lock(mu_);
  if (const memfs::Namespace::Node* node = ns_.Get(p); node != nullptr && node->is_dir()) {
    return Status::Ok();
  }
  return ns_.Mkdir(p);
}

Status MemFileSystem::RemoveDir(const std::string& path) {
  ASSIGN_OR_RETURN(std::string p, memfs::Namespace::Normalize(path, "rmdir"));
  std::lock_guard lock(mu_);
  return ns_.Rmdir(p);
}

Status MemFileSystem::SyncDir(const std::string& path) {
  ASSIGN_OR_RETURN(std::string p, memfs::Namespace::Normalize(path, "syncdir"));
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(const memfs::Namespace::Node* node, ns_.Lookup(p, "syncdir"));
  if (!node->is_dir()) return memfs::PosixError(ENOTDIR, "syncdir", p);
  return Status::Ok();
}

Result<std::vector<std::string>> MemFileSystem::List(const std::string& dir) {
  ASSIGN_OR_RETURN(std::string p, memfs::Namespace::Normalize(dir, "list"));
  std::lock_guard lock(mu_);
  return ns_.List(p, "list");
}

Result<bool> MemFileSystem::IsDirectory(const std::string& path) {
  ASSIGN_OR_RETURN(std::string p, memfs::Namespace::Normalize(path, "stat"));
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(const memfs::Namespace::Node* node, ns_.Lookup(p, "stat"));
  return node->is_dir();
}

Result<FileKind> MemFileSystem::KindOf(const std::string& path) {
  ASSIGN_OR_RETURN(bool is_dir, IsDirectory(path));
  return is_dir ? FileKind::kDirectory : FileKind::kFile;
}

Result<std::string> MemFileSystem::RealPath(const std::string& path) {
  ASSIGN_OR_RETURN(std::string p, memfs::Namespace::Normalize(path, "realpath"));
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(ns_.Lookup(p, "realpath").status());
  return p;
}

Status MemFileSystem::PutFile(const std::string& path, std::string_view bytes) {
  ASSIGN_OR_RETURN(std::string p, memfs::Namespace::Normalize(path, "open"));
  RETURN_IF_ERROR(memfs::MakeDirs(this, DirName(p)));
  ASSIGN_OR_RETURN(auto file, Open(p, OpenOptions::CreateOrTruncate()));
  return file->WriteAt(0, std::as_bytes(std::span(bytes.data(), bytes.size())));
}

Result<std::string> MemFileSystem::GetFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string p, memfs::Namespace::Normalize(path, "open"));
  std::shared_ptr<memfs::Inode> inode;
  {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(const memfs::Namespace::Node* node, ns_.Lookup(p, "open"));
    if (node->is_dir()) return memfs::PosixError(EISDIR, "open", p);
    inode = node->inode;
  }
  std::lock_guard inode_lock(inode->mu);
  return inode->data.ToString();
}

}  // namespace hvdisk
