// Salvage for convert --salvage (qemu-img's flag): a copy of what can be read of an image too
// damaged to repair in place, with every unreadable or corrupt range filled with zeros and
// reported.
//
// The source is opened as it is when it opens. A VHDX source that does not open for corruption
// is copied to a hidden temporary beside SRC (where its parents resolve) and repaired there
// (vhdx::Repair, kAll: SRC is never written); the ranges that repair drops are lost ranges. The
// copy then reads SRC in 1 MiB pieces; a piece that fails to read is read again sector by sector,
// and each sector that still fails is written as zeros and reported.
//
// Thread safety: one salvage per call; the CLI's thread only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cli/progress.h"
#include "disk/open.h"
#include "disk/virtual_disk.h"
#include "vhdx/repair.h"

namespace hvdisk::cli {

// The disk to salvage from, and the temporary repaired copy it reads (removed on destruction).
class SalvageSource {
 public:
  ~SalvageSource();
  disk::VirtualDisk* disk() const { return disk_.get(); }
  // Ranges already known lost (dropped by the repair of the copy).
  const std::vector<vhdx::LostRange>& lost() const { return lost_; }

  // Opens `src` (options as disk::Open), or a repaired copy of it.
  static Result<std::unique_ptr<SalvageSource>> Open(const std::string& src,
                                                     const disk::OpenOptions& options);

 private:
  std::unique_ptr<disk::VirtualDisk> disk_;
  std::string copy_;  // the repaired temporary, empty when SRC opened as it is
  std::vector<vhdx::LostRange> lost_;
};

// Copies every readable byte of `src` to `dst` (all-zero pieces skipped: dst reads zeros there),
// zeros for what cannot be read; appends each unreadable range (merged) to *lost; flushes and
// closes dst.
Status SalvageCopy(disk::VirtualDisk* src, disk::VirtualDisk* dst, Progress* progress,
                   std::vector<vhdx::LostRange>* lost);

}  // namespace hvdisk::cli
