#include "vhdx/bat_pages.h"

#include <algorithm>

#include "vhdx/format.h"

namespace hvdisk::vhdx {

void BatPages::Reset(PageReader reader, uint64_t offset, uint64_t entries, DataProbe probe) {
  reader_ = std::move(reader);
  probe_ = std::move(probe);
  offset_ = offset;
  pages_ = DivRoundUp(entries, kEntriesPerPage);
  pages_in_memory_.clear();
  lru_.clear();
  dirty_.clear();
  hole_begin_ = hole_end_ = 0;
}

bool BatPages::InHole(uint64_t offset, uint64_t end) {
  if (offset >= hole_begin_ && end <= hole_end_) return true;
  if (!probe_) return false;
  const uint64_t data = probe_(offset);
  if (data <= offset) return false;
  hole_begin_ = offset;
  hole_end_ = data;
  return end <= data;
}

Result<uint64_t> BatPages::ZeroRun(uint64_t first, uint64_t max, bool load) {
  uint64_t run = 0;
  while (run < max) {
    const uint64_t index = first + run, page = index / kEntriesPerPage;
    const uint64_t in_page = index % kEntriesPerPage;
    const uint64_t n = std::min(kEntriesPerPage - in_page, max - run);
    auto it = pages_in_memory_.find(page);
    const Page* p = it == pages_in_memory_.end() ? nullptr : &it->second;
    if (p == nullptr) {
      const uint64_t at = offset_ + page * kPageBytes;
      if (InHole(at, at + kPageBytes)) {
        run += n;
        continue;
      }
      if (!load) return run;
      ASSIGN_OR_RETURN(p, Load(page));
    }
    for (uint64_t k = 0; k < n; ++k) {
      if (p->entries[in_page + k] != 0) return run + k;
    }
    run += n;
  }
  return run;
}

Status BatPages::ReadEntries(uint64_t first, std::span<uint64_t> out) {
  const uint64_t offset = offset_ + first * 8;
  if (InHole(offset, offset + out.size() * 8)) {  // a hole: zeros, nothing to read
    std::fill(out.begin(), out.end(), uint64_t{0});
    return Status::Ok();
  }
  scratch_.resize(out.size() * 8);  // kept: scans reuse it instead of faulting in new memory
  RETURN_IF_ERROR(reader_(offset, scratch_));
  for (size_t i = 0; i < out.size(); ++i) out[i] = LoadU64(scratch_, i * 8);
  return Status::Ok();
}

Result<BatPages::Page*> BatPages::Load(uint64_t page) {
  auto it = pages_in_memory_.find(page);
  if (it != pages_in_memory_.end()) {
    Page* p = &it->second;
    if (p->state == PageState::kClean) lru_.splice(lru_.begin(), lru_, p->lru);
    return p;
  }
  std::vector<uint64_t> entries(kEntriesPerPage);
  RETURN_IF_ERROR(ReadEntries(page * kEntriesPerPage, entries));
  Page* p = &pages_in_memory_[page];
  p->entries = std::move(entries);
  lru_.push_front(page);
  p->lru = lru_.begin();
  Evict();
  return p;
}

void BatPages::Evict() {
  while (lru_.size() > kMaxCleanPages) {
    pages_in_memory_.erase(lru_.back());
    lru_.pop_back();
  }
}

Result<uint64_t> BatPages::Get(uint64_t index) {
  const uint64_t page = index / kEntriesPerPage, at = offset_ + page * kPageBytes;
  if (!pages_in_memory_.count(page) && InHole(at, at + kPageBytes)) return 0;  // nothing cached
  ASSIGN_OR_RETURN(Page * p, Load(page));
  return p->entries[index % kEntriesPerPage];
}

void BatPages::Unclean(Page* p) {
  if (p->state == PageState::kClean) lru_.erase(p->lru);
}

Status BatPages::Set(uint64_t index, uint64_t value) {
  const uint64_t page = index / kEntriesPerPage;
  ASSIGN_OR_RETURN(Page * p, Load(page));
  p->entries[index % kEntriesPerPage] = value;
  Unclean(p);
  p->state = PageState::kDirty;
  dirty_.insert(page);
  return Status::Ok();
}

Status BatPages::ReadRange(uint64_t first, std::span<uint64_t> out) {
  while (!out.empty()) {
    const uint64_t page = first / kEntriesPerPage, in_page = first % kEntriesPerPage;
    auto it = pages_in_memory_.find(page);
    size_t n;
    if (it != pages_in_memory_.end()) {
      n = static_cast<size_t>(std::min<uint64_t>(kEntriesPerPage - in_page, out.size()));
      std::copy_n(it->second.entries.begin() + static_cast<ptrdiff_t>(in_page), n, out.begin());
    } else {  // up to the next cached page, in one read
      uint64_t last = page + 1;
      while (last * kEntriesPerPage < first + out.size() && !pages_in_memory_.count(last)) ++last;
      n = static_cast<size_t>(std::min<uint64_t>(last * kEntriesPerPage - first, out.size()));
      RETURN_IF_ERROR(ReadEntries(first, out.first(n)));
    }
    first += n;
    out = out.subspan(n);
  }
  return Status::Ok();
}

std::vector<std::pair<uint64_t, std::vector<uint64_t>>> BatPages::TakeDirty() {
  std::vector<std::pair<uint64_t, std::vector<uint64_t>>> out;
  for (uint64_t page : dirty_) {
    Page& p = pages_in_memory_.at(page);
    p.state = PageState::kPending;
    out.emplace_back(page, p.entries);
  }
  dirty_.clear();
  return out;
}

void BatPages::MakeClean(uint64_t page, Page* p) {
  if (p->state == PageState::kClean) return;
  p->state = PageState::kClean;
  lru_.push_front(page);
  p->lru = lru_.begin();
}

void BatPages::Applied(const std::vector<uint64_t>& pages) {
  hole_begin_ = hole_end_ = 0;
  for (uint64_t page : pages) {
    auto it = pages_in_memory_.find(page);
    if (it != pages_in_memory_.end() && it->second.state == PageState::kPending) {
      MakeClean(page, &it->second);
    }
  }
  Evict();
}

void BatPages::Relocated(uint64_t offset, uint64_t entries) {
  hole_begin_ = hole_end_ = 0;
  offset_ = offset;
  Grow(entries);
  for (auto& [page, p] : pages_in_memory_) MakeClean(page, &p);
  dirty_.clear();
  Evict();
}

void BatPages::Grow(uint64_t entries) {
  pages_ = std::max(pages_, DivRoundUp(entries, kEntriesPerPage));
}

}  // namespace hvdisk::vhdx
