#include "disk/replication_source.h"

#include <algorithm>
#include <array>

#include "disk/disk_format.h"
#include "disk/nbd_source.h"
#include "disk/open.h"
#include "disk/virtual_disk.h"
#include "vhdx/image.h"

namespace hvdisk::disk {

Status CheckWindow(const SourceWindow& w, uint64_t offset, uint64_t length,
                   const std::string& source) {
  const auto bad = [&](const std::string& what) {
    return Corrupt(source + ": the source answered the changes of [" + std::to_string(offset) +
                   ", +" + std::to_string(length) + ") with " + what);
  };
  if (w.end <= offset || w.end - offset > length) {
    return bad("a window ending at " + std::to_string(w.end));
  }
  uint64_t pos = offset;
  for (const SourceExtent& e : w.extents) {
    if (e.length == 0) return bad("an empty extent at " + std::to_string(e.offset));
    if (e.offset < pos || e.offset > w.end || e.length > w.end - e.offset) {
      return bad("an extent [" + std::to_string(e.offset) + ", +" + std::to_string(e.length) +
                 ") out of order or outside the window");
    }
    pos = e.offset + e.length;
  }
  return Status::Ok();
}

bool IsNbdUri(std::string_view from) {
  for (std::string_view scheme :
       {"nbd://", "nbds://", "nbd+unix://", "nbds+unix://", "nbd+vsock://", "nbds+vsock://"}) {
    if (from.starts_with(scheme)) return true;
  }
  return false;
}

namespace {

// A local file: every range its Map decides in its own layer is a change (kData: data; kZero:
// zeros); a differencing image's transparent ranges (kParent) are not.
class FileSource : public ReplicationSource {
 public:
  FileSource(std::string name, std::unique_ptr<VirtualDisk> disk)
      : name_(std::move(name)), disk_(std::move(disk)) {}
  ~FileSource() override { (void)disk_->Close(); }

  uint64_t size() const override { return disk_->size(); }
  const std::string& name() const override { return name_; }

  Result<SourceWindow> Changes(uint64_t offset, uint64_t length) override {
    length = std::min(length, kMaxSourceWindow);
    RETURN_IF_ERROR(CheckRange(*disk_, offset, length));
    ASSIGN_OR_RETURN(std::vector<LayerExtent> map, disk_->Map(offset, length));
    SourceWindow w{.end = offset + length};
    for (const LayerExtent& le : map) {
      const vhdx::Extent& e = le.extent;
      if (e.kind == vhdx::Extent::Kind::kParent || e.length == 0) continue;
      const bool zero = e.kind == vhdx::Extent::Kind::kZero;
      if (!w.extents.empty() && w.extents.back().zero == zero &&
          w.extents.back().offset + w.extents.back().length == e.virtual_offset) {
        w.extents.back().length += e.length;
      } else {
        w.extents.push_back({e.virtual_offset, e.length, zero});
      }
    }
    RETURN_IF_ERROR(CheckWindow(w, offset, length, name_));
    return w;
  }

  Status Read(std::span<const SourceRange> ranges, unsigned, const Sink& sink) override {
    std::vector<std::byte> buf;
    for (const SourceRange& r : ranges) {
      if (r.length == 0 || r.length > kMaxSourceRead) {
        return InvalidArgument(name_ + ": a read of " + std::to_string(r.length) + " bytes");
      }
      RETURN_IF_ERROR(CheckRange(*disk_, r.offset, r.length));
      buf.resize(r.length);
      RETURN_IF_ERROR(disk_->Read(r.offset, buf));
      RETURN_IF_ERROR(sink(r.offset, buf));
    }
    return Status::Ok();
  }

 private:
  const std::string name_;
  std::unique_ptr<VirtualDisk> disk_;
};

// kUnsupported for a qcow2 file, which would otherwise be read as raw bytes.
Status RefuseQcow2(FileSystem* fs, const std::string& path) {
  ASSIGN_OR_RETURN(auto file, fs->Open(path, hvdisk::OpenOptions::ReadOnly()));
  ASSIGN_OR_RETURN(uint64_t size, file->Size());
  if (size < 4) return Status::Ok();
  std::array<std::byte, 4> magic{};
  RETURN_IF_ERROR(file->ReadExactAt(0, magic, path));
  if (magic ==
      std::array<std::byte, 4>{std::byte{'Q'}, std::byte{'F'}, std::byte{'I'}, std::byte{0xfb}}) {
    return Unsupported(path +
                       " is a qcow2 image; export it (qemu-nbd -r -B BITMAP) and replicate "
                       "from its nbd:// URI");
  }
  return Status::Ok();
}

Result<std::unique_ptr<ReplicationSource>> OpenFileSource(FileSystem* fs, const std::string& path) {
  ASSIGN_OR_RETURN(Format format, DetectFormat(fs, path, Format::kAuto));
  std::unique_ptr<VirtualDisk> disk;
  if (format == Format::kVhdx) {
    // Alone, whatever its type: a differencing image's parent is the replica's content.
    ASSIGN_OR_RETURN(auto image, vhdx::Image::Open(fs, path, {.read_only = true}));
    disk = FromImage(std::move(image));
  } else {
    RETURN_IF_ERROR(RefuseQcow2(fs, path));
    ASSIGN_OR_RETURN(disk, Open(fs, path, {.format = Format::kRaw}));
  }
  return std::unique_ptr<ReplicationSource>(new FileSource(path, std::move(disk)));
}

}  // namespace

Result<std::unique_ptr<ReplicationSource>> OpenSource(FileSystem* fs, const std::string& from,
                                                      const SourceOptions& options) {
  if (IsNbdUri(from)) return OpenNbdSource(from, options.bitmap);
  if (!options.bitmap.empty()) {
    return InvalidArgument("--bitmap " + options.bitmap +
                           " names a dirty bitmap of an NBD export; " + from +
                           " is a file (its changes are its allocated ranges)");
  }
  return OpenFileSource(fs, from);
}

}  // namespace hvdisk::disk
