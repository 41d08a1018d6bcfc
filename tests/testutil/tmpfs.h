// SmallTmpfs: a real file system that runs out of space, for disk-full tests.
#pragma once

#include <cstdint>
#include <string>

#include "platform/status.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::testing {

// A tmpfs of `size` bytes mounted on a fresh directory (needs root: the tests run as root, and
// fail, never skip, when the mount fails); unmounted and removed when destroyed.
// Thread safety: none.
class SmallTmpfs {
 public:
  explicit SmallTmpfs(uint64_t size);
  ~SmallTmpfs();
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;

  // OK when mounted, else why not (ASSERT_OK it in SetUp).
  const Status& status() const { return status_; }
  const std::string& path() const { return dir_.path(); }
  std::string File(const std::string& name) const { return dir_.File(name); }
  // Bytes still free for files.
  uint64_t FreeBytes() const;
  // Grows a filler file until at most `bytes` (to the page) stay free; a second call refills.
  Status LeaveFree(uint64_t bytes);
  // Removes the filler: the space it took is free again.
  Status FreeFiller();

 private:
  TempDir dir_;
  Status status_;
};

}  // namespace hvdisk::testing
