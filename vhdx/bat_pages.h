// BatPages: the BAT of an open image, held in 4 KiB pages (512 entries) read on demand, so that
// opening an image costs memory bounded by the cache, not by its virtual size (a 64 TiB disk with
// 1 MiB blocks has a 512 MiB BAT; loading it whole took 1 GiB per open).
//
// Memory bound: at most kMaxCleanPages clean pages stay cached (16 MiB), least recently used
// evicted first, plus the raw buffer of the largest single read (1 MiB for the scans). Dirty pages
// (changed since the last log entry) and pending pages (logged, not yet applied in place) are
// pinned until FlushMetadata applies them: 4 KiB per 512 entries changed, i.e. proportional to the
// blocks allocated or trimmed since the last flush. A pending page whose apply failed stays pinned
// (memory, not the file, is then the truth).
//
// Pages are read through the PageReader the image supplies: the file, with the pages of an
// unreplayed log laid over it in a read-only open. Full scans (validation at open, Check) use
// ReadRange, which reads around the cache and does not fill it.
//
// Thread safety: none; the image calls it with State::mu held, or before the image is shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <set>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "platform/status.h"

namespace hvdisk::vhdx {

class BatPages {
 public:
  static constexpr uint64_t kPageBytes = 4096;
  static constexpr uint64_t kEntriesPerPage = kPageBytes / 8;
  static constexpr size_t kMaxCleanPages = 4096;  // 16 MiB of clean pages
  // Reads dst.size() bytes of the BAT at file offset `file_offset` (bytes past the file: zeros).
  using PageReader = std::function<Status(uint64_t file_offset, std::span<std::byte> dst)>;
  // The file offset of the first byte at or after `file_offset` that may hold data (a hole before
  // it reads as zeros); `file_offset` itself when unknown. Lets scans skip the holes of a sparse
  // BAT (an empty 64 TiB disk's BAT is one hole) without reading them.
  using DataProbe = std::function<uint64_t(uint64_t file_offset)>;

  // Starts over on the BAT at file offset `offset` with `entries` entries (rounded up to whole
  // pages; the tail of the last page is addressable as before). Drops every cached page.
  // `probe` may be empty (every range is read).
  void Reset(PageReader reader, uint64_t offset, uint64_t entries, DataProbe probe = {});

  uint64_t offset() const { return offset_; }
  // Addressable entries: whole pages.
  uint64_t capacity() const { return pages_ * kEntriesPerPage; }

  // Entry `index`, reading its page if it is not cached (a page in a hole of the file is zero,
  // neither read nor cached). REQUIRES: index < capacity().
  Result<uint64_t> Get(uint64_t index);
  // Sets entry `index` and pins its page as dirty. REQUIRES: index < capacity().
  Status Set(uint64_t index, uint64_t value);
  // How many entries from `first` (at most `max`) are known to be zero: cached pages are scanned,
  // pages in a hole of the file are zero unread; a page neither cached nor in a hole is loaded
  // (cached) when `load`, else ends the run. What lets Map and the scans step over the empty
  // part of a disk in time proportional to its pages of data, not to its virtual size.
  // REQUIRES: first + max <= capacity().
  Result<uint64_t> ZeroRun(uint64_t first, uint64_t max, bool load);
  // Entries [first, first + out.size()), cached pages first, the rest read without caching.
  // REQUIRES: the range lies below capacity().
  Status ReadRange(uint64_t first, std::span<uint64_t> out);

  // The dirty pages with their entries, in page order; they become pending (still pinned).
  std::vector<std::pair<uint64_t, std::vector<uint64_t>>> TakeDirty();
  // The pages TakeDirty returned were applied in place: those not dirtied again become clean.
  void Applied(const std::vector<uint64_t>& pages);
  // The whole BAT was written afresh at `offset`: every cached page is clean, and the table
  // grows to `entries`.
  void Relocated(uint64_t offset, uint64_t entries);
  // Grows the table to `entries` in place (the region holds them).
  void Grow(uint64_t entries);

  size_t resident_pages() const { return pages_in_memory_.size(); }
  bool dirty() const { return !dirty_.empty(); }
  // The dirty pages' numbers (what the next TakeDirty returns).
  const std::set<uint64_t>& dirty_pages() const { return dirty_; }

 private:
  enum class PageState : uint8_t { kClean, kDirty, kPending };
  struct Page {
    std::vector<uint64_t> entries;
    PageState state = PageState::kClean;
    std::list<uint64_t>::iterator lru;  // valid when clean
  };

  // The cached page, read (and cached clean) if absent.
  Result<Page*> Load(uint64_t page);
  // Reads entries [first, first + out.size()) from the file, around the cache.
  Status ReadEntries(uint64_t first, std::span<uint64_t> out);
  // Whether file bytes [offset, end) lie in a hole (the probe, its last answer remembered).
  bool InHole(uint64_t offset, uint64_t end);
  void MakeClean(uint64_t page, Page* p);
  void Unclean(Page* p);
  void Evict();

  PageReader reader_;
  DataProbe probe_;
  // The last hole the probe reported, [hole_begin_, hole_end_) in file offsets; forgotten when
  // pages are applied in place (the file's BAT changes only then).
  uint64_t hole_begin_ = 0, hole_end_ = 0;
  uint64_t offset_ = 0;
  uint64_t pages_ = 0;
  std::unordered_map<uint64_t, Page> pages_in_memory_;
  std::list<uint64_t> lru_;  // clean pages, most recent first
  std::set<uint64_t> dirty_;
  std::vector<std::byte> scratch_;  // raw bytes of the last read
};

}  // namespace hvdisk::vhdx
