#include "vhdx/metadata.h"

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "platform/hex.h"

namespace hvdisk::vhdx {
namespace {

constexpr size_t kEntryCountOffset = 10;
constexpr size_t kEntryOffsetOffset = 16;
constexpr size_t kEntryLengthOffset = 20;
constexpr size_t kEntryFlagsOffset = 24;
constexpr uint32_t kIsUser = 1u << 0;
constexpr uint32_t kIsVirtualDisk = 1u << 1;
constexpr uint32_t kIsRequired = 1u << 2;
constexpr uint32_t kLeaveBlockAllocated = 1u << 0;
constexpr uint32_t kHasParent = 1u << 1;

bool IsKnownSystemItem(const Guid& g) {
  static constexpr std::array<Guid, 6> kKnown = {kFileParametersGuid,     kVirtualDiskSizeGuid,
                                                 kVirtualDiskIdGuid,      kLogicalSectorSizeGuid,
                                                 kPhysicalSectorSizeGuid, kParentLocatorGuid};
  return std::find(kKnown.begin(), kKnown.end(), g) != kKnown.end();
}

std::string Describe(const MetadataTableEntry& e) {
  return "item " + e.item_id.ToString() + (e.is_user ? " (user)" : "") + " @" + Hex(e.offset) +
         "+" + Hex(e.length);
}

Status CheckEntry(const MetadataTableEntry& e, uint64_t region_length) {
  std::string what = "metadata table: " + Describe(e);
  if (e.length > kMaxMetadataItemLength) {
    return Corrupt(what + ": longer than 1 MiB (MS-VHDX 2.6.1.2)");
  }
  if (e.length == 0) {
    if (e.offset != 0)
      return Corrupt(what + ": empty item with a non-zero offset (MS-VHDX 2.6.1.2)");
    return Status::Ok();
  }
  if (e.offset < kMetadataTableSize) {
    return Corrupt(what + ": offset below 64 KiB (MS-VHDX 2.6.1.2)");
  }
  if (uint64_t{e.offset} + e.length > region_length) {
    return Corrupt(what + ": outside the " + Hex(region_length) + "-byte region (MS-VHDX 2.6.1.2)");
  }
  return Status::Ok();
}

Status CheckUniqueAndDisjoint(std::vector<MetadataTableEntry> v) {
  auto key = [](const MetadataTableEntry& e) { return std::pair(e.item_id, e.is_user); };
  std::sort(v.begin(), v.end(), [&](const auto& a, const auto& b) { return key(a) < key(b); });
  for (size_t i = 1; i < v.size(); ++i) {
    if (key(v[i]) == key(v[i - 1])) {
      return Corrupt("metadata table: " + Describe(v[i]) +
                     ": (ItemID, IsUser) repeated (MS-VHDX 2.6.1.2)");
    }
  }
  std::erase_if(v, [](const MetadataTableEntry& e) { return e.length == 0; });
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.offset < b.offset; });
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i].offset < uint64_t{v[i - 1].offset} + v[i - 1].length) {
      return Corrupt("metadata table: " + Describe(v[i - 1]) + " overlaps " + Describe(v[i]) +
                     " (MS-VHDX 2.6.1.2)");
    }
  }
  return Status::Ok();
}

Status CheckItemLength(std::span<const std::byte> item, size_t size, const char* name,
                       const char* section) {
  if (item.size() == size) return Status::Ok();
  return Corrupt(std::string("metadata: ") + name + " item is " + std::to_string(item.size()) +
                 " bytes, not " + std::to_string(size) + " (MS-VHDX " + section + ")");
}

}  // namespace

Result<MetadataTableHeader> MetadataTableHeader::Decode(std::span<const std::byte> bytes) {
  if (bytes.size() < kSize) return Corrupt("metadata table: header truncated (MS-VHDX 2.6.1.1)");
  if (!HasSignature(bytes, 0, kMetadataTableSignature)) {
    return Corrupt("metadata table: signature is not \"metadata\" (MS-VHDX 2.6.1.1)");
  }
  return MetadataTableHeader{LoadU16(bytes, kEntryCountOffset)};
}

void MetadataTableHeader::EncodeTo(std::span<std::byte> out) const {
  std::fill(out.begin(), out.begin() + kSize, std::byte{0});
  StoreSignature(out, 0, kMetadataTableSignature);
  StoreU16(out, kEntryCountOffset, entry_count);
}

Result<MetadataTableEntry> MetadataTableEntry::Decode(std::span<const std::byte> bytes) {
  if (bytes.size() < kSize) return Corrupt("metadata table: entry truncated (MS-VHDX 2.6.1.2)");
  MetadataTableEntry e;
  e.item_id = LoadGuid(bytes, 0);
  e.offset = LoadU32(bytes, kEntryOffsetOffset);
  e.length = LoadU32(bytes, kEntryLengthOffset);
  uint32_t flags = LoadU32(bytes, kEntryFlagsOffset);
  e.is_user = (flags & kIsUser) != 0;
  e.is_virtual_disk = (flags & kIsVirtualDisk) != 0;
  e.is_required = (flags & kIsRequired) != 0;
  return e;
}

void MetadataTableEntry::EncodeTo(std::span<std::byte> out) const {
  std::fill(out.begin(), out.begin() + kSize, std::byte{0});
  StoreGuid(out, 0, item_id);
  StoreU32(out, kEntryOffsetOffset, offset);
  StoreU32(out, kEntryLengthOffset, length);
  StoreU32(out, kEntryFlagsOffset,
           (is_user ? kIsUser : 0) | (is_virtual_disk ? kIsVirtualDisk : 0) |
               (is_required ? kIsRequired : 0));
}

Result<MetadataTable> MetadataTable::Decode(std::span<const std::byte> region) {
  if (region.size() < kSize) {
    return Corrupt("metadata table: region of " + Hex(region.size()) +
                   " bytes is smaller than the 64 KiB table (MS-VHDX 2.6.1)");
  }
  ASSIGN_OR_RETURN(MetadataTableHeader header, MetadataTableHeader::Decode(region));
  if (header.entry_count > kMaxEntries) {
    return Corrupt("metadata table: entry count " + std::to_string(header.entry_count) +
                   " exceeds 2047 (MS-VHDX 2.6.1.1)");
  }
  MetadataTable table;
  for (size_t i = 0; i < header.entry_count; ++i) {
    size_t off = MetadataTableHeader::kSize + i * MetadataTableEntry::kSize;
    ASSIGN_OR_RETURN(MetadataTableEntry e, MetadataTableEntry::Decode(region.subspan(off)));
    table.entries.push_back(e);
  }
  RETURN_IF_ERROR(table.Validate(region.size()));
  return table;
}

Status MetadataTable::Validate(uint64_t region_length) const {
  if (entries.size() > kMaxEntries) {
    return Corrupt("metadata table: entry count " + std::to_string(entries.size()) +
                   " exceeds 2047 (MS-VHDX 2.6.1.1)");
  }
  size_t users = std::count_if(entries.begin(), entries.end(),
                               [](const MetadataTableEntry& e) { return e.is_user; });
  if (users > kMaxUserMetadataEntries) {
    return Corrupt("metadata table: " + std::to_string(users) +
                   " IsUser entries exceed 1024 (MS-VHDX 2.6.1.2)");
  }
  for (const MetadataTableEntry& e : entries) RETURN_IF_ERROR(CheckEntry(e, region_length));
  RETURN_IF_ERROR(CheckUniqueAndDisjoint(entries));
  for (const MetadataTableEntry& e : entries) {
    if (e.is_required && (e.is_user || !IsKnownSystemItem(e.item_id))) {
      return Unsupported("metadata table: unknown required " + Describe(e) + " (MS-VHDX 2.6.1.2)");
    }
  }
  return Status::Ok();
}

void MetadataTable::EncodeTo(std::span<std::byte> out) const {
  std::fill(out.begin(), out.begin() + kSize, std::byte{0});
  MetadataTableHeader{static_cast<uint16_t>(entries.size())}.EncodeTo(out);
  for (size_t i = 0; i < entries.size(); ++i) {
    entries[i].EncodeTo(out.subspan(MetadataTableHeader::kSize + i * MetadataTableEntry::kSize));
  }
}

const MetadataTableEntry* MetadataTable::Find(const Guid& item_id, bool is_user) const {
  for (const MetadataTableEntry& e : entries) {
    if (e.item_id == item_id && e.is_user == is_user) return &e;
  }
  return nullptr;
}

Result<FileParameters> FileParameters::Decode(std::span<const std::byte> item) {
  RETURN_IF_ERROR(CheckItemLength(item, kSize, "File Parameters", "2.6.2.1"));
  FileParameters p;
  p.block_size = LoadU32(item, 0);
  uint32_t flags = LoadU32(item, 4);
  if (!IsValidBlockSize(p.block_size)) {
    return Corrupt("metadata: block size " + Hex(p.block_size) +
                   " is not a power of 2 in [1 MiB, 256 MiB] (MS-VHDX 2.6.2.1)");
  }
  if ((flags & ~(kLeaveBlockAllocated | kHasParent)) != 0) {
    return Corrupt("metadata: File Parameters flags " + Hex(flags) +
                   " set reserved bits (MS-VHDX 2.6.2.1)");
  }
  p.leave_block_allocated = (flags & kLeaveBlockAllocated) != 0;
  p.has_parent = (flags & kHasParent) != 0;
  return p;
}

void FileParameters::EncodeTo(std::span<std::byte> out) const {
  StoreU32(out, 0, block_size);
  StoreU32(out, 4,
           (leave_block_allocated ? kLeaveBlockAllocated : 0) | (has_parent ? kHasParent : 0));
}

Result<VirtualDiskSize> VirtualDiskSize::Decode(std::span<const std::byte> item) {
  RETURN_IF_ERROR(CheckItemLength(item, kSize, "Virtual Disk Size", "2.6.2.2"));
  uint64_t size = LoadU64(item, 0);
  if (size == 0 || size > kMaxVirtualDiskSize) {
    return Corrupt("metadata: virtual disk size " + Hex(size) +
                   " is 0 or above 64 TiB (MS-VHDX 2.6.2.2)");
  }
  return VirtualDiskSize{size};
}

void VirtualDiskSize::EncodeTo(std::span<std::byte> out) const { StoreU64(out, 0, size); }

Result<VirtualDiskId> VirtualDiskId::Decode(std::span<const std::byte> item) {
  RETURN_IF_ERROR(CheckItemLength(item, kSize, "Virtual Disk ID", "2.6.2.3"));
  return VirtualDiskId{LoadGuid(item, 0)};
}

void VirtualDiskId::EncodeTo(std::span<std::byte> out) const { StoreGuid(out, 0, id); }

namespace {

Result<uint32_t> DecodeSectorSize(std::span<const std::byte> item, const char* name,
                                  const char* section) {
  RETURN_IF_ERROR(CheckItemLength(item, 4, name, section));
  uint32_t size = LoadU32(item, 0);
  if (!IsValidSectorSize(size)) {
    return Corrupt(std::string("metadata: ") + name + " " + std::to_string(size) +
                   " is not 512 or 4096 (MS-VHDX " + section + ")");
  }
  return size;
}

}  // namespace

Result<LogicalSectorSize> LogicalSectorSize::Decode(std::span<const std::byte> item) {
  ASSIGN_OR_RETURN(uint32_t size, DecodeSectorSize(item, "Logical Sector Size", "2.6.2.4"));
  return LogicalSectorSize{size};
}

void LogicalSectorSize::EncodeTo(std::span<std::byte> out) const { StoreU32(out, 0, size); }

Result<PhysicalSectorSize> PhysicalSectorSize::Decode(std::span<const std::byte> item) {
  ASSIGN_OR_RETURN(uint32_t size, DecodeSectorSize(item, "Physical Sector Size", "2.6.2.5"));
  return PhysicalSectorSize{size};
}

void PhysicalSectorSize::EncodeTo(std::span<std::byte> out) const { StoreU32(out, 0, size); }

namespace {

template <typename T>
Result<T> DecodeItem(std::span<const std::byte> region, const MetadataTable& table, const Guid& id,
                     const char* name) {
  const MetadataTableEntry* e = table.Find(id);
  if (e == nullptr) return Corrupt(std::string("metadata: no ") + name + " item (MS-VHDX 2.6.2)");
  return T::Decode(MetadataTable::ItemBytes(region, *e));
}

}  // namespace

Result<DiskParameters> DiskParameters::Decode(std::span<const std::byte> region) {
  ASSIGN_OR_RETURN(MetadataTable table, MetadataTable::Decode(region));
  DiskParameters p;
  ASSIGN_OR_RETURN(p.file_parameters, DecodeItem<FileParameters>(region, table, kFileParametersGuid,
                                                                 "File Parameters"));
  ASSIGN_OR_RETURN(
      VirtualDiskSize size,
      DecodeItem<VirtualDiskSize>(region, table, kVirtualDiskSizeGuid, "Virtual Disk Size"));
  ASSIGN_OR_RETURN(VirtualDiskId id,
                   DecodeItem<VirtualDiskId>(region, table, kVirtualDiskIdGuid, "Virtual Disk ID"));
  ASSIGN_OR_RETURN(
      LogicalSectorSize lss,
      DecodeItem<LogicalSectorSize>(region, table, kLogicalSectorSizeGuid, "Logical Sector Size"));
  ASSIGN_OR_RETURN(PhysicalSectorSize pss,
                   DecodeItem<PhysicalSectorSize>(region, table, kPhysicalSectorSizeGuid,
                                                  "Physical Sector Size"));
  p.virtual_disk_size = size.size;
  p.virtual_disk_id = id.id;
  p.logical_sector_size = lss.size;
  p.physical_sector_size = pss.size;
  if (p.file_parameters.has_parent) {
    ASSIGN_OR_RETURN(p.parent_locator, DecodeItem<ParentLocator>(region, table, kParentLocatorGuid,
                                                                 "Parent Locator"));
  }
  RETURN_IF_ERROR(p.Validate());
  return p;
}

Status DiskParameters::Validate() const {
  if (!IsValidBlockSize(file_parameters.block_size)) {
    return Corrupt("metadata: block size " + Hex(file_parameters.block_size) +
                   " is not a power of 2 in [1 MiB, 256 MiB] (MS-VHDX 2.6.2.1)");
  }
  if (!IsValidSectorSize(logical_sector_size) || !IsValidSectorSize(physical_sector_size)) {
    return Corrupt("metadata: sector sizes " + std::to_string(logical_sector_size) + "/" +
                   std::to_string(physical_sector_size) +
                   " are not 512 or 4096 (MS-VHDX 2.6.2.4, 2.6.2.5)");
  }
  if (virtual_disk_size == 0 || virtual_disk_size > kMaxVirtualDiskSize ||
      virtual_disk_size % logical_sector_size != 0) {
    return Corrupt("metadata: virtual disk size " + Hex(virtual_disk_size) +
                   " is 0, above 64 TiB or not a multiple of the logical sector size " +
                   std::to_string(logical_sector_size) + " (MS-VHDX 2.6.2.2)");
  }
  if (file_parameters.has_parent) {
    if (!parent_locator) {
      return Corrupt("metadata: HasParent is set but there is no parent locator (MS-VHDX 2.6.2.6)");
    }
    RETURN_IF_ERROR(parent_locator->ValidateVhdx());
  }
  return Status::Ok();
}

Result<std::vector<std::byte>> DiskParameters::EncodeRegion(uint64_t region_length) const {
  if (Status st = Validate(); !st.ok()) {
    return InvalidArgument("metadata: cannot encode: " + st.message());
  }
  std::vector<std::byte> locator;
  if (file_parameters.has_parent) {
    ASSIGN_OR_RETURN(locator, parent_locator->Encode());
  }
  constexpr uint32_t kBase = kMetadataTableSize;
  constexpr uint32_t kLocatorOffset = kBase + 0x28;
  if (region_length < kLocatorOffset + locator.size() || region_length > UINT32_MAX) {
    return InvalidArgument("metadata: items need " + Hex(kLocatorOffset + locator.size()) +
                           " bytes; region length " + Hex(region_length) +
                           " does not fit (MS-VHDX 2.6.1)");
  }
  std::vector<std::byte> region(region_length);
  std::span<std::byte> r(region);
  MetadataTable table;
  auto add = [&table](const Guid& id, uint32_t offset, size_t length, bool virtual_disk) {
    table.entries.push_back({id, offset, static_cast<uint32_t>(length), false, virtual_disk, true});
  };
  file_parameters.EncodeTo(r.subspan(kBase));
  add(kFileParametersGuid, kBase, FileParameters::kSize, false);
  VirtualDiskSize{virtual_disk_size}.EncodeTo(r.subspan(kBase + 0x08));
  add(kVirtualDiskSizeGuid, kBase + 0x08, VirtualDiskSize::kSize, true);
  LogicalSectorSize{logical_sector_size}.EncodeTo(r.subspan(kBase + 0x10));
  add(kLogicalSectorSizeGuid, kBase + 0x10, LogicalSectorSize::kSize, true);
  PhysicalSectorSize{physical_sector_size}.EncodeTo(r.subspan(kBase + 0x14));
  add(kPhysicalSectorSizeGuid, kBase + 0x14, PhysicalSectorSize::kSize, true);
  VirtualDiskId{virtual_disk_id}.EncodeTo(r.subspan(kBase + 0x18));
  add(kVirtualDiskIdGuid, kBase + 0x18, VirtualDiskId::kSize, true);
  if (!locator.empty()) {
    std::copy(locator.begin(), locator.end(), region.begin() + kLocatorOffset);
    add(kParentLocatorGuid, kLocatorOffset, locator.size(), false);
  }
  table.EncodeTo(r);
  return region;
}

}  // namespace hvdisk::vhdx
