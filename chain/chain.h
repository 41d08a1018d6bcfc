// Chain: a differencing chain (leaf <- ... <- base) opened as one virtual disk.
//
// Opening resolves each differencing image's parent from its parent locator (parent_path.h),
// refuses parents outside the allowed roots, cycles and chains deeper than max_depth, checks the
// linkage (the child's parent_linkage or parent_linkage2 equals the parent's DataWriteGuid), equal
// logical sector size and virtual size, and opens every parent read-only. Every image holds its
// image locks (platform/image_lock.h) while the chain is open: the parents a reader's, shared with
// other readers and chains, so nobody writes a parent under the chain. Reads go to the leaf,
// whose transparent ranges read through its parent, and so on down to the base; writes, trims and
// flushes go to the leaf only.
//
// Thread safety: as Image: Read, Write, Trim and Flush may run concurrently on disjoint ranges;
// Close needs exclusive use.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "platform/file.h"
#include "platform/status.h"
#include "vhdx/image.h"

namespace hvdisk::chain {

// Longest chain accepted (leaf included). Hyper-V's checkpoint trees stay far below it.
inline constexpr int kDefaultMaxDepth = 64;

struct ChainOptions {
  bool writable_leaf = false;
  bool direct = false;  // O_DIRECT data path for every image
  // Every image read-only with the image locks that share everything (qemu's -U; vhdx::
  // ImageOpenOptions::force_share). REQUIRES: !writable_leaf.
  bool force_share = false;
  // Directories a parent may resolve into (after following symlinks). Empty: the leaf's
  // directory tree only.
  std::vector<std::string> allowed_roots;
  int max_depth = kDefaultMaxDepth;
  // Accept a parent whose DataWriteGuid matches neither linkage (repairs only).
  bool ignore_linkage = false;

  // allowed_roots, or `child_dir` when none are set.
  std::vector<std::string> RootsOr(const std::string& child_dir) const {
    return allowed_roots.empty() ? std::vector<std::string>{child_dir} : allowed_roots;
  }
};

class Chain : public vhdx::VirtualDisk {
 public:
  // Opens `leaf_path` and every parent it names. NotFound when a parent cannot be located (the
  // message lists the paths tried), AccessDenied when it resolves outside the allowed roots,
  // Corrupt on a linkage, size or sector-size mismatch, a cycle, or a chain over max_depth.
  static Result<std::unique_ptr<Chain>> Open(FileSystem* fs, const std::string& leaf_path,
                                             const ChainOptions& options);
  ~Chain() override;

  // VirtualDisk
  uint64_t virtual_size() const override;
  uint32_t logical_sector_size() const override;
  Status Read(uint64_t offset, std::span<std::byte> dst) override;
  // One batch of requests across every layer (Image::PlanRead through the backings).
  Status PlanRead(uint64_t offset, std::span<std::byte> dst, std::vector<IoRequest>* out) override {
    return leaf()->PlanRead(offset, dst, out);
  }

  // Leaf operations. REQUIRES: opened with writable_leaf.
  Status Write(uint64_t offset, std::span<const std::byte> src);
  // Plans a write of the leaf for an IoQueue (Image::PlanWrite: the same rules and durability).
  Status PlanWrite(uint64_t offset, std::span<const std::byte> src, std::vector<IoRequest>* out) {
    return leaf()->PlanWrite(offset, src, out);
  }
  Status Trim(uint64_t offset, uint64_t length, bool make_transparent = false);
  Status Flush();
  // Closes every image, the leaf first (draining its log).
  Status Close();

  // images()[0] is the leaf, images().back() the base. Owned by the chain.
  const std::vector<std::unique_ptr<vhdx::Image>>& images() const { return images_; }
  vhdx::Image* leaf() const { return images_.front().get(); }
  // The real paths of the images, leaf first.
  const std::vector<std::string>& paths() const { return paths_; }
  int depth() const { return static_cast<int>(images_.size()); }

 private:
  Chain() = default;
  std::vector<std::unique_ptr<vhdx::Image>> images_;
  std::vector<std::string> paths_;
};

// The content-changing operations on chains. Each states its steps and crash points in
// chain_ops.cc or chain_merge.cc; every step goes through `fs` (a CrashFileSystem stops it).

struct CreateChildOptions {
  uint32_t block_size = 0;  // 0: the parent's block size
};

// Creates a differencing image `child_path` on top of `parent_path`: the IsVirtualDisk items
// (virtual size, virtual disk id, logical and physical sector size) copied from the parent; a
// parent locator with parent_linkage = the parent's DataWriteGuid, relative_path in Windows
// form (".\\name.vhdx", "..\\dir\\name.vhdx") and absolute_win32_path ("C:\\...").
Status CreateChild(FileSystem* fs, const std::string& parent_path, const std::string& child_path,
                   const CreateChildOptions& options = {});

// Points `child_path` at `new_parent_path` (Set-VHD -ParentPath): one log entry replaces the
// locator's paths and linkage. The new parent must carry the linkage the child records (its
// DataWriteGuid equals parent_linkage or parent_linkage2), unless ignore_id_mismatch, and have the
// same virtual size and logical sector size. Crash-safe: the locator changes atomically.
Status Reparent(FileSystem* fs, const std::string& child_path, const std::string& new_parent_path,
                bool ignore_id_mismatch, const ChainOptions& options = {});

struct MergeOptions {
  // The ancestor to merge into; empty: the child's direct parent.
  std::string into;
  // Images whose parent is `child` and that must be reparented onto the target. Empty: none
  // (the child is a leaf). Merge-VHD finds them itself; callers that know the tree pass them.
  std::vector<std::string> dependents;
  ChainOptions chain;
  // Called from the merging thread as the copy advances (bytes of virtual disk scanned, of total).
  std::function<void(uint64_t done, uint64_t total)> progress;
  // Step 5 (chain_merge.cc) disposes of the merged files (real paths) with this, not an unlink;
  // it must leave none of them in place durably (the replica store moves them to its trash).
  std::function<Status(const std::vector<std::string>& merged)> dispose;
  // Step 5 unlinks with FileSystem::UnlinkInBackground: the names are gone (durably) when Merge
  // returns, their space is freed after, off the caller's path. PosixFileSystem forks for it:
  // for small processes such as the CLI, not for a big embedding service.
  bool free_in_background = false;
  // When not null, set to true once step 4 (the first reparent) begins, in this run or (a rerun
  // that finds a dependent no longer linking to the child) an earlier one. A merge that fails while
  // it is still false changed no image's content nor any link a reader follows (the target's
  // unflushed copy is discarded, so a kNoSpace leaves it as it was): the caller may give up the
  // merge and keep the chain as it stands.
  bool* relinking = nullptr;
};

struct MergeResult {
  std::string target;                // real path of the image merged into
  std::vector<std::string> removed;  // the merged files, now deleted (or disposed of)
  uint64_t bytes_copied = 0;
};

// Merges `child_path` and every image between it and the target into the target (Merge-VHD),
// reparents the dependents onto the target and deletes the merged files. The virtual content seen
// through every dependent (or through the target, when there are none) is unchanged. Idempotent:
// re-running it after a crash or a failure (kNoSpace) completes the merge.
Result<MergeResult> Merge(FileSystem* fs, const std::string& child_path,
                          const MergeOptions& options);

// Rewrites a stale relative_path of `child_path`'s parent locator (chain/chain_ops.cc):
// when the chain opens and the parent was found by another path, relative_path is set to the
// one naming it, through the log. Returns what it did ("" when nothing was stale). Errors: the
// chain does not open (nothing written), or the rewrite failed.
Result<std::string> RefreshParentLocator(FileSystem* fs, const std::string& child_path,
                                         const ChainOptions& options = {});

// Checks every image of the chain (Image::Check) and the links between them.
struct ChainCheckReport {
  std::vector<std::string> paths;  // leaf first
  std::vector<vhdx::CheckReport> images;
  std::vector<std::string> link_errors;
  bool corrupt() const;
  bool leaks() const;
  bool warnings() const;  // repairable findings (CheckReport::warnings)
};
// `progress` (optional) is called as the check advances, over all images (done of total).
Result<ChainCheckReport> CheckChain(FileSystem* fs, const std::string& leaf_path,
                                    const ChainOptions& options = {},
                                    const vhdx::Image::CheckProgress& progress = {});

}  // namespace hvdisk::chain
