#include "chain/linkage.h"

#include "chain/parent_path.h"
#include "vhdx/parent_locator.h"

namespace hvdisk::chain {

using vhdx::ParentLocator;

Status CheckLinkage(const vhdx::Image& child, const vhdx::Image& parent) {
  const Guid parent_guid = parent.data_write_guid();
  std::optional<Guid> l1 = Linkage(child.parent_locator());
  std::optional<Guid> l2 = Linkage2(child.parent_locator());
  if (l1 && *l1 == parent_guid) return Status::Ok();
  if (l2 && !l2->IsZero() && *l2 == parent_guid) return Status::Ok();
  return Corrupt(child.path() + ": parent " + parent.path() + " has DataWriteGuid " +
                 ParentLocator::LinkageString(parent_guid) +
                 ", which matches neither parent_linkage nor parent_linkage2 (MS-VHDX 2.6.2.6.3)");
}

Status CheckGeometry(const vhdx::Image& child, const vhdx::Image& parent) {
  if (child.logical_sector_size() != parent.logical_sector_size()) {
    return Corrupt(child.path() + ": logical sector size " +
                   std::to_string(child.logical_sector_size()) + " differs from the parent's " +
                   std::to_string(parent.logical_sector_size()) + " (MS-VHDX 2.6.2.4)");
  }
  if (child.virtual_size() != parent.virtual_size()) {
    return Corrupt(child.path() + ": virtual size " + std::to_string(child.virtual_size()) +
                   " differs from the parent's " + std::to_string(parent.virtual_size()));
  }
  return Status::Ok();
}

LocatorEntries LocatorFor(const std::string& child_dir, const std::string& parent_real,
                          const Guid& linkage, const LocatorEntries& keep) {
  ParentLocator locator;
  locator.Set(vhdx::kParentLinkageKey, ParentLocator::LinkageString(linkage));
  locator.Set(vhdx::kAbsoluteWin32PathKey, WindowsAbsolutePath(parent_real));
  locator.Set(vhdx::kRelativePathKey, WindowsRelativePath(child_dir, parent_real));
  for (const auto& [k, v] : keep) {
    if (k != vhdx::kParentLinkageKey && k != vhdx::kParentLinkage2Key &&
        k != vhdx::kAbsoluteWin32PathKey && k != vhdx::kRelativePathKey &&
        k != vhdx::kVolumePathKey) {
      locator.Set(k, v);
    }
  }
  return locator.entries;
}

LocatorEntries WithLinkage2(const LocatorEntries& entries, const Guid& guid) {
  ParentLocator locator{.entries = entries};
  locator.Set(vhdx::kParentLinkage2Key, ParentLocator::LinkageString(guid));
  return locator.entries;
}

std::optional<Guid> Linkage(const LocatorEntries& entries) {
  return ParentLocator{.entries = entries}.ParentLinkage();
}

std::optional<Guid> Linkage2(const LocatorEntries& entries) {
  return ParentLocator{.entries = entries}.ParentLinkage2();
}

}  // namespace hvdisk::chain
