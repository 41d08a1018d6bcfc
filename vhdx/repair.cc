// Repair steps, each re-run safely after a crash at any point:
//   (1) lock and open the file; choose the current header (nothing valid: stop);
//   (2) header update with a new FileWriteGuid (2.2.2.1), which overwrites the non-current slot
//       first: a bad copy is rewritten from the good one (crash: one valid header remains);
//   (3) replay a dirty log on disk, then clear LogGuid (crash: the log replays again);
//   (4) a bad region table copy: the good copy's 16 pages written over it through one log entry
//       (crash before the entry is durable: unchanged; after: replay applies it);
//   (5) kAll: the BAT fixes of PlanBatRepair, their 4 KiB pages through log entries (as (4));
//   (6) release the file; a writable Image::Open gives back the space past the last object
//       (crash: the next open trims again), then Close drains and clears the log.
#include "vhdx/repair.h"

#include <algorithm>
#include <memory>

#include "platform/hex.h"
#include "platform/image_lock.h"
#include "vhdx/bat_repair.h"
#include "vhdx/image_state.h"
#include "vhdx/structure_copies.h"

namespace hvdisk::vhdx {
namespace {

// Writes `pages` through log entries: log activated (new LogGuid), each entry written, flushed,
// applied and flushed; then LogGuid cleared. REQUIRES: the header is current.
Status LoggedWrite(Image::State* s, std::vector<LogPage> pages) {
  RETURN_IF_ERROR(EnsureLogActive(s));
  const size_t per_entry = s->log->max_pages_per_entry();
  for (size_t first = 0; first < pages.size(); first += per_entry) {
    std::span<const LogPage> batch(pages.data() + first, std::min(per_entry, pages.size() - first));
    ASSIGN_OR_RETURN(uint64_t size, s->file->Size());
    RETURN_IF_ERROR(s->log->WriteEntry(batch, AlignDown(size, kMiB), AlignUp(size, kMiB)));
    RETURN_IF_ERROR(s->file->Flush());
    for (const LogPage& p : batch) RETURN_IF_ERROR(s->file->WriteAt(p.file_offset, p.data));
    RETURN_IF_ERROR(s->file->Flush());
  }
  VhdxHeader next = s->header;
  next.log_guid = Guid();
  RETURN_IF_ERROR(WriteHeaderUpdate(s, next));
  s->log.reset();
  return Status::Ok();
}

// Step (1) and (2). False when no header is valid (nothing can be repaired).
Result<bool> TakeHeaders(Image::State* s, RepairReport* report) {
  std::vector<std::byte> slots(kHeaderSectionSize);
  RETURN_IF_ERROR(s->file->ReadExactAt(0, slots, "header section"));
  std::span<const std::byte> all(slots);
  auto choice = ChooseHeader(all.subspan(kHeader1Offset, VhdxHeader::kSize),
                             all.subspan(kHeader2Offset, VhdxHeader::kSize));
  if (!choice.ok()) return false;
  s->header = choice->current;
  s->current_slot = choice->current_slot;
  ASSIGN_OR_RETURN(std::vector<DamagedCopy> copies, FindDamagedCopies(s->file.get(), false));
  VhdxHeader next = s->header;
  next.file_write_guid = Guid::Random();
  RETURN_IF_ERROR(WriteHeaderUpdate(s, next));
  for (const DamagedCopy& c : copies) {
    if (c.kind != DamagedCopy::Kind::kHeader) continue;
    report->actions.push_back("header " + std::to_string(c.slot) + " rewritten from header " +
                              std::to_string(c.good_slot) + " (it was: " + c.why + ")");
  }
  return true;
}

// Step (3). kAll discards a log that cannot be replayed (its unapplied updates are lost: the
// metadata stays as it was before them); kLeaks stops there (false).
Result<bool> ReplayLog(Image::State* s, RepairMode mode, RepairReport* report) {
  if (s->header.log_guid.IsZero()) return true;
  ASSIGN_OR_RETURN(uint64_t size, s->file->Size());
  Result<ReplayPlan> plan = FindActiveSequence(s->file.get(), s->header, size);
  if (!plan.ok() && (mode != RepairMode::kAll || plan.status().code() != Code::kCorrupt)) {
    return false;
  }
  if (plan.ok()) RETURN_IF_ERROR(ApplyReplayPlan(s->file.get(), *plan));
  VhdxHeader next = s->header;
  next.log_guid = Guid();
  RETURN_IF_ERROR(WriteHeaderUpdate(s, next));
  if (!plan.ok()) {
    report->actions.push_back("discarded the log, which cannot be replayed (" +
                              plan.status().message() + "): its unapplied updates are lost");
    return true;
  }
  report->actions.push_back("replayed the log (" + std::to_string(plan->entries) +
                            " entries, sequence " + std::to_string(plan->head_sequence) + ")");
  return true;
}

// Step (4). Sets s->regions from the good copy; false when neither copy is good.
Result<bool> RepairRegionTables(Image::State* s, RepairReport* report) {
  ASSIGN_OR_RETURN(std::vector<DamagedCopy> copies, FindDamagedCopies(s->file.get(), true));
  std::vector<std::byte> table(RegionTable::kSize);
  int good = 1;
  for (const DamagedCopy& c : copies) {
    if (c.kind == DamagedCopy::Kind::kRegionTable) good = c.good_slot;
  }
  const uint64_t offsets[] = {kRegionTable1Offset, kRegionTable2Offset};
  RETURN_IF_ERROR(s->file->ReadExactAt(offsets[good - 1], table, "region table"));
  Result<RegionTable> rt = RegionTable::Decode(table);
  if (!rt.ok()) return false;
  s->regions = std::move(rt).value();
  for (const DamagedCopy& c : copies) {
    if (c.kind != DamagedCopy::Kind::kRegionTable) continue;
    std::vector<LogPage> pages;
    for (uint64_t at = 0; at < RegionTable::kSize; at += kPageSize) {
      pages.push_back(
          {offsets[c.slot - 1] + at, {table.begin() + at, table.begin() + at + kPageSize}});
    }
    RETURN_IF_ERROR(LoggedWrite(s, std::move(pages)));
    report->actions.push_back("region table " + std::to_string(c.slot) + " rewritten from region " +
                              "table " + std::to_string(c.good_slot) + " (it was: " + c.why + ")");
  }
  return true;
}

// Step (5). False when the metadata region does not decode (nothing to check the BAT against).
Result<bool> RepairBat(Image::State* s, RepairReport* report) {
  const RegionTableEntry* bat = s->regions.Bat();
  const RegionTableEntry* meta = s->regions.Metadata();
  if (bat == nullptr || meta == nullptr) return false;
  s->bat_offset = bat->file_offset, s->bat_length = bat->length;
  s->metadata_offset = meta->file_offset, s->metadata_length = meta->length;
  s->metadata_region.assign(s->metadata_length, std::byte{0});
  ASSIGN_OR_RETURN(size_t got, s->file->ReadAt(s->metadata_offset, s->metadata_region));
  (void)got;
  Result<DiskParameters> params = DiskParameters::Decode(s->metadata_region);
  if (!params.ok() || !params->Validate().ok()) return false;
  s->params = std::move(params).value();
  s->chunk_ratio = ChunkRatioOf(s->params.logical_sector_size, s->block_size());
  s->payload_blocks = DivRoundUp(s->params.virtual_disk_size, s->block_size());
  if (BatEntryCountFor(s->params) * 8 > s->bat_length) return false;
  ASSIGN_OR_RETURN(uint64_t size, s->file->Size());
  ASSIGN_OR_RETURN(std::vector<BatFix> fixes, PlanBatRepair(s, size));
  std::vector<LogPage> pages;  // fixes are ordered by index: one page per run of them
  for (const BatFix& f : fixes) {
    const uint64_t page = s->bat_offset + AlignDown(f.index * 8, kPageSize);
    if (pages.empty() || pages.back().file_offset != page) {
      pages.push_back({page, std::vector<std::byte>(kPageSize)});
      ASSIGN_OR_RETURN(size_t n, s->file->ReadAt(page, pages.back().data));
      (void)n;  // past EOF: zeros
    }
    StoreU64(pages.back().data, f.index * 8 % kPageSize, f.raw);
    report->actions.push_back(f.why + "; now " + (f.raw == 0 ? "NOT_PRESENT" : Hex(f.raw)));
    if (f.lost_length != 0) report->lost.push_back({f.lost_offset, f.lost_length, f.why});
  }
  if (!pages.empty()) RETURN_IF_ERROR(LoggedWrite(s, std::move(pages)));
  return true;
}

Result<uint64_t> SizeOf(FileSystem* fs, const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs->Open(path, OpenOptions::ReadOnly()));
  return file->Size();
}

// Steps (1) to (5) on the raw file, its locks held. False: stopped at damage it cannot fix.
Result<bool> RepairStructures(FileSystem* fs, const std::string& path, RepairMode mode,
                              RepairReport* report) {
  Image::State s;
  s.fs = fs;
  s.path = path;
  s.read_only = false;
  ASSIGN_OR_RETURN(s.file, fs->Open(path, OpenOptions::ReadWrite()));
  RETURN_IF_ERROR(LockImage(*s.file, ImageAccess::kWrite));
  ASSIGN_OR_RETURN(uint64_t size, s.file->Size());
  if (size < kHeaderSectionSize) return false;
  ASSIGN_OR_RETURN(bool ok, TakeHeaders(&s, report));
  if (!ok) return false;
  ASSIGN_OR_RETURN(ok, ReplayLog(&s, mode, report));
  if (!ok) return false;
  ASSIGN_OR_RETURN(ok, RepairRegionTables(&s, report));
  if (!ok || mode != RepairMode::kAll) return ok;
  return RepairBat(&s, report);
}

}  // namespace

Result<RepairReport> Repair(FileSystem* fs, const std::string& path, RepairMode mode) {
  RepairReport report;
  ASSIGN_OR_RETURN(bool ok, RepairStructures(fs, path, mode, &report));
  if (!ok) return report;  // what is left, the caller's Check tells
  ASSIGN_OR_RETURN(uint64_t before, SizeOf(fs, path));
  auto image = Image::Open(fs, path, {.read_only = false});
  if (!image.ok()) return report;
  RETURN_IF_ERROR((*image)->Close());
  ASSIGN_OR_RETURN(uint64_t after, SizeOf(fs, path));
  if (after < before) {
    report.actions.push_back("freed " + Hex(before - after) + " leaked bytes past the last object");
  }
  return report;
}

}  // namespace hvdisk::vhdx
