// Linkage between a differencing image and its parent (MS-VHDX 2.6.2.6.3): the parent locator's
// parent_linkage (or parent_linkage2) must equal the parent's DataWriteGuid, and the two must
// agree on the logical sector size and the virtual size.
//
// Thread safety: pure functions over open images.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "platform/guid.h"
#include "platform/status.h"
#include "vhdx/image.h"

namespace hvdisk::chain {

using LocatorEntries = std::vector<std::pair<std::string, std::string>>;

// Corrupt unless the parent's DataWriteGuid equals the child's parent_linkage, or its
// parent_linkage2 when that is present and not zero (Hyper-V writes it zeroed).
Status CheckLinkage(const vhdx::Image& child, const vhdx::Image& parent);

// Corrupt unless the logical sector sizes and the virtual sizes are equal.
Status CheckGeometry(const vhdx::Image& child, const vhdx::Image& parent);

// The locator naming `parent_real` (an absolute real path) from an image in `child_dir`, linked
// to `linkage`: parent_linkage, absolute_win32_path, relative_path, in Windows order. Keys of
// `keep` other than the VHDX path and linkage keys are carried over.
LocatorEntries LocatorFor(const std::string& child_dir, const std::string& parent_real,
                          const Guid& linkage, const LocatorEntries& keep = {});

// `entries` with parent_linkage2 set to `guid`.
LocatorEntries WithLinkage2(const LocatorEntries& entries, const Guid& guid);

// The linkage GUIDs of a locator; nullopt when absent or malformed.
std::optional<Guid> Linkage(const LocatorEntries& entries);
std::optional<Guid> Linkage2(const LocatorEntries& entries);

}  // namespace hvdisk::chain
