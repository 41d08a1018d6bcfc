#include "ops/store_repair.h"

#include "chain/chain.h"
#include "ops/store_layout.h"
#include "vhdx/image.h"

namespace hvdisk::ops {
namespace {

// Steps of re-creating a head (crash points): (1) the child is created as "<head>.tmp" on its
// point (a crash leaves the temporary, which no record names: the next recovery quarantines it
// and the next repair starts again); (2) renamed to the head's name; (3) disks/ synced.
Status RecreateHead(Store* store, const VmRecord& rec, std::vector<std::string>* actions) {
  FileSystem* fs = store->fs();
  const std::string head = store->DiskPath(rec.id, rec.head);
  Result<FileKind> kind = fs->KindOf(head);
  if (kind.ok() || kind.status().code() != Code::kNotFound) return Status::Ok();  // present
  const std::string rel = StoreLayout::DiskRel(rec.id, rec.head);
  if (rec.state != ReplicationState::kReplicating && rec.state != ReplicationState::kSuspended) {
    actions->push_back(rel + ": missing; not re-created in state " +
                       std::to_string(static_cast<int>(rec.state)));
    return Status::Ok();
  }
  const std::string below = rec.points.empty() ? rec.base : rec.points.back().file;
  const std::string parent = store->DiskPath(rec.id, below);
  Result<std::unique_ptr<chain::Chain>> c = chain::Chain::Open(fs, parent, {});
  if (!c.ok()) {
    actions->push_back(rel + ": missing; not re-created: its parent " + below +
                       " does not open: " + c.status().message());
    return Status::Ok();
  }
  for (const std::string& p : (*c)->paths()) {
    Result<vhdx::CheckReport> r = vhdx::Image::Check(fs, p);
    if (!r.ok() || !r->corruptions.empty()) {
      actions->push_back(rel + ": missing; not re-created: " + p + " does not check clean");
      return Status::Ok();
    }
  }
  c->reset();  // the parent's readers' locks, before the child opens it
  RETURN_IF_ERROR(chain::CreateChild(fs, parent, head + ".tmp"));  // (1)
  RETURN_IF_ERROR(fs->Rename(head + ".tmp", head));                // (2)
  RETURN_IF_ERROR(fs->SyncDir(store->DisksDir(rec.id)));           // (3)
  actions->push_back(rel + ": was missing; re-created on " + below +
                     " (changes replicated since that point are lost: resynchronize them)");
  return Status::Ok();
}

// Why the VM's disks are unusable: each named disk missing or not checking clean.
std::vector<std::string> DiskProblems(Store* store, const VmRecord& rec) {
  std::vector<std::string> names = rec.ChainFiles();
  if (!rec.failover_disk.empty()) names.push_back(rec.failover_disk);
  std::vector<std::string> out;
  for (const std::string& name : names) {
    const std::string rel = StoreLayout::DiskRel(rec.id, name);
    Result<FileKind> kind = store->fs()->KindOf(store->DiskPath(rec.id, name));
    if (!kind.ok()) {
      out.push_back(rel + " is missing");
      continue;
    }
    Result<vhdx::CheckReport> r = vhdx::Image::Check(store->fs(), store->DiskPath(rec.id, name));
    if (!r.ok()) {
      out.push_back(rel + ": " + r.status().message());
    } else if (!r->corruptions.empty()) {
      out.push_back(rel + " is corrupt: " + r->corruptions.front());
    }
  }
  return out;
}

Status MarkCritical(Store* store, VmRecord rec, std::vector<std::string>* actions) {
  const std::vector<std::string> problems = DiskProblems(store, rec);
  if (problems.empty()) return Status::Ok();
  std::string why;
  for (const std::string& p : problems) why += (why.empty() ? "" : "; ") + p;
  const std::string where = StoreLayout::VmDirRel(rec.id);
  if (rec.health == ReplicationHealth::kCritical) {
    actions->push_back(where + ": Critical (already marked): " + why);
    return Status::Ok();
  }
  rec.health = ReplicationHealth::kCritical;
  rec.generation++;
  RETURN_IF_ERROR(WriteVmRecord(store->fs(), store->RecordPath(rec.id), rec));
  actions->push_back(where + ": marked Critical: " + why);
  return Status::Ok();
}

// A chain link whose parent locator names no file that exists (kNotFound), while the record's
// parent of that disk is in disks/: the child is pointed at it (chain::Reparent: one log entry,
// and only when that parent carries the linkage the child records, so nothing is guessed).
// Links are taken base first, so a lower link is fixed before the chains above it are opened.
Status RelinkChain(Store* store, const VmRecord& rec, std::vector<std::string>* actions) {
  FileSystem* fs = store->fs();
  const std::vector<std::string> files = rec.ChainFiles();
  for (size_t i = 1; i < files.size(); ++i) {
    const std::string child = store->DiskPath(rec.id, files[i]);
    const std::string parent = store->DiskPath(rec.id, files[i - 1]);
    if (!fs->KindOf(child).ok() || !fs->KindOf(parent).ok()) continue;  // MarkCritical says
    Result<std::unique_ptr<chain::Chain>> c = chain::Chain::Open(fs, child, {});
    if (c.ok() || c.status().code() != Code::kNotFound) continue;
    const std::string rel = StoreLayout::DiskRel(rec.id, files[i]);
    Status st = chain::Reparent(fs, child, parent, /*ignore_id_mismatch=*/false);
    if (!st.ok()) {
      actions->push_back(rel + ": its parent link is broken (" + c.status().message() +
                         "); not relinked to " + files[i - 1] + ": " + st.message());
      continue;
    }
    actions->push_back(rel + ": its parent link named no file (" + c.status().message() +
                       "); relinked to " + files[i - 1] + ", which carries its linkage");
  }
  return Status::Ok();
}

Status RepairVm(Store* store, const Guid& vm, std::vector<std::string>* actions) {
  ASSIGN_OR_RETURN(LockedVm locked, store->LockAndRead(vm, /*require_replica=*/true));
  RETURN_IF_ERROR(RelinkChain(store, locked.record, actions));
  if (!locked.record.head.empty()) RETURN_IF_ERROR(RecreateHead(store, locked.record, actions));
  return MarkCritical(store, locked.record, actions);
}

// Adds what `more` did to *into.
void Append(const RecoveryReport& more, RecoveryReport* into) {
  auto add = [](const auto& from, auto* to) { to->insert(to->end(), from.begin(), from.end()); };
  add(more.rolled_back, &into->rolled_back);
  add(more.rolled_forward, &into->rolled_forward);
  add(more.removed, &into->removed);
  add(more.busy, &into->busy);
  add(more.not_writable, &into->not_writable);
  add(more.deferred, &into->deferred);
  add(more.quarantined, &into->quarantined);
  add(more.problems, &into->problems);
}

}  // namespace

Result<StoreRepairReport> RepairStore(Store* store) {
  StoreRepairReport report;
  report.recovery = store->open_recovery();  // the open recovered first; then again, now
  ASSIGN_OR_RETURN(RecoveryReport again, store->Recover());
  Append(again, &report.recovery);
  ASSIGN_OR_RETURN(std::vector<VmRecord> vms, store->ListVms());
  for (const VmRecord& vm : vms) {
    if (vm.mode != ReplicationMode::kReplica || !vm.problems.empty()) continue;
    Status st = RepairVm(store, vm.id, &report.actions);
    if (!st.ok()) report.failed.push_back(vm.id.ToString(false) + ": " + st.ToString());
  }
  return report;
}

}  // namespace hvdisk::ops
