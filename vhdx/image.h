// Image: one VHDX file (fixed, dynamic or differencing), opened read-only or read-write.
//
// Responsibilities: create files laid out as Windows lays them out (log 1 MiB @1 MiB, metadata
// 1 MiB @2 MiB, BAT @3 MiB); open them (choose the header, replay the log: on disk for writable
// opens, in memory for read-only ones); map virtual ranges to file extents; read, write, trim,
// grow, flush and close with the MS-VHDX write order:
//   data -> flush -> log entry with the metadata pages -> flush -> apply in place
// (the final "apply" flush is folded into the next batch's first flush, or the close).
// Many BAT/bitmap changes made between two flushes go into one log entry.
//
// Parents: a differencing image knows nothing about its parent file; its NOT_PRESENT (and
// transparent sectors of PARTIALLY_PRESENT) ranges read through the VirtualDisk set with
// SetBacking(), or as zeros when none is set. The chain layer sets the backing.
//
// Thread safety: Read, Write, Trim and Flush may be called concurrently from many threads, on
// disjoint ranges for Write/Trim (overlapping concurrent writes leave either content per sector).
// Resize and Close need exclusive use. Metadata state is guarded by an internal mutex held only
// for lookups and allocation, never across data I/O.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "platform/file.h"
#include "platform/guid.h"
#include "platform/io_queue.h"
#include "platform/status.h"
#include "vhdx/format.h"

namespace hvdisk::vhdx {

// Anything that presents a virtual disk's bytes: an Image, or a chain of them.
class VirtualDisk {
 public:
  virtual ~VirtualDisk() = default;
  virtual uint64_t virtual_size() const = 0;
  virtual uint32_t logical_sector_size() const = 0;
  // Reads [offset, offset + dst.size()). REQUIRES: the range lies within virtual_size().
  virtual Status Read(uint64_t offset, std::span<std::byte> dst) = 0;
  // Plans a read for an IoQueue: fills what it can at once and appends requests for the rest.
  // The default reads everything at once; an Image plans its file data (and its parent's, so a
  // chain read is one batch of requests across every layer).
  virtual Status PlanRead(uint64_t offset, std::span<std::byte> dst, std::vector<IoRequest>* out) {
    (void)out;
    return Read(offset, dst);
  }
};

struct CreateOptions {
  DiskType type = DiskType::kDynamic;
  uint64_t virtual_size = 0;           // bytes, multiple of logical_sector_size, <= 64 TiB
  uint32_t block_size = 32 * kMiB;     // power of two, 1..256 MiB
  uint32_t logical_sector_size = 512;  // 512 or 4096
  uint32_t physical_sector_size = 4096;
  Guid virtual_disk_id;  // zero: a random one
  // Differencing only: the parent locator's key/value pairs (UTF-8), written in Windows order.
  // The chain layer fills these (parent_linkage, relative_path, absolute_win32_path, ...).
  std::vector<std::pair<std::string, std::string>> parent_locator;
};

struct ImageOpenOptions {
  bool read_only = true;
  bool direct = false;  // O_DIRECT data path (metadata I/O is aligned either way)
  // Read-only only: take the image locks that share everything (qemu's -U), so the open works
  // while another process writes the image (platform/image_lock.h).
  bool force_share = false;
};

// A piece of a virtual range as this file stores it.
struct Extent {
  enum class Kind : uint8_t { kData, kZero, kParent };
  Kind kind = Kind::kZero;
  uint64_t virtual_offset = 0;
  uint64_t length = 0;
  uint64_t file_offset = 0;  // kData only
};

// What Check found (the qemu-img check classes).
struct CheckReport {
  std::vector<std::string> corruptions;  // structure errors: exit 2
  std::vector<std::string> leaks;        // unreferenced space: exit 3 when no corruption
  // Repairable damage that costs no data, each with what check -r does about it (a bad header or
  // region table copy): exit 3 when no corruption, as leaks.
  std::vector<std::string> warnings;
  uint64_t allocated_blocks = 0;
  uint64_t total_blocks = 0;
  bool log_replayed = false;
};

// What Compact did.
struct CompactOptions {
  bool zero_scan = false;  // read every present block and free the all-zero ones
};
struct CompactReport {
  uint64_t blocks_trimmed = 0;  // all-zero blocks freed by the scan
  uint64_t blocks_moved = 0;    // blocks and sector bitmaps moved down into holes
  uint64_t file_size_before = 0;
  uint64_t file_size_after = 0;
};

// Locks: every open (and a Create while it writes) holds qemu's image locks on the file
// (platform/image_lock.h) until Close, Discard or destruction: a writable open excludes every
// other writer and reader, hvdisk's or qemu's, and a read-only one excludes writers; kInUse with
// the holder's lock named when another process (or another open in this one) conflicts.
class Image : public VirtualDisk {
 public:
  // Creates a new file (fails with kInUse if it exists). Fixed images are fully allocated.
  static Status Create(FileSystem* fs, const std::string& path, const CreateOptions& options);
  // Opens an image. A writable open replays a dirty log on disk; a read-only open replays it in
  // memory and writes nothing. Every structure is validated against the file size first.
  static Result<std::unique_ptr<Image>> Open(FileSystem* fs, const std::string& path,
                                             const ImageOpenOptions& options);
  // Validates every structure and the BAT against the file; never writes. `progress`, when set,
  // is called from the calling thread as the check advances (done of total, arbitrary units).
  using CheckProgress = std::function<void(uint64_t done, uint64_t total)>;
  // force_share: as ImageOpenOptions::force_share.
  static Result<CheckReport> Check(FileSystem* fs, const std::string& path,
                                   const CheckProgress& progress = {}, bool force_share = false);

  ~Image() override;  // a writable image not Closed is flushed and closed, errors ignored

  // VirtualDisk
  uint64_t virtual_size() const override;
  uint32_t logical_sector_size() const override;
  Status Read(uint64_t offset, std::span<std::byte> dst) override;

  // Writes at any byte offset and length; edge sectors are read-modify-written (through the
  // backing in a differencing image). Durable only after Flush().
  Status Write(uint64_t offset, std::span<const std::byte> src);
  // Makes every write completed before the call durable, and its metadata with it.
  Status Flush();
  // Reserves the file space that writing every (offset, length) range would allocate, and backs
  // the BAT pages that will name it, so that the writes then find their space: kNoSpace with
  // nothing changed when the disk has too little. For all-or-nothing batches (a change set);
  // what the writes do not use is given back at Close.
  Status Reserve(std::span<const std::pair<uint64_t, uint64_t>> ranges);
  // Wholly covered blocks become ZERO (or, with make_transparent in a differencing image,
  // NOT_PRESENT); partly covered edges are written with zeros (or, when transparent, their whole
  // sectors uncovered: present sectors stop being present and the parent shows through).
  Status Trim(uint64_t offset, uint64_t length, bool make_transparent = false);
  // Changes the virtual size (Resize-VHD), through the log. Growing relocates the BAT when it
  // must grow past its region and gives a fixed disk its new blocks; the new range reads as
  // zeros (a differencing disk: as its parent). Shrinking needs allow_shrink, and is refused
  // (kInvalidArgument naming the offset, nothing changed) when data lies past the new end: an
  // allocated block of a dynamic or differencing disk, a non-zero byte of a fixed disk's blocks
  // or of the block the new end cuts; the space freed at the end of the file is given back.
  // REQUIRES: no I/O in flight. Resizing one member of a chain breaks its links (equal virtual
  // sizes, chain/linkage) until every member has the same size.
  Status Resize(uint64_t new_virtual_size, bool allow_shrink = false);
  // Optimize-VHD: frees all-zero blocks (with zero_scan), moves the remaining blocks and sector
  // bitmaps down into the holes (the space of trimmed blocks, or left by a crash), and truncates
  // the file past the last object; through the log, crash-safe at every I/O (steps in
  // image_compact.cc). The content and the DataWriteGuid are unchanged, so a chain's children
  // stay valid; a parent is never touched. kUnsupported for a fixed disk. REQUIRES: no I/O in
  // flight (exclusive use, as Resize).
  Result<CompactReport> Compact(const CompactOptions& options = {});
  // Drains the log, clears LogGuid in both headers, flushes, and releases the file.
  Status Close();
  // Closes without making anything since the last Flush durable, as a crash there would, then
  // reopens the file writable and closes it, which gives back the space past the last flushed
  // object: after a failed allocating write (kNoSpace) the file holds its metadata and size as of
  // the last Flush. Blocks written since then are lost; writes into blocks already present may
  // have landed. REQUIRES: no I/O in flight.
  Status Discard();

  // Plans a read: fills zero ranges of dst at once, and appends one request per run of file
  // data (adjacent runs coalesced). Parent ranges are planned through the backing.
  // The caller submits the requests to its IoQueue. REQUIRES: the range lies within the disk.
  Status PlanRead(uint64_t offset, std::span<std::byte> dst, std::vector<IoRequest>* out) override;
  // Plans a write for the caller's IoQueue: allocates the blocks the range needs (as Write does)
  // and appends one request per run of file data. Unaligned edges and pieces that set sector-
  // bitmap bits are written synchronously here instead (nothing appended for them). The data is
  // durable only after its requests complete and Flush() runs: never Flush, Resize or Close with
  // planned writes in flight.
  Status PlanWrite(uint64_t offset, std::span<const std::byte> src, std::vector<IoRequest>* out);
  // Writes `length` bytes of `src` at `src_offset` to the disk at `offset`, as Write would (same
  // allocation, bitmap and durability rules), copying file to file (File::CopyFrom: inside the
  // kernel where it can) instead of through memory. `src` is not owned.
  // REQUIRES: offset and length sector aligned.
  Status CopyFrom(uint64_t offset, File& src, uint64_t src_offset, uint64_t length);
  // This file's view of a range: data here, zeros, or the parent's.
  Result<std::vector<Extent>> Map(uint64_t offset, uint64_t length);

  // The disk a differencing image reads its transparent ranges from. Not owned; must outlive
  // this image. REQUIRES: no concurrent I/O.
  void SetBacking(VirtualDisk* backing);

  DiskType type() const;
  uint32_t block_size() const;
  uint32_t physical_sector_size() const;
  bool read_only() const;
  const std::string& path() const;
  Guid virtual_disk_id() const;
  Guid data_write_guid() const;
  Guid file_write_guid() const;
  Guid log_guid() const;
  // The parent locator's key/value pairs (differencing only), in file order.
  const std::vector<std::pair<std::string, std::string>>& parent_locator() const;
  // Replaces the parent locator (through the log). Writable differencing images only.
  Status SetParentLocator(std::vector<std::pair<std::string, std::string>> entries);
  // Sets DataWriteGuid explicitly (merge/reparent protocol); through the header update protocol.
  Status SetDataWriteGuid(const Guid& guid);
  uint64_t allocated_blocks() const;
  // The underlying file (for the chain layer's planning).
  File* file();

  struct State;  // internal

 private:
  explicit Image(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace hvdisk::vhdx
