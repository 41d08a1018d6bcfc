// CheckStore (declared in recovery.h): the crash contract of docs/design.md as a read-only check.
#include "chain/chain.h"
#include "ops/journal.h"
#include "ops/recovery.h"
#include "ops/trash.h"
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
  Result<std::vector<std::string>> strays = FindStrays(store, rec);
  if (!strays.ok()) rep->problems.push_back(rec.id.ToString() + ": " + strays.status().ToString());
  for (const std::string& s : strays.ok() ? *strays : std::vector<std::string>()) {
    rep->problems.push_back(s + ": orphan");
  }
  if (rec.mode == ReplicationMode::kTestReplica) {
    CheckChainOpens(store, rec.attached, rep);
    return;  // the disk itself is checked with its source
  }
  Result<std::vector<std::string>> disks = ReferencedDisks(store, rec);
  for (const std::string& name : disks.ok() ? *disks : std::vector<std::string>()) {
    CheckImage(store, rec.id, name, rep);
  }
  for (const RecoveryPoint& p : rec.points) {
    CheckChainOpens(store, StoreLayout::DiskRel(rec.id, p.file), rep);
  }
  if (!rec.attached.empty()) CheckChainOpens(store, rec.attached, rep);
}

}  // namespace

Result<StoreCheckReport> CheckStore(Store* store) {
  StoreCheckReport rep;
  ASSIGN_OR_RETURN(std::vector<std::string> journal,
                   store->fs()->List(store->layout().JournalDir()));
  for (const std::string& name : journal) {
    rep.problems.push_back("journal/" + name + ": operation in flight or left by a crash");
  }
  ASSIGN_OR_RETURN(rep.trash, SurveyTrash(store->fs(), store->layout()));
  ASSIGN_OR_RETURN(std::vector<std::string> names, store->fs()->List(store->layout().VmsDir()));
  for (const std::string& name : names) {
    std::optional<Guid> id = Guid::Parse(name);
    Result<VmRecord> rec = id ? store->GetVm(*id) : Result<VmRecord>(NotFound("not a GUID"));
    if (!rec.ok()) {
      rep.problems.push_back("vms/" + name + ": " + rec.status().ToString());
      continue;
    }
    CheckVm(store, *rec, &rep);
  }
  return rep;
}

}  // namespace hvdisk::ops
