// CrashFileSystem: an in-memory FileSystem that simulates power loss, in the manner of SQLite's
// crash VFS (test6.c). It tracks what is durable and, on Crash(), keeps a random (or all, or none)
// of what is not.
//
// Durability model:
//  * Files (per inode): the size and every sector's content as of the last File::Flush() are
//    durable. A write makes every sector it touches unsynced, even partially touched ones (the kept
//    version of a sector is its whole current content, the dropped version its durable content).
//    Size changes since the last Flush (truncate, allocate, writes past the end) survive or not as
//    one unit; kept sectors beyond the surviving size extend the file, the gap reading zeros. A
//    truncate into the middle of a sector zeroes the rest of that sector as part of the size
//    change.
//  * Directory entries: each create (Open with create of a missing file), rename, unlink, mkdir
//    and rmdir stays pending until SyncDir of the directory concerned (a rename concerns both
//    parents and needs both synced). Directories are identified by path.
//  * Crash(seed, mode): kKeepAll keeps everything, kDropAll nothing unsynced, kRandom keeps each
//    pending directory op and each unsynced sector (and each file's size change) independently with
//    probability 1/2. Kept directory ops are replayed in order on the durable namespace, skipping
//    those that no longer apply (e.g. a create whose directory was dropped). Afterwards the state
//    is exactly the surviving one, every File opened before fails with kIoError, and Open sees it.
//  * Byte-range locks (File::Lock) are modelled as MemFileSystem's and never durable: Crash()
//    drops every lock, as the death of their processes would; they are not mutating ops.
//
// Crash points: SetCrashPoint(n) arms a trigger on the nth mutating op from now (write, flush,
// truncate, allocate, rename, unlink, mkdir, rmdir, syncdir, and Open with create or truncate).
// That op does not happen, and it and every later operation of any kind fail with kIoError
// ("simulated crash") until Crash(). To explore every crash point of a workload: run it once and
// read the change in mutating_ops() as N; then for n in 1..N, on a fresh instance set up the same
// way, SetCrashPoint(n), run the workload, Crash(), check recovery.
//
// Thread safety: thread-safe; Crash() waits for operations in flight. The CrashFileSystem must
// outlive every File it opens.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "platform/file.h"
#include "platform/mem_file_system.h"
#include "platform/status.h"

namespace hvdisk {

enum class CrashMode : uint8_t { kRandom, kDropAll, kKeepAll };

class CrashFileSystem : public FileSystem {
 public:
  // REQUIRES: sector_size is 512 or 4096.
  explicit CrashFileSystem(size_t sector_size = 512);
  ~CrashFileSystem() override;
  CrashFileSystem(const CrashFileSystem&) = delete;
  CrashFileSystem& operator=(const CrashFileSystem&) = delete;

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

  // Simulates power loss (see above); `seed` decides kRandom. Disarms the crash point.
  void Crash(uint64_t seed, CrashMode mode);
  // Arms the trigger on the nth mutating op from now; 0 disarms.
  void SetCrashPoint(uint64_t n);
  // Mutating ops that ran since construction (attempts, including ones that failed for another
  // reason; not the one stopped by the crash point).
  uint64_t mutating_ops() const;
  // Whether the crash point has been reached (and not yet cleared by Crash()).
  bool crash_point_reached() const;

  // Makes the whole current state durable, as if every file were flushed and every directory
  // synced. Not counted as a mutating op; open Files stay valid.
  void SyncAll();
  // Copies the current tree into `dir` of `dst` (e.g. a real directory for qemu-img check); call
  // after Crash() to export the surviving state. Fails once the crash point is reached.
  Status ExportTo(FileSystem* dst, const std::string& dir);
  // Copies the tree under `dir` of `src` into "/" and makes everything durable (SyncAll). Counts
  // mutating ops like any other writes.
  Status ImportFrom(FileSystem* src, const std::string& dir);
  // The current content of `path` (not a crash-point-gated operation).
  Result<std::string> GetFile(const std::string& path);

  size_t sector_size() const { return sector_size_; }

 private:
  class CrashFile;
  // A directory change not yet durable.
  struct DirOp {
    FileOp kind;  // kOpen (a create), kRename, kUnlink, kMkdir, kRmdir
    std::string path;
    std::string to;                          // kRename
    std::shared_ptr<memfs::Inode> inode;     // kOpen
    std::vector<std::string> unsynced_dirs;  // directories still to be synced
  };

  // Fails once the crash point is reached; counts a mutating op, tripping the crash point.
  Status Gate(bool mutating, std::string_view op, std::string_view path);
  // Rename and RenameNoReplace.
  Status DoRename(const std::string& from, const std::string& to, bool replace);
  // Appends to log_ an op concerning `dirs`. REQUIRES: mu_ held.
  void Log(DirOp op, std::vector<std::string> dirs);
  // Moves the synced prefix of log_ into durable_. REQUIRES: mu_ held.
  void Compact();
  static void Apply(memfs::Namespace& ns, const DirOp& op);

  const size_t sector_size_;
  // Shared by every operation; exclusive in Crash() and SyncAll(). Taken before mu_.
  mutable std::shared_mutex crash_mu_;
  uint64_t generation_ = 0;  // bumped by Crash(); guarded by crash_mu_

  std::mutex mu_;  // guards the namespaces and the log; taken before any inode's mu
  memfs::Namespace current_;
  memfs::Namespace durable_;
  std::deque<DirOp> log_;

  mutable std::mutex trigger_mu_;  // guards the crash-point state
  uint64_t ops_ = 0;
  uint64_t crash_at_ = 0;  // ops_ value that trips; 0: disarmed
  bool crashed_ = false;
};

}  // namespace hvdisk
