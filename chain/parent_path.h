// Parent paths: turning a parent locator's Windows paths into local candidates, confined to the
// allowed roots. Parent paths are untrusted input (they come from the file).
//
// Thread safety: pure functions, except that Confine and Resolve consult the file system.
#pragma once

#include <string>
#include <vector>

#include "platform/file.h"
#include "platform/status.h"

namespace hvdisk::chain {

// Local candidates for one locator path, in the order to try them. `child_dir` is the directory
// of the child image.
//   ".\x.vhdx", "x.vhdx", "..\dir\x.vhdx"  -> child_dir joined with the path ('\' as '/')
//   "C:\dir\x.vhdx", "\\?\C:\dir\x.vhdx"   -> "/dir/x.vhdx", then child_dir/x.vhdx
//   "\dir\x.vhdx"                          -> "/dir/x.vhdx", then child_dir/x.vhdx
//   "\\?\Volume{...}\x", "\\server\share\x" -> child_dir/x (the last component)
// Empty when the value has no usable last component (empty, ".", ".." or a NUL).
std::vector<std::string> ParentPathCandidates(const std::string& child_dir,
                                              const std::string& locator_path);

// The real path of `path` when it lies inside one of `roots` (real paths, after following every
// symlink); AccessDenied naming the root list otherwise.
Result<std::string> Confine(FileSystem* fs, const std::string& path,
                            const std::vector<std::string>& roots);

// The Windows relative form of `parent` seen from `child_dir` (both absolute, '/'-separated):
// ".\x.vhdx" in the same directory, "..\dir\x.vhdx" otherwise.
std::string WindowsRelativePath(const std::string& child_dir, const std::string& parent);

// The Windows absolute form of an absolute local path: "C:\dir\x.vhdx" for "/dir/x.vhdx".
std::string WindowsAbsolutePath(const std::string& path);

}  // namespace hvdisk::chain
