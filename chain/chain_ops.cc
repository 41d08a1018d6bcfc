// CreateChild and Reparent: the single-step chain operations.
#include <algorithm>

#include "chain/chain.h"
#include "chain/linkage.h"
#include "chain/parent_path.h"
#include "vhdx/parent_locator.h"

namespace hvdisk::chain {

namespace {

// InvalidArgument when `child` already lies under `parent` (the new link would close a cycle).
// A parent whose own chain does not open is judged by the part that does.
Status RefuseCycle(FileSystem* fs, const std::string& child, const std::string& parent,
                   const std::vector<std::string>& roots) {
  ChainOptions probe{.allowed_roots = roots, .ignore_linkage = true};
  auto chain = Chain::Open(fs, parent, probe);
  if (!chain.ok()) return Status::Ok();
  const auto& paths = (*chain)->paths();
  if (std::find(paths.begin(), paths.end(), child) != paths.end()) {
    return InvalidArgument(child + ": " + parent +
                           " is its descendant; reparenting would make "
                           "a cycle");
  }
  return Status::Ok();
}

}  // namespace

// Steps: (1) open the parent read-only and read its IsVirtualDisk items and DataWriteGuid;
// (2) Image::Create the child (its headers are written last, so a crash leaves no valid file).
Status CreateChild(FileSystem* fs, const std::string& parent_path, const std::string& child_path,
                   const CreateChildOptions& options) {
  ASSIGN_OR_RETURN(std::string parent_real, fs->RealPath(parent_path));
  ASSIGN_OR_RETURN(auto parent, vhdx::Image::Open(fs, parent_real, {.read_only = true}));
  ASSIGN_OR_RETURN(std::string child_dir, fs->RealPath(DirName(child_path)));
  vhdx::CreateOptions create{
      .type = vhdx::DiskType::kDifferencing,
      .virtual_size = parent->virtual_size(),
      .block_size = options.block_size ? options.block_size : parent->block_size(),
      .logical_sector_size = parent->logical_sector_size(),
      .physical_sector_size = parent->physical_sector_size(),
      .virtual_disk_id = parent->virtual_disk_id(),
      .parent_locator = LocatorFor(child_dir, parent_real, parent->data_write_guid()),
  };
  return vhdx::Image::Create(fs, JoinPath(child_dir, BaseName(child_path)), create);
}

// Steps: (1) open the child writable and the new parent read-only; check geometry and linkage;
// (2) one log entry replaces the locator (crash point: before the entry is durable the old
// parent stands, after it the new one); (3) close, draining the log.
Status Reparent(FileSystem* fs, const std::string& child_path, const std::string& new_parent_path,
                bool ignore_id_mismatch, const ChainOptions& options) {
  ASSIGN_OR_RETURN(std::string child_real, fs->RealPath(child_path));
  const std::string child_dir = DirName(child_real);
  ASSIGN_OR_RETURN(std::string parent_real,
                   Confine(fs, new_parent_path, options.RootsOr(child_dir)));
  if (parent_real == child_real) return InvalidArgument(child_real + ": cannot be its own parent");
  RETURN_IF_ERROR(RefuseCycle(fs, child_real, parent_real, options.RootsOr(child_dir)));
  ASSIGN_OR_RETURN(auto child, vhdx::Image::Open(fs, child_real, {.read_only = false}));
  if (child->type() != vhdx::DiskType::kDifferencing) {
    return InvalidArgument(child_real + ": not a differencing disk");
  }
  ASSIGN_OR_RETURN(auto parent, vhdx::Image::Open(fs, parent_real, {.read_only = true}));
  RETURN_IF_ERROR(CheckGeometry(*child, *parent));
  if (!ignore_id_mismatch) RETURN_IF_ERROR(CheckLinkage(*child, *parent));
  RETURN_IF_ERROR(child->SetParentLocator(
      LocatorFor(child_dir, parent_real, parent->data_write_guid(), child->parent_locator())));
  return child->Close();
}

// RefreshParentLocator: "after a successful open, update any stale path entries" (MS-VHDX
// 2.6.2.6.3), as check -r all does. Steps: (1) open the chain read-only (its parent found by
// whichever locator path works); (2) compute the relative_path naming the parent found; equal to
// the stored one: done; (3) open the child writable and replace only that entry through the log
// (SetParentLocator), then Close. Crash points: (3) is one log entry; a crash leaves the old or
// the new locator, and both find the parent.
Result<std::string> RefreshParentLocator(FileSystem* fs, const std::string& child_path,
                                         const ChainOptions& options) {
  ChainOptions ro = options;
  ro.writable_leaf = false;
  ASSIGN_OR_RETURN(auto chain, Chain::Open(fs, child_path, ro));
  if (chain->depth() < 2) return std::string();
  const std::string child = chain->paths()[0], parent = chain->paths()[1];
  const std::string wanted = WindowsRelativePath(DirName(child), parent);
  vhdx::ParentLocator locator{.entries = chain->leaf()->parent_locator()};
  const std::optional<std::string_view> stored = locator.Get(vhdx::kRelativePathKey);
  if (stored && *stored == wanted) return std::string();
  const std::string was = stored ? std::string(*stored) : "(none)";
  locator.Set(vhdx::kRelativePathKey, wanted);
  chain.reset();
  ASSIGN_OR_RETURN(auto image, vhdx::Image::Open(fs, child, {.read_only = false}));
  RETURN_IF_ERROR(image->SetParentLocator(locator.entries));
  RETURN_IF_ERROR(image->Close());
  return "parent locator's relative_path " + was + " rewritten as " + wanted + " (the parent " +
         parent + " was found by another path)";
}

}  // namespace hvdisk::chain
