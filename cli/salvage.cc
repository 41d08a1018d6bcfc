#include "cli/salvage.h"

#include <algorithm>

#include "cli/cli_util.h"
#include "cli/interrupt.h"
#include "platform/guid.h"

namespace hvdisk::cli {
namespace {

constexpr uint64_t kPiece = 1 << 20;

// Copies `src` byte for byte to a new file `copy` (kernel copy where it can).
Status CopyFile(FileSystem* fs, const std::string& src, const std::string& copy) {
  ASSIGN_OR_RETURN(std::unique_ptr<File> in, fs->Open(src, OpenOptions::ReadOnly()));
  ASSIGN_OR_RETURN(uint64_t size, in->Size());
  ASSIGN_OR_RETURN(std::unique_ptr<File> out, fs->Open(copy, OpenOptions::CreateNew()));
  RETURN_IF_ERROR(out->CopyFrom(*in, 0, 0, size));
  return out->Flush();
}

void AddLost(std::vector<vhdx::LostRange>* lost, uint64_t offset, uint64_t length) {
  if (!lost->empty() && lost->back().why == "unreadable" &&
      lost->back().offset + lost->back().length == offset) {
    lost->back().length += length;
    return;
  }
  lost->push_back({offset, length, "unreadable"});
}

// Reads [offset, offset + buf.size()) sector by sector; zeros (and a lost range) where it fails.
void ReadSectors(disk::VirtualDisk* src, uint64_t offset, std::span<std::byte> buf,
                 std::vector<vhdx::LostRange>* lost) {
  const uint64_t sector = src->sector_size();
  for (uint64_t at = 0; at < buf.size(); at += sector) {
    std::span<std::byte> one = buf.subspan(at, std::min<uint64_t>(sector, buf.size() - at));
    if (src->Read(offset + at, one).ok()) continue;
    std::fill(one.begin(), one.end(), std::byte{0});
    AddLost(lost, offset + at, one.size());
  }
}

}  // namespace

SalvageSource::~SalvageSource() {
  disk_.reset();
  if (!copy_.empty()) (void)DefaultFileSystem()->Unlink(copy_);
}

Result<std::unique_ptr<SalvageSource>> SalvageSource::Open(const std::string& src,
                                                           const disk::OpenOptions& options) {
  std::unique_ptr<SalvageSource> s(new SalvageSource());
  Result<std::unique_ptr<disk::VirtualDisk>> as_is = OpenDisk(src, options);
  if (as_is.ok() || as_is.status().code() != Code::kCorrupt) {
    if (!as_is.ok()) return as_is.status();
    s->disk_ = std::move(as_is).value();
    return s;
  }
  FileSystem* fs = DefaultFileSystem();
  // Beside SRC, so that a differencing image's relative parent path still resolves.
  s->copy_ = DirName(src) + "/.salvage-" + Guid::Random().ToString() + ".vhdx";
  RETURN_IF_ERROR(CopyFile(fs, src, s->copy_).WithContext("copy " + src + " to repair it"));
  ASSIGN_OR_RETURN(vhdx::RepairReport r, vhdx::Repair(fs, s->copy_, vhdx::RepairMode::kAll));
  s->lost_ = r.lost;
  disk::OpenOptions copy_options = options;
  copy_options.format = disk::Format::kVhdx;
  Result<std::unique_ptr<disk::VirtualDisk>> repaired = OpenDisk(s->copy_, copy_options);
  if (!repaired.ok()) {
    return repaired.status().WithContext(src +
                                         " is too damaged to salvage (it does not open "
                                         "even after check -r all on a copy)");
  }
  s->disk_ = std::move(repaired).value();
  return s;
}

Status SalvageCopy(disk::VirtualDisk* src, disk::VirtualDisk* dst, Progress* progress,
                   std::vector<vhdx::LostRange>* lost) {
  std::vector<std::byte> buf(kPiece);
  for (uint64_t offset = 0; offset < src->size(); offset += kPiece) {
    if (CancelRequested()) return CancelledBySignal();
    std::span<std::byte> piece(buf.data(), std::min<uint64_t>(kPiece, src->size() - offset));
    if (!src->Read(offset, piece).ok()) ReadSectors(src, offset, piece, lost);
    const bool zeros =
        std::all_of(piece.begin(), piece.end(), [](std::byte b) { return b == std::byte{0}; });
    if (!zeros) RETURN_IF_ERROR(dst->Write(offset, piece));
    progress->Update(offset + piece.size());
  }
  RETURN_IF_ERROR(dst->Flush());
  return dst->Close();
}

}  // namespace hvdisk::cli
