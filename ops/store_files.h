// How the store opens what it reads and moves what it cannot account for
// (docs/store-layout.md, "What the store trusts").
//
// A store's directories and files are checked for what they are (FileSystem::KindOf, an lstat)
// before use: a symbolic link where the layout has a directory or a file is reported (kCorrupt,
// "... is a symbolic link (not followed)"), never followed; files are opened with
// OpenOptions::no_follow as well, and read only up to a cap.
//
// lost+found/ holds what recovery found in a VM's directory that no record names: it is moved
// there (never deleted), reported, and `store check` lists it until the operator removes it.
//
// Thread safety: functions over a thread-safe FileSystem.
#pragma once

#include <string>
#include <string_view>

#include "ops/store_layout.h"
#include "ops/vm_record.h"
#include "platform/file.h"
#include "platform/guid.h"
#include "platform/status.h"

namespace hvdisk::ops {

// OK when `path` is a directory itself (not a symbolic link to one); kNotFound when missing;
// kCorrupt "<what> is a symbolic link (not followed)" / "... is a file, not a directory".
Status CheckRealDir(FileSystem* fs, const std::string& path, std::string_view what);
// OK when `path` is a regular file itself; kNotFound when missing; kCorrupt otherwise.
Status CheckRegularFile(FileSystem* fs, const std::string& path, std::string_view what);
// CheckRegularFile, then the file's bytes (opened with no_follow); kCorrupt beyond max_size.
Result<std::string> ReadStoreFile(FileSystem* fs, const std::string& path, uint64_t max_size);

// The record of `vm`: vms/<vm>/ must be a real directory and vm.json a regular file of at most
// kMaxRecordBytes, well formed (store_paths.h) and carrying `vm`'s id. kNotFound when the
// directory or the record is missing; kCorrupt naming the problem otherwise.
Result<VmRecord> ReadVmRecordOf(FileSystem* fs, const StoreLayout& layout, const Guid& vm);

// vms/<vm>/ and its disks/ are real directories, or missing (kCorrupt otherwise).
Status CheckVmDirs(FileSystem* fs, const StoreLayout& layout, const Guid& vm);
// CheckVmDirs, and every disk file `record` names is a regular file itself, or missing: never a
// symbolic link (an operation would write through it) or anything else. kCorrupt naming it.
Status CheckVmDisks(FileSystem* fs, const StoreLayout& layout, const VmRecord& record);

// A lock file is a regular file or missing (FileLock creates it): kCorrupt for a symbolic link
// (never followed), a directory or anything else.
Status CheckLockFile(FileSystem* fs, const std::string& path);

// STORE/lost+found/.
std::string LostFoundDir(const StoreLayout& layout);
// Moves the store-relative `rel` (a file or directory of `vm`) into lost+found/ as
// "<vm-guid>-<name>" (another suffix when taken), creating lost+found/ when missing, and syncs
// both directories. Returns the store-relative name it now has.
// Steps and crash points: 1. lost+found/ created and the store synced; 2. the rename (atomic:
// a crash leaves the file in place, and the next recovery moves it); 3. both directories synced.
Result<std::string> Quarantine(FileSystem* fs, const StoreLayout& layout, const Guid& vm,
                               const std::string& rel);

}  // namespace hvdisk::ops
