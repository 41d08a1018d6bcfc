// Merge (Merge-VHD): fold a run of differencing images into an ancestor.
//
// Chain: dependents -> X[0] (the child) -> X[1] -> ... -> X[k-1] -> target.
// Steps and crash points:
//   1. Pick the target's new DataWriteGuid N and log it into X[k-1]'s parent_linkage2; flush.
//      (Crash: nothing visible changed; X[k-1] still links through parent_linkage.)
//      A rerun finds N already there and in the target: it resumes with that N.
//   2. Set the target's DataWriteGuid to N through the header protocol.
//      (Crash: X[k-1] links through parent_linkage2; every view is unchanged.)
//   3. Copy every range X[0..k-1] decides (data, or zeros) into the target; flush; close.
//      (Crash: the copied ranges are all shadowed by the X images, so every view through them
//      is unchanged; a rerun copies again, which is idempotent. Failure, e.g. kNoSpace: the
//      target's unflushed changes are discarded and their space given back.)
//   4. Reparent each dependent onto the target with linkage N, one log entry each.
//      (Crash: reparented dependents read the target, the others still read through X.)
//   5. Unlink X[0..k-1] (or hand them to MergeOptions::dispose), then sync the directories. With
//      free_in_background their space is freed after Merge returns, by another process.
//      (Crash: the leftovers are orphans that nothing references; a rerun or the store's
//      recovery removes them.)
#include <algorithm>

#include "chain/chain.h"
#include "chain/linkage.h"
#include "vhdx/parent_locator.h"

namespace hvdisk::chain {

namespace {

constexpr uint64_t kCopyChunk = 8 * vhdx::kMiB;
// How much of the virtual disk one pass maps: the copy loop costs a few map lookups per window,
// so an empty 64 TiB disk is 64 Ki lookups, not one per copy chunk.
constexpr uint64_t kMapWindow = vhdx::kGiB;

struct Plan {
  std::vector<std::string> merged;  // X[0..k-1], real paths
  std::string target;
  std::vector<std::string> dependents;  // real paths
};

// Copies what X[level] (and, through its transparent ranges, X[level+1..]) decides for
// [offset, offset + length) into the target.
Status CopyRange(const std::vector<std::unique_ptr<vhdx::Image>>& xs, size_t level, uint64_t offset,
                 uint64_t length, vhdx::Image* target, uint64_t* copied) {
  ASSIGN_OR_RETURN(std::vector<vhdx::Extent> extents, xs[level]->Map(offset, length));
  for (const vhdx::Extent& e : extents) {
    switch (e.kind) {
      case vhdx::Extent::Kind::kParent:
        if (level + 1 < xs.size()) {
          RETURN_IF_ERROR(CopyRange(xs, level + 1, e.virtual_offset, e.length, target, copied));
        }
        break;
      case vhdx::Extent::Kind::kZero:
        RETURN_IF_ERROR(target->Trim(e.virtual_offset, e.length));
        break;
      case vhdx::Extent::Kind::kData:  // file to file, inside the kernel where it can
        for (uint64_t done = 0; done < e.length; done += kCopyChunk) {
          const uint64_t n = std::min(kCopyChunk, e.length - done);
          RETURN_IF_ERROR(target->CopyFrom(e.virtual_offset + done, *xs[level]->file(),
                                           e.file_offset + done, n));
          // The copied chunk starts for the disk now, so the final flush waits only for the last.
          target->file()->StartWriteback();
        }
        *copied += e.length;
        break;
    }
  }
  return Status::Ok();
}

// Step 3: opens X read-only (no backing: only their own ranges are read) and copies.
Status CopyIntoTarget(FileSystem* fs, const Plan& plan, vhdx::Image* target,
                      const MergeOptions& options, uint64_t* copied) {
  std::vector<std::unique_ptr<vhdx::Image>> xs;
  for (const std::string& path : plan.merged) {
    ASSIGN_OR_RETURN(auto x, vhdx::Image::Open(fs, path, {.read_only = true}));
    xs.push_back(std::move(x));
  }
  const uint64_t size = target->virtual_size();
  for (uint64_t off = 0; off < size; off += kMapWindow) {
    uint64_t len = std::min(kMapWindow, size - off);
    RETURN_IF_ERROR(CopyRange(xs, 0, off, len, target, copied));
    if (options.progress) options.progress(off + len, size);
  }
  return target->Flush();
}

// Steps 1-2: returns N, the target's DataWriteGuid linking X[k-1] through parent_linkage2.
Result<Guid> LinkTargetThroughLinkage2(FileSystem* fs, const Plan& plan, vhdx::Image* target) {
  ASSIGN_OR_RETURN(auto bottom, vhdx::Image::Open(fs, plan.merged.back(), {.read_only = false}));
  std::optional<Guid> l1 = Linkage(bottom->parent_locator());
  std::optional<Guid> l2 = Linkage2(bottom->parent_locator());
  const Guid current = target->data_write_guid();
  Guid n = current;
  if (!(l2 && *l2 == current && !(l1 && *l1 == current))) {  // else resumed: N is in place
    n = Guid::Random();
    RETURN_IF_ERROR(bottom->SetParentLocator(WithLinkage2(bottom->parent_locator(), n)));
    RETURN_IF_ERROR(bottom->Close());
  }
  // Also when resumed: pins N, so that the copy's first write does not pick another GUID.
  RETURN_IF_ERROR(target->SetDataWriteGuid(n));
  return n;
}

// Step 4 for one dependent; a dependent already on the target with linkage n is left alone.
Status ReparentDependent(FileSystem* fs, const std::string& path, const std::string& target,
                         const Guid& n) {
  ASSIGN_OR_RETURN(auto dep, vhdx::Image::Open(fs, path, {.read_only = true}));
  std::optional<Guid> l1 = Linkage(dep->parent_locator());
  if (l1 && *l1 == n) return Status::Ok();
  dep.reset();
  ASSIGN_OR_RETURN(dep, vhdx::Image::Open(fs, path, {.read_only = false}));
  RETURN_IF_ERROR(
      dep->SetParentLocator(LocatorFor(DirName(path), target, n, dep->parent_locator())));
  return dep->Close();
}

// Whether step 4 began in an earlier run (a crash or a failure among the reparents): a dependent
// no longer links to X[0], so it may read the target already, and the merge cannot be given up.
Result<bool> RelinkingBegan(FileSystem* fs, const Plan& plan) {
  if (plan.dependents.empty()) return false;
  ASSIGN_OR_RETURN(auto x0, vhdx::Image::Open(fs, plan.merged.front(), {.read_only = true}));
  const Guid x0_guid = x0->data_write_guid();
  for (const std::string& path : plan.dependents) {
    ASSIGN_OR_RETURN(auto dep, vhdx::Image::Open(fs, path, {.read_only = true}));
    std::optional<Guid> l1 = Linkage(dep->parent_locator());
    if (!l1 || *l1 != x0_guid) return true;
  }
  return false;
}

// Opens the chain under the child and works out X and the target.
Result<Plan> MakePlan(FileSystem* fs, const std::string& child_path, const MergeOptions& options) {
  ASSIGN_OR_RETURN(auto chain, Chain::Open(fs, child_path, options.chain));
  const std::vector<std::string>& paths = chain->paths();
  if (paths.size() < 2) return InvalidArgument(paths[0] + ": not a differencing disk");
  size_t t = 1;
  if (!options.into.empty()) {
    ASSIGN_OR_RETURN(std::string into, fs->RealPath(options.into));
    auto it = std::find(paths.begin() + 1, paths.end(), into);
    if (it == paths.end()) return InvalidArgument(into + " is not an ancestor of " + paths[0]);
    t = static_cast<size_t>(it - paths.begin());
  }
  Plan plan{.merged = {paths.begin(), paths.begin() + t}, .target = paths[t]};
  for (const std::string& d : options.dependents) {
    ASSIGN_OR_RETURN(std::string real, fs->RealPath(d));
    plan.dependents.push_back(real);
  }
  return plan;
}

Status RemoveMerged(FileSystem* fs, const Plan& plan, bool in_background, MergeResult* result) {
  for (const std::string& path : plan.merged) {
    RETURN_IF_ERROR(in_background ? fs->UnlinkInBackground(path) : fs->Unlink(path));
    result->removed.push_back(path);
  }
  std::vector<std::string> dirs;
  for (const std::string& path : plan.merged) dirs.push_back(DirName(path));
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  for (const std::string& dir : dirs) RETURN_IF_ERROR(fs->SyncDir(dir));
  return Status::Ok();
}

}  // namespace

Result<MergeResult> Merge(FileSystem* fs, const std::string& child_path,
                          const MergeOptions& options) {
  ASSIGN_OR_RETURN(Plan plan, MakePlan(fs, child_path, options));
  MergeResult result{.target = plan.target};
  if (options.relinking != nullptr) {  // a rerun past its first reparent stays past it
    ASSIGN_OR_RETURN(bool began, RelinkingBegan(fs, plan));
    if (began) *options.relinking = true;
  }
  {
    ASSIGN_OR_RETURN(auto target, vhdx::Image::Open(fs, plan.target, {.read_only = false}));
    ASSIGN_OR_RETURN(Guid n, LinkTargetThroughLinkage2(fs, plan, target.get()));
    Status copied = CopyIntoTarget(fs, plan, target.get(), options, &result.bytes_copied);
    if (copied.ok()) copied = target->Close();
    if (!copied.ok()) {  // e.g. kNoSpace: the target's unflushed blocks and their space go
      Status discarded = target->Discard();
      return discarded.ok() ? copied : copied.WithContext(discarded.ToString());
    }
    if (options.relinking != nullptr) *options.relinking = true;
    for (const std::string& dep : plan.dependents) {
      RETURN_IF_ERROR(ReparentDependent(fs, dep, plan.target, n));
    }
  }
  if (options.dispose) {
    RETURN_IF_ERROR(options.dispose(plan.merged));
    result.removed = plan.merged;
  } else {
    RETURN_IF_ERROR(RemoveMerged(fs, plan, options.free_in_background, &result));
  }
  return result;
}

}  // namespace hvdisk::chain
