#include "ops/vm_served.h"

#include <nlohmann/json.hpp>
#include <span>
#include <utility>

#include "ops/consumer.h"
#include "platform/file.h"

namespace hvdisk::ops {
namespace {

using Json = nlohmann::json;

constexpr uint64_t kMaxServedRecordBytes = 64 * 1024;
constexpr size_t kMaxFieldBytes = 4096;

std::string StringField(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  std::string s = it->get<std::string>();
  return s.size() <= kMaxFieldBytes ? s : "";
}

// The record as written by Publish; anything else gives empty fields.
ServedInfo ParseRecord(const std::string& text) {
  ServedInfo info;
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return info;
  info.uri = StringField(j, "uri");
  info.host = StringField(j, "host");
  auto pid = j.find("pid");
  if (pid != j.end() && pid->is_number_integer() && pid->get<int64_t>() > 0) {
    info.pid = pid->get<int64_t>();
  }
  return info;
}

}  // namespace

std::string ServedRecordPath(const StoreLayout& layout, const Guid& vm) {
  return JoinPath(layout.LocksDir(), LowerGuid(vm) + ".served");
}

Result<std::optional<ServedInfo>> IsServed(Store& store, const Guid& vm) {
  ASSIGN_OR_RETURN(bool held, FileLock::IsHeld(store.fs(), store.layout().VmLockPath(vm),
                                               LockMode::kShared, kServedSlot));
  if (!held) return std::optional<ServedInfo>();
  Result<std::string> text =
      ReadWholeFile(store.fs(), ServedRecordPath(store.layout(), vm), kMaxServedRecordBytes);
  return std::optional<ServedInfo>(text.ok() ? ParseRecord(*text) : ServedInfo{});
}

Status RefuseIfServed(Store& store, const Guid& vm, std::string_view op) {
  ASSIGN_OR_RETURN(std::optional<ServedInfo> served, IsServed(store, vm));
  if (!served) return Status::Ok();
  std::string where = served->uri.empty() ? "" : " at " + served->uri;
  std::string who = served->pid == 0 ? "" : " by pid " + std::to_string(served->pid);
  if (!who.empty() && !served->host.empty()) who += " on " + served->host;
  return InUse("cannot " + std::string(op) + ": VM " + vm.ToString() + " is running (served" +
               where + who + "); stop the export first" +
               (served->pid == 0 ? "" : " ('kill " + std::to_string(served->pid) + "')"));
}

Status ExpectRunnable(const VmRecord& record) {
  if (CanRun(record)) return Status::Ok();
  return InvalidState("VM " + record.name + " cannot run in state " +
                      std::to_string(static_cast<int>(record.state)) + " " +
                      std::string(StateName(record.state)) +
                      ": only a failed-over VM (5 Recovered, 6 Committed) or a test VM is served");
}

// Steps: the VM's lock, its record read under it; the served slot; a record a killed server left
// removed (synced), so that until Publish nobody reads the old server's host, pid and URI as
// this one's.
Result<std::unique_ptr<ServedVm>> ServedVm::Mark(Store& store, const Guid& vm) {
  ASSIGN_OR_RETURN(LockedVm v, store.LockAndRead(vm, false));
  RETURN_IF_ERROR(ExpectRunnable(v.record));
  ASSIGN_OR_RETURN(std::unique_ptr<FileLock> mark,
                   FileLock::Acquire(store.fs(), store.layout().VmLockPath(vm),
                                     LockMode::kExclusive, FileLock::kTry, kServedSlot));
  Status removed = store.fs()->Unlink(ServedRecordPath(store.layout(), vm));
  if (removed.ok()) RETURN_IF_ERROR(store.fs()->SyncDir(store.layout().LocksDir()));
  if (!removed.ok() && removed.code() != Code::kNotFound) return removed;
  return std::unique_ptr<ServedVm>(new ServedVm(&store, std::move(v), std::move(mark)));
}

ServedVm::ServedVm(Store* store, LockedVm vm, std::unique_ptr<FileLock> mark)
    : store_(store),
      record_(std::move(vm.record)),
      vm_lock_(std::move(vm.lock)),
      mark_(std::move(mark)) {}

ServedVm::~ServedVm() {
  (void)store_->fs()->Unlink(ServedRecordPath(store_->layout(), record_.id));
  mark_.reset();
  vm_lock_.reset();
}

std::string ServedVm::disk_path() const { return store_->layout().Abs(record_.attached); }

Status ServedVm::Publish(const ServedInfo& info) {
  const std::string text = Json{{"uri", info.uri}, {"pid", info.pid}, {"host", info.host}}.dump();
  return WriteFileAtomically(store_->fs(), ServedRecordPath(store_->layout(), record_.id),
                             std::as_bytes(std::span(text)));
}

}  // namespace hvdisk::ops
