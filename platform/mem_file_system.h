// MemFileSystem: a thread-safe in-memory FileSystem for fast tests and fuzzing, and the model
// (memfs::SparseBytes, memfs::Inode, memfs::Namespace) that CrashFileSystem builds on.
//
// Paths are normalized: '/'-separated, "." and ".." and duplicate slashes removed, relative paths
// taken relative to "/". There are no symlinks. Errors carry the Code POSIX would give (through
// ErrnoStatus: ENOENT->kNotFound, ENOTDIR/EISDIR/ENOTEMPTY->kIoError, ...) with the operation and
// path in the message, except that EEXIST (create-exclusive, mkdir over a file) is kInUse and a
// write/truncate/allocate through a read-only handle is kAccessDenied.
//
// Byte-range locks (File::Lock) are modelled: a per-file lock table shared by every open of the
// file, each lock owned by the File that took it and released when that File is destroyed.
//
// O_DIRECT is checked: a File opened with `direct` rejects ReadAt/WriteAt whose offset, length or
// buffer address is not a multiple of kDirectAlignment (EINVAL -> kIoError), as Linux does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "platform/file.h"
#include "platform/status.h"

namespace hvdisk {
namespace memfs {

// Files larger than this fail with EFBIG (kIoError), like ext4's 16 TiB limit.
inline constexpr uint64_t kMaxFileSize = uint64_t{1} << 44;

// The bytes of an in-memory file: a size plus 4 KiB pages; absent pages are holes reading zeros.
// Copyable value. Not thread-safe: the owner serializes access.
class SparseBytes {
 public:
  static constexpr size_t kPageSize = 4096;

  uint64_t size() const { return size_; }
  // Copies [offset, offset + dst.size()) clipped to size() into dst; returns the count copied.
  size_t Read(uint64_t offset, std::span<std::byte> dst) const;
  // Writes src at offset, growing size() as needed (a gap reads zeros).
  void Write(uint64_t offset, std::span<const std::byte> src);
  // Shrinks (dropping bytes) or grows (new bytes read zeros) to `size`.
  void Resize(uint64_t size);
  // The first offset at or after `offset` inside a stored page (UINT64_MAX when none): what lies
  // before it reads as zeros.
  uint64_t NextData(uint64_t offset) const;
  // The whole content as a string. REQUIRES: size() fits in memory.
  std::string ToString() const;

 private:
  uint64_t size_ = 0;
  // page index -> kPageSize bytes. Invariant: bytes at or beyond size_ are zero.
  std::map<uint64_t, std::vector<std::byte>> pages_;
};

// The byte-range locks of one file, as the kernel keeps OFD locks (File::Lock): each owner (one
// open File, by a number unique in the process) holds shared or exclusive locks on ranges.
// Not thread-safe: the inode's mu guards it. The count of locks is bounded by what owners set.
class LockTable {
 public:
  static uint64_t NewOwner();  // a number no other owner has had
  // The first lock of another owner on [start, start + length) that conflicts with `mode`.
  std::optional<RangeLock> Conflict(uint64_t owner, uint64_t start, uint64_t length,
                                    LockMode mode) const;
  // Sets owner's lock on the range to `mode` (false, nothing changed, on a conflict), or
  // clears it (nullopt), splitting owner's locks that cover more than the range.
  bool Set(uint64_t owner, uint64_t start, uint64_t length, std::optional<LockMode> mode);
  void Release(uint64_t owner);     // every lock of owner (its File is gone)
  void Clear() { locks_.clear(); }  // every lock (their process died: a simulated crash)

 private:
  struct Held {
    uint64_t owner;
    LockMode mode;
    uint64_t start, end;  // [start, end)
  };
  std::vector<Held> locks_;
};

// A file's storage, shared by the namespace entries and open handles that refer to it.
// `mu` guards `data`, `locks` and whatever a subclass adds.
struct Inode {
  virtual ~Inode() = default;
  std::mutex mu;
  SparseBytes data;
  LockTable locks;
};

// File::Lock, Unlock and TestLock on `inode` for the open File `owner` (MemFileSystem's and
// CrashFileSystem's files): as PosixFile, an exclusive lock through a read-only File is EBADF.
Status LockInode(Inode& inode, uint64_t owner, bool writable, std::string_view path, uint64_t start,
                 uint64_t length, std::optional<LockMode> mode);
Result<std::optional<RangeLock>> TestLockInode(Inode& inode, uint64_t owner, std::string_view path,
                                               uint64_t start, uint64_t length, LockMode mode);

// Errors as POSIX reports them: ErrnoStatus(err, op, path), but EEXIST maps to kInUse.
Status PosixError(int err, std::string_view op, std::string_view path);
// kAccessDenied "<op> <path>: file opened read-only".
Status ReadOnlyError(std::string_view op, std::string_view path);
// The checks the kernel makes on a read or write: O_DIRECT alignment of offset, length and buffer
// (EINVAL), and the maximum file size for writes (EFBIG).
Status CheckIo(std::string_view op, std::string_view path, bool direct, bool write, uint64_t offset,
               size_t length, const void* buffer);

// A directory tree as a flat map of normalized absolute paths ("/", "/a", "/a/b"). An entry is a
// directory (null inode) or a file. Invariant: every entry's parent is a directory entry.
// Copyable (copies share inodes). Not thread-safe: the owner serializes access.
// Every path argument must already be normalized (see Normalize).
class Namespace {
 public:
  struct Node {
    std::shared_ptr<Inode> inode;  // null: a directory
    bool is_dir() const { return inode == nullptr; }
  };

  Namespace();  // holds just "/"

  // "/"-rooted with ".", ".." and duplicate slashes removed; ENOENT for an empty path.
  static Result<std::string> Normalize(std::string_view path, std::string_view op);

  // The entry, or null if missing.
  const Node* Get(const std::string& path) const;
  // The entry; ENOENT if missing, ENOTDIR if an ancestor is a file.
  Result<const Node*> Lookup(const std::string& path, std::string_view op) const;
  // EEXIST if it exists; ENOENT/ENOTDIR if the parent is not a directory.
  Status AddFile(const std::string& path, std::shared_ptr<Inode> inode, std::string_view op);
  // The inode that Open(path, opts) reaches: EISDIR for a directory, EEXIST for create-exclusive
  // on an existing file, ENOENT/ENOTDIR for a missing one without create. A missing file with
  // opts.create gets the inode `make()` returns, and *created is set. Does not truncate.
  Result<std::shared_ptr<Inode>> Open(const std::string& path, const OpenOptions& opts,
                                      const std::function<std::shared_ptr<Inode>()>& make,
                                      bool* created);
  Status Mkdir(const std::string& path);   // EEXIST if it exists
  Status Rmdir(const std::string& path);   // ENOTDIR, ENOTEMPTY, EBUSY for "/"
  Status Unlink(const std::string& path);  // EISDIR for a directory
  // Replaces `to` (a file, or an empty directory when `from` is one); moves subtrees.
  Status Rename(const std::string& from, const std::string& to);
  // Names in `dir`, sorted.
  Result<std::vector<std::string>> List(const std::string& dir, std::string_view op) const;

  const std::map<std::string, Node>& nodes() const { return nodes_; }

 private:
  Status MissingError(const std::string& path, std::string_view op) const;
  Status CheckParent(const std::string& path, std::string_view op) const;
  bool HasChildren(const std::string& dir) const;

  std::map<std::string, Node> nodes_;
};

// Creates `path` and its missing ancestors as directories (mkdir -p).
Status MakeDirs(FileSystem* fs, const std::string& path);

}  // namespace memfs

// Copies the tree under src_dir of `src` into dst_dir of `dst` (created with its ancestors as
// needed), replacing files of the same names. File sizes are kept; all-zero chunks are not written,
// so holes stay holes. Works between any two FileSystems (e.g. MemFileSystem to the real disk).
Status CopyTree(FileSystem* src, const std::string& src_dir, FileSystem* dst,
                const std::string& dst_dir);

// Thread-safe. Open handles share the file's inode and stay usable after the MemFileSystem is
// destroyed or the name is unlinked (POSIX semantics).
class MemFileSystem : public FileSystem {
 public:
  MemFileSystem() = default;
  MemFileSystem(const MemFileSystem&) = delete;
  MemFileSystem& operator=(const MemFileSystem&) = delete;

  Result<std::unique_ptr<File>> Open(const std::string& path, const OpenOptions& opts) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status RenameNoReplace(const std::string& from, const std::string& to) override;
  Status Unlink(const std::string& path) override;
  Status CreateDir(const std::string& path) override;
  Status RemoveDir(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  Result<std::vector<std::string>> List(const std::string& dir) override;
  Result<bool> IsDirectory(const std::string& path) override;
  Result<std::string> RealPath(const std::string& path) override;
  Result<FileKind> KindOf(const std::string& path) override;

  // Creates or overwrites `path` with `bytes`, creating missing parent directories.
  Status PutFile(const std::string& path, std::string_view bytes);
  // The whole content of `path`.
  Result<std::string> GetFile(const std::string& path);

 private:
  std::mutex mu_;  // guards ns_; taken before any inode's mu
  memfs::Namespace ns_;
};

}  // namespace hvdisk
