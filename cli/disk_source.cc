#include "cli/disk_source.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "chain/chain.h"
#include "platform/image_lock.h"
#include "vhdx/layout.h"

namespace hvdisk::cli {
namespace {

using vhdx::Extent;

bool EndsWithNoCase(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  return std::equal(suffix.begin(), suffix.end(), s.end() - suffix.size(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) ==
           std::tolower(static_cast<unsigned char>(b));
  });
}

// One data-or-hole run of a raw file starting at `offset` (SEEK_DATA / SEEK_HOLE).
Extent RawRun(int fd, uint64_t offset, uint64_t end) {
  Extent e{Extent::Kind::kData, offset, end - offset, offset};
  off_t data = lseek(fd, static_cast<off_t>(offset), SEEK_DATA);
  if (data < 0) {
    if (errno == ENXIO) e.kind = Extent::Kind::kZero;  // a hole up to end of file
    return e;
  }
  if (static_cast<uint64_t>(data) > offset) {
    e.kind = Extent::Kind::kZero;
    e.length = std::min<uint64_t>(data, end) - offset;
    return e;
  }
  off_t hole = lseek(fd, static_cast<off_t>(offset), SEEK_HOLE);
  if (hole > 0 && static_cast<uint64_t>(hole) < end) e.length = hole - offset;
  return e;
}

// How much of a write of `src` at `offset` O_DIRECT can take: the whole kDirectAlignment units
// at its start when the offset and the buffer are aligned, else nothing.
size_t DirectPrefix(uint64_t offset, std::span<const std::byte> src) {
  const auto address = reinterpret_cast<uintptr_t>(src.data());
  if (offset % kDirectAlignment != 0 || address % kDirectAlignment != 0) return 0;
  return src.size() / kDirectAlignment * kDirectAlignment;
}

// A raw disk's file, also opened with O_DIRECT; null where the filesystem refuses O_DIRECT.
std::unique_ptr<File> OpenDirect(FileSystem* fs, const std::string& path) {
  OpenOptions oo = OpenOptions::ReadWrite();
  oo.direct = true;
  Result<std::unique_ptr<File>> file = fs->Open(path, oo);
  return file.ok() ? std::move(file).value() : nullptr;
}

class RawDisk : public Disk {
 public:
  // `direct` (may be null): the same file opened with O_DIRECT, for the aligned part of writes.
  RawDisk(std::unique_ptr<File> file, uint64_t size, std::unique_ptr<File> direct = nullptr)
      : Disk(file->path()), file_(std::move(file)), direct_(std::move(direct)), size_(size) {}

  DiskFormat format() const override { return DiskFormat::kRaw; }
  uint64_t size() const override { return size_; }
  uint32_t sector_size() const override { return 512; }
  Status Read(uint64_t offset, std::span<std::byte> dst) override {
    ASSIGN_OR_RETURN(size_t n, file_->ReadAt(offset, dst));
    if (n < dst.size()) std::memset(dst.data() + n, 0, dst.size() - n);  // file shrank
    return Status::Ok();
  }
  Status Write(uint64_t offset, std::span<const std::byte> src) override {
    if (direct_ == nullptr) return file_->WriteAt(offset, src);
    const size_t direct = DirectPrefix(offset, src);
    if (direct > 0) RETURN_IF_ERROR(direct_->WriteAt(offset, src.first(direct)));
    if (direct == src.size()) return Status::Ok();
    return file_->WriteAt(offset + direct, src.subspan(direct));
  }
  // One fsync covers both descriptors: it flushes the file, whichever descriptor wrote.
  Status Flush() override { return file_->Flush(); }
  File* data_file() override { return file_.get(); }
  Status Close() override { return Status::Ok(); }
  Result<std::vector<LayerExtent>> MapLayers(uint64_t offset, uint64_t length) override;
  Status PlanRead(uint64_t offset, std::span<std::byte> dst, std::vector<IoRequest>* out) override {
    out->push_back({IoKind::kRead, file_.get(), offset, dst.data(), dst.size(), 0});
    return Status::Ok();
  }
  Status PlanWrite(uint64_t offset, std::span<const std::byte> src,
                   std::vector<IoRequest>* out) override {
    auto* data = const_cast<std::byte*>(src.data());  // IoRequest::data: not modified for writes
    out->push_back({IoKind::kWrite, file_.get(), offset, data, src.size(), 0});
    return Status::Ok();
  }

 private:
  std::unique_ptr<File> file_;
  std::unique_ptr<File> direct_;
  uint64_t size_;
};

Result<std::vector<LayerExtent>> RawDisk::MapLayers(uint64_t offset, uint64_t length) {
  std::vector<LayerExtent> out;
  const uint64_t end = offset + length;
  const int fd = file_->native_handle();
  if (fd < 0) {
    if (length > 0) out.push_back({{Extent::Kind::kData, offset, length, offset}, 0});
    return out;
  }
  while (offset < end) {
    Extent e = RawRun(fd, offset, end);
    if (!out.empty() && out.back().extent.kind == e.kind) {
      out.back().extent.length += e.length;
    } else {
      out.push_back({e, 0});
    }
    offset += e.length;
  }
  return out;
}

// Appends layers[level]'s view of the range, resolving its kParent extents through the levels
// below (the bottom one's kParent, an image opened without its parents, stays kParent).
Status MapThrough(const std::vector<vhdx::Image*>& layers, size_t level, uint64_t offset,
                  uint64_t length, std::vector<LayerExtent>* out) {
  ASSIGN_OR_RETURN(std::vector<Extent> extents, layers[level]->Map(offset, length));
  for (const Extent& e : extents) {
    if (e.kind == Extent::Kind::kParent && level + 1 < layers.size()) {
      RETURN_IF_ERROR(MapThrough(layers, level + 1, e.virtual_offset, e.length, out));
    } else {
      out->push_back({e, static_cast<int>(level)});
    }
  }
  return Status::Ok();
}

// A VHDX image, alone (FromImage) or as the leaf of an opened chain (Open).
class VhdxDisk : public Disk {
 public:
  explicit VhdxDisk(std::unique_ptr<vhdx::Image> image)
      : Disk(image->path()), image_(std::move(image)), layers_{image_.get()} {}
  VhdxDisk(std::string path, std::unique_ptr<chain::Chain> chain)
      : Disk(std::move(path)), chain_(std::move(chain)) {
    for (const auto& image : chain_->images()) layers_.push_back(image.get());
  }

  DiskFormat format() const override { return DiskFormat::kVhdx; }
  uint64_t size() const override { return leaf()->virtual_size(); }
  uint32_t sector_size() const override { return leaf()->logical_sector_size(); }
  Status Read(uint64_t offset, std::span<std::byte> dst) override {
    return leaf()->Read(offset, dst);
  }
  Status Write(uint64_t offset, std::span<const std::byte> src) override {
    return leaf()->Write(offset, src);
  }
  Status Flush() override { return leaf()->Flush(); }
  File* data_file() override { return leaf()->file(); }
  Status Close() override {
    if (leaf()->read_only()) return Status::Ok();
    return chain_ ? chain_->Close() : image_->Close();
  }
  Result<std::vector<LayerExtent>> MapLayers(uint64_t offset, uint64_t length) override {
    std::vector<LayerExtent> out;
    RETURN_IF_ERROR(MapThrough(layers_, 0, offset, length, &out));
    return out;
  }
  std::vector<std::string> layer_paths() const override {
    if (!chain_) return {path()};
    std::vector<std::string> paths = chain_->paths();
    paths[0] = path();  // the leaf as the caller named it
    return paths;
  }
  Status PlanRead(uint64_t offset, std::span<std::byte> dst, std::vector<IoRequest>* out) override {
    return leaf()->PlanRead(offset, dst, out);
  }
  Status PlanWrite(uint64_t, std::span<const std::byte>, std::vector<IoRequest>*) override {
    return Unsupported("VHDX writes cannot be planned for an IoQueue");
  }
  vhdx::Image* image() override { return leaf(); }
  chain::Chain* chain() override { return chain_.get(); }

 private:
  vhdx::Image* leaf() const { return layers_.front(); }

  std::unique_ptr<vhdx::Image> image_;  // alone
  std::unique_ptr<chain::Chain> chain_;
  std::vector<vhdx::Image*> layers_;  // leaf first; owned by image_ or chain_
};

}  // namespace

std::string_view FormatName(DiskFormat format) {
  switch (format) {
    case DiskFormat::kRaw:
      return "raw";
    case DiskFormat::kVhdx:
      return "vhdx";
    default:
      return "auto";
  }
}

Result<DiskFormat> ParseFormat(std::string_view name) {
  if (name.empty() || name == "auto") return DiskFormat::kAuto;
  if (name == "raw") return DiskFormat::kRaw;
  if (name == "vhdx") return DiskFormat::kVhdx;
  return InvalidArgument("unknown format '" + std::string(name) + "' (raw or vhdx)");
}

bool HasVhdxExtension(std::string_view path) {
  return EndsWithNoCase(path, ".vhdx") || EndsWithNoCase(path, ".avhdx");
}

Result<DiskFormat> DetectFormat(FileSystem* fs, const std::string& path, DiskFormat forced) {
  ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs->Open(path, OpenOptions::ReadOnly()));
  if (forced != DiskFormat::kAuto) return forced;
  std::byte sig[8] = {};
  ASSIGN_OR_RETURN(size_t n, file->ReadAt(0, sig));
  if (n == sizeof sig && vhdx::HasSignature(sig, 0, vhdx::kFileIdentifierSignature)) {
    return DiskFormat::kVhdx;
  }
  if (HasVhdxExtension(path)) {
    return Corrupt(path + ": named like a VHDX image but has no \"vhdxfile\" signature; " +
                   "refusing to read it as raw (use -f raw to force)");
  }
  return DiskFormat::kRaw;
}

Status ExplainChainError(const Status& status) {
  if (status.code() != Code::kAccessDenied) return status;
  return Status(status.code(),
                status.message() + "; pass --allow-root DIR to accept parents under DIR");
}

Result<std::vector<std::string>> ChainRoots(FileSystem* fs, const std::string& leaf,
                                            const std::vector<std::string>& extra) {
  if (extra.empty()) return extra;
  ASSIGN_OR_RETURN(std::string real, fs->RealPath(leaf));
  std::vector<std::string> roots = extra;
  roots.push_back(DirName(real));
  return roots;
}

bool IsAllZero(std::span<const std::byte> data) {
  static constexpr size_t kHead = 16;
  if (data.size() <= kHead) {
    return std::all_of(data.begin(), data.end(), [](std::byte b) { return b == std::byte{0}; });
  }
  for (size_t i = 0; i < kHead; ++i) {
    if (data[i] != std::byte{0}) return false;
  }
  // The first 16 bytes are zero, so the whole is zero iff it equals itself shifted by 16.
  return std::memcmp(data.data(), data.data() + kHead, data.size() - kHead) == 0;
}

Result<std::unique_ptr<Disk>> Disk::Open(const std::string& path, const DiskOpenOptions& options) {
  FileSystem* fs = DefaultFileSystem();
  ASSIGN_OR_RETURN(DiskFormat format, DetectFormat(fs, path, options.format));
  if (format == DiskFormat::kVhdx) {
    ASSIGN_OR_RETURN(std::vector<std::string> roots, ChainRoots(fs, path, options.allowed_roots));
    chain::ChainOptions co{.writable_leaf = options.writable,
                           .direct = options.direct,
                           .force_share = options.force_share,
                           .allowed_roots = roots};
    Result<std::unique_ptr<chain::Chain>> chain = chain::Chain::Open(fs, path, co);
    if (!chain.ok()) return ExplainChainError(chain.status());
    return std::unique_ptr<Disk>(new VhdxDisk(path, std::move(chain).value()));
  }
  OpenOptions oo = options.writable ? OpenOptions::ReadWrite() : OpenOptions::ReadOnly();
  oo.direct = options.direct;
  ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs->Open(path, oo));
  RETURN_IF_ERROR(LockImage(*file, options.writable ? ImageAccess::kWrite : ImageAccess::kRead,
                            options.force_share));
  ASSIGN_OR_RETURN(uint64_t size, file->Size());
  return std::unique_ptr<Disk>(new RawDisk(std::move(file), size));
}

Result<std::unique_ptr<Disk>> Disk::CreateRaw(const std::string& path, uint64_t size, bool direct) {
  FileSystem* fs = DefaultFileSystem();
  ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs->Open(path, OpenOptions::CreateNew()));
  RETURN_IF_ERROR(LockImage(*file, ImageAccess::kWrite));
  RETURN_IF_ERROR(file->Truncate(size));
  std::unique_ptr<File> direct_file = direct ? OpenDirect(fs, path) : nullptr;
  return std::unique_ptr<Disk>(new RawDisk(std::move(file), size, std::move(direct_file)));
}

std::unique_ptr<Disk> Disk::FromImage(std::unique_ptr<vhdx::Image> image) {
  return std::make_unique<VhdxDisk>(std::move(image));
}

void Disk::StartWriteback() {
  if (data_file() != nullptr) data_file()->StartWriteback();
}

Result<std::vector<vhdx::Extent>> Disk::Map(uint64_t offset, uint64_t length) {
  ASSIGN_OR_RETURN(std::vector<LayerExtent> layered, MapLayers(offset, length));
  std::vector<vhdx::Extent> out;
  out.reserve(layered.size());
  for (const LayerExtent& e : layered) out.push_back(e.extent);
  return out;
}

Result<uint64_t> KnownZeroPrefix(Disk* disk, uint64_t offset, uint64_t length) {
  ASSIGN_OR_RETURN(std::vector<vhdx::Extent> extents, disk->Map(offset, length));
  uint64_t zero = 0;
  for (const vhdx::Extent& e : extents) {
    if (e.kind == vhdx::Extent::Kind::kData || e.virtual_offset != offset + zero) break;
    zero += e.length;
  }
  return std::min(zero, length);
}

}  // namespace hvdisk::cli
