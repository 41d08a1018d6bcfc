// `hvdisk vm --store DIR replicate VM --from URI|PATH [--bitmap NAME] [--checkpoint [--type T]]
// [--depth N]`: one replication cycle (ops/replicate.h) from an NBD export or a local disk, with a
// progress line on a terminal, and --json: the cycle's figures (docs/json.md).
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/hints.h"
#include "cli/progress.h"
#include "disk/replication_source.h"
#include "ops/replicate.h"
#include "ops/store.h"

namespace hvdisk::cli {
namespace {

using Json = nlohmann::ordered_json;

struct ReplicateArgs {
  std::string vm;
  std::string from;
  std::string bitmap;
  std::string type = "Standard";
  bool checkpoint = false;
  bool json = false;
  unsigned depth = ops::kDefaultReplicateDepth;
};

Json ReportJson(const std::string& vm, const ops::ReplicateReport& r) {
  Json j = {{"vm", vm}, {"source", r.source}};
  if (!r.bitmap.empty()) j["bitmap"] = r.bitmap;
  j["size"] = r.size;
  j["bytes"] = r.bytes;
  j["zero_bytes"] = r.zero_bytes;
  j["extents"] = r.extents;
  j["duration_ms"] = r.duration.count();
  if (r.point) {
    j["point"] = {
        {"id", r.point->id.ToString(false)}, {"name", r.point->name()}, {"file", r.point->file}};
  }
  return j;
}

void PrintReport(const std::string& vm, const ops::ReplicateReport& r) {
  std::printf("%s: %s from %s: %llu bytes of data in %llu extents, %llu bytes of zeros, %.3f s\n",
              vm.c_str(), r.bitmap.empty() ? "full sync" : ("bitmap " + r.bitmap).c_str(),
              r.source.c_str(), static_cast<unsigned long long>(r.bytes),
              static_cast<unsigned long long>(r.extents),
              static_cast<unsigned long long>(r.zero_bytes), r.duration.count() / 1000.0);
  if (r.point) {
    std::printf("%s: recovery point %s %s\n", vm.c_str(), r.point->name().c_str(),
                r.point->id.ToString(false).c_str());
  }
}

// The hint for a failed cycle: the source's situation first, else the VM's.
std::string CycleHint(const Status& st, const std::string& store, const ReplicateArgs& a) {
  std::string h = hint::ReplicationSource(st, a.from, store, a.vm);
  if (!h.empty()) return h;
  if (st.code() == Code::kCancelled) return hint::Cancelled();
  return hint::VmOperation(st, store, a.vm);
}

int RunReplicate(const ReplicateArgs& a, const std::string& dir) {
  Result<ops::RecoveryPointType> type = ops::ParsePointType(a.type);
  if (!type.ok()) return UsageError(type.status());
  if (!a.bitmap.empty() && !disk::IsNbdUri(a.from)) {
    return UsageError(InvalidArgument("--bitmap names a dirty bitmap of an NBD export; " + a.from +
                                      " is a file (a file's changes are its allocated ranges)"));
  }
  Result<std::unique_ptr<ops::Store>> store = ops::Store::Open(
      DefaultFileSystem(), dir, {.reclaim = ops::StoreOptions::Reclaim::kExternal});
  if (!store.ok()) return ReportError(store.status(), hint::OpenStore(store.status(), dir));
  Result<Guid> vm = (*store)->FindVm(a.vm);
  if (!vm.ok()) return ReportError(vm.status(), hint::FindVm(vm.status(), dir, a.vm));
  Progress progress("replicate", 0, a.json);
  ops::ReplicateOptions o{.from = a.from,
                          .bitmap = a.bitmap,
                          .checkpoint = a.checkpoint,
                          .type = *type,
                          .depth = a.depth};
  o.progress = [&progress](uint64_t walked, uint64_t size) {
    if (size > 0) progress.Percent(static_cast<int>(walked * 100 / size));
  };
  Result<ops::ReplicateReport> r = ops::Replicate(**store, *vm, o);
  progress.Finish();
  if (!r.ok()) return ReportError(r.status(), CycleHint(r.status(), dir, a));
  if (a.json) {
    PrintJson(ReportJson(a.vm, *r));
  } else {
    PrintReport(a.vm, *r);
  }
  return kExitOk;
}

}  // namespace

void RegisterVmReplicateCommand(CLI::App* vm) {
  auto a = std::make_shared<ReplicateArgs>();
  CLI::App* sub = vm->add_subcommand(
      "replicate", "Run one replication cycle: apply a source's changes (NBD or a disk file)");
  sub->add_option("VM", a->vm, "VM GUID or name")->required();
  sub->add_option("--from", a->from,
                  "nbd://HOST:PORT/EXPORT, nbd+unix:///EXPORT?socket=PATH, or a raw, VHDX or "
                  "differencing .avhdx file (its parent: the replica's current content)")
      ->required();
  sub->add_option("--bitmap", a->bitmap,
                  "NBD only: apply only what the export's qemu:dirty-bitmap:NAME marks dirty "
                  "(without: a full sync of the source's allocated data)");
  CLI::Option* cp =
      sub->add_flag("--checkpoint", a->checkpoint,
                    "take a recovery point once every change was applied (not after a failure)");
  sub->add_option("--type", a->type, "the point's type: Standard, ApplicationConsistent, Planned")
      ->needs(cp);
  sub->add_option("--depth", a->depth, "NBD reads in flight, 1 MiB each (16)")
      ->check(CLI::Range(1u, 1024u));
  AddJsonFlag(sub, &a->json,
              "vm, source, bitmap, size, bytes, zero_bytes, extents, duration_ms, point");
  SetExitStatus(sub, {"0  every change applied (and the point taken with --checkpoint)",
                      "1  the cycle failed: the VM is consistent, its points unchanged; the next "
                      "cycle from the same source state completes it",
                      "2  bad arguments (usage)"});
  SetCommand(sub,
             [a, vm] { return RunReplicate(*a, vm->get_option("--store")->as<std::string>()); });
}

}  // namespace hvdisk::cli
