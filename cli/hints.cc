#include "cli/hints.h"

#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>

namespace hvdisk::cli {

namespace {

// The hint texts; FILE, DIR and VM stand for the path, store and VM of the situation.
constexpr const char* kBadArgument = "run 'hvdisk COMMAND --help'";
constexpr const char* kDirectory = "expected a disk file: FILE is a directory";
constexpr const char* kNoSuchFile = "check the path: FILE does not exist";
constexpr const char* kMissingParent =
    "a parent of FILE is missing ('hvdisk info FILE' shows its locator): restore it, or link "
    "FILE to it with 'hvdisk reparent FILE PARENT'";
constexpr const char* kCorrupt =
    "run 'hvdisk check FILE' for details, 'hvdisk check -r all FILE' to repair it, or "
    "'hvdisk convert --salvage FILE NEW' to copy what is readable";
constexpr const char* kDiskInUse =
    "another program (qemu, a running VM, another hvdisk) has FILE open; retry when it is done";
constexpr const char* kDiskInUseReadOnly =
    "another program (qemu, a running VM, another hvdisk) has FILE open; retry when it is done, "
    "or pass -U to read it anyway";
constexpr const char* kUnsupported = "FILE uses a VHDX feature hvdisk does not support";
constexpr const char* kNotAVhdx =
    "FILE is not a VHDX image: 'hvdisk info -f raw FILE' reads it as raw";
constexpr const char* kAccessDenied =
    "you may not write this (another user owns it, or it is on a read-only mount): run as its "
    "owner or fix its ownership ('ls -l'); read-only commands still work";
constexpr const char* kDevice = "check the device and the system log (dmesg), then retry";
constexpr const char* kNoSpace = "free space on the file system holding FILE";
constexpr const char* kFileExists = "FILE exists: remove it or pick another name";
constexpr const char* kNoStore =
    "check the path, or make a store there with 'hvdisk store create DIR'";
constexpr const char* kStoreReadOnly =
    "you may not write the store DIR: run as its owner; vm list and vm show still work";
constexpr const char* kNoVm = "'hvdisk vm --store DIR list' lists the VMs";
constexpr const char* kVmState =
    "'hvdisk vm --store DIR show VM' shows its state; 'hvdisk help vm' lists what each state "
    "allows";
constexpr const char* kVmInUse =
    "another command or a running consumer holds VM; retry when it is done";
constexpr const char* kDestroyNotTestVm =
    "vm destroy removes test VMs; use vm remove for a replica";
constexpr const char* kCancelled = "nothing was left half-done; run the command again to do it";
constexpr const char* kSourceSize =
    "replicate from the disk VM was created from: 'hvdisk vm --store DIR show VM' shows the "
    "replica's size, 'hvdisk info FILE' (or 'nbdinfo --size URI') the source's";
constexpr const char* kSourceDown =
    "start the NBD server that exports FILE (e.g. 'qemu-nbd -r -B BITMAP -k SOCKET DISK') and run "
    "the cycle again: the VM is consistent, its points unchanged, and a cycle from the same "
    "bitmap completes it";
constexpr const char* kNotAChangeSet =
    "vm apply takes a change set made by 'hvdisk diff OLD NEW -o FILE' (OLD: the replica's "
    "content, NEW: the primary's)";
constexpr const char* kFenced =
    "this host lost its hold on the store DIR (its mount was evicted, or another host took VM "
    "over) and stopped without writing more: on a host that holds the store, 'hvdisk vm --store "
    "DIR recover VM' finishes or rolls back what was left; remount here before using it again";

// `text` with each placeholder word replaced.
std::string Fill(std::string text, const std::string& word, const std::string& value) {
  for (size_t at = text.find(word); at != std::string::npos;
       at = text.find(word, at + value.size())) {
    text.replace(at, word.size(), value);
  }
  return text;
}

std::string ForFile(const char* text, const std::string& path) { return Fill(text, "FILE", path); }

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Whether the file starts with "vhdxfile" (MS-VHDX 2.2.1); true when it cannot be read (the error
// is then about something else).
bool HasVhdxSignature(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char sig[8] = {};
  if (!in.is_open()) return true;
  if (!in.read(sig, sizeof sig)) return false;
  return std::string_view(sig, sizeof sig) == "vhdxfile";
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

}  // namespace

std::string FormatError(const Status& status, std::string_view hint, bool json) {
  if (json) {
    nlohmann::ordered_json e = {{"code", std::string(CodeName(status.code()))},
                                {"words", std::string(CodeWords(status.code()))},
                                {"message", status.message()}};
    if (!hint.empty()) e["hint"] = std::string(hint);
    return nlohmann::ordered_json{{"error", e}}.dump(
               -1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) +
           "\n";
  }
  std::string text =
      "hvdisk: " + std::string(CodeWords(status.code())) + ": " + status.message() + "\n";
  if (!hint.empty()) text += "hint: " + std::string(hint) + "\n";
  return text;
}

namespace hint {

std::string BadArgument(const std::string& command) {
  return Fill(kBadArgument, "COMMAND", command.empty() ? "COMMAND" : command);
}

std::string OpenDisk(const Status& status, const std::string& path, bool read_only) {
  if (IsDirectory(path)) return ForFile(kDirectory, path);
  switch (status.code()) {
    case Code::kNotFound:
      return ForFile(Exists(path) ? kMissingParent : kNoSuchFile, path);
    case Code::kCorrupt:  // a file named .vhdx without the signature is no damaged VHDX
      return ForFile(HasVhdxSignature(path) ? kCorrupt : kNotAVhdx, path);
    case Code::kInUse:
      return ForFile(read_only ? kDiskInUseReadOnly : kDiskInUse, path);
    case Code::kUnsupported:
      return ForFile(kUnsupported, path);
    case Code::kWrongType:
      return ForFile(kNotAVhdx, path);
    case Code::kAccessDenied:  // a parent outside the roots says so in its message
      return status.message().find("--allow-root") != std::string::npos ? "" : kAccessDenied;
    case Code::kIoError:
      return kDevice;
    case Code::kNoSpace:
      return ForFile(kNoSpace, path);
    case Code::kCancelled:
      return kCancelled;
    default:
      return "";
  }
}

std::string NewFile(const Status& status, const std::string& path, const std::string& source) {
  if (status.code() == Code::kInUse && Exists(path)) return ForFile(kFileExists, path);
  if (status.code() == Code::kNoSpace) return ForFile(kNoSpace, path);
  if (status.code() == Code::kAccessDenied) return kAccessDenied;
  return source.empty() ? "" : OpenDisk(status, source, true);  // the file it reads from
}

std::string FileExists(const std::string& path) { return ForFile(kFileExists, path); }

std::string OpenStore(const Status& status, const std::string& dir) {
  switch (status.code()) {
    case Code::kNotFound:  // of the store itself, not of something in it (a job, a VM)
    case Code::kUnavailable:
      return Exists(dir + "/store.lock") ? "" : Fill(kNoStore, "DIR", dir);
    case Code::kAccessDenied:
      return Fill(kStoreReadOnly, "DIR", dir);
    case Code::kIoError:
      return kDevice;
    case Code::kFenced:
      return Fill(Fill(kFenced, "DIR", dir), "VM", "VM");
    default:
      return "";
  }
}

std::string FindVm(const Status& status, const std::string& dir, const std::string& vm) {
  if (status.code() == Code::kNotFound) return Fill(kNoVm, "DIR", dir);
  return VmOperation(status, dir, vm);
}

std::string VmOperation(const Status& status, const std::string& dir, const std::string& vm) {
  switch (status.code()) {
    case Code::kInvalidState:
      return Fill(Fill(kVmState, "DIR", dir), "VM", vm);
    case Code::kInUse:
      return Fill(kVmInUse, "VM", vm);
    case Code::kNoSpace:
      return ForFile(kNoSpace, dir);
    case Code::kAccessDenied:
      return Fill(kStoreReadOnly, "DIR", dir);
    case Code::kIoError:
      return kDevice;
    case Code::kCancelled:
      return kCancelled;
    case Code::kFenced:
      return Fill(Fill(kFenced, "DIR", dir), "VM", vm.empty() ? "VM" : vm);
    default:
      return "";
  }
}

std::string ReplicationSource(const Status& status, const std::string& from, const std::string& dir,
                              const std::string& vm) {
  const bool nbd = from.find("://") != std::string::npos;
  switch (status.code()) {
    case Code::kInvalidArgument:
      return Fill(Fill(ForFile(kSourceSize, from), "DIR", dir), "VM", vm);
    case Code::kUnavailable:
    case Code::kTimeout:
      return nbd ? ForFile(kSourceDown, from) : "";
    case Code::kNotFound:
    case Code::kCorrupt:
    case Code::kUnsupported:
      // A file source that cannot be opened (the error names it); an NBD one explains itself.
      if (nbd || status.message().find(from) == std::string::npos) return "";
      return OpenDisk(status, from, false);
    default:
      return "";
  }
}

std::string DestroyNotTestVm() { return kDestroyNotTestVm; }
std::string ApplyChangeSet(const Status& status) {
  return status.code() == Code::kCorrupt &&
                 status.message().find("is not a change set") != std::string::npos
             ? kNotAChangeSet
             : "";
}
std::string Cancelled() { return kCancelled; }

}  // namespace hint

std::vector<std::string> AllHintTemplates() {
  return {
      kBadArgument,       kDirectory,   kNoSuchFile,    kMissingParent, kCorrupt,       kDiskInUse,
      kDiskInUseReadOnly, kUnsupported, kNotAVhdx,      kAccessDenied,  kDevice,        kNoSpace,
      kFileExists,        kNoStore,     kStoreReadOnly, kNoVm,          kVmState,       kVmInUse,
      kDestroyNotTestVm,  kCancelled,   kSourceSize,    kSourceDown,    kNotAChangeSet, kFenced};
}

}  // namespace hvdisk::cli
