#include "platform/posix_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>

#include "platform/detached.h"
#include "platform/hex.h"

namespace hvdisk {
namespace {

std::string AtOffset(std::string_view op, uint64_t offset) {
  return std::string(op) + " @" + Hex(offset);
}

// copy_file_range cannot serve these files (other file systems, kernels, special files): the
// copy falls back to reading and writing.
bool CopyUnsupported(int err) {
  return err == EXDEV || err == EINVAL || err == ENOSYS || err == EOPNOTSUPP || err == EBADF;
}

// The flock of an OFD lock request on [start, start + length).
struct flock RangeFlock(short type, uint64_t start, uint64_t length) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(start);
  fl.l_len = static_cast<off_t>(length);
  fl.l_pid = 0;  // F_OFD_* requires 0
  return fl;
}

// What a failed F_OFD_SETLK / F_OFD_GETLK means: a conflict (kInUse), no OFD locks on this file
// system (kUnsupported), or the errno's code.
Status LockError(int err, std::string_view op, uint64_t start, const std::string& path) {
  if (err == EAGAIN || err == EACCES) {
    return InUse(AtOffset(op, start) + " " + path + ": held by another open file");
  }
  if (err == EINVAL || err == ENOLCK || err == ENOSYS || err == EOPNOTSUPP) {
    return Unsupported(AtOffset(op, start) + " " + path + ": no byte-range locks here (" +
                       ErrnoStatus(err, op, path).message() + ")");
  }
  return ErrnoStatus(err, AtOffset(op, start), path);
}

class PosixFile : public File {
 public:
  PosixFile(std::string path, int fd, bool direct)
      : File(std::move(path)), fd_(fd), direct_(direct) {}
  ~PosixFile() override { ::close(fd_); }

  Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> dst) override {
    size_t done = 0;
    while (done < dst.size()) {
      ssize_t n = ::pread(fd_, dst.data() + done, dst.size() - done, offset + done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus(errno, AtOffset("read", offset + done), path());
      if (n == 0) break;  // end of file
      done += static_cast<size_t>(n);
    }
    return done;
  }

  Status WriteAt(uint64_t offset, std::span<const std::byte> src) override {
    size_t done = 0;
    while (done < src.size()) {
      ssize_t n = ::pwrite(fd_, src.data() + done, src.size() - done, offset + done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus(errno, AtOffset("write", offset + done), path());
      if (n == 0) return IoError(AtOffset("write", offset + done) + " " + path() + ": no progress");
      done += static_cast<size_t>(n);
    }
    return Status::Ok();
  }

  Status CopyFrom(File& src, uint64_t src_offset, uint64_t offset, uint64_t length) override {
    auto* from = dynamic_cast<PosixFile*>(&src);
    if (from == nullptr || from->direct_ || direct_) {
      return File::CopyFrom(src, src_offset, offset, length);
    }
    auto in = static_cast<off_t>(src_offset), out = static_cast<off_t>(offset);
    for (uint64_t done = 0; done < length;) {
      ssize_t n = ::copy_file_range(from->fd_, &in, fd_, &out, length - done, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && done == 0 && CopyUnsupported(errno)) {
        return File::CopyFrom(src, src_offset, offset, length);
      }
      if (n < 0) return ErrnoStatus(errno, AtOffset("copy", offset + done), path());
      if (n == 0)
        return Corrupt(AtOffset("copy source", src_offset + done) + ": short in " + src.path());
      done += static_cast<uint64_t>(n);
    }
    return Status::Ok();
  }

  void StartWriteback() override { (void)::sync_file_range(fd_, 0, 0, SYNC_FILE_RANGE_WRITE); }

  uint64_t NextData(uint64_t offset) override {
    const off_t data = ::lseek(fd_, static_cast<off_t>(offset), SEEK_DATA);
    if (data >= 0) return static_cast<uint64_t>(data);
    return errno == ENXIO ? UINT64_MAX : offset;  // ENXIO: only a hole up to the end
  }

  Status Flush() override {
    if (::fsync(fd_) != 0) return ErrnoStatus(errno, "flush", path());
    return Status::Ok();
  }

  Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return ErrnoStatus(errno, AtOffset("truncate", size), path());
    }
    return Status::Ok();
  }

  Status Allocate(uint64_t offset, uint64_t length) override {
    int rc = ::posix_fallocate(fd_, static_cast<off_t>(offset), static_cast<off_t>(length));
    if (rc == EOPNOTSUPP || rc == EINVAL) {  // filesystems without fallocate: extend instead
      ASSIGN_OR_RETURN(uint64_t size, Size());
      return offset + length > size ? Truncate(offset + length) : Status::Ok();
    }
    if (rc != 0) return ErrnoStatus(rc, AtOffset("allocate", offset), path());
    return Status::Ok();
  }

  Result<uint64_t> Size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return ErrnoStatus(errno, "stat", path());
    return static_cast<uint64_t>(st.st_size);
  }

  Status Lock(uint64_t start, uint64_t length, LockMode mode) override {
    return SetLock(mode == LockMode::kExclusive ? F_WRLCK : F_RDLCK, start, length);
  }
  Status Unlock(uint64_t start, uint64_t length) override {
    return SetLock(F_UNLCK, start, length);
  }
  Result<std::optional<RangeLock>> TestLock(uint64_t start, uint64_t length,
                                            LockMode mode) override {
    struct flock fl = RangeFlock(mode == LockMode::kExclusive ? F_WRLCK : F_RDLCK, start, length);
    if (::fcntl(fd_, F_OFD_GETLK, &fl) != 0) return LockError(errno, "test lock", start, path());
    if (fl.l_type == F_UNLCK) return std::optional<RangeLock>();
    return std::optional<RangeLock>(
        RangeLock{fl.l_type == F_WRLCK ? LockMode::kExclusive : LockMode::kShared,
                  static_cast<uint64_t>(fl.l_start), static_cast<uint64_t>(fl.l_len)});
  }

  int native_handle() const override { return fd_; }
  bool direct() const override { return direct_; }

 private:
  Status SetLock(short type, uint64_t start, uint64_t length) {
    struct flock fl = RangeFlock(type, start, length);
    if (::fcntl(fd_, F_OFD_SETLK, &fl) == 0) return Status::Ok();
    return LockError(errno, type == F_UNLCK ? "unlock" : "lock", start, path());
  }

  int fd_;
  bool direct_;
};

int OpenFlags(const OpenOptions& o) {
  int flags = O_CLOEXEC | (o.write ? O_RDWR : O_RDONLY);
  if (o.create) flags |= O_CREAT;
  if (o.create && o.exclusive) flags |= O_EXCL;
  if (o.truncate) flags |= O_TRUNC;
  if (o.direct) flags |= O_DIRECT;
  if (o.no_follow) flags |= O_NOFOLLOW;
  return flags;
}

}  // namespace

namespace posix_beneath {

bool use_openat2 = true;

namespace {

// A descriptor closed when it goes out of scope.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS; -1 with errno (ENOSYS before Linux 5.6).
int OpenAt2(int dirfd, const std::string& rel, int flags, mode_t mode) {
  if (!use_openat2) {
    errno = ENOSYS;
    return -1;
  }
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags);
  how.mode = (flags & O_CREAT) != 0 ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof how));
}

// openat of one component with O_NOFOLLOW; a symbolic link is ELOOP (O_DIRECTORY would make an
// intermediate one ENOTDIR: told apart here).
int OpenComponent(int dirfd, const std::string& part, int flags, mode_t mode) {
  const int fd = ::openat(dirfd, part.c_str(), flags | O_NOFOLLOW, mode);
  if (fd >= 0) return fd;
  const int err = errno;
  struct stat st;
  const bool link =
      ::fstatat(dirfd, part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
  errno = link ? ELOOP : err;
  return -1;
}

// The fallback of OpenAt2: walks `rel` one component at a time with O_NOFOLLOW.
int WalkBeneath(int dirfd, const std::string& rel, int flags, mode_t mode) {
  Fd cur{::dup(dirfd)};
  if (cur.fd < 0) return -1;
  for (size_t pos = 0;;) {
    const size_t slash = rel.find('/', pos);
    const std::string part = rel.substr(pos, slash == std::string::npos ? slash : slash - pos);
    if (slash == std::string::npos) return OpenComponent(cur.fd, part, flags, mode);
    Fd next{OpenComponent(cur.fd, part, O_PATH | O_DIRECTORY | O_CLOEXEC, 0)};
    if (next.fd < 0) return -1;
    std::swap(cur.fd, next.fd);
    pos = slash + 1;
  }
}

}  // namespace

// Opens `rel` below the directory `dir` (which may be reached through links) following no link
// in `rel`; -1 with errno (ELOOP: a link) otherwise.
int Open(const std::string& dir, const std::string& rel, int flags, mode_t mode) {
  Fd dirfd{::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
  if (dirfd.fd < 0) return -1;
  const int fd = OpenAt2(dirfd.fd, rel, flags, mode);
  if (fd >= 0 || errno != ENOSYS) return fd;
  return WalkBeneath(dirfd.fd, rel, flags, mode);
}

}  // namespace posix_beneath

namespace {

// The parent directory of `path` (below `dir`) opened confined, and the final name.
struct ParentBeneath {
  int fd = -1;
  std::string name;
  ~ParentBeneath() {
    if (fd >= 0) ::close(fd);
  }
};

Status OpenParentBeneath(const std::string& dir, const std::string& path, std::string_view op,
                         ParentBeneath* out) {
  ASSIGN_OR_RETURN(std::string rel, PathBeneath(dir, path));
  out->name = BaseName(rel);
  const size_t slash = rel.rfind('/');
  const std::string parent = slash == std::string::npos ? dir : JoinPath(dir, rel.substr(0, slash));
  out->fd = slash == std::string::npos ? ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)
                                       : posix_beneath::Open(dir, rel.substr(0, slash),
                                                             O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
  if (out->fd >= 0) return Status::Ok();
  const int err = errno;
  if (err == ELOOP || err == EXDEV) {
    return WrongType(std::string(op) + " " + path + ": a symbolic link below " + dir +
                     " (not followed)");
  }
  return ErrnoStatus(err, op, parent);
}

}  // namespace

Status PosixFileSystem::RenameBeneath(const std::string& dir, const std::string& from,
                                      const std::string& to) {
  ParentBeneath a, b;
  RETURN_IF_ERROR(OpenParentBeneath(dir, from, "rename", &a));
  RETURN_IF_ERROR(OpenParentBeneath(dir, to, "rename", &b));
  if (::renameat(a.fd, a.name.c_str(), b.fd, b.name.c_str()) != 0) {
    return ErrnoStatus(errno, "rename " + from + " to", to);
  }
  return Status::Ok();
}

Status PosixFileSystem::UnlinkBeneath(const std::string& dir, const std::string& path) {
  ParentBeneath p;
  RETURN_IF_ERROR(OpenParentBeneath(dir, path, "unlink", &p));
  if (::unlinkat(p.fd, p.name.c_str(), 0) != 0) return ErrnoStatus(errno, "unlink", path);
  return Status::Ok();
}

namespace {

int OpenConfined(const std::string& path, const OpenOptions& opts, Status* refused) {
  if (opts.beneath.empty()) return ::open(path.c_str(), OpenFlags(opts), 0644);
  Result<std::string> rel = PathBeneath(opts.beneath, path);
  if (!rel.ok()) {
    *refused = rel.status();
    return -1;
  }
  return posix_beneath::Open(opts.beneath, *rel, OpenFlags(opts), 0644);
}

}  // namespace

Result<std::unique_ptr<File>> PosixFileSystem::Open(const std::string& path,
                                                    const OpenOptions& opts) {
  if ((opts.create || opts.truncate) && !opts.write) {
    return InvalidArgument("open " + path + ": create/truncate need write access");
  }
  Status refused;
  int fd = OpenConfined(path, opts, &refused);
  if (!refused.ok()) return refused;
  if (fd < 0) {
    int err = errno;
    if (err == EEXIST) return InUse("open " + path + ": file exists");
    if (err == EISDIR) return WrongType("open " + path + ": is a directory");
    if (err == ELOOP && (opts.no_follow || !opts.beneath.empty())) {
      return WrongType("open " + path + ": is or lies under a symbolic link (not followed)");
    }
    if (err == EXDEV && !opts.beneath.empty()) {
      return WrongType("open " + path + ": escapes " + opts.beneath + " (not followed)");
    }
    return ErrnoStatus(err, "open", path);
  }
  return std::unique_ptr<File>(new PosixFile(path, fd, opts.direct));
}

Status PosixFileSystem::Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    return ErrnoStatus(errno, "rename " + from + " to", to);
  return Status::Ok();
}

// renameat2(RENAME_NOREPLACE); where the file system cannot (EINVAL), link then unlink, which
// refuses an existing `to` as atomically (EEXIST) and leaves both names for an instant.
Status PosixFileSystem::RenameNoReplace(const std::string& from, const std::string& to) {
  int rc = ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE);
  if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
    rc = ::link(from.c_str(), to.c_str());
    if (rc == 0) return Unlink(from);
  }
  if (rc == 0) return Status::Ok();
  if (errno == EEXIST) return InUse("rename " + from + " to " + to + ": " + to + " exists");
  return ErrnoStatus(errno, "rename " + from + " to", to);
}

Status PosixFileSystem::Unlink(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return ErrnoStatus(errno, "unlink", path);
  return Status::Ok();
}

namespace {

// The detached side of UnlinkInBackground: closes every descriptor but the file's, so that it
// holds none of the caller's pipes or locks, then the file's: its last reference, whose close
// frees the space.
[[noreturn]] void CloseLastReference(const void* arg) {
  const int fd = *static_cast<const int*>(arg);
  if (fd > 0) CloseDescriptors(0, static_cast<unsigned>(fd - 1));
  CloseDescriptors(static_cast<unsigned>(fd + 1), ~0u);
  ::close(fd);
  ::_exit(0);
}

}  // namespace

Status PosixFileSystem::UnlinkInBackground(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Unlink(path);  // a symlink, no read permission...: freed inline
  Status st = Unlink(path);
  if (st.ok()) RunDetached(CloseLastReference, &fd);
  ::close(fd);  // when no process could be made, the file is freed here, inline
  return st;
}

Status PosixFileSystem::CreateDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0) return Status::Ok();
  int err = errno;
  if (err == EEXIST) {
    ASSIGN_OR_RETURN(bool dir, IsDirectory(path));
    if (dir) return Status::Ok();
    return WrongType("mkdir " + path + ": exists and is not a directory");
  }
  return ErrnoStatus(err, "mkdir", path);
}

Status PosixFileSystem::RemoveDir(const std::string& path) {
  if (::rmdir(path.c_str()) != 0) return ErrnoStatus(errno, "rmdir", path);
  return Status::Ok();
}

Status PosixFileSystem::SyncDir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open directory", path);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus(err, "sync directory", path);
  return Status::Ok();
}

Result<std::vector<std::string>> PosixFileSystem::List(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus(errno, "list", dir);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

Result<bool> PosixFileSystem::IsDirectory(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", path);
  return S_ISDIR(st.st_mode);
}

Result<FileKind> PosixFileSystem::KindOf(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "lstat", path);
  if (S_ISREG(st.st_mode)) return FileKind::kFile;
  if (S_ISDIR(st.st_mode)) return FileKind::kDirectory;
  if (S_ISLNK(st.st_mode)) return FileKind::kSymlink;
  return FileKind::kOther;
}

Result<std::string> PosixFileSystem::RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return ErrnoStatus(errno, "realpath", path);
  return std::string(buf);
}

FileSystem* DefaultFileSystem() {
  static PosixFileSystem* fs = new PosixFileSystem();
  return fs;
}

}  // namespace hvdisk
