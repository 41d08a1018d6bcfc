#include "platform/file.h"

#include <algorithm>

#include "platform/aligned_buffer.h"
#include "platform/hex.h"

namespace hvdisk {

std::string_view FileOpName(FileOp op) {
  static constexpr std::string_view kNames[] = {"open",     "read",     "write",   "flush",
                                                "truncate", "allocate", "rename",  "unlink",
                                                "mkdir",    "rmdir",    "syncdir", "list"};
  auto i = static_cast<size_t>(op);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

std::string_view FileKindName(FileKind kind) {
  static constexpr std::string_view kNames[] = {"a file", "a directory", "a symbolic link",
                                                "a special file"};
  auto i = static_cast<size_t>(kind);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

Status File::Lock(uint64_t, uint64_t, LockMode) {
  return Unsupported("lock " + path() + ": this file system has no byte-range locks");
}

Status File::Unlock(uint64_t, uint64_t) {
  return Unsupported("unlock " + path() + ": this file system has no byte-range locks");
}

Result<std::optional<RangeLock>> File::TestLock(uint64_t, uint64_t, LockMode) {
  return Unsupported("test lock " + path() + ": this file system has no byte-range locks");
}

Status File::ReadExactAt(uint64_t offset, std::span<std::byte> dst, std::string_view what) {
  ASSIGN_OR_RETURN(size_t n, ReadAt(offset, dst));
  if (n != dst.size()) {
    return Corrupt(std::string(what) + " @" + Hex(offset) + ": short read (" + std::to_string(n) +
                   " of " + std::to_string(dst.size()) + " bytes) in " + path());
  }
  return Status::Ok();
}

Status File::CopyFrom(File& src, uint64_t src_offset, uint64_t offset, uint64_t length) {
  constexpr uint64_t kCopyBuffer = 1 << 20;
  AlignedBuffer buf(std::min(length, kCopyBuffer));
  for (uint64_t done = 0; done < length;) {
    std::span<std::byte> piece = buf.span().first(std::min(buf.size(), length - done));
    RETURN_IF_ERROR(src.ReadExactAt(src_offset + done, piece, "copy source"));
    RETURN_IF_ERROR(WriteAt(offset + done, piece));
    done += piece.size();
  }
  return Status::Ok();
}

Result<bool> FileSystem::Exists(const std::string& path) {
  Result<bool> r = IsDirectory(path);
  if (r.ok()) return true;
  if (r.status().code() == Code::kNotFound) return false;
  return r.status();
}

std::string DirName(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

std::string BaseName(std::string_view path) {
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  std::string out(dir);
  if (out.back() != '/') out += '/';
  out += name;
  return out;
}

Result<std::string> PathBeneath(std::string_view dir, std::string_view path) {
  while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
  const bool root = dir == "/";
  auto refuse = [&] {
    return InvalidArgument(std::string(path) + " is not a plain path beneath " + std::string(dir));
  };
  if (dir.empty() || !path.starts_with(dir)) return refuse();
  std::string_view rel = path.substr(dir.size());
  if (!root) {
    if (!rel.starts_with('/')) return refuse();
    rel.remove_prefix(1);
  }
  if (rel.empty()) return refuse();
  for (size_t pos = 0; pos <= rel.size();) {
    size_t slash = std::min(rel.find('/', pos), rel.size());
    std::string_view part = rel.substr(pos, slash - pos);
    if (part.empty() || part == "." || part == "..") return refuse();
    pos = slash + 1;
  }
  return std::string(rel);
}

Status FileSystem::RenameBeneath(const std::string& dir, const std::string& from,
                                 const std::string& to) {
  RETURN_IF_ERROR(PathBeneath(dir, from).status());
  RETURN_IF_ERROR(PathBeneath(dir, to).status());
  return Rename(from, to);
}

Status FileSystem::UnlinkBeneath(const std::string& dir, const std::string& path) {
  RETURN_IF_ERROR(PathBeneath(dir, path).status());
  return Unlink(path);
}

Status WriteFileAtomically(FileSystem* fs, const std::string& path,
                           std::span<const std::byte> data) {
  // Steps and crash points: (1) write tmp, (2) flush tmp, (3) rename over path, (4) sync dir.
  // A crash before (3) leaves the old file and a stray tmp; after (3) the new file.
  const std::string tmp = path + ".tmp";
  {
    ASSIGN_OR_RETURN(auto file, fs->Open(tmp, OpenOptions::CreateOrTruncate()));
    RETURN_IF_ERROR(file->WriteAt(0, data));
    RETURN_IF_ERROR(file->Flush());
  }
  RETURN_IF_ERROR(fs->Rename(tmp, path));
  return fs->SyncDir(DirName(path));
}

Result<std::string> ReadWholeFile(FileSystem* fs, const std::string& path, uint64_t max_size) {
  ASSIGN_OR_RETURN(auto file, fs->Open(path, OpenOptions::ReadOnly()));
  ASSIGN_OR_RETURN(uint64_t size, file->Size());
  if (size > max_size) {
    return Corrupt(path + ": " + std::to_string(size) + " bytes, more than the limit of " +
                   std::to_string(max_size));
  }
  std::string out(size, '\0');
  RETURN_IF_ERROR(file->ReadExactAt(0, std::as_writable_bytes(std::span(out)), "file"));
  return out;
}

}  // namespace hvdisk
