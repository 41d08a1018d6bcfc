// ConfinedFileSystem: the FileSystem a Store works through, which confines every open, rename
// and unlink of a path inside the store to the store (docs/store-layout.md, "What the store
// trusts").
//
// A path below the store's root (as given, or as RealPath resolves it: chains name parents by
// their real path) is opened with OpenOptions::beneath = that root, and renamed and unlinked
// with RenameBeneath/UnlinkBeneath: a symbolic link in any component below the root, even one
// swapped in after the store checked the component, is kWrongType and never followed. The root
// itself may be reached through links (an administrator may link /var/lib/x to /data/x). Paths
// outside the store (an adopted base's origin) pass through unchanged, as does every other call.
// vhdx::Image and chain::Chain need no change: they open through the FileSystem they are given.
//
// Thread safety: thread-safe (immutable after construction). Does not own the target, which
// must outlive it.
#pragma once

#include <string>
#include <vector>

#include "platform/file.h"

namespace hvdisk::ops {

class ConfinedFileSystem : public FileSystemWrapper {
 public:
  ConfinedFileSystem(FileSystem* target, const std::string& root);

  Result<std::unique_ptr<File>> Open(const std::string& path, const OpenOptions& opts) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Unlink(const std::string& path) override;

 private:
  // The root `path` lies below (the lexical or the real one); empty when outside the store.
  std::string RootOf(const std::string& path) const;

  std::vector<std::string> roots_;
};

}  // namespace hvdisk::ops
