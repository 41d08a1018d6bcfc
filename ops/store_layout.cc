#include "ops/store_layout.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>

#include "platform/file.h"

namespace hvdisk::ops {
namespace {

std::string Numbered(const char* prefix, uint32_t number) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%s-%04u.avhdx", prefix, number);
  return buf;
}

}  // namespace

std::string LowerGuid(const Guid& g) {
  std::string s = g.ToString(false);
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

Status CheckStoreDirs(FileSystem* fs, const StoreLayout& layout) {
  for (const std::string& sub : {layout.JournalDir(), layout.VmsDir()}) {
    Result<FileKind> kind = fs->KindOf(sub);
    if (kind.ok() && *kind == FileKind::kSymlink) {
      return Corrupt(sub + " is a symbolic link (not followed); a store keeps its own directory");
    }
    if (!kind.ok() || *kind != FileKind::kDirectory) {
      return NotFound(layout.root + " is not a replica store (no " + sub + ")");
    }
  }
  return Status::Ok();
}

std::string StoreLayout::Abs(std::string_view relative) const {
  if (!relative.empty() && relative.front() == '/') return std::string(relative);
  return JoinPath(root, relative);
}

std::string StoreLayout::StoreLockPath() const { return Abs("store.lock"); }

std::string StoreLayout::VmLockPath(const Guid& vm) const {
  return JoinPath(LocksDir(), LowerGuid(vm) + ".lock");
}

std::string StoreLayout::VmDirRel(const Guid& vm) { return "vms/" + LowerGuid(vm); }
std::string StoreLayout::VmRecordRel(const Guid& vm) { return VmDirRel(vm) + "/vm.json"; }
std::string StoreLayout::DisksDirRel(const Guid& vm) { return VmDirRel(vm) + "/disks"; }
std::string StoreLayout::DiskRel(const Guid& vm, std::string_view name) {
  return DisksDirRel(vm) + "/" + std::string(name);
}

std::optional<uint32_t> ParseNumbered(std::string_view name, std::string_view prefix,
                                      std::string_view suffix) {
  if (name.size() <= prefix.size() + 1 + suffix.size() || !name.starts_with(prefix) ||
      name[prefix.size()] != '-' || !name.ends_with(suffix)) {
    return std::nullopt;
  }
  const std::string_view digits =
      name.substr(prefix.size() + 1, name.size() - prefix.size() - 1 - suffix.size());
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

std::string HeadName(uint32_t number) { return Numbered("head", number); }
std::string PointFileName(uint32_t number) { return Numbered("rp", number); }
std::string FailoverName(const Guid& id) { return "failover-" + LowerGuid(id) + ".avhdx"; }
std::string TestDiskName(const Guid& id) { return "test-" + LowerGuid(id) + ".avhdx"; }

}  // namespace hvdisk::ops
