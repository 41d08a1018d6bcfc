#include "platform/posix_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>

#include "platform/detached.h"

namespace hvdisk {
namespace {

std::string AtOffset(std::string_view op, uint64_t offset) {
  char buf[48];
  std::snprintf(buf, sizeof buf, " @0x%llx", static_cast<unsigned long long>(offset));
  return std::string(op) + buf;
}

// copy_file_range cannot serve these files (other file systems, kernels, special files): the
// copy falls back to reading and writing.
bool CopyUnsupported(int err) {
  return err == EXDEV || err == EINVAL || err == ENOSYS || err == EOPNOTSUPP || err == EBADF;
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

  int native_handle() const override { return fd_; }
  bool direct() const override { return direct_; }

 private:
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

Result<std::unique_ptr<File>> PosixFileSystem::Open(const std::string& path,
                                                    const OpenOptions& opts) {
  if ((opts.create || opts.truncate) && !opts.write) {
    return InvalidArgument("open " + path + ": create/truncate need write access");
  }
  int fd = ::open(path.c_str(), OpenFlags(opts), 0644);
  if (fd < 0) {
    int err = errno;
    if (err == EEXIST) return InUse("open " + path + ": file exists");
    if (err == EISDIR) return WrongType("open " + path + ": is a directory");
    if (err == ELOOP && opts.no_follow) {
      return WrongType("open " + path + ": is a symbolic link (not followed)");
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
