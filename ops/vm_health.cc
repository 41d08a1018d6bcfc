#include "ops/vm_health.h"

#include "ops/store_files.h"
#include "ops/store_paths.h"

namespace hvdisk::ops {
namespace {

VmRecord Placeholder(const Guid& vm, std::vector<std::string> problems) {
  VmRecord r;
  r.id = vm;
  r.state = ReplicationState::kDisabled;
  r.mode = ReplicationMode::kNone;
  r.health = ReplicationHealth::kCritical;
  r.retention = 0;
  r.next_number = 0;
  r.problems = std::move(problems);
  return r;
}

// The lock file must be a file or missing: a symbolic link there is never followed.
void CheckVmLockFile(FileSystem* fs, const StoreLayout& layout, const Guid& vm,
                     std::vector<std::string>* out) {
  Status st = ops::CheckLockFile(fs, layout.VmLockPath(vm));
  if (!st.ok()) out->push_back(st.message());
}

void AddBadIntents(const JournalScan& journal, const Guid& vm, std::vector<std::string>* out) {
  for (const BadIntent& b : journal.bad) {
    if (b.vm == vm) out->push_back(b.rel + ": intent not acted on: " + b.problem);
  }
}

}  // namespace

bool InFlight(const JournalScan& journal, const Guid& vm) {
  for (const Intent& in : journal.intents) {
    if (in.vm == vm || in.before.test_vm == vm || in.after.test_vm == vm) return true;
  }
  return false;
}

std::vector<std::string> OddDiskEntries(FileSystem* fs, const StoreLayout& layout, const Guid& vm) {
  std::vector<std::string> out;
  const std::string dir = layout.Abs(StoreLayout::DisksDirRel(vm));
  if (!CheckRealDir(fs, dir, dir).ok()) return out;
  Result<std::vector<std::string>> names = fs->List(dir);
  for (const std::string& n : names.ok() ? *names : std::vector<std::string>()) {
    const std::string rel = StoreLayout::DiskRel(vm, n);
    Status st = CheckRegularFile(fs, layout.Abs(rel), rel);
    if (!st.ok() && st.code() != Code::kNotFound) out.push_back(st.message() + "; left as it is");
  }
  return out;
}

Result<VmRecord> InspectVm(FileSystem* fs, const StoreLayout& layout, const Guid& vm,
                           const JournalScan& journal) {
  std::vector<std::string> problems;
  AddBadIntents(journal, vm, &problems);
  CheckVmLockFile(fs, layout, vm, &problems);
  Result<VmRecord> record = ReadVmRecordOf(fs, layout, vm);
  if (!record.ok() && record.status().code() == Code::kNotFound) {
    Result<FileKind> dir = fs->KindOf(layout.Abs(StoreLayout::VmDirRel(vm)));
    if (!dir.ok() || InFlight(journal, vm)) {
      if (problems.empty()) return NotFound("no VM " + vm.ToString());
    } else {
      problems.insert(problems.begin(), record.status().message() +
                                            "; the VM's files are kept (restore its vm.json)");
    }
  } else if (!record.ok()) {
    problems.insert(problems.begin(), record.status().message());
  }
  if (!record.ok()) {
    VmRecord r = Placeholder(vm, std::move(problems));
    // The name, when the damaged record still shows a valid one: `vm list` and commands by name.
    Result<std::string> text =
        ReadStoreFile(fs, layout.Abs(StoreLayout::VmRecordRel(vm)), kMaxRecordBytes);
    std::string name = text.ok() ? JsonStringField(*text, "name") : "";
    if (CheckVmName(name).ok()) r.name = std::move(name);
    return r;
  }
  Status disks = CheckVmDisks(fs, layout, *record);
  if (!disks.ok()) problems.push_back(disks.message());
  for (std::string& p : OddDiskEntries(fs, layout, vm)) problems.push_back(std::move(p));
  if (!problems.empty()) {
    record->health = ReplicationHealth::kCritical;
    record->problems = std::move(problems);
  }
  return record;
}

}  // namespace hvdisk::ops
