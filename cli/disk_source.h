// Disk: one file the commands read or write as a virtual disk, raw or VHDX.
//
// A VHDX file is opened as a differencing chain (chain::Chain): a differencing image is opened
// with all its parents, read-only, confined to the allowed roots (by default the leaf's directory
// tree); writes go to the leaf only. Reads and maps see the whole chain's virtual content.
//
// Locks: every disk holds qemu's image locks on its files while open (platform/image_lock.h),
// raw files too: a writable disk excludes other writers and readers, a read-only one writers.
//
// Format detection (DetectFormat): a file whose first 8 bytes are "vhdxfile" is VHDX; a file named
// *.vhdx or *.avhdx without that signature is refused with kCorrupt (never read as raw, so a
// damaged image cannot be mistaken for a raw disk); anything else is raw. An explicit format
// (-f raw / -f vhdx) skips detection.
//
// Thread safety: Read, Write (disjoint ranges), Map and Flush may be called from many threads, as
// Image and File allow; Close needs exclusive use.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "platform/file.h"
#include "platform/io_queue.h"
#include "platform/status.h"
#include "vhdx/image.h"

namespace hvdisk::chain {
class Chain;
}

namespace hvdisk::cli {

enum class DiskFormat : uint8_t { kAuto, kRaw, kVhdx };

// "raw" / "vhdx" / "auto".
std::string_view FormatName(DiskFormat format);
// Accepts "raw", "vhdx", "auto" and "" (auto).
Result<DiskFormat> ParseFormat(std::string_view name);
// True for names ending in .vhdx or .avhdx (any case).
bool HasVhdxExtension(std::string_view path);
// The format of an existing file, as described above. `forced` other than kAuto is returned as is
// once the file is known to exist.
Result<DiskFormat> DetectFormat(FileSystem* fs, const std::string& path, DiskFormat forced);

// The chain::ChainOptions::allowed_roots for a chain whose leaf is `leaf`: empty (the leaf's
// directory tree) when `extra` is empty, else `extra` plus the leaf's real directory.
Result<std::vector<std::string>> ChainRoots(FileSystem* fs, const std::string& leaf,
                                            const std::vector<std::string>& extra);

// `status` from opening a chain, with a hint on --allow-root when a parent was refused for lying
// outside the allowed roots (kAccessDenied); other statuses unchanged.
Status ExplainChainError(const Status& status);

// True when every byte of `data` is zero.
bool IsAllZero(std::span<const std::byte> data);

struct DiskOpenOptions {
  DiskFormat format = DiskFormat::kAuto;
  bool writable = false;
  bool direct = false;       // O_DIRECT data path
  bool force_share = false;  // read-only: share the image locks with writers (qemu's -U)
  // Directory trees a VHDX parent may resolve into besides the leaf's (see ChainRoots).
  std::vector<std::string> allowed_roots;
};

// An extent of the chain's view, with the layer that decides it (0: the leaf, 1: its parent...).
// kData extents' file offsets are in that layer's file.
struct LayerExtent {
  vhdx::Extent extent;
  int layer = 0;
};

class Disk {
 public:
  // Opens an existing file, detecting its format unless options.format says it. A VHDX file is
  // opened as a chain (see the top of this file): NotFound for a missing parent, AccessDenied for
  // a parent outside the allowed roots, Corrupt for a broken link (chain::Chain::Open).
  static Result<std::unique_ptr<Disk>> Open(const std::string& path,
                                            const DiskOpenOptions& options);
  // Creates a new raw file of `size` bytes, all holes (fails if it exists). `direct`: writes
  // bypass the page cache (O_DIRECT) where they can: the aligned whole 4 KiB units of a write
  // whose offset and buffer are 4 KiB aligned; the rest of it, and every write when the
  // filesystem refuses O_DIRECT, goes through the page cache. For bulk copies whose output need
  // not stay cached: no copy into the page cache, no dirty pages left for Flush.
  static Result<std::unique_ptr<Disk>> CreateRaw(const std::string& path, uint64_t size,
                                                 bool direct = false);
  // Wraps an opened image, alone (a differencing image's transparent ranges read as zeros).
  static std::unique_ptr<Disk> FromImage(std::unique_ptr<vhdx::Image> image);

  virtual ~Disk() = default;
  virtual DiskFormat format() const = 0;
  virtual uint64_t size() const = 0;
  virtual uint32_t sector_size() const = 0;
  // REQUIRES: the range lies within size().
  virtual Status Read(uint64_t offset, std::span<std::byte> dst) = 0;
  virtual Status Write(uint64_t offset, std::span<const std::byte> src) = 0;
  virtual Status Flush() = 0;
  // Flushes a writable disk and releases it.
  virtual Status Close() = 0;
  // The range as runs of kData (with their file offsets) and kZero. A chain's transparent ranges
  // are resolved through its parents (never kParent). Raw files report their holes as kZero.
  Result<std::vector<vhdx::Extent>> Map(uint64_t offset, uint64_t length);
  // As Map, with the layer each extent comes from (raw disks and single images: layer 0).
  virtual Result<std::vector<LayerExtent>> MapLayers(uint64_t offset, uint64_t length) = 0;
  // The files of the layers, leaf first (one entry for raw disks); the leaf is path().
  virtual std::vector<std::string> layer_paths() const { return {path_}; }
  // Fills zero parts of dst and appends requests for the rest (see Image::PlanRead).
  virtual Status PlanRead(uint64_t offset, std::span<std::byte> dst,
                          std::vector<IoRequest>* out) = 0;
  // Appends a request writing src at offset for an IoQueue: raw disks only (kUnsupported for
  // VHDX, whose writes may allocate blocks and must go through Write).
  virtual Status PlanWrite(uint64_t offset, std::span<const std::byte> src,
                           std::vector<IoRequest>* out) = 0;
  // Asks the kernel to start writing this file's dirty pages back now (sync_file_range), so that
  // a later Flush has little left to wait for. Not a durability barrier; errors are ignored.
  void StartWriteback();
  // The image of a VHDX disk (a chain's leaf), null for raw.
  virtual vhdx::Image* image() { return nullptr; }
  // The chain of a VHDX disk opened by Open, null otherwise.
  virtual chain::Chain* chain() { return nullptr; }
  const std::string& path() const { return path_; }

 protected:
  explicit Disk(std::string path) : path_(std::move(path)) {}
  // The file holding the disk's data.
  virtual File* data_file() = 0;

 private:
  std::string path_;
};

// How many bytes from `offset` (at most `length`) Map says read as zeros: kZero, or kParent (only
// an image opened alone, without its parents, reports it; its transparent ranges read as zeros).
Result<uint64_t> KnownZeroPrefix(Disk* disk, uint64_t offset, uint64_t length);

}  // namespace hvdisk::cli
