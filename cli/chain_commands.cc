// Chain commands: merge (Merge-VHD) and reparent (Set-VHD -ParentPath).
//
// merge finds the child's dependents itself, as Merge-VHD does: every *.vhdx / *.avhdx in the
// child's directory whose chain opens and whose direct parent is the child. Images elsewhere are
// not found (reparent them afterwards). A merge that would delete the parent of an image other
// than the one merged (another child of an intermediate image, with --into) is refused.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chain/chain.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "disk/disk_format.h"
#include "disk/open.h"

namespace hvdisk::cli {
namespace {

using Json = nlohmann::ordered_json;

// ---- merge -------------------------------------------------------------------------------------

struct MergeArgs {
  std::string child;
  std::string into;
  bool json = false;
  std::vector<std::string> roots;
};

// What the merge removes: the child and the images between it and the target (real paths).
Result<std::vector<std::string>> MergedImages(FileSystem* fs, const std::string& child,
                                              const std::string& into,
                                              const chain::ChainOptions& options) {
  ASSIGN_OR_RETURN(auto chain, chain::Chain::Open(fs, child, options));
  const std::vector<std::string>& paths = chain->paths();
  if (paths.size() < 2) return InvalidArgument(child + ": not a differencing disk");
  size_t t = 1;
  if (!into.empty()) {
    ASSIGN_OR_RETURN(std::string real, fs->RealPath(into));
    auto it = std::find(paths.begin() + 1, paths.end(), real);
    if (it == paths.end()) return InvalidArgument(into + " is not an ancestor of " + child);
    t = static_cast<size_t>(it - paths.begin());
  }
  return std::vector<std::string>(paths.begin(), paths.begin() + t);
}

// The direct parent (real path) of the image at `path`, or "" when its chain does not open or it
// is not a differencing image.
std::string ParentOf(FileSystem* fs, const std::string& path, const chain::ChainOptions& options) {
  auto chain = chain::Chain::Open(fs, path, options);
  if (!chain.ok() || (*chain)->depth() < 2) return "";
  return (*chain)->paths()[1];
}

// The images in the child's directory whose parent is merged[0] (the dependents); kInvalidState
// when another image's parent is one of merged[1..], which the merge would delete.
Result<std::vector<std::string>> FindDependents(FileSystem* fs,
                                                const std::vector<std::string>& merged,
                                                const chain::ChainOptions& options) {
  const std::string dir = DirName(merged[0]);
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs->List(dir));
  std::vector<std::string> dependents;
  for (const std::string& name : names) {
    const std::string path = JoinPath(dir, name);
    if (!disk::HasVhdxExtension(name) ||
        std::find(merged.begin(), merged.end(), path) != merged.end()) {
      continue;
    }
    const std::string parent = ParentOf(fs, path, options);
    auto it = std::find(merged.begin(), merged.end(), parent);
    if (it == merged.begin()) {
      dependents.push_back(path);
    } else if (it != merged.end()) {
      return InvalidState(path + " is a child of " + parent +
                          ", which the merge would delete; merge or remove it first");
    }
  }
  return dependents;
}

void PrintMerge(const chain::MergeResult& r, const std::vector<std::string>& dependents,
                bool json) {
  if (json) {
    Json j;
    j["target"] = r.target;
    j["removed"] = r.removed;
    j["reparented"] = dependents;
    j["bytes-copied"] = r.bytes_copied;
    PrintJson(j);
    return;
  }
  std::printf("Merged %zu image(s) into '%s' (%llu bytes copied)\n", r.removed.size(),
              r.target.c_str(), static_cast<unsigned long long>(r.bytes_copied));
  for (const std::string& p : r.removed) std::printf("Removed: %s\n", p.c_str());
  for (const std::string& p : dependents) {
    std::printf("Reparented: %s onto %s\n", p.c_str(), r.target.c_str());
  }
}

int RunMerge(const MergeArgs& a) {
  FileSystem* fs = DefaultFileSystem();
  Result<std::vector<std::string>> roots = disk::ChainRoots(fs, a.child, a.roots);
  if (!roots.ok()) return ReportDiskError(roots.status(), a.child, false);
  // The merged files' space is freed by a detached process after the command returns (ext4
  // frees a file's extents inside unlink: 0.2 s per GiB here, as long as the copy itself).
  chain::MergeOptions o{.into = a.into,
                        .chain = {.allowed_roots = std::move(roots).value()},
                        .free_in_background = true};
  Result<std::vector<std::string>> merged = MergedImages(fs, a.child, a.into, o.chain);
  if (!merged.ok()) return ReportDiskError(ExplainChainError(merged.status()), a.child, false);
  Result<std::vector<std::string>> dependents = FindDependents(fs, *merged, o.chain);
  if (!dependents.ok()) return ReportDiskError(dependents.status(), a.child, false);
  o.dependents = *dependents;
  Progress progress("merge", 0, a.json);
  o.progress = [&progress](uint64_t done, uint64_t total) {
    progress.Percent(static_cast<int>(done * 100 / std::max<uint64_t>(total, 1)));
  };
  Result<chain::MergeResult> r = chain::Merge(fs, a.child, o);
  progress.Finish();
  if (!r.ok()) {
    return ReportDiskError(ExplainChainError(r.status()).WithContext("merge " + a.child), a.child,
                           false);
  }
  PrintMerge(*r, *dependents, a.json);
  return kExitOk;
}

void RegisterMerge(CLI::App& app) {
  auto a = std::make_shared<MergeArgs>();
  CLI::App* sub = app.add_subcommand(
      "merge",
      "Merge a differencing image into its parent, or into ANCESTOR (Merge-VHD): the merged files "
      "are deleted (their space freed in the background) and the images in CHILD's directory that "
      "sat on CHILD are reparented");
  sub->add_option("--into", a->into, "The ancestor to merge into (default: the parent)");
  AddJsonFlag(sub, &a->json, "target, removed, reparented, bytes-copied");
  AddAllowRootOption(sub, &a->roots);
  sub->add_option("CHILD", a->child, "The differencing image to merge")->required();
  SetCommand(sub, [a] { return RunMerge(*a); });
}

// ---- reparent ----------------------------------------------------------------------------------

struct ReparentArgs {
  std::string child;
  std::string parent;
  bool ignore_id_mismatch = false;
  bool json = false;
  std::vector<std::string> roots;
};

int RunReparent(const ReparentArgs& a) {
  FileSystem* fs = DefaultFileSystem();
  Result<std::vector<std::string>> roots = disk::ChainRoots(fs, a.child, a.roots);
  if (!roots.ok()) return ReportDiskError(roots.status(), a.child, false);
  Status s = chain::Reparent(fs, a.child, a.parent, a.ignore_id_mismatch,
                             {.allowed_roots = std::move(roots).value()});
  if (!s.ok()) {
    return ReportDiskError(ExplainChainError(s).WithContext("reparent " + a.child), a.child, false);
  }
  if (a.json) {
    Json j{{"child", a.child}, {"parent", a.parent}, {"ignored-id-mismatch", a.ignore_id_mismatch}};
    PrintJson(j);
  } else {
    std::printf("Reparented '%s' onto '%s'\n", a.child.c_str(), a.parent.c_str());
  }
  return kExitOk;
}

void RegisterReparent(CLI::App& app) {
  auto a = std::make_shared<ReparentArgs>();
  CLI::App* sub = app.add_subcommand(
      "reparent",
      "Point a differencing image at a new parent path (Set-VHD -ParentPath); the new parent "
      "must carry the linkage the child records, and the same size and sector size");
  sub->add_flag("--ignore-id-mismatch", a->ignore_id_mismatch,
                "Accept a parent whose DataWriteGuid does not match the child's linkage "
                "(repairs only: the content seen through the child may change)");
  AddJsonFlag(sub, &a->json, "child, parent, ignored-id-mismatch");
  AddAllowRootOption(sub, &a->roots);
  sub->add_option("CHILD", a->child, "The differencing image")->required();
  sub->add_option("PARENT", a->parent, "Its new parent")->required();
  SetCommand(sub, [a] { return RunReparent(*a); });
}

}  // namespace

void RegisterChainCommands(CLI::App& app) {
  RegisterMerge(app);
  RegisterReparent(app);
}

}  // namespace hvdisk::cli
