// The store's trash (STORE/trash/): deferred reclamation of the files an operation discards.
//
// Freeing a file's extents is the one part of an operation whose cost grows with the data (ext4
// frees them inside unlink: ~150 ms for 1 GiB), so the finish step of an intent (journal.h) does
// not unlink what it deletes: it renames each file into the trash, which costs the same for any
// size, and the trash is emptied later, off the operation's path (Store, store.h, says who
// reclaims and when).
//
// Entries are named "<op-guid>-<basename>" (TrashName): unique per operation, so redoing a finish
// after a crash moves a file that is still in place and skips one already moved. Nothing ever
// refers to a trash entry: an operation moves only files that its commit point made unreferenced
// (no record names them and no chain's parent locator reaches them, as locators are confined to
// the VM's disks/). So an entry may be unlinked at any time, by any process, without a VM lock,
// and a crash anywhere in a reclaim leaves a trash that a later reclaim empties.
//
// REQUIRES: the trash and the VMs' directories are on one file system (the store directory).
// Thread safety: functions over a thread-safe FileSystem; reclaims may run concurrently in many
// threads and processes (an entry another one removed first is skipped).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ops/journal.h"
#include "ops/store_layout.h"
#include "platform/file.h"
#include "platform/guid.h"
#include "platform/status.h"

namespace hvdisk::ops {

struct TrashReport {
  int files = 0;
  uint64_t bytes = 0;
};

// "<op-guid>-<basename of rel>" (lower-case GUID, no braces).
std::string TrashName(const Guid& op, std::string_view rel);

// Creates STORE/trash/ if missing (a store made before the trash existed) and makes it durable.
Status EnsureTrashDir(FileSystem* fs, const StoreLayout& layout);

// OK when STORE/trash/ is a real directory (not a symbolic link: never followed); kNotFound when
// missing, kCorrupt otherwise. MoveToTrash, the reclaims and IntentRunner::Begin check it.
Status CheckTrashDir(FileSystem* fs, const StoreLayout& layout);

// Renames each store-relative file of `rels` that still exists into the trash as
// TrashName(op, rel); files already gone are skipped. Then syncs the source directories and the
// trash directory: when it returns OK no file of `rels` is in place, durably.
// Steps and crash points: 1. each rename (one atomic step each; a crash leaves every file either
// in place or in the trash; a redo moves those in place); 2. source directories synced;
// 3. trash synced.
Status MoveToTrash(FileSystem* fs, const StoreLayout& layout, const Guid& op,
                   const std::vector<std::string>& rels);

// The entries of the trash and their total size; an absent trash is empty.
Result<TrashReport> SurveyTrash(FileSystem* fs, const StoreLayout& layout);
// Whether the trash holds any entry (without measuring them); an absent trash is empty.
Result<bool> TrashHasEntries(FileSystem* fs, const StoreLayout& layout);

// Whether finishing (or rolling forward) `intent` moves files into the trash.
bool DiscardsFiles(const Intent& intent);

// Unlinks every entry of the trash (one already gone is skipped), then syncs the trash. Stops
// between entries once *stop (may be null) is true. Returns what this call removed.
// Steps and crash points: 1. each unlink; 2. trash synced. A crash leaves fewer entries.
Result<TrashReport> ReclaimTrash(FileSystem* fs, const StoreLayout& layout,
                                 const std::atomic<bool>* stop = nullptr);

// ReclaimTrash of the store at `dir` (kNotFound if it is not a store), without opening it: no
// recovery runs and no lock is taken, so no VM is ever made busy (the CLI's detached reclaim).
Result<TrashReport> ReclaimStoreTrash(FileSystem* fs, const std::string& dir);

// Who empties the trash of what a store's operations and recoveries discard.
enum class ReclaimMode : uint8_t {
  kBackground,   // the reaper's thread: calls return without waiting for it
  kSynchronous,  // inline, before the call that discarded returns (deterministic, for tests)
  kExternal,     // never the reaper: its owner reclaims (the CLI: a detached process)
};

// Empties the trash as its ReclaimMode says whenever files were moved into it (Changed): with
// kBackground, on a thread of its own started on the first request.
// Thread safety: Changed, Request and WaitIdle may be called from any thread. The FileSystem and
// the layout must outlive the reaper.
class TrashReaper {
 public:
  TrashReaper(FileSystem* fs, const StoreLayout* layout,
              ReclaimMode mode = ReclaimMode::kBackground)
      : fs_(fs), layout_(layout), mode_(mode) {}
  // Stops after the entry in progress (what is left waits for the next reclaim) and joins.
  ~TrashReaper();
  TrashReaper(const TrashReaper&) = delete;
  TrashReaper& operator=(const TrashReaper&) = delete;

  // Files were moved into the trash: reclaims them as the mode says. A synchronous reclaim's
  // error is dropped (what is left waits for the next reclaim).
  void Changed();
  // Asks for a reclaim and returns at once; the thread starts on the first request. Requests
  // made while a reclaim runs are served by one more reclaim after it. When no thread can be
  // started the request is dropped (the trash waits for the next reclaim).
  void Request();
  // Blocks until no reclaim is pending or running.
  void WaitIdle();

 private:
  void Loop();

  FileSystem* fs_;
  const StoreLayout* layout_;
  ReclaimMode mode_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool pending_ = false;  // guarded by mu_
  bool busy_ = false;     // guarded by mu_
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace hvdisk::ops
