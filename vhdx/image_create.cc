// Image::Create: a new VHDX laid out as Windows lays it out (MS-VHDX §2.1):
//   0        file identifier          64 KiB  header 1      128 KiB header 2
//   192 KiB  region table 1           256 KiB region table 2
//   1 MiB    log (1 MiB)              2 MiB   metadata (1 MiB)
//   3 MiB    BAT (rounded up to 1 MiB), then payload blocks (fixed: all of them, in order).
//
// Steps and crash points: (1) create the file exclusively, and take the writer's image locks
// (platform/image_lock.h; held until the file is closed); (2) write regions, metadata and BAT;
// (3) reserve the payload of a fixed disk; (4) flush; (5) write the file identifier and both
// headers; (6) flush; (7) sync the directory. A crash before (6) leaves a file without a valid
// header, which no reader accepts as VHDX. A failed create (kNoSpace for a fixed disk on a full
// disk) removes the partial file.
#include <cstring>

#include "platform/image_lock.h"
#include "vhdx/bat.h"
#include "vhdx/file_identifier.h"
#include "vhdx/image_state.h"

namespace hvdisk::vhdx {
namespace {

constexpr uint64_t kLogOffset = 1 * kMiB;
constexpr uint32_t kLogLength = 1 * kMiB;
constexpr uint64_t kMetadataOffset = 2 * kMiB;
constexpr uint32_t kMetadataLength = 1 * kMiB;
constexpr uint64_t kBatOffset = 3 * kMiB;

Status ValidateCreate(const CreateOptions& o) {
  if (!IsValidSectorSize(o.logical_sector_size) || !IsValidSectorSize(o.physical_sector_size)) {
    return InvalidArgument("sector sizes must be 512 or 4096");
  }
  if (!IsValidBlockSize(o.block_size)) {
    return InvalidArgument("block size must be a power of two from 1 MiB to 256 MiB");
  }
  if (o.virtual_size == 0 || o.virtual_size > kMaxVirtualDiskSize ||
      o.virtual_size % o.logical_sector_size != 0) {
    return InvalidArgument(
        "virtual size must be a non-zero multiple of the logical sector size, "
        "at most 64 TiB");
  }
  if ((o.type == DiskType::kDifferencing) == o.parent_locator.empty()) {
    return InvalidArgument("a parent locator is required for, and only for, differencing disks");
  }
  return Status::Ok();
}

DiskParameters ParamsFor(const CreateOptions& o) {
  DiskParameters p;
  p.file_parameters.block_size = o.block_size;
  p.file_parameters.leave_block_allocated = o.type == DiskType::kFixed;
  p.file_parameters.has_parent = o.type == DiskType::kDifferencing;
  p.virtual_disk_size = o.virtual_size;
  p.virtual_disk_id = o.virtual_disk_id.IsZero() ? Guid::Random() : o.virtual_disk_id;
  p.logical_sector_size = o.logical_sector_size;
  p.physical_sector_size = o.physical_sector_size;
  if (o.type == DiskType::kDifferencing) {
    ParentLocator loc;
    for (const auto& [k, v] : o.parent_locator) loc.Set(k, v);
    p.parent_locator = std::move(loc);
  }
  return p;
}

// The fixed disk's BAT: every payload block FULLY_PRESENT, in order after the BAT.
std::vector<std::byte> FixedBat(const DiskParameters& p, uint64_t entries, uint64_t data_start) {
  std::vector<std::byte> bat(AlignUp(entries * 8, kMiB));
  uint64_t cr = ChunkRatioOf(p.logical_sector_size, p.block_size());
  uint64_t blocks = DivRoundUp(p.virtual_disk_size, p.block_size());
  for (uint64_t b = 0; b < blocks; ++b) {
    BatEntry::Payload(PayloadState::kFullyPresent, data_start + b * p.block_size())
        .EncodeTo(std::span(bat).subspan((b + b / cr) * BatEntry::kSize));
  }
  return bat;
}

Status WriteHeaders(File* file, const DiskParameters& p) {
  std::vector<std::byte> slot(kSlotSize);
  FileIdentifier id;
  id.creator = "hvdisk 0.1.0";
  id.EncodeTo(slot);
  RETURN_IF_ERROR(file->WriteAt(kFileIdentifierOffset, slot));
  (void)p;
  VhdxHeader h;
  h.file_write_guid = Guid::Random();
  h.data_write_guid = Guid::Random();
  h.log_length = kLogLength;
  h.log_offset = kLogOffset;
  for (int i = 0; i < 2; ++i) {
    h.sequence_number = static_cast<uint64_t>(i + 1);  // slot 2 current; never equal numbers
    RETURN_IF_ERROR(file->WriteAt(HeaderSlotOffset(i + 1), h.Encode()));
  }
  return Status::Ok();
}

}  // namespace

uint64_t BatEntryCountFor(const DiskParameters& p) { return BatGeometry::For(p).total_entries(); }

namespace {

// Steps (2)-(6) into the new file.
Status WriteNewImage(File* file, const CreateOptions& options, const DiskParameters& params,
                     std::span<const std::byte> metadata) {
  uint64_t entries = BatEntryCountFor(params);
  uint64_t bat_length = AlignUp(entries * 8, kMiB);
  uint64_t data_start = kBatOffset + bat_length;
  RegionTable rt = RegionTable::ForRegions(kBatOffset, static_cast<uint32_t>(bat_length),
                                           kMetadataOffset, kMetadataLength);
  std::vector<std::byte> rt_bytes = rt.Encode();
  RETURN_IF_ERROR(file->WriteAt(kRegionTable1Offset, rt_bytes));
  RETURN_IF_ERROR(file->WriteAt(kRegionTable2Offset, rt_bytes));
  RETURN_IF_ERROR(file->WriteAt(kLogOffset, std::vector<std::byte>(kLogLength)));
  RETURN_IF_ERROR(file->WriteAt(kMetadataOffset, metadata));
  uint64_t end = data_start;
  if (options.type == DiskType::kFixed) {
    RETURN_IF_ERROR(file->WriteAt(kBatOffset, FixedBat(params, entries, data_start)));
    uint64_t blocks = DivRoundUp(params.virtual_disk_size, params.block_size());
    end = data_start + blocks * params.block_size();
    RETURN_IF_ERROR(file->Allocate(data_start, end - data_start));
  } else {
    RETURN_IF_ERROR(file->Truncate(end));  // a zero BAT: every block NOT_PRESENT
  }
  RETURN_IF_ERROR(file->Flush());
  // Headers last: until they are durable the file is not a VHDX.
  RETURN_IF_ERROR(WriteHeaders(file, params));
  return file->Flush();
}

}  // namespace

Status Image::Create(FileSystem* fs, const std::string& path, const CreateOptions& options) {
  RETURN_IF_ERROR(ValidateCreate(options));
  DiskParameters params = ParamsFor(options);
  RETURN_IF_ERROR(params.Validate());
  ASSIGN_OR_RETURN(std::vector<std::byte> metadata, params.EncodeRegion(kMetadataLength));
  if (AlignUp(BatEntryCountFor(params) * 8, kMiB) > UINT32_MAX) {
    return InvalidArgument("BAT larger than a region may be");
  }
  ASSIGN_OR_RETURN(auto file, fs->Open(path, OpenOptions::CreateNew()));
  Status st = LockImage(*file, ImageAccess::kWrite);  // nobody opens it half written
  if (st.ok()) st = WriteNewImage(file.get(), options, params, metadata);
  file.reset();
  if (st.ok()) st = fs->SyncDir(DirName(path));
  if (!st.ok()) {  // (e.g. kNoSpace) the partial file goes, so that a retry can create it
    Status removed = fs->Unlink(path);
    if (removed.ok()) (void)fs->SyncDir(DirName(path));
    return st;
  }
  return Status::Ok();
}

}  // namespace hvdisk::vhdx
