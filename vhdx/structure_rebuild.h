// StructureRebuild: what check -r does when neither copy of the header (MS-VHDX 2.2.2) or of the
// region table (2.2.3) is valid, or the valid header names a log the file cannot hold. It
// rebuilds the structure from what the file still proves and refuses to guess:
//   - header: the fields of both copies, read without their signature and checksum. Version must
//     be 1 (a version this build does not know is left alone). DataWriteGuid (what children link
//     to) and LogGuid must agree between the copies that carry version 1, else nothing is
//     rebuilt. The log location is taken from a copy whose location is valid (1 MiB aligned,
//     inside the file, clear of the regions); when none is, a clean log is placed in the first
//     free MiB after the header section, and a dirty one is dropped (kAll only: its unapplied
//     updates are lost).
//   - region table: each copy's entries read without its signature and checksum; a copy counts
//     when its BAT and metadata regions are aligned, inside the file, apart from each other and
//     from the header section, and the metadata region starts with its "metadata" signature.
//     Both copies counting and disagreeing: nothing is rebuilt.
//
// Thread safety: pure functions over a File the caller owns (reads only).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "platform/file.h"
#include "platform/status.h"
#include "vhdx/header.h"
#include "vhdx/region_table.h"

namespace hvdisk::vhdx {

struct RebuiltHeader {
  VhdxHeader header;      // sequence number: the greater of the copies'
  std::string why;        // what was wrong, for the report
  bool log_lost = false;  // a dirty log was dropped (its location is not valid)
};

// The header to write to both slots, or an error saying why none can be rebuilt (kUnsupported:
// an unknown version; kCorrupt: the copies disagree or no free space for a log). `section` is the
// 1 MiB header section; `regions` the region table that holds (nullptr when none: the log is
// then checked against the file only). `drop_dirty_log`: kAll.
Result<RebuiltHeader> RebuildHeader(File* file, std::span<const std::byte> section,
                                    uint64_t file_size, const RegionTable* regions,
                                    bool drop_dirty_log);

// Whether `h`'s log lies inside the file (of `file_size` bytes) and clear of the BAT and metadata
// regions of `regions`: what Open requires (a log of length 0 included).
Status CheckLogPlace(const VhdxHeader& h, uint64_t file_size, const RegionTable* regions);

// The region table the file proves when no copy decodes (see above); an error says why not.
Result<RegionTable> RebuildRegionTable(File* file, std::span<const std::byte> section,
                                       uint64_t file_size);

// A strictly valid copy of the region table (copy 1 first), else the rebuilt one, else nullopt.
std::optional<RegionTable> ProvenRegionTable(File* file, std::span<const std::byte> section,
                                             uint64_t file_size);

}  // namespace hvdisk::vhdx
