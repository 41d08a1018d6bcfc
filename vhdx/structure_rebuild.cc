#include "vhdx/structure_rebuild.h"

#include <algorithm>
#include <vector>

#include "platform/crc32c.h"
#include "platform/hex.h"
#include "vhdx/format.h"

namespace hvdisk::vhdx {
namespace {

constexpr uint64_t kTableOffsets[] = {kRegionTable1Offset, kRegionTable2Offset};

// The fields of a structure whose signature or checksum is broken: the bytes with both restored,
// then decoded as usual (so the field layout lives in one codec).
std::vector<std::byte> Resigned(std::span<const std::byte> bytes, std::string_view signature,
                                size_t checksum_offset) {
  std::vector<std::byte> copy(bytes.begin(), bytes.end());
  StoreSignature(copy, 0, signature);
  StoreU32(copy, checksum_offset, Crc32cWithZeroedField(copy, checksum_offset));
  return copy;
}

VhdxHeader RawHeader(std::span<const std::byte> section, int slot) {
  auto bytes = section.subspan(HeaderSlotOffset(slot), VhdxHeader::kSize);
  return *VhdxHeader::DecodeUnvalidated(
      Resigned(bytes, kHeaderSignature, VhdxHeader::kChecksumOffset));
}

bool Overlaps(uint64_t a, uint64_t a_len, uint64_t b, uint64_t b_len) {
  return a < b + b_len && b < a + a_len;
}

// Whether any BAT entry (as stored) names a block or bitmap in [start, start + 1 MiB).
Result<bool> BatNames(File* file, const RegionTableEntry& bat, uint64_t file_size, uint64_t start) {
  std::vector<std::byte> chunk(kMiB);
  const uint64_t end = std::min(bat.end(), file_size);
  for (uint64_t at = bat.file_offset; at < end; at += chunk.size()) {
    ASSIGN_OR_RETURN(size_t n, file->ReadAt(at, chunk));
    for (size_t i = 0; i + 8 <= n; i += 8) {
      const uint64_t raw = LoadU64(chunk, i);
      const uint64_t state = raw & 7, offset = raw & ~uint64_t{kMiB - 1};
      if ((state == 6 || state == 7) && offset == start) return true;
    }
  }
  return false;
}

// The first MiB after the header section (of the first kLogSearch) that no region, BAT entry or
// end of file excludes.
Result<std::optional<uint64_t>> FreeLogSpace(File* file, uint64_t file_size,
                                             const RegionTable* regions) {
  constexpr uint64_t kLogSearch = 64;
  for (uint64_t at = kHeaderSectionSize;
       at + kMiB <= file_size && at < kHeaderSectionSize + kLogSearch * kMiB; at += kMiB) {
    bool used = false;
    for (const RegionTableEntry& r : regions->entries) {
      used |= Overlaps(at, kMiB, r.file_offset, r.length);
    }
    if (used) continue;
    ASSIGN_OR_RETURN(bool named, BatNames(file, *regions->Bat(), file_size, at));
    if (!named) return std::optional<uint64_t>(at);
  }
  return std::optional<uint64_t>();
}

// Among the copies that carry version 1, the one fields are taken from; error when they disagree
// on what a repair must not guess.
Result<VhdxHeader> AgreedFields(const VhdxHeader c[2]) {
  std::vector<const VhdxHeader*> usable;
  for (int i = 0; i < 2; ++i) {
    if (c[i].version == kVhdxVersion) usable.push_back(&c[i]);
  }
  if (usable.empty()) {
    return Unsupported("header: version " + std::to_string(c[0].version) +
                       " is not 1: a format this build does not know, which repair leaves as it "
                       "is (open it with the tool that made it)");
  }
  if (usable.size() == 2 && (usable[0]->data_write_guid != usable[1]->data_write_guid ||
                             usable[0]->log_guid != usable[1]->log_guid)) {
    return Corrupt(
        "header: the two copies disagree on DataWriteGuid or LogGuid, so repair cannot tell "
        "which is current; salvage what reads (hvdisk convert --salvage)");
  }
  VhdxHeader h = *usable[0];
  h.sequence_number = std::max(c[0].sequence_number, c[1].sequence_number);
  return h;
}

}  // namespace

Status CheckLogPlace(const VhdxHeader& h, uint64_t file_size, const RegionTable* regions) {
  RETURN_IF_ERROR(h.Validate());
  if (h.log_offset + h.log_length > file_size) {  // no log (length 0) is as Open allows
    return Corrupt("header: log @" + Hex(h.log_offset) + " length " + Hex(h.log_length) +
                   " is not inside the file");
  }
  if (regions == nullptr) return Status::Ok();
  for (const RegionTableEntry* r : {regions->Bat(), regions->Metadata()}) {  // as Open checks
    if (r != nullptr && Overlaps(h.log_offset, h.log_length, r->file_offset, r->length)) {
      return Corrupt("header: log @" + Hex(h.log_offset) + " overlaps the region @" +
                     Hex(r->file_offset));
    }
  }
  return Status::Ok();
}

Result<RebuiltHeader> RebuildHeader(File* file, std::span<const std::byte> section,
                                    uint64_t file_size, const RegionTable* regions,
                                    bool drop_dirty_log) {
  const VhdxHeader c[2] = {RawHeader(section, 1), RawHeader(section, 2)};
  ASSIGN_OR_RETURN(VhdxHeader h, AgreedFields(c));
  RebuiltHeader out{h, "", false};
  for (const VhdxHeader& copy : c) {  // a copy whose log location holds
    VhdxHeader with = h;
    with.log_offset = copy.log_offset, with.log_length = copy.log_length;
    if (copy.version == kVhdxVersion && CheckLogPlace(with, file_size, regions).ok()) {
      out.header = with;
      return out;
    }
  }
  const Status place = CheckLogPlace(h, file_size, regions);
  if (!h.log_guid.IsZero() && !drop_dirty_log) {
    return place.WithContext("the log is dirty: only check -r all drops it");
  }
  if (regions == nullptr || regions->Bat() == nullptr) {
    return place.WithContext("no region table to find free space for a new log by");
  }
  ASSIGN_OR_RETURN(std::optional<uint64_t> at, FreeLogSpace(file, file_size, regions));
  if (!at) return place.WithContext("no free MiB after the header section for a new log");
  out.why = place.message() + "; a new empty log placed @" + Hex(*at);
  out.log_lost = !h.log_guid.IsZero();
  out.header.log_guid = Guid();
  out.header.log_version = kLogVersion;
  out.header.log_offset = *at, out.header.log_length = kMiB;
  return out;
}

Result<RegionTable> RebuildRegionTable(File* file, std::span<const std::byte> section,
                                       uint64_t file_size) {
  std::optional<RegionTable> found[2];
  std::string why;
  for (int i = 0; i < 2; ++i) {
    auto bytes = section.subspan(kTableOffsets[i], RegionTable::kSize);
    Result<RegionTable> t = RegionTable::Decode(
        Resigned(bytes, kRegionTableSignature, RegionTableHeader::kChecksumOffset));
    if (!t.ok()) {
      why += "; copy " + std::to_string(i + 1) + ": " + t.status().message();
      continue;
    }
    const RegionTableEntry *bat = t->Bat(), *meta = t->Metadata();
    std::vector<std::byte> sig(8);
    if (meta->end() > file_size || bat->file_offset >= file_size ||
        !file->ReadExactAt(meta->file_offset, sig, "metadata region").ok() ||
        !HasSignature(sig, 0, kMetadataTableSignature)) {
      why += "; copy " + std::to_string(i + 1) + " names no metadata region in the file";
      continue;
    }
    found[i] =
        RegionTable::ForRegions(bat->file_offset, bat->length, meta->file_offset, meta->length);
  }
  if (found[0] && found[1] && !(*found[0] == *found[1])) {
    return Corrupt(
        "region table: both copies name valid but different regions; repair "
        "cannot tell which is current");
  }
  if (found[0]) return *found[0];
  if (found[1]) return *found[1];
  return Corrupt("region table: neither copy names regions the file holds" + why);
}

std::optional<RegionTable> ProvenRegionTable(File* file, std::span<const std::byte> section,
                                             uint64_t file_size) {
  for (uint64_t at : kTableOffsets) {
    Result<RegionTable> t = RegionTable::Decode(section.subspan(at, RegionTable::kSize));
    if (t.ok()) return std::move(t).value();
  }
  Result<RegionTable> rebuilt = RebuildRegionTable(file, section, file_size);
  if (rebuilt.ok()) return std::move(rebuilt).value();
  return std::nullopt;
}

}  // namespace hvdisk::vhdx
