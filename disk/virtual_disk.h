// VirtualDisk: one disk the engine reads and writes as a sequence of bytes, whatever stores it: a
// raw file, one VHDX image, or a differencing chain (leaf <- ... <- base). disk::Open (open.h)
// opens any of them.
//
// Writes, trims, zeroes and flushes go to the leaf only (a chain's parents are opened read-only);
// reads, maps and planned reads see the whole chain's virtual content.
//
// Thread safety: Read, Write/Trim/Zero (on disjoint ranges), Map and Flush may be called from many
// threads, as vhdx::Image and File allow; Close needs exclusive use. Planned writes (PlanWrite)
// must all have completed before Flush or Close.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "disk/disk_format.h"
#include "platform/file.h"
#include "platform/io_queue.h"
#include "platform/status.h"
#include "vhdx/image.h"

namespace hvdisk::chain {
class Chain;
}

namespace hvdisk::disk {

// An extent of the disk's view, with the layer that decides it (0: the leaf, 1: its parent...).
// extent.kind: kData (stored in that layer's file at extent.file_offset), kZero (reads as zeros:
// a ZERO or UNMAPPED block, a raw file's hole), or kParent: unallocated, transparent with no
// parent to read from (only an image opened alone, FromImage, reports it; it reads as zeros).
struct LayerExtent {
  vhdx::Extent extent;
  int layer = 0;
};

class VirtualDisk {
 public:
  virtual ~VirtualDisk() = default;
  VirtualDisk(const VirtualDisk&) = delete;
  VirtualDisk& operator=(const VirtualDisk&) = delete;

  virtual Format format() const = 0;
  virtual uint64_t size() const = 0;
  virtual uint32_t sector_size() const = 0;
  virtual bool writable() const = 0;
  // REQUIRES (all I/O): the range lies within size(); writes: writable().
  virtual Status Read(uint64_t offset, std::span<std::byte> dst) = 0;
  // Durable only after Flush.
  virtual Status Write(uint64_t offset, std::span<const std::byte> src) = 0;
  // The range reads as zeros afterwards; a VHDX leaf's wholly covered blocks become ZERO (their
  // space is given back), a raw file's range is written with zeros.
  virtual Status Zero(uint64_t offset, uint64_t length) = 0;
  // The range's content is no longer needed (a discard); it reads as zeros afterwards, as Zero.
  virtual Status Trim(uint64_t offset, uint64_t length) { return Zero(offset, length); }
  // Makes every completed write durable.
  virtual Status Flush() = 0;
  // Ends the disk's use: a VHDX leaf drains its log (its metadata becomes durable); a raw file's
  // data is not flushed (call Flush first for durability). No I/O may follow.
  virtual Status Close() = 0;
  // The range [offset, offset + length) as runs in order, each with the layer deciding it (see
  // LayerExtent). A chain's transparent ranges are resolved through its parents.
  virtual Result<std::vector<LayerExtent>> Map(uint64_t offset, uint64_t length) = 0;
  // The files of the layers, leaf first (one entry for raw disks); the leaf is path().
  virtual std::vector<std::string> layer_paths() const { return {path_}; }
  // Plans a read for an IoQueue: fills the zero parts of dst at once and appends requests for
  // the rest, through every layer (a chain read is one batch across its files).
  virtual Status PlanRead(uint64_t offset, std::span<std::byte> dst,
                          std::vector<IoRequest>* out) = 0;
  // Plans a write for an IoQueue (the leaf only): allocates what the range needs and appends one
  // request per run of file data; parts that cannot be queued (a VHDX image's unaligned edges,
  // sector-bitmap updates) are written here at once. src must stay valid until the requests
  // complete; the data is durable only after they complete and Flush runs.
  virtual Status PlanWrite(uint64_t offset, std::span<const std::byte> src,
                           std::vector<IoRequest>* out) = 0;
  // Asks the kernel to start writing the leaf file's dirty pages back now (sync_file_range), so
  // that a later Flush has little left to wait for. Not a durability barrier; errors are ignored.
  void StartWriteback();
  // The image of a VHDX disk (a chain's leaf), null for raw.
  virtual vhdx::Image* image() { return nullptr; }
  // The chain of a VHDX disk opened by Open, null otherwise.
  virtual chain::Chain* chain() { return nullptr; }
  const std::string& path() const { return path_; }

 protected:
  explicit VirtualDisk(std::string path) : path_(std::move(path)) {}
  // The leaf's file (for StartWriteback).
  virtual File* data_file() = 0;

 private:
  std::string path_;
};

// How many bytes from `offset` (at most `length`) Map says read as zeros (kZero, or kParent).
Result<uint64_t> KnownZeroPrefix(VirtualDisk* disk, uint64_t offset, uint64_t length);

// "range [offset, +length) lies beyond the virtual size N" (kInvalidArgument) unless the range
// fits the disk.
Status CheckRange(const VirtualDisk& disk, uint64_t offset, uint64_t length);

}  // namespace hvdisk::disk
