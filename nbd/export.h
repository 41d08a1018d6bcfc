// Export: one disk served over NBD, as the nbdkit plugin (nbdkit_plugin.h) presents it: the
// callbacks' logic in C++, so that tests drive it in-process over any FileSystem (the crash
// file system included) and the plugin only translates nbdkit's C calls and errors.
//
// The disk is any disk::VirtualDisk (raw, one VHDX, a differencing chain: writes go to the leaf,
// disk/virtual_disk.h). Reads and writes are planned by the disk (PlanRead / PlanWrite, through
// every layer) and run on IoQueues (io_uring, libaio or synchronous, platform/io_queue.h) taken
// from a pool: one queue per request in flight, created on first use and kept for the next.
//
// Durability: a write is acknowledged when its requests completed; it is durable once a Flush
// (or a FUA write, zero or trim, which flushes before it returns) that started after it returns.
// Flush waits for the writes in flight (a VHDX image must not flush under planned writes) and
// makes every completed write durable, whichever connection made it: so the export is safe for
// NBD multi-conn (can_multi_conn).
//
// Ranges: every request is checked against the disk's size (kInvalidArgument beyond it).
// Overlapping writes, zeroes and trims are serialised (a range lock); reads run concurrently
// with everything.
//
// Thread safety: every method but StartIo and Close may be called from many threads at once.
// StartIo before the first request, Close after the last.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "disk/virtual_disk.h"
#include "platform/file.h"
#include "platform/io_queue.h"
#include "platform/status.h"

namespace hvdisk::nbd {

// NBD block status flags (base:allocation): a hole, and/or reads as zeros; 0 is data.
inline constexpr uint32_t kExtentHole = 1;
inline constexpr uint32_t kExtentZero = 2;

struct ExportExtent {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint32_t type = 0;  // 0 data, kExtentHole | kExtentZero for ranges that read as zeros
};

struct ExportOptions {
  std::string file;  // the disk (the leaf of a chain)
  bool read_only = false;
  // Directory trees a chain's parents may resolve into besides the leaf's (disk::ChainRoots).
  std::vector<std::string> allowed_roots;
};

class Export {
 public:
  // Opens the disk (disk::Open: raw, VHDX or a chain, writable unless read_only). `fs` is not
  // owned and must outlive the Export.
  static Result<std::unique_ptr<Export>> Open(FileSystem* fs, const ExportOptions& options);
  explicit Export(std::unique_ptr<disk::VirtualDisk> disk);
  ~Export();  // Close (errors ignored)
  Export(const Export&) = delete;
  Export& operator=(const Export&) = delete;

  // Chooses the IoQueue backend (kAuto: HVDISK_IO_BACKEND, else the best built) and drops queues
  // made before: call it in the process that serves (after nbdkit forked), before any request.
  void StartIo(IoBackend backend = IoBackend::kAuto);

  uint64_t size() const { return disk_->size(); }
  bool writable() const { return disk_->writable(); }
  disk::VirtualDisk* disk() const { return disk_.get(); }

  Status Pread(uint64_t offset, std::span<std::byte> dst);
  // fua: durable when it returns.
  Status Pwrite(uint64_t offset, std::span<const std::byte> src, bool fua);
  // The range reads as zeros afterwards (a VHDX leaf's whole blocks become ZERO blocks).
  Status Zero(uint64_t offset, uint64_t length, bool fua);
  // A discard: the range reads as zeros afterwards, as Zero.
  Status Trim(uint64_t offset, uint64_t length, bool fua);
  Status Flush();
  // The range as runs of one type each, adjacent runs of the same type merged whatever layers
  // and blocks they span (a client asking one extent at a time gets a whole run). req_one: the
  // first run only.
  Result<std::vector<ExportExtent>> Extents(uint64_t offset, uint64_t length, bool req_one);
  // Flushes and closes the disk (a VHDX leaf drains its log). No request may follow.
  Status Close();

 private:
  class RangeGuard;
  class QueueLease;
  friend class RangeGuard;
  friend class QueueLease;

  Status RunPlanned(std::vector<IoRequest>& requests);
  Status Modify(uint64_t offset, uint64_t length, bool fua, bool trim);

  std::unique_ptr<disk::VirtualDisk> disk_;
  // Writes hold it shared while their requests are in flight; Flush and Close exclusively.
  std::shared_mutex flush_mu_;
  // The ranges being written (the range lock); guarded by range_mu_.
  std::mutex range_mu_;
  std::condition_variable range_cv_;
  std::vector<std::pair<uint64_t, uint64_t>> busy_;
  // The queue pool; guarded by pool_mu_.
  std::mutex pool_mu_;
  IoBackend backend_ = IoBackend::kAuto;
  std::vector<std::unique_ptr<IoQueue>> idle_queues_;
  bool closed_ = false;
};

}  // namespace hvdisk::nbd
