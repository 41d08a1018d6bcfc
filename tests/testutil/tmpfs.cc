#include "tests/testutil/tmpfs.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>

namespace hvdisk::testing {
namespace {

constexpr const char* kFiller = ".filler";

}  // namespace

SmallTmpfs::SmallTmpfs(uint64_t size) {
  const std::string options = "size=" + std::to_string(size);
  if (::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, options.c_str()) != 0) {
    status_ = ErrnoStatus(errno, "mount tmpfs (the disk-full tests need root)", dir_.path());
  }
}

SmallTmpfs::~SmallTmpfs() {
  if (status_.ok()) (void)::umount2(dir_.path().c_str(), MNT_DETACH);
}

uint64_t SmallTmpfs::FreeBytes() const {
  struct statvfs st;
  if (::statvfs(dir_.path().c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

Status SmallTmpfs::LeaveFree(uint64_t bytes) {
  const std::string filler = File(kFiller);
  int fd = ::open(filler.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, "open", filler);
  const uint64_t free = FreeBytes();
  int rc = 0;
  if (free > bytes) {
    off_t size = ::lseek(fd, 0, SEEK_END);
    rc = ::posix_fallocate(fd, size, static_cast<off_t>(free - bytes));
  }
  ::close(fd);
  return rc == 0 ? Status::Ok() : ErrnoStatus(rc, "fill", filler);
}

Status SmallTmpfs::FreeFiller() {
  if (::unlink(File(kFiller).c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "unlink", File(kFiller));
  }
  return Status::Ok();
}

}  // namespace hvdisk::testing
