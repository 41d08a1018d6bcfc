// Opening and creating disks: disk::Open for any existing disk (raw, one VHDX, or a differencing
// chain), CreateRaw and CreateVhdx for new ones. Every file is reached through the FileSystem the
// caller passes (not owned; it must outlive the disk).
//
// Locks: every disk holds qemu's image locks on its files while open (platform/image_lock.h),
// raw files too: a writable disk excludes other writers and readers, a read-only one writers
// (unless force_share, qemu's -U).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "disk/disk_format.h"
#include "disk/virtual_disk.h"
#include "platform/file.h"
#include "platform/status.h"
#include "vhdx/image.h"

namespace hvdisk::disk {

struct OpenOptions {
  Format format = Format::kAuto;  // kAuto: DetectFormat
  bool writable = false;          // the leaf only; a chain's parents are always read-only
  bool direct = false;            // O_DIRECT data path
  bool force_share = false;       // read-only: share the image locks with writers (qemu's -U)
  // Directory trees a VHDX parent may resolve into besides the leaf's (see ChainRoots).
  std::vector<std::string> allowed_roots;
};

// Opens the existing disk `path`, detecting its format unless options.format says it. A VHDX file
// is opened as a chain with every parent it names (chain::Chain::Open): kNotFound for a missing
// parent, kAccessDenied for a parent outside the allowed roots, kCorrupt for a broken link. A raw
// file is the disk itself, its size the file's.
Result<std::unique_ptr<VirtualDisk>> Open(FileSystem* fs, const std::string& path,
                                          const OpenOptions& options);

// Creates the new raw file `path` of `size` bytes, all holes (fails if it exists), open for
// writing. `direct`: writes bypass the page cache (O_DIRECT) where they can (see RawDisk); for
// bulk copies whose output need not stay cached. Where the filesystem refuses O_DIRECT every
// write goes through the page cache.
Result<std::unique_ptr<VirtualDisk>> CreateRaw(FileSystem* fs, const std::string& path,
                                               uint64_t size, bool direct = false);

// Creates the new VHDX image `path` (vhdx::Image::Create; fails if it exists) and opens it for
// writing.
Result<std::unique_ptr<VirtualDisk>> CreateVhdx(FileSystem* fs, const std::string& path,
                                                const vhdx::CreateOptions& options);

// For inspecting a disk whose chain may be broken: opens `path` as Open does; when only its chain
// fails (a parent missing, refused or not matching), opens the VHDX leaf alone instead, read-only
// (its transparent ranges read as zeros), and sets *chain_error to the chain's error, so that the
// caller can still show the leaf and the locator to repair. A raw file, a lock conflict (kInUse)
// and a leaf that cannot be opened either return the first error. REQUIRES: !options.writable.
Result<std::unique_ptr<VirtualDisk>> OpenForInspection(FileSystem* fs, const std::string& path,
                                                       const OpenOptions& options,
                                                       Status* chain_error);

// Wraps an opened image, alone (a differencing image's transparent ranges read as zeros).
std::unique_ptr<VirtualDisk> FromImage(std::unique_ptr<vhdx::Image> image);

// The chain::ChainOptions::allowed_roots for a chain whose leaf is `leaf`: empty (the leaf's
// directory tree) when `extra` is empty, else `extra` plus the leaf's real directory.
Result<std::vector<std::string>> ChainRoots(FileSystem* fs, const std::string& leaf,
                                            const std::vector<std::string>& extra);

}  // namespace hvdisk::disk
