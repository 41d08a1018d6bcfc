// PosixFileSystem: real files through pread/pwrite/fsync, buffered or O_DIRECT.
// Thread-safe; its Files allow concurrent positional I/O (pread/pwrite need no lock).
#pragma once

#include "platform/file.h"

namespace hvdisk {

// For tests: false makes confined opens take the component walk, as on kernels without openat2.
namespace posix_beneath {
extern bool use_openat2;
}  // namespace posix_beneath

class PosixFileSystem : public FileSystem {
 public:
  Result<std::unique_ptr<File>> Open(const std::string& path, const OpenOptions& opts) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status RenameNoReplace(const std::string& from, const std::string& to) override;
  Status Unlink(const std::string& path) override;
  // Opens the file, unlinks it and hands the last descriptor to a detached process (POSIX frees
  // an unlinked file at its last close), whose close frees the space. Forks (the caller is
  // single-threaded or tolerates fork); a file that cannot be opened is unlinked inline.
  Status UnlinkInBackground(const std::string& path) override;
  // renameat/unlinkat in the parent directories, each opened below `dir` as Open does with
  // OpenOptions::beneath (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or a component walk with
  // O_NOFOLLOW on kernels without openat2).
  Status RenameBeneath(const std::string& dir, const std::string& from,
                       const std::string& to) override;
  Status UnlinkBeneath(const std::string& dir, const std::string& path) override;
  Status CreateDir(const std::string& path) override;
  Status RemoveDir(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  Result<std::vector<std::string>> List(const std::string& dir) override;
  Result<bool> IsDirectory(const std::string& path) override;
  Result<std::string> RealPath(const std::string& path) override;
  Result<FileKind> KindOf(const std::string& path) override;
};

}  // namespace hvdisk
