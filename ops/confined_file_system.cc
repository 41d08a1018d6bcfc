#include "ops/confined_file_system.h"

namespace hvdisk::ops {
namespace {

std::string WithoutTrailingSlash(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

}  // namespace

ConfinedFileSystem::ConfinedFileSystem(FileSystem* target, const std::string& root)
    : FileSystemWrapper(target) {
  roots_.push_back(WithoutTrailingSlash(root));
  Result<std::string> real = target->RealPath(root);
  if (real.ok() && *real != roots_.front()) roots_.push_back(WithoutTrailingSlash(*real));
}

std::string ConfinedFileSystem::RootOf(const std::string& path) const {
  for (const std::string& root : roots_) {
    if (PathBeneath(root, path).ok()) return root;
  }
  for (const std::string& root : roots_) {
    // Below the root but not in plain components ("vms/../.."): refused by the confined call.
    const std::string prefix = root == "/" ? root : root + "/";
    if (path.starts_with(prefix)) return root;
  }
  return "";
}

Result<std::unique_ptr<File>> ConfinedFileSystem::Open(const std::string& path,
                                                       const OpenOptions& opts) {
  const std::string root = RootOf(path);
  if (root.empty() || !opts.beneath.empty()) return target()->Open(path, opts);
  OpenOptions confined = opts;
  confined.beneath = root;
  return target()->Open(path, confined);
}

Status ConfinedFileSystem::Rename(const std::string& from, const std::string& to) {
  const std::string root = RootOf(from);
  if (root.empty() || root != RootOf(to)) return target()->Rename(from, to);  // an adoption
  return target()->RenameBeneath(root, from, to);
}

Status ConfinedFileSystem::Unlink(const std::string& path) {
  const std::string root = RootOf(path);
  if (root.empty()) return target()->Unlink(path);
  return target()->UnlinkBeneath(root, path);
}

}  // namespace hvdisk::ops
