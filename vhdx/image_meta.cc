// Metadata durability: the header update protocol, the log batching of BAT and bitmap pages,
// flush, close, resize and the parent-locator/DataWriteGuid updates of the chain layer.
#include <algorithm>
#include <cstring>

#include "platform/image_lock.h"
#include "vhdx/image_state.h"

namespace hvdisk::vhdx {

// MS-VHDX 2.2.2.1: build the header with SequenceNumber + 1, write it over the non-current
// slot, flush; then once more, so both slots hold the new content. A crash between the two
// leaves one valid current header. REQUIRES: flush_mu held, or exclusive use (open).
Status WriteHeaderUpdate(Image::State* s, const VhdxHeader& next) {
  VhdxHeader h = next;
  for (int i = 0; i < 2; ++i) {
    h.sequence_number = s->header.sequence_number + 1;
    int slot = 3 - s->current_slot;
    RETURN_IF_ERROR(s->file->WriteAt(HeaderSlotOffset(slot), h.Encode()));
    RETURN_IF_ERROR(s->file->Flush());
    s->header = h;
    s->current_slot = slot;
  }
  return Status::Ok();
}

Status BackBatPages(Image::State* s, const std::set<uint64_t>& pages) {
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  std::vector<uint64_t> added;
  for (uint64_t pg : pages) {
    if (s->backed_bat_pages.count(pg) != 0) continue;
    ranges.push_back({s->bat_offset + pg * kPageSize, kPageSize});
    added.push_back(pg);
  }
  RETURN_IF_ERROR(AllocateRanges(s->file.get(), std::move(ranges)));
  s->backed_bat_pages.insert(added.begin(), added.end());
  return Status::Ok();
}

Status AllocateRanges(File* file, std::vector<std::pair<uint64_t, uint64_t>> ranges) {
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 0; i < ranges.size();) {
    uint64_t start = ranges[i].first, end = start + ranges[i].second;
    for (++i; i < ranges.size() && ranges[i].first <= end; ++i) {
      end = std::max(end, ranges[i].first + ranges[i].second);
    }
    RETURN_IF_ERROR(file->Allocate(start, end - start));
  }
  return Status::Ok();
}

// Before the first entry of a session: a new LogGuid, with an empty entry (Tail = itself)
// written and flushed first, so that the header never names a log without a valid sequence.
Status EnsureLogActive(Image::State* s) {
  if (s->log) return Status::Ok();
  ASSIGN_OR_RETURN(uint64_t size, s->file->Size());
  auto log = std::make_unique<LogWriter>(s->file.get(), s->header.log_offset, s->header.log_length,
                                         Guid::Random());
  RETURN_IF_ERROR(log->WriteEntry({}, AlignDown(size, kMiB), AlignUp(size, kMiB)));
  RETURN_IF_ERROR(s->file->Flush());
  VhdxHeader next = s->header;
  next.log_guid = log->log_guid();
  RETURN_IF_ERROR(WriteHeaderUpdate(s, next));
  s->log = std::move(log);
  return Status::Ok();
}

namespace {

// Takes the dirty pages, ordered so that every prefix of entries is consistent: extra pages
// (atomic updates) first, then bitmap pages, then BAT pages holding sector-bitmap entries, then
// the other BAT pages. The BAT pages taken stay pinned (listed in *bat_pages) until applied.
// REQUIRES: gate held exclusively and mu held.
Result<std::vector<LogPage>> TakeDirtyPages(Image::State* s, std::vector<uint64_t>* bat_pages) {
  std::vector<LogPage> bitmap_pages;  // first, as it may fail (reading a BAT page): nothing taken
  for (auto [chunk, pg] : s->dirty_bitmap_pages) {
    const auto& bm = s->bitmaps[chunk];
    ASSIGN_OR_RETURN(BatEntry sb, s->Entry(s->BitmapIndex(chunk)));
    uint64_t off = sb.file_offset() + pg * kPageSize;
    bitmap_pages.push_back({off, {bm.begin() + pg * kPageSize, bm.begin() + (pg + 1) * kPageSize}});
  }
  std::vector<LogPage> pages = std::move(s->extra_pages);
  s->extra_pages.clear();
  std::move(bitmap_pages.begin(), bitmap_pages.end(), std::back_inserter(pages));
  std::vector<LogPage> with_sb, plain;
  for (const auto& [pg, entries] : s->bat.TakeDirty()) {
    LogPage p{s->bat_offset + pg * kPageSize, std::vector<std::byte>(kPageSize)};
    bool has_sb = false;
    for (uint64_t i = 0; i < kEntriesPerPage; ++i) {
      uint64_t idx = pg * kEntriesPerPage + i;
      StoreU64(p.data, i * 8, entries[i]);
      has_sb |= idx % (s->chunk_ratio + 1) == s->chunk_ratio && entries[i] != 0;
    }
    (has_sb ? with_sb : plain).push_back(std::move(p));
    bat_pages->push_back(pg);
  }
  s->dirty_bitmap_pages.clear();
  for (auto* v : {&with_sb, &plain}) std::move(v->begin(), v->end(), std::back_inserter(pages));
  return pages;
}

// BackBatPages for the dirty pages: on failure they stay dirty.
// REQUIRES: gate held exclusively and mu held.
Status BackDirtyPages(Image::State* s) { return BackBatPages(s, s->bat.dirty_pages()); }

Status ApplyPages(File* file, std::span<const LogPage> pages) {
  for (const LogPage& p : pages) RETURN_IF_ERROR(file->WriteAt(p.file_offset, p.data));
  return Status::Ok();
}

}  // namespace

// Steps and crash points: (1) flush: payload written so far, and the previous batch's apply;
// (2) write a log entry; (3) flush: the entry is durable; (4) apply the pages in place (their
// flush is step (1) of the next batch, or Close). Repeated per entry when a batch is larger than
// one entry; entries are ordered so a crash between them leaves a consistent BAT.
// REQUIRES: flush_mu held.
Status FlushMetadata(Image::State* s) {
  std::vector<LogPage> pages;
  std::vector<uint64_t> bat_pages;  // pinned until applied
  uint64_t last_offset;
  {
    std::unique_lock<std::shared_mutex> gate(s->gate);
    std::lock_guard<std::mutex> lock(s->mu);
    RETURN_IF_ERROR(BackDirtyPages(s));  // file space for the pages the entry will name
    ASSIGN_OR_RETURN(pages, TakeDirtyPages(s, &bat_pages));
    last_offset = AlignUp(s->next_alloc, kMiB);
  }
  if (pages.empty()) {
    RETURN_IF_ERROR(s->file->Flush());
    s->apply_unsynced = false;
    return Status::Ok();
  }
  RETURN_IF_ERROR(EnsureLogActive(s));
  RETURN_IF_ERROR(s->file->Flush());  // (1) data before the metadata that exposes it
  ASSIGN_OR_RETURN(uint64_t size, s->file->Size());
  // Space reserved past the last object is not claimed by the entry (FlushedFileOffset and
  // LastFileOffset, §2.3.1.1), so that Close may trim it while the log is in use.
  size = std::min(size, last_offset);
  size_t per_entry = s->log->max_pages_per_entry();
  for (size_t i = 0; i < pages.size(); i += per_entry) {
    auto batch = std::span(pages).subspan(i, std::min(per_entry, pages.size() - i));
    if (i > 0) RETURN_IF_ERROR(s->file->Flush());  // the previous apply, before its entry is gone
    RETURN_IF_ERROR(s->log->WriteEntry(batch, AlignDown(size, kMiB), last_offset));
    RETURN_IF_ERROR(s->file->Flush());  // (3) the entry is durable before any page is applied
    RETURN_IF_ERROR(ApplyPages(s->file.get(), batch));  // (4)
  }
  {
    std::lock_guard<std::mutex> lock(s->mu);
    s->bat.Applied(bat_pages);  // now in place: the cache may drop them
  }
  s->apply_unsynced = true;
  return Status::Ok();
}

namespace {

// Gives back the file space reserved past the last object (image_write.cc). No log entry
// claims it, so the log may still be in use. REQUIRES: flush_mu held, no write in flight.
Status TrimReservation(Image::State* s) {
  uint64_t end = AlignUp(s->next_alloc, kMiB);
  if (s->reserved_end <= end) return Status::Ok();
  RETURN_IF_ERROR(s->file->Truncate(end));
  s->reserved_end = end;
  s->apply_unsynced = true;  // the new size reaches the disk with the flush below
  return Status::Ok();
}

}  // namespace

Status Image::Flush() {
  if (s_->read_only) return Status::Ok();
  std::lock_guard<std::mutex> lock(s_->flush_mu);
  return FlushMetadata(s_.get());
}

Status Image::Close() {
  State* s = s_.get();
  if (s->closed) return Status::Ok();
  if (!s->read_only) {
    std::lock_guard<std::mutex> lock(s->flush_mu);
    RETURN_IF_ERROR(FlushMetadata(s));
    RETURN_IF_ERROR(TrimReservation(s));
    if (s->apply_unsynced) RETURN_IF_ERROR(s->file->Flush());
    if (s->log) {  // the log is drained: clear LogGuid (a clean file)
      VhdxHeader next = s->header;
      next.log_guid = Guid();
      RETURN_IF_ERROR(WriteHeaderUpdate(s, next));
      s->log.reset();
    }
  }
  s->closed = true;
  UnlockImage(*s->file);  // released with the file, for whoever opens it next
  return Status::Ok();
}

Status Image::Discard() {
  State* s = s_.get();
  if (s->closed) return Status::Ok();
  s->closed = true;
  s->direct_file.reset();
  s->file.reset();
  if (s->read_only) return Status::Ok();
  ASSIGN_OR_RETURN(auto reopened, Open(s->fs, s->path, {.read_only = false}));  // trims
  return reopened->Close();
}

Image::Image(std::unique_ptr<State> state) : s_(std::move(state)) {}

Image::~Image() {
  if (!s_->closed) (void)Close();
}

}  // namespace hvdisk::vhdx
