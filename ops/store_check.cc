#include "ops/store_check.h"

#include "chain/chain.h"
#include "ops/journal.h"
#include "ops/recovery.h"
#include "ops/replication_stats.h"
#include "ops/store_files.h"
#include "ops/trash.h"
#include "ops/vm_health.h"
#include "vhdx/image.h"

namespace hvdisk::ops {
namespace {

void CheckImage(Store* store, const Guid& vm, const std::string& name, StoreCheckReport* rep) {
  const std::string rel = StoreLayout::DiskRel(vm, name);
  ++rep->images_checked;
  Result<vhdx::CheckReport> r = vhdx::Image::Check(store->fs(), store->DiskPath(vm, name));
  if (!r.ok()) {
    rep->problems.push_back(rel + ": " + r.status().ToString());
    return;
  }
  for (const std::string& c : r->corruptions) rep->problems.push_back(rel + ": corrupt: " + c);
  // Image::Check's leaks are space past the last object: the reservation of a writer killed
  // before its close (vm apply, a consumer). Nothing names it and the next writable open trims
  // it, so it is not a problem of the store (a frozen point keeps it until merged or discarded).
}

void CheckChainOpens(Store* store, const std::string& rel, StoreCheckReport* rep) {
  Result<std::unique_ptr<chain::Chain>> c =
      chain::Chain::Open(store->fs(), store->layout().Abs(rel), {});
  if (!c.ok()) rep->problems.push_back(rel + ": chain does not open: " + c.status().ToString());
}

void CheckVm(Store* store, const VmRecord& rec, StoreCheckReport* rep) {
  ++rep->vms;
  const std::string where = StoreLayout::VmDirRel(rec.id) + ": ";
  for (const std::string& p : rec.problems) rep->problems.push_back(where + "Critical: " + p);
  if (rec.mode == ReplicationMode::kNone) return;  // no usable record
  Result<std::vector<std::string>> strays = FindStrays(store->fs(), store->layout(), rec);
  if (!strays.ok()) rep->problems.push_back(rec.id.ToString() + ": " + strays.status().ToString());
  for (const std::string& s : strays.ok() ? *strays : std::vector<std::string>()) {
    rep->problems.push_back(s + ": orphan");
  }
  Result<ReplicationStats> stats = LoadReplicationStats(store->fs(), store->layout(), rec.id);
  if (!stats.ok()) rep->problems.push_back(stats.status().message());
  // Never opened through a link or at something that is not a file (it could be a FIFO).
  if (!CheckVmDisks(store->fs(), store->layout(), rec).ok()) return;
  if (rec.mode == ReplicationMode::kTestReplica) {
    CheckChainOpens(store, rec.attached, rep);
    return;  // the disk itself is checked with its source
  }
  Result<std::vector<std::string>> disks = ReferencedDisks(store->fs(), store->layout(), rec);
  for (const std::string& name : disks.ok() ? *disks : std::vector<std::string>()) {
    CheckImage(store, rec.id, name, rep);
  }
  for (const RecoveryPoint& p : rec.points) {
    CheckChainOpens(store, StoreLayout::DiskRel(rec.id, p.file), rep);
  }
  if (!rec.attached.empty()) CheckChainOpens(store, rec.attached, rep);
}

// The journal's entries: each one an operation in flight or left by a crash, or refused.
Status CheckJournal(Store* store, const JournalScan& journal, StoreCheckReport* rep) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, store->fs()->List(store->layout().JournalDir()));
  for (const std::string& name : names) {
    std::string what = "operation in flight or left by a crash";
    for (const BadIntent& b : journal.bad) {
      if (b.rel == "journal/" + name) what = "refused, not acted on: " + b.problem;
    }
    rep->problems.push_back("journal/" + name + ": " + what);
  }
  return Status::Ok();
}

// What recovery quarantined: listed until the operator deals with it.
void CheckLostFound(Store* store, StoreCheckReport* rep) {
  const std::string dir = LostFoundDir(store->layout());
  Status kind = CheckRealDir(store->fs(), dir, "lost+found/");
  if (kind.code() == Code::kNotFound) return;
  if (!kind.ok()) {
    rep->problems.push_back(kind.message());
    return;
  }
  Result<std::vector<std::string>> names = store->fs()->List(dir);
  for (const std::string& n : names.ok() ? *names : std::vector<std::string>()) {
    rep->problems.push_back("lost+found/" + n +
                            ": quarantined by recovery (no record names it): inspect it, then "
                            "delete it or move it back into its VM's directory");
  }
}

}  // namespace

Result<StoreCheckReport> CheckStore(Store* store) {
  StoreCheckReport rep;
  ASSIGN_OR_RETURN(JournalScan journal, Journal(store->fs(), &store->layout()).Scan());
  RETURN_IF_ERROR(CheckJournal(store, journal, &rep));
  Result<TrashReport> trash = SurveyTrash(store->fs(), store->layout());
  if (trash.ok()) rep.trash = *trash;
  if (!trash.ok()) rep.problems.push_back("trash/: " + trash.status().message());
  CheckLostFound(store, &rep);
  ASSIGN_OR_RETURN(std::vector<std::string> names, store->fs()->List(store->layout().VmsDir()));
  for (const std::string& name : names) {
    std::optional<Guid> id = Guid::Parse(name);
    if (!id || LowerGuid(*id) != name) {
      rep.problems.push_back("vms/" + name + ": not a VM directory (not named by a GUID)");
      continue;
    }
    Result<VmRecord> rec = InspectVm(store->fs(), store->layout(), *id, journal);
    if (!rec.ok() && rec.status().code() == Code::kNotFound) continue;  // in flight
    if (!rec.ok()) {
      rep.problems.push_back("vms/" + name + ": " + rec.status().ToString());
      continue;
    }
    CheckVm(store, *rec, &rep);
  }
  return rep;
}

}  // namespace hvdisk::ops
