#include "disk/open.h"

#include "chain/chain.h"
#include "disk/raw_disk.h"
#include "disk/vhdx_disk.h"
#include "platform/image_lock.h"

namespace hvdisk::disk {
namespace {

// A raw disk's file, also opened with O_DIRECT; null where the filesystem refuses O_DIRECT.
std::unique_ptr<File> OpenDirect(FileSystem* fs, const std::string& path) {
  hvdisk::OpenOptions oo = hvdisk::OpenOptions::ReadWrite();
  oo.direct = true;
  Result<std::unique_ptr<File>> file = fs->Open(path, oo);
  return file.ok() ? std::move(file).value() : nullptr;
}

}  // namespace

Result<std::vector<std::string>> ChainRoots(FileSystem* fs, const std::string& leaf,
                                            const std::vector<std::string>& extra) {
  if (extra.empty()) return extra;
  ASSIGN_OR_RETURN(std::string real, fs->RealPath(leaf));
  std::vector<std::string> roots = extra;
  roots.push_back(DirName(real));
  return roots;
}

Result<std::unique_ptr<VirtualDisk>> Open(FileSystem* fs, const std::string& path,
                                          const OpenOptions& options) {
  ASSIGN_OR_RETURN(Format format, DetectFormat(fs, path, options.format));
  if (format == Format::kVhdx) {
    ASSIGN_OR_RETURN(std::vector<std::string> roots, ChainRoots(fs, path, options.allowed_roots));
    chain::ChainOptions co{.writable_leaf = options.writable,
                           .direct = options.direct,
                           .force_share = options.force_share,
                           .allowed_roots = roots};
    ASSIGN_OR_RETURN(std::unique_ptr<chain::Chain> chain, chain::Chain::Open(fs, path, co));
    return std::unique_ptr<VirtualDisk>(new VhdxDisk(path, std::move(chain)));
  }
  hvdisk::OpenOptions oo =
      options.writable ? hvdisk::OpenOptions::ReadWrite() : hvdisk::OpenOptions::ReadOnly();
  oo.direct = options.direct;
  ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs->Open(path, oo));
  // A raw file is locked as qemu locks any image it opens (platform/image_lock.h).
  RETURN_IF_ERROR(LockImage(*file, options.writable ? ImageAccess::kWrite : ImageAccess::kRead,
                            options.force_share));
  ASSIGN_OR_RETURN(uint64_t size, file->Size());
  return std::unique_ptr<VirtualDisk>(new RawDisk(std::move(file), size, options.writable));
}

Result<std::unique_ptr<VirtualDisk>> OpenForInspection(FileSystem* fs, const std::string& path,
                                                       const OpenOptions& options,
                                                       Status* chain_error) {
  Result<std::unique_ptr<VirtualDisk>> disk = Open(fs, path, options);
  if (disk.ok() || options.format == Format::kRaw || disk.status().code() == Code::kInUse) {
    return disk;
  }
  Result<std::unique_ptr<vhdx::Image>> leaf =
      vhdx::Image::Open(fs, path, {.read_only = true, .force_share = options.force_share});
  if (!leaf.ok()) return disk.status();
  *chain_error = disk.status();
  return FromImage(std::move(leaf).value());
}

Result<std::unique_ptr<VirtualDisk>> CreateRaw(FileSystem* fs, const std::string& path,
                                               uint64_t size, bool direct) {
  ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs->Open(path, hvdisk::OpenOptions::CreateNew()));
  RETURN_IF_ERROR(LockImage(*file, ImageAccess::kWrite));
  RETURN_IF_ERROR(file->Truncate(size));
  std::unique_ptr<File> direct_file = direct ? OpenDirect(fs, path) : nullptr;
  return std::unique_ptr<VirtualDisk>(
      new RawDisk(std::move(file), size, /*writable=*/true, std::move(direct_file)));
}

Result<std::unique_ptr<VirtualDisk>> CreateVhdx(FileSystem* fs, const std::string& path,
                                                const vhdx::CreateOptions& options) {
  RETURN_IF_ERROR(vhdx::Image::Create(fs, path, options));
  return Open(fs, path, {.format = Format::kVhdx, .writable = true});
}

std::unique_ptr<VirtualDisk> FromImage(std::unique_ptr<vhdx::Image> image) {
  return std::make_unique<VhdxDisk>(std::move(image));
}

}  // namespace hvdisk::disk
