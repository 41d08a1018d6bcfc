// The VHDX log (MS-VHDX §2.3) over a file: finding and replaying the active sequence, and
// writing new entries into the circular log area.
//
// Writer policy: every entry's Tail points to itself, because hvdisk applies and flushes each
// entry before it writes the next; a new entry never overlaps the previous one, so a torn write
// of the newest entry always leaves the previous (already applied) entry valid to replay.
//
// Thread safety: none; the Image serializes log use under its flush mutex.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "platform/file.h"
#include "platform/guid.h"
#include "platform/status.h"
#include "vhdx/header.h"
#include "vhdx/log_format.h"

namespace hvdisk::vhdx {

// One 4 KiB page of metadata to be written at file_offset (4 KiB aligned).
struct LogPage {
  uint64_t file_offset = 0;
  std::vector<std::byte> data;  // 4096 bytes
};

// What replaying the active sequence does, in order.
struct ReplayPlan {
  bool empty = true;               // LogGuid was zero: nothing to do
  std::vector<LogUpdate> updates;  // data and zero descriptors, in replay order
  uint64_t flushed_file_offset = 0;
  uint64_t last_file_offset = 0;
  uint64_t head_sequence = 0;
  uint32_t entries = 0;
};

// Reads the log region named by `header` and finds the active sequence exactly as §2.3.3 states:
// from every candidate tail, extend while entries are valid and consecutive; a sequence counts
// when its head's Tail lies inside it; the one with the highest head sequence number wins.
// kCorrupt when LogGuid is set but no valid sequence exists, or the file is shorter than the
// head's FlushedFileOffset; the log region must lie inside the file. Updates may not touch the
// file identifier or the log itself, nor reach past LastFileOffset, and LastFileOffset may not
// exceed the file size by more than kMaxLogExtension (a bound on what replay may allocate).
inline constexpr uint64_t kMaxLogExtension = uint64_t{1} << 30;
Result<ReplayPlan> FindActiveSequence(File* file, const VhdxHeader& header, uint64_t file_size);

// Applies a plan on disk: every descriptor in order, then extends the file to LastFileOffset,
// then flushes.
Status ApplyReplayPlan(File* file, const ReplayPlan& plan);

class LogWriter {
 public:
  // REQUIRES: the log region [log_offset, log_offset + log_length) lies in the file.
  LogWriter(File* file, uint64_t log_offset, uint32_t log_length, const Guid& log_guid);

  // Writes one entry holding `pages` at the next free position (no flush).
  // REQUIRES: pages.size() <= max_pages_per_entry().
  Status WriteEntry(std::span<const LogPage> pages, uint64_t flushed_file_offset,
                    uint64_t last_file_offset);
  // How many pages one entry may carry: at most half the log, so an entry never overlaps the
  // previous one.
  size_t max_pages_per_entry() const;
  const Guid& log_guid() const { return log_guid_; }

 private:
  File* file_;
  uint64_t log_offset_;
  uint64_t log_sectors_;
  Guid log_guid_;
  uint64_t next_sector_ = 0;  // where the next entry starts (sector index in the log)
  uint64_t sequence_ = 1;
};

}  // namespace hvdisk::vhdx
