#include "vhdx/structure_copies.h"

#include <cstring>

#include "platform/hex.h"
#include "vhdx/header.h"
#include "vhdx/region_table.h"

namespace hvdisk::vhdx {
namespace {

constexpr uint64_t kTableOffsets[] = {kRegionTable1Offset, kRegionTable2Offset};

Status HeaderStatus(std::span<const std::byte> section, int slot) {
  return VhdxHeader::Decode(section.subspan(HeaderSlotOffset(slot), VhdxHeader::kSize)).status();
}

void FindHeaderDamage(std::span<const std::byte> section, std::vector<DamagedCopy>* out) {
  const Status s1 = HeaderStatus(section, 1), s2 = HeaderStatus(section, 2);
  if (s1.ok() == s2.ok()) return;  // both good, or no good copy to rewrite from
  const int bad = s1.ok() ? 2 : 1;
  out->push_back({DamagedCopy::Kind::kHeader, bad, 3 - bad, (s1.ok() ? s2 : s1).message()});
}

void FindTableDamage(std::span<const std::byte> section, bool compare,
                     std::vector<DamagedCopy>* out) {
  Result<RegionTable> t[2] = {
      RegionTable::Decode(section.subspan(kTableOffsets[0], RegionTable::kSize)),
      RegionTable::Decode(section.subspan(kTableOffsets[1], RegionTable::kSize))};
  if (t[0].ok() != t[1].ok()) {
    const int bad = t[0].ok() ? 2 : 1;
    out->push_back({DamagedCopy::Kind::kRegionTable, bad, 3 - bad, t[bad - 1].status().message()});
  } else if (compare && t[0].ok() && !(*t[0] == *t[1])) {
    out->push_back({DamagedCopy::Kind::kRegionTable, 2, 1, "differs from region table 1"});
  }
}

}  // namespace

std::string DamagedCopy::Describe() const {
  const bool header = kind == Kind::kHeader;
  const char* name = header ? "header" : "region table";
  const uint64_t at = header ? HeaderSlotOffset(slot) : kTableOffsets[slot - 1];
  return std::string(name) + " " + std::to_string(slot) + " @" + Hex(at) + ": " + why +
         "; repair rewrites it from " + name + " " + std::to_string(good_slot) +
         (header ? " (header update protocol)" : " (through the log)");
}

Result<std::vector<DamagedCopy>> FindDamagedCopies(File* file, bool compare_tables) {
  std::vector<std::byte> section(kHeaderSectionSize);
  RETURN_IF_ERROR(file->ReadExactAt(0, section, "header section"));
  std::vector<DamagedCopy> out;
  FindHeaderDamage(section, &out);
  FindTableDamage(section, compare_tables, &out);
  return out;
}

}  // namespace hvdisk::vhdx
