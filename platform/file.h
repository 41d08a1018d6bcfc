// File and FileSystem: the I/O seam every byte hvdisk writes passes through.
//
// Implementations: PosixFileSystem (real files, buffered or O_DIRECT), MemFileSystem (in memory,
// for fast tests and fuzzing), FaultFileSystem (injects errors), CrashFileSystem (simulates power
// loss, in the manner of SQLite's crash VFS). Tests swap them in under any layer.
//
// Thread safety: a File supports concurrent ReadAt/WriteAt on disjoint ranges from many threads;
// Flush, Truncate and Allocate may run concurrently with them. A FileSystem is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "platform/status.h"

namespace hvdisk {

// The operation kinds that FaultFileSystem and CrashFileSystem count and intercept.
enum class FileOp : uint8_t {
  kOpen,
  kRead,
  kWrite,
  kFlush,
  kTruncate,
  kAllocate,
  kRename,
  kUnlink,
  kMkdir,
  kRmdir,
  kSyncDir,
  kList,
  kCount,  // not an operation: the number of kinds
};
std::string_view FileOpName(FileOp op);

struct OpenOptions {
  bool write = false;      // open for writing (else read-only)
  bool create = false;     // create if missing (needs write)
  bool exclusive = false;  // with create: fail with kInUse if it exists
  bool truncate = false;   // truncate to 0 on open (needs write)
  bool direct = false;     // O_DIRECT: offsets, lengths and buffers aligned to kDirectAlignment
  bool no_follow = false;  // O_NOFOLLOW: a symbolic link at `path` is kWrongType, never followed
  // Confinement: a directory `path` lies in ("" for none). The directory itself may be reached
  // through symbolic links; below it no component is one (kWrongType, never followed, checked in
  // the same call that opens: a link swapped in after a check is not followed either), and `path`
  // must be `beneath` + "/" + plain components (no "." or "..": kInvalidArgument).
  std::string beneath;

  static OpenOptions ReadOnly() { return {}; }
  static OpenOptions ReadWrite() { return {.write = true}; }
  static OpenOptions CreateNew() { return {.write = true, .create = true, .exclusive = true}; }
  static OpenOptions CreateOrTruncate() {
    return {.write = true, .create = true, .truncate = true};
  }
};

// What a path names, as lstat sees it: the entry itself, a symbolic link never followed.
enum class FileKind : uint8_t { kFile, kDirectory, kSymlink, kOther };
std::string_view FileKindName(FileKind kind);  // "a file", "a directory", "a symbolic link", ...

// Byte-range locks (platform/file_lock.h and platform/image_lock.h build on them).
enum class LockMode : uint8_t { kShared, kExclusive };
// A lock another open file holds (File::TestLock).
struct RangeLock {
  LockMode mode = LockMode::kShared;
  uint64_t start = 0;
  uint64_t length = 0;
};

// Alignment that O_DIRECT I/O needs for offsets, lengths and buffer addresses.
inline constexpr size_t kDirectAlignment = 4096;

class File {
 public:
  virtual ~File() = default;

  // Reads up to dst.size() bytes at `offset`; returns the count read, short only at end of file.
  virtual Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> dst) = 0;
  // Writes all of src at `offset`, extending the file as needed.
  virtual Status WriteAt(uint64_t offset, std::span<const std::byte> src) = 0;
  // Durability barrier: every completed write (and size change) is on stable storage when this
  // returns OK (fsync: data and metadata).
  virtual Status Flush() = 0;
  virtual Status Truncate(uint64_t size) = 0;
  // Reserves [offset, offset+length) (fallocate mode 0): the file grows to cover it, reading zeros.
  virtual Status Allocate(uint64_t offset, uint64_t length) = 0;
  virtual Result<uint64_t> Size() = 0;
  // Copies `length` bytes of `src` at `src_offset` to `offset` in this file, extending it as
  // needed. The default reads and writes through this seam (so the fault and crash file systems
  // count and record it as reads of src and writes of this file); PosixFile copies inside the
  // kernel (copy_file_range) where it can. kCorrupt if src ends before the range does.
  // REQUIRES: the ranges do not overlap if src is this file.
  virtual Status CopyFrom(File& src, uint64_t src_offset, uint64_t offset, uint64_t length);
  // A hint, not a barrier: starts writing this file's dirty pages back without waiting for them
  // (sync_file_range), so that a later Flush has less to wait for. No-op where unsupported.
  virtual void StartWriteback() {}
  // The first offset at or after `offset` that may hold data (SEEK_DATA): everything before it
  // reads as zeros (a hole). UINT64_MAX when only a hole lies beyond `offset`; `offset` itself
  // when unknown (the default). Lets scans skip what a sparse file never stored.
  virtual uint64_t NextData(uint64_t offset) { return offset; }

  // Byte-range locks of this open file: open file description locks (fcntl F_OFD_SETLK /
  // F_OFD_GETLK), held by this File object, not by its process: another File of the same file,
  // in this process or any other, conflicts as another process would. Shared locks coexist; an
  // exclusive one excludes every other lock on its bytes. Locking a range this File already holds
  // converts it (POSIX semantics). Released by Unlock, when the File is destroyed, or when its
  // process dies (a simulated crash drops them all). Try-only: a conflict is kInUse at once
  // (waiting is FileLock's). An exclusive lock needs a File opened for writing (EBADF,
  // kIoError, otherwise). kUnsupported where the file system has no such locks (the default).
  // REQUIRES: length > 0.
  virtual Status Lock(uint64_t start, uint64_t length, LockMode mode);
  virtual Status Unlock(uint64_t start, uint64_t length);
  // A lock of another open file on [start, start + length) that conflicts with `mode` (kShared:
  // an exclusive lock; kExclusive: any lock), or nullopt. Takes nothing; a snapshot.
  virtual Result<std::optional<RangeLock>> TestLock(uint64_t start, uint64_t length, LockMode mode);

  const std::string& path() const { return path_; }
  // The OS descriptor for the async backends (io_uring, libaio); -1 when not an OS file.
  virtual int native_handle() const { return -1; }
  virtual bool direct() const { return false; }

  // ReadAt that treats a short read as corruption: "<what> @0x<offset>: short read in <path>".
  Status ReadExactAt(uint64_t offset, std::span<std::byte> dst, std::string_view what = "data");

 protected:
  explicit File(std::string path) : path_(std::move(path)) {}

 private:
  std::string path_;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual Result<std::unique_ptr<File>> Open(const std::string& path, const OpenOptions& opts) = 0;
  // Atomically replaces `to` if it exists. Durable only after SyncDir of both parents.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // As Rename, but never replaces: kInUse when `to` exists (whatever it is, a dangling symbolic
  // link included), decided atomically with the rename. Durable only after SyncDir of both
  // parents.
  virtual Status RenameNoReplace(const std::string& from, const std::string& to) = 0;
  // Durable only after SyncDir of the parent.
  virtual Status Unlink(const std::string& path) = 0;
  // As Unlink (the name is gone when it returns; durable after SyncDir of the parent), but the
  // file's space may be freed after it returns, off the caller's path: for big files whose
  // freeing costs time (ext4 frees, and with -o discard discards, every extent inside unlink).
  // A crash before the space is freed loses nothing: the file system frees an unlinked file
  // still held open when it mounts. Default (and through wrappers): Unlink.
  virtual Status UnlinkInBackground(const std::string& path) { return Unlink(path); }
  // Rename and Unlink confined as OpenOptions::beneath says: every path lies below `dir` and no
  // component below `dir` of a parent directory is a symbolic link (kWrongType, never followed;
  // the final name itself is renamed or unlinked, never its target). The default checks the
  // paths' form only, then calls Rename/Unlink: for file systems without symbolic links.
  virtual Status RenameBeneath(const std::string& dir, const std::string& from,
                               const std::string& to);
  virtual Status UnlinkBeneath(const std::string& dir, const std::string& path);
  virtual Status CreateDir(const std::string& path) = 0;  // OK if it exists as a directory
  virtual Status RemoveDir(const std::string& path) = 0;  // must be empty
  // Makes the directory's entries (creates, renames, unlinks) durable.
  virtual Status SyncDir(const std::string& path) = 0;
  // Names in `dir` (no "." or ".."), sorted.
  virtual Result<std::vector<std::string>> List(const std::string& dir) = 0;
  // kNotFound if missing.
  virtual Result<bool> IsDirectory(const std::string& path) = 0;
  // The path with symlinks resolved and "."/".." removed; the path must exist.
  virtual Result<std::string> RealPath(const std::string& path) = 0;
  // What `path` itself is (lstat: a symbolic link is kSymlink, never followed); kNotFound if
  // missing. Implementations without symbolic links (in-memory) never return kSymlink.
  virtual Result<FileKind> KindOf(const std::string& path) = 0;

  Result<bool> Exists(const std::string& path);
};

// Forwards every call to `target`; subclasses override what they need (LevelDB's EnvWrapper).
// Does not own target, which must outlive the wrapper.
class FileSystemWrapper : public FileSystem {
 public:
  explicit FileSystemWrapper(FileSystem* target) : target_(target) {}
  FileSystem* target() const { return target_; }

  Result<std::unique_ptr<File>> Open(const std::string& p, const OpenOptions& o) override {
    return target_->Open(p, o);
  }
  Status Rename(const std::string& f, const std::string& t) override {
    return target_->Rename(f, t);
  }
  Status RenameNoReplace(const std::string& f, const std::string& t) override {
    return target_->RenameNoReplace(f, t);
  }
  Status Unlink(const std::string& p) override { return target_->Unlink(p); }
  Status RenameBeneath(const std::string& d, const std::string& f, const std::string& t) override {
    return target_->RenameBeneath(d, f, t);
  }
  Status UnlinkBeneath(const std::string& d, const std::string& p) override {
    return target_->UnlinkBeneath(d, p);
  }
  Status CreateDir(const std::string& p) override { return target_->CreateDir(p); }
  Status RemoveDir(const std::string& p) override { return target_->RemoveDir(p); }
  Status SyncDir(const std::string& p) override { return target_->SyncDir(p); }
  Result<std::vector<std::string>> List(const std::string& d) override { return target_->List(d); }
  Result<bool> IsDirectory(const std::string& p) override { return target_->IsDirectory(p); }
  Result<std::string> RealPath(const std::string& p) override { return target_->RealPath(p); }
  Result<FileKind> KindOf(const std::string& p) override { return target_->KindOf(p); }

 private:
  FileSystem* target_;
};

// The process-wide POSIX file system (never deleted).
FileSystem* DefaultFileSystem();

// Path helpers (POSIX '/' separators).
std::string DirName(std::string_view path);   // "a/b/c" -> "a/b"; "c" -> "."; "/c" -> "/"
std::string BaseName(std::string_view path);  // "a/b/c" -> "c"
std::string JoinPath(std::string_view dir, std::string_view name);
// The part of `path` below `dir` ("d/a/b" below "d": "a/b"), when path is dir + "/" + one or more
// components none of which is empty, "." or ".."; kInvalidArgument naming both otherwise.
Result<std::string> PathBeneath(std::string_view dir, std::string_view path);

// Writes `data` to a temporary beside `path`, flushes it, renames it over `path` and syncs the
// directory: after a crash `path` holds either the old or the new bytes.
Status WriteFileAtomically(FileSystem* fs, const std::string& path,
                           std::span<const std::byte> data);
// Reads a whole (small) file; refuses files larger than max_size with kCorrupt.
Result<std::string> ReadWholeFile(FileSystem* fs, const std::string& path,
                                  uint64_t max_size = 64ull << 20);

}  // namespace hvdisk
