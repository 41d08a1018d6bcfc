#include "vhdx/log.h"

#include <algorithm>

#include "platform/hex.h"
#include "vhdx/format.h"

namespace hvdisk::vhdx {
namespace {

constexpr uint64_t kSector = kLogSectorSize;

struct Candidate {
  uint64_t sector;  // where the entry starts in the log
  uint64_t sectors;
  LogEntry entry;
};

// Decodes the entry starting at `sector` of the circular log, gathering wrapped sectors.
Result<Candidate> EntryAt(std::span<const std::byte> log, uint64_t sector, const Guid& guid) {
  uint64_t n = log.size() / kSector;
  ASSIGN_OR_RETURN(uint32_t len, LogEntry::PeekEntryLength(log.subspan(sector * kSector)));
  if (len > log.size()) return Corrupt("log entry longer than the log (MS-VHDX 2.3.1.1)");
  std::vector<std::byte> bytes(len);
  for (uint64_t i = 0; i < len / kSector; ++i) {
    auto src = log.subspan(((sector + i) % n) * kSector, kSector);
    std::copy(src.begin(), src.end(), bytes.begin() + static_cast<ptrdiff_t>(i * kSector));
  }
  ASSIGN_OR_RETURN(LogEntry e, LogEntry::Decode(bytes, guid));
  return Candidate{sector, len / kSector, std::move(e)};
}

// Extends a sequence from `start` while entries are valid and consecutive (§2.3.3); returns the
// part from the head's Tail to the head, or empty when the Tail is not inside the sequence.
std::vector<Candidate> SequenceFrom(std::span<const std::byte> log, uint64_t start,
                                    const Guid& guid) {
  uint64_t n = log.size() / kSector;
  std::vector<Candidate> seq;
  uint64_t used = 0;
  for (uint64_t pos = start; used < n;) {
    auto c = EntryAt(log, pos % n, guid);
    if (!c.ok() || used + c->sectors > n) break;
    if (!seq.empty() && c->entry.sequence_number != seq.back().entry.sequence_number + 1) break;
    used += c->sectors;
    pos += c->sectors;
    seq.push_back(std::move(c).value());
  }
  if (seq.empty()) return seq;
  uint64_t tail = seq.back().entry.tail / kSector;
  auto it = std::find_if(seq.begin(), seq.end(), [&](auto& c) { return c.sector == tail; });
  if (it == seq.end()) return {};
  return std::vector<Candidate>(std::make_move_iterator(it), std::make_move_iterator(seq.end()));
}

Status CheckUpdate(const LogUpdate& u, const VhdxHeader& h, uint64_t limit) {
  uint64_t len = u.kind == LogUpdate::Kind::kData ? u.data.size() : u.zero_length;
  uint64_t end = u.file_offset + len;
  if (end < u.file_offset || end > limit) {
    return Corrupt("log descriptor @" + Hex(u.file_offset) + " reaches past LastFileOffset");
  }
  if (u.file_offset < kHeader1Offset ||
      (u.file_offset < h.log_offset + h.log_length && h.log_offset < end)) {
    return Corrupt("log descriptor @" + Hex(u.file_offset) +
                   " overwrites the file identifier or the log (MS-VHDX 2.3.1)");
  }
  return Status::Ok();
}

Result<ReplayPlan> PlanFrom(std::vector<Candidate> seq, const VhdxHeader& h, uint64_t file_size) {
  ReplayPlan plan;
  plan.empty = false;
  const LogEntry& head = seq.back().entry;
  plan.flushed_file_offset = head.flushed_file_offset;
  plan.last_file_offset = head.last_file_offset;
  plan.head_sequence = head.sequence_number;
  plan.entries = static_cast<uint32_t>(seq.size());
  if (file_size < head.flushed_file_offset) {
    return Corrupt("file of " + Hex(file_size) +
                   " bytes is shorter than the log's "
                   "FlushedFileOffset " +
                   Hex(head.flushed_file_offset) + ": truncated (MS-VHDX 2.3.3)");
  }
  if (head.last_file_offset > file_size + kMaxLogExtension) {
    return Corrupt("log LastFileOffset " + Hex(head.last_file_offset) + " far past the file");
  }
  uint64_t limit = std::max(file_size, head.last_file_offset);
  for (Candidate& c : seq) {
    for (LogUpdate& u : c.entry.updates) {
      RETURN_IF_ERROR(CheckUpdate(u, h, limit));
      plan.updates.push_back(std::move(u));
    }
  }
  return plan;
}

}  // namespace

Result<ReplayPlan> FindActiveSequence(File* file, const VhdxHeader& h, uint64_t file_size) {
  if (h.log_guid.IsZero()) return ReplayPlan{};
  if (h.log_length == 0 || h.log_length % kMiB != 0 || h.log_offset + h.log_length > file_size) {
    return Corrupt("log @" + Hex(h.log_offset) + " length " + Hex(h.log_length) +
                   " invalid or outside the file (MS-VHDX 2.2.2)");
  }
  std::vector<std::byte> log(h.log_length);
  RETURN_IF_ERROR(file->ReadExactAt(h.log_offset, log, "log"));
  std::vector<Candidate> best;
  for (uint64_t start = 0; start < log.size() / kSector; ++start) {
    std::vector<Candidate> seq = SequenceFrom(log, start, h.log_guid);
    if (!seq.empty() &&
        (best.empty() || seq.back().entry.sequence_number > best.back().entry.sequence_number)) {
      best = std::move(seq);
    }
  }
  if (best.empty()) {
    return Corrupt("log: LogGuid " + h.log_guid.ToString() +
                   " is set but no valid entry sequence exists (MS-VHDX 2.3.3)");
  }
  return PlanFrom(std::move(best), h, file_size);
}

Status ApplyReplayPlan(File* file, const ReplayPlan& plan) {
  std::vector<std::byte> zeros;
  for (const LogUpdate& u : plan.updates) {
    if (u.kind == LogUpdate::Kind::kData) {
      RETURN_IF_ERROR(file->WriteAt(u.file_offset, u.data));
      continue;
    }
    zeros.resize(std::min<uint64_t>(u.zero_length, kMiB));
    for (uint64_t done = 0; done < u.zero_length; done += zeros.size()) {
      uint64_t n = std::min<uint64_t>(zeros.size(), u.zero_length - done);
      RETURN_IF_ERROR(file->WriteAt(u.file_offset + done, std::span(zeros).first(n)));
    }
  }
  ASSIGN_OR_RETURN(uint64_t size, file->Size());
  // Extend to LastFileOffset even when it is aligned (qemu misses this case).
  if (size < plan.last_file_offset) RETURN_IF_ERROR(file->Truncate(plan.last_file_offset));
  return file->Flush();
}

LogWriter::LogWriter(File* file, uint64_t log_offset, uint32_t log_length, const Guid& log_guid)
    : file_(file),
      log_offset_(log_offset),
      log_sectors_(log_length / kSector),
      log_guid_(log_guid) {}

size_t LogWriter::max_pages_per_entry() const {
  uint64_t half = log_sectors_ / 2;
  uint64_t p = half;
  while (p > 0 && LogEntry::LengthFor(p, p) / kSector > half) --p;
  return p;
}

Status LogWriter::WriteEntry(std::span<const LogPage> pages, uint64_t flushed_file_offset,
                             uint64_t last_file_offset) {
  LogEntry e;
  e.sequence_number = sequence_;
  e.tail = static_cast<uint32_t>(next_sector_ * kSector);  // everything before is applied
  e.log_guid = log_guid_;
  e.flushed_file_offset = flushed_file_offset / kMiB * kMiB;
  e.last_file_offset = (last_file_offset + kMiB - 1) / kMiB * kMiB;
  for (const LogPage& p : pages) e.updates.push_back(LogUpdate::Data(p.file_offset, p.data));
  ASSIGN_OR_RETURN(std::vector<std::byte> bytes, e.Encode());
  uint64_t sectors = bytes.size() / kSector;
  uint64_t first = std::min(sectors, log_sectors_ - next_sector_);  // wraps past the log's end
  std::span<const std::byte> all(bytes);
  RETURN_IF_ERROR(file_->WriteAt(log_offset_ + next_sector_ * kSector, all.first(first * kSector)));
  if (first < sectors) RETURN_IF_ERROR(file_->WriteAt(log_offset_, all.subspan(first * kSector)));
  next_sector_ = (next_sector_ + sectors) % log_sectors_;
  ++sequence_;
  return Status::Ok();
}

}  // namespace hvdisk::vhdx
