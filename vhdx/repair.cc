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
#include "vhdx/file_identifier.h"
#include "vhdx/image_state.h"
#include "vhdx/structure_copies.h"
#include "vhdx/structure_rebuild.h"

namespace hvdisk::vhdx {
namespace {

constexpr uint64_t kTableOffsets[] = {kRegionTable1Offset, kRegionTable2Offset};

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

// Step (1b): a file identifier whose signature is broken, in a file whose headers hold, gets its
// signature back (one sector, written in place: the log cannot target it).
Status RepairFileIdentifier(Image::State* s, std::span<const std::byte> section,
                            RepairReport* report) {
  Result<FileIdentifier> id = FileIdentifier::Decode(section);
  if (id.ok()) return Status::Ok();
  std::vector<std::byte> sig(kFileIdentifierSignature.size());
  StoreSignature(sig, 0, kFileIdentifierSignature);
  RETURN_IF_ERROR(s->file->WriteAt(0, sig));
  RETURN_IF_ERROR(s->file->Flush());
  report->actions.push_back(
      "file identifier signature rewritten (it was: " + id.status().message() + ")");
  return Status::Ok();
}

// The current header, or one rebuilt from both copies (vhdx/structure_rebuild.h) when none is
// valid or the valid one names a log the file cannot hold. False: nothing can be rebuilt.
Result<bool> ChooseOrRebuild(Image::State* s, std::span<const std::byte> section, uint64_t size,
                             RepairMode mode, RepairReport* report, bool* rebuilt) {
  std::optional<RegionTable> regions = ProvenRegionTable(s->file.get(), section, size);
  const RegionTable* r = regions ? &*regions : nullptr;
  auto choice = ChooseHeader(section.subspan(kHeader1Offset, VhdxHeader::kSize),
                             section.subspan(kHeader2Offset, VhdxHeader::kSize));
  const Status place = choice.ok() ? CheckLogPlace(choice->current, size, r) : choice.status();
  *rebuilt = !place.ok();
  if (place.ok()) {
    s->header = choice->current;
    s->current_slot = choice->current_slot;
    return true;
  }
  Result<RebuiltHeader> h =
      RebuildHeader(s->file.get(), section, size, r, mode == RepairMode::kAll);
  if (!h.ok()) {
    report->left.push_back(place.message() + "; not rebuilt: " + h.status().message());
    return false;
  }
  s->header = h->header;
  s->current_slot = 1;  // the update below writes slot 2, then slot 1
  report->actions.push_back("both headers rewritten from the fields their copies agree on (" +
                            place.message() + (h->why.empty() ? "" : "; " + h->why) + ")");
  if (h->log_lost) {
    report->actions.push_back(
        "dropped the dirty log, whose location the file cannot hold: its "
        "unapplied updates are lost");
  }
  return true;
}

// Step (1) and (2). False when no header is valid or can be rebuilt.
Result<bool> TakeHeaders(Image::State* s, RepairMode mode, RepairReport* report) {
  std::vector<std::byte> slots(kHeaderSectionSize);
  RETURN_IF_ERROR(s->file->ReadExactAt(0, slots, "header section"));
  ASSIGN_OR_RETURN(uint64_t size, s->file->Size());
  bool rebuilt = false;
  ASSIGN_OR_RETURN(bool ok, ChooseOrRebuild(s, slots, size, mode, report, &rebuilt));
  if (!ok) return false;
  std::vector<DamagedCopy> copies;
  if (!rebuilt) {
    ASSIGN_OR_RETURN(copies, FindDamagedCopies(s->file.get(), false));
  }
  VhdxHeader next = s->header;
  next.file_write_guid = Guid::Random();
  RETURN_IF_ERROR(WriteHeaderUpdate(s, next));
  for (const DamagedCopy& c : copies) {
    if (c.kind != DamagedCopy::Kind::kHeader) continue;
    report->actions.push_back("header " + std::to_string(c.slot) + " rewritten from header " +
                              std::to_string(c.good_slot) + " (it was: " + c.why + ")");
  }
  RETURN_IF_ERROR(RepairFileIdentifier(s, slots, report));
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

// Writes `table` over copy `slot` (1 or 2) through one log entry.
Status WriteRegionTable(Image::State* s, int slot, std::span<const std::byte> table) {
  std::vector<LogPage> pages;
  for (uint64_t at = 0; at < RegionTable::kSize; at += kPageSize) {
    pages.push_back({kTableOffsets[slot - 1] + at,
                     {table.begin() + static_cast<ptrdiff_t>(at),
                      table.begin() + static_cast<ptrdiff_t>(at + kPageSize)}});
  }
  return LoggedWrite(s, std::move(pages));
}

// Step (4) when neither copy decodes: both rewritten from the table the file proves.
Result<bool> RebuildRegionTables(Image::State* s, RepairReport* report) {
  std::vector<std::byte> section(kHeaderSectionSize);
  RETURN_IF_ERROR(s->file->ReadExactAt(0, section, "header section"));
  ASSIGN_OR_RETURN(uint64_t size, s->file->Size());
  Result<RegionTable> rt = RebuildRegionTable(s->file.get(), section, size);
  if (!rt.ok()) {
    report->left.push_back(rt.status().message());
    return false;
  }
  const std::vector<std::byte> table = rt->Encode();
  for (int slot : {1, 2}) RETURN_IF_ERROR(WriteRegionTable(s, slot, table));
  s->regions = std::move(rt).value();
  report->actions.push_back(
      "both region tables rewritten from the BAT and metadata regions the "
      "file still holds (neither copy was valid)");
  return true;
}

// Step (4). Sets s->regions from the good copy; false when neither copy is good or rebuilt.
Result<bool> RepairRegionTables(Image::State* s, RepairReport* report) {
  ASSIGN_OR_RETURN(std::vector<DamagedCopy> copies, FindDamagedCopies(s->file.get(), true));
  std::vector<std::byte> table(RegionTable::kSize);
  int good = 1;
  for (const DamagedCopy& c : copies) {
    if (c.kind == DamagedCopy::Kind::kRegionTable) good = c.good_slot;
  }
  RETURN_IF_ERROR(s->file->ReadExactAt(kTableOffsets[good - 1], table, "region table"));
  Result<RegionTable> rt = RegionTable::Decode(table);
  if (!rt.ok() && rt.status().code() == Code::kUnsupported) {
    report->left.push_back(rt.status().message());
    return false;
  }
  if (!rt.ok()) return RebuildRegionTables(s, report);
  s->regions = std::move(rt).value();
  for (const DamagedCopy& c : copies) {
    if (c.kind != DamagedCopy::Kind::kRegionTable) continue;
    RETURN_IF_ERROR(WriteRegionTable(s, c.slot, table));
    report->actions.push_back("region table " + std::to_string(c.slot) + " rewritten from region " +
                              "table " + std::to_string(c.good_slot) + " (it was: " + c.why + ")");
  }
  return true;
}

// Step (5). False when the metadata region does not decode (nothing to check the BAT against).
// Step (5a): a file cut short inside its BAT region (the metadata before it intact) is extended
// over the region: the entries it lost read NOT_PRESENT, and the virtual range from the first of
// them on is reported lost (what they named is gone with the cut). Crash: the old or the new
// size, either re-run. *size: the file size, updated.
Status ExtendOverCutBat(Image::State* s, uint64_t* size, RepairReport* report) {
  const uint64_t bat_end = s->bat_offset + s->bat_length;
  if (bat_end <= *size || s->metadata_offset + s->metadata_length > *size) return Status::Ok();
  const uint64_t kept = *size <= s->bat_offset ? 0 : (*size - s->bat_offset) / 8;
  RETURN_IF_ERROR(s->file->Truncate(bat_end));
  RETURN_IF_ERROR(s->file->Flush());
  report->actions.push_back("extended the file, cut short @" + Hex(*size) +
                            " inside its BAT region, to the region's end @" + Hex(bat_end) +
                            ": the entries past the cut read NOT_PRESENT");
  const uint64_t first = (kept - kept / (s->chunk_ratio + 1)) * s->block_size();
  if (first < s->params.virtual_disk_size) {
    report->lost.push_back(
        {first, s->params.virtual_disk_size - first, "BAT entries lost with the end of the file"});
  }
  *size = bat_end;
  return Status::Ok();
}

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
  const Status valid = params.ok() ? params->Validate() : params.status();
  if (!valid.ok()) {
    report->left.push_back("metadata: " + valid.message() +
                           ": repair does not guess the disk's parameters or parent locator; "
                           "copy what reads with hvdisk convert --salvage");
    return false;
  }
  s->params = std::move(params).value();
  s->chunk_ratio = ChunkRatioOf(s->params.logical_sector_size, s->block_size());
  s->payload_blocks = DivRoundUp(s->params.virtual_disk_size, s->block_size());
  if (BatEntryCountFor(s->params) * 8 > s->bat_length) return false;
  ASSIGN_OR_RETURN(uint64_t size, s->file->Size());
  RETURN_IF_ERROR(ExtendOverCutBat(s, &size, report));
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
  ASSIGN_OR_RETURN(bool ok, TakeHeaders(&s, mode, report));
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

bool HasHeaderCopy(FileSystem* fs, const std::string& path) {
  Result<std::unique_ptr<File>> file = fs->Open(path, OpenOptions::ReadOnly());
  if (!file.ok()) return false;
  std::vector<std::byte> sig(kHeaderSignature.size());
  for (uint64_t at : {kHeader1Offset, kHeader2Offset}) {
    if ((*file)->ReadExactAt(at, sig, "header").ok() && HasSignature(sig, 0, kHeaderSignature)) {
      return true;
    }
  }
  return false;
}

}  // namespace hvdisk::vhdx
