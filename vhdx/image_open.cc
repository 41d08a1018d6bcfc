// Image::Open: validate every structure against the file before use, and replay the log.
//
// Steps (writable open; a read-only open writes nothing and replays in memory):
//   (0) take the image locks (platform/image_lock.h), before reading anything;
//   (1) read the header section; choose the current header (§2.2.2);
//   (2) header update with a new FileWriteGuid, before any other change (§2.2.2.1);
//   (3) replay the active log sequence on disk, then clear LogGuid (header update);
//   (4) read the region table (copy 1, else copy 2), the metadata region and the BAT, checking
//       each offset and length against the file size and against overlap;
//   (5) trim unreferenced space past the last object (left by a crash before a flush).
// Crash points: each write of (2), (3), (5) is idempotent on reopen: the header protocol keeps
// one valid header, replay may run again, and trimming is recomputed.

#include <algorithm>
#include <memory>

#include "platform/hex.h"
#include "platform/image_lock.h"
#include "vhdx/file_identifier.h"
#include "vhdx/image_state.h"

namespace hvdisk::vhdx {
namespace {

// Reads metadata bytes, with the pages of an in-memory replay laid over the file's content.
Status ReadMeta(Image::State* s, const ReplayPlan* overlay, uint64_t offset,
                std::span<std::byte> dst) {
  ASSIGN_OR_RETURN(size_t n, s->file->ReadAt(offset, dst));
  std::fill(dst.begin() + static_cast<ptrdiff_t>(n), dst.end(), std::byte{0});
  if (overlay == nullptr) return Status::Ok();
  if (n < dst.size() && offset + dst.size() > overlay->last_file_offset) {
    return Corrupt("read @" + Hex(offset) + " past the end of " + s->path);
  }
  for (const LogUpdate& u : overlay->updates) {  // in replay order
    bool data = u.kind == LogUpdate::Kind::kData;
    uint64_t end = u.file_offset + (data ? u.data.size() : u.zero_length);
    uint64_t lo = std::max(offset, u.file_offset), hi = std::min(offset + dst.size(), end);
    if (lo >= hi) continue;
    if (data) {
      std::memcpy(dst.data() + (lo - offset), u.data.data() + (lo - u.file_offset), hi - lo);
    } else {
      std::memset(dst.data() + (lo - offset), 0, hi - lo);
    }
  }
  return Status::Ok();
}

Status ReadHeaders(Image::State* s, uint64_t file_size) {
  if (file_size < kHeaderSectionSize) {
    return Corrupt(s->path + ": " + std::to_string(file_size) +
                   " bytes, smaller than the 1 MiB header section (MS-VHDX 2.1)");
  }
  std::vector<std::byte> section(kHeaderSectionSize);
  RETURN_IF_ERROR(s->file->ReadExactAt(0, section, "header section"));
  ASSIGN_OR_RETURN(FileIdentifier id, FileIdentifier::Decode(section));
  (void)id;
  std::span<const std::byte> all(section);
  auto choice = ChooseHeader(all.subspan(kHeader1Offset, VhdxHeader::kSize),
                             all.subspan(kHeader2Offset, VhdxHeader::kSize));
  if (!choice.ok()) return choice.status().WithContext(s->path);
  s->header = choice->current;
  s->current_slot = choice->current_slot;
  const VhdxHeader& h = s->header;
  if (h.log_offset < kHeaderSectionSize || h.log_offset + h.log_length > file_size) {
    return Corrupt(s->path + ": log @" + Hex(h.log_offset) + " length " + Hex(h.log_length) +
                   " outside the file (MS-VHDX 2.2.2)");
  }
  return Status::Ok();
}

Status ReadRegionTable(Image::State* s, const ReplayPlan* overlay, uint64_t file_size) {
  std::vector<std::byte> raw(RegionTable::kSize);
  Status first;
  for (uint64_t off : {kRegionTable1Offset, kRegionTable2Offset}) {
    RETURN_IF_ERROR(ReadMeta(s, overlay, off, raw));
    auto rt = RegionTable::Decode(raw);
    if (rt.ok()) {
      s->regions = std::move(rt).value();
      break;
    }
    if (rt.status().code() == Code::kUnsupported) return rt.status().WithContext(s->path);
    if (!first.ok()) return first.WithContext(s->path + ": both region tables invalid");
    first = rt.status();
  }
  const RegionTableEntry* bat = s->regions.Bat();
  const RegionTableEntry* meta = s->regions.Metadata();
  if (bat == nullptr || meta == nullptr) {
    return Corrupt(s->path + ": region table lacks the BAT or metadata region (MS-VHDX 2.2.3.2)");
  }
  const VhdxHeader& h = s->header;
  for (const RegionTableEntry* r : {bat, meta}) {
    if (r->end() > file_size) {
      return Corrupt(s->path + ": region @" + Hex(r->file_offset) + " ends past the file size " +
                     Hex(file_size) + " (MS-VHDX 2.2.3.2)");
    }
    if (r->file_offset < h.log_offset + h.log_length && h.log_offset < r->end()) {
      return Corrupt(s->path + ": region @" + Hex(r->file_offset) + " overlaps the log");
    }
  }
  s->bat_offset = bat->file_offset;
  s->bat_length = bat->length;
  s->metadata_offset = meta->file_offset;
  s->metadata_length = meta->length;
  return Status::Ok();
}

Status ReadMetadata(Image::State* s, const ReplayPlan* overlay) {
  s->metadata_region.assign(s->metadata_length, std::byte{0});
  RETURN_IF_ERROR(ReadMeta(s, overlay, s->metadata_offset, s->metadata_region));
  auto params = DiskParameters::Decode(s->metadata_region);
  if (!params.ok()) return params.status().WithContext(s->path + ": metadata region");
  s->params = std::move(params).value();
  RETURN_IF_ERROR(s->params.Validate().WithContext(s->path + ": metadata"));
  s->chunk_ratio = ChunkRatioOf(s->params.logical_sector_size, s->block_size());
  s->payload_blocks = DivRoundUp(s->params.virtual_disk_size, s->block_size());
  uint64_t entries = BatEntryCountFor(s->params);
  if (entries * 8 > s->bat_length) {
    return Corrupt(s->path + ": BAT region of " + Hex(s->bat_length) + " bytes cannot hold " +
                   std::to_string(entries) + " entries (MS-VHDX 2.5)");
  }
  return Status::Ok();
}

// Sets up the paged BAT: pages are read on demand, through a copy of the in-memory replay. Holes
// of the file are skipped by scans unless a replay lays pages over them.
void ReadBat(Image::State* s, const ReplayPlan* overlay) {
  std::shared_ptr<const ReplayPlan> plan;
  if (overlay != nullptr) plan = std::make_shared<const ReplayPlan>(*overlay);
  BatPages::DataProbe probe;
  if (plan == nullptr) {
    probe = [s](uint64_t offset) { return s->file->NextData(offset); };
  }
  s->bat.Reset([s, plan](uint64_t offset,
                         std::span<std::byte> dst) { return ReadMeta(s, plan.get(), offset, dst); },
               s->bat_offset, BatEntryCountFor(s->params), std::move(probe));
}

}  // namespace

Result<std::unique_ptr<Image>> Image::Open(FileSystem* fs, const std::string& path,
                                           const ImageOpenOptions& options) {
  auto s = std::make_unique<State>();
  s->fs = fs;
  s->path = path;
  s->read_only = options.read_only;
  OpenOptions oo = options.read_only ? OpenOptions::ReadOnly() : OpenOptions::ReadWrite();
  ASSIGN_OR_RETURN(s->file, fs->Open(path, oo));
  RETURN_IF_ERROR(LockImage(*s->file, options.read_only ? ImageAccess::kRead : ImageAccess::kWrite,
                            options.force_share));
  if (options.direct) {
    oo.direct = true;
    ASSIGN_OR_RETURN(s->direct_file, fs->Open(path, oo));
  }
  ASSIGN_OR_RETURN(uint64_t file_size, s->file->Size());
  RETURN_IF_ERROR(ReadHeaders(s.get(), file_size));
  if (!s->read_only) {
    VhdxHeader next = s->header;
    next.file_write_guid = Guid::Random();  // §2.2.2.1: before any other change
    RETURN_IF_ERROR(WriteHeaderUpdate(s.get(), next));
  }
  ASSIGN_OR_RETURN(ReplayPlan plan, FindActiveSequence(s->file.get(), s->header, file_size));
  const ReplayPlan* overlay = nullptr;
  if (!plan.empty && s->read_only) {
    overlay = &plan;
  } else if (!plan.empty) {
    RETURN_IF_ERROR(ApplyReplayPlan(s->file.get(), plan));
    VhdxHeader next = s->header;
    next.log_guid = Guid();
    RETURN_IF_ERROR(WriteHeaderUpdate(s.get(), next));
    ASSIGN_OR_RETURN(file_size, s->file->Size());
  }
  if (overlay) file_size = std::max(file_size, plan.last_file_offset);
  RETURN_IF_ERROR(ReadRegionTable(s.get(), overlay, file_size));
  RETURN_IF_ERROR(ReadMetadata(s.get(), overlay));
  ReadBat(s.get(), overlay);
  uint64_t end = 0;
  RETURN_IF_ERROR(ValidateBat(s.get(), file_size, &end));
  s->next_alloc = AlignUp(std::max(end, file_size), kMiB);
  if (!s->read_only && LeakStart(s.get(), end) < file_size) {
    // Space past the last object: blocks allocated by writes that were never flushed.
    RETURN_IF_ERROR(s->file->Truncate(LeakStart(s.get(), end)));
    RETURN_IF_ERROR(s->file->Flush());
    s->next_alloc = LeakStart(s.get(), end);
  }
  return std::unique_ptr<Image>(new Image(std::move(s)));
}

}  // namespace hvdisk::vhdx
