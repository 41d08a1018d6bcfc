#include "ops/store_files.h"

#include <vector>

#include "ops/store_paths.h"

namespace hvdisk::ops {
namespace {

Status CheckKind(FileSystem* fs, const std::string& path, std::string_view what, FileKind want) {
  ASSIGN_OR_RETURN(FileKind kind, fs->KindOf(path));
  if (kind == want) return Status::Ok();
  if (kind == FileKind::kSymlink) {
    return Corrupt(std::string(what) + " is a symbolic link (not followed); the store keeps " +
                   std::string(FileKindName(want)) + " there: replace the link with it");
  }
  return Corrupt(std::string(what) + " is " + std::string(FileKindName(kind)) + ", not " +
                 std::string(FileKindName(want)));
}

}  // namespace

Status CheckRealDir(FileSystem* fs, const std::string& path, std::string_view what) {
  return CheckKind(fs, path, what, FileKind::kDirectory);
}

Status CheckRegularFile(FileSystem* fs, const std::string& path, std::string_view what) {
  return CheckKind(fs, path, what, FileKind::kFile);
}

Result<std::string> ReadStoreFile(FileSystem* fs, const std::string& path, uint64_t max_size) {
  RETURN_IF_ERROR(CheckRegularFile(fs, path, path));
  OpenOptions opts = OpenOptions::ReadOnly();
  opts.no_follow = true;
  ASSIGN_OR_RETURN(auto file, fs->Open(path, opts));
  ASSIGN_OR_RETURN(uint64_t size, file->Size());
  if (size > max_size) {
    return Corrupt(path + ": " + std::to_string(size) + " bytes, more than the cap of " +
                   std::to_string(max_size) + " (docs/store-layout.md)");
  }
  std::string out(size, '\0');
  RETURN_IF_ERROR(file->ReadExactAt(0, std::as_writable_bytes(std::span(out)), "record"));
  return out;
}

Result<VmRecord> ReadVmRecordOf(FileSystem* fs, const StoreLayout& layout, const Guid& vm) {
  const std::string dir_rel = StoreLayout::VmDirRel(vm);
  RETURN_IF_ERROR(CheckRealDir(fs, layout.Abs(dir_rel), dir_rel));
  const std::string rel = StoreLayout::VmRecordRel(vm);
  Result<std::string> text = ReadStoreFile(fs, layout.Abs(rel), kMaxRecordBytes);
  if (!text.ok() && text.status().code() == Code::kNotFound) {
    return NotFound(rel + ": no VM record");
  }
  if (!text.ok()) return Corrupt(text.status().message());
  const Guid id = JsonGuidField(*text, "id");  // before the fields that depend on it
  if (!id.IsZero() && id != vm) {
    return Corrupt(rel + " carries the id of VM " + id.ToString() +
                   ", not its directory's; not used (restore the record of " + vm.ToString() + ")");
  }
  return DecodeVmRecord(*text, rel);
}

Status CheckVmDirs(FileSystem* fs, const StoreLayout& layout, const Guid& vm) {
  for (const std::string& rel : {StoreLayout::VmDirRel(vm), StoreLayout::DisksDirRel(vm)}) {
    Status st = CheckRealDir(fs, layout.Abs(rel), rel + "/");
    if (!st.ok() && st.code() != Code::kNotFound) return st;
  }
  return Status::Ok();
}

Status CheckVmDisks(FileSystem* fs, const StoreLayout& layout, const VmRecord& record) {
  const bool test = record.mode == ReplicationMode::kTestReplica;
  const Guid& owner = test ? record.source_vm : record.id;
  RETURN_IF_ERROR(CheckVmDirs(fs, layout, record.id));
  if (test) RETURN_IF_ERROR(CheckVmDirs(fs, layout, owner));
  std::vector<std::string> names = record.ChainFiles();
  for (const std::string& n : {record.failover_disk, record.test_disk}) {
    if (!n.empty()) names.push_back(n);
  }
  for (const std::string& n : names) {
    const std::string rel = StoreLayout::DiskRel(owner, n);
    Status st = CheckRegularFile(fs, layout.Abs(rel), rel);
    if (!st.ok() && st.code() != Code::kNotFound) return st;
  }
  return Status::Ok();
}

Status CheckLockFile(FileSystem* fs, const std::string& path) {
  Status st = CheckRegularFile(fs, path, "lock file " + path);
  return st.code() == Code::kNotFound ? Status::Ok() : st;
}

std::string LostFoundDir(const StoreLayout& layout) { return layout.Abs("lost+found"); }

Result<std::string> Quarantine(FileSystem* fs, const StoreLayout& layout, const Guid& vm,
                               const std::string& rel) {
  const std::string dir = LostFoundDir(layout);
  Status kind = CheckRealDir(fs, dir, "lost+found/");
  if (kind.code() == Code::kNotFound) {
    RETURN_IF_ERROR(fs->CreateDir(dir));
    RETURN_IF_ERROR(fs->SyncDir(layout.root));
  } else {
    RETURN_IF_ERROR(kind);
  }
  std::string name = LowerGuid(vm) + "-" + BaseName(rel);
  ASSIGN_OR_RETURN(bool taken, fs->Exists(JoinPath(dir, name)));
  if (taken) name = LowerGuid(Guid::Random()) + "-" + name;
  const std::string from = layout.Abs(rel);
  RETURN_IF_ERROR(fs->Rename(from, JoinPath(dir, name)));
  RETURN_IF_ERROR(fs->SyncDir(DirName(from)));
  RETURN_IF_ERROR(fs->SyncDir(dir));
  return "lost+found/" + name;
}

}  // namespace hvdisk::ops
