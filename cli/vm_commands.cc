// Replica-store commands: `hvdisk store create|recover|check|reclaim DIR` and
// `hvdisk vm --store DIR create|list|show|apply|checkpoint|suspend|resume|failover|revert|commit|
// test|destroy ...`. A VM and a recovery point are given by GUID or by name. Every command takes
// --json (keys in docs/json.md): a state change prints the VM record it left. Long operations
// (failover, revert, commit, test, destroy, checkpoint, create) show a progress line on a terminal.
//
// Reclamation (ops/trash.h): the CLI opens stores with Reclaim::kExternal, so no command waits for
// the files an operation discarded to be freed. After a vm command succeeded and printed its
// output, a non-empty trash is handed to `hvdisk store reclaim DIR` started detached (its own
// session, stdio on /dev/null, not waited for), as `git gc --auto` does.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/hints.h"
#include "cli/progress.h"
#include "cli/replication_view.h"
#include "cli/vm_view.h"
#include "ops/failover.h"
#include "ops/host_id.h"
#include "ops/recovery_point.h"
#include "ops/replication.h"
#include "ops/replication_stats.h"
#include "ops/store.h"
#include "ops/store_check.h"
#include "ops/store_repair.h"
#include "ops/test_failover.h"
#include "ops/trash.h"
#include "ops/vm_admin.h"
#include "ops/vm_recover.h"
#include "ops/vm_served.h"
#include "platform/detached.h"

namespace hvdisk::cli {
namespace {

using Json = nlohmann::ordered_json;
using ops::Store;
using ops::VmRecord;

constexpr int kExitCheckProblems = 2;  // store check: the store breaks its contract

struct VmArgs {
  std::string store;
  std::string vm;
  std::string name;
  std::string base;
  std::string point;
  std::string type = "Standard";
  std::string file;
  bool adopt = false;
  bool json = false;
  uint32_t retention = 24;
  int64_t interval_s = 0;  // vm set --interval (0: not given)
};

// read_only: for the commands that only read (vm list, vm show): shared locks only, no recovery,
// so they work on a read-only store and for a user who may only read it (ops/store.h).
Result<std::unique_ptr<Store>> OpenStore(const std::string& dir, bool read_only = false) {
  return Store::Open(DefaultFileSystem(), dir,
                     {.read_only = read_only, .reclaim = ops::StoreOptions::Reclaim::kExternal});
}

// The detached side of StartDetachedReclaim: stdio on /dev/null, no other descriptor of ours,
// then exec (async-signal-safe calls only: the parent may have threads).
[[noreturn]] void ExecReclaim(const void* arg) {
  char* const* argv = static_cast<char* const*>(arg);
  const int null_fd = open("/dev/null", O_RDWR);
  for (int fd = 0; fd <= 2; ++fd) dup2(null_fd, fd);
  CloseDescriptors(3, ~0u);
  execv("/proc/self/exe", argv);
  _exit(127);
}

// Starts `hvdisk store reclaim DIR` detached and returns without waiting for it. Best effort:
// when it cannot start, the trash waits for the next reclaim.
void StartDetachedReclaim(const std::string& dir) {
  std::string arg0 = "hvdisk", store = "store", reclaim = "reclaim", path = dir;
  char* const argv[] = {arg0.data(), store.data(), reclaim.data(), path.data(), nullptr};
  std::fflush(stdout);
  std::fflush(stderr);
  RunDetached(ExecReclaim, argv);
}

// Hands a non-empty trash to a detached reclaim (after a command succeeded).
void ReclaimDetachedIfNeeded(Store& store) {
  Result<bool> trash = ops::TrashHasEntries(store.fs(), store.layout());
  if (trash.ok() && *trash) StartDetachedReclaim(store.layout().root);
}

// Runs `op` with a progress line named `label` (on a terminal, without --json).
template <typename Op>
auto WithProgress(const char* label, bool json, Op op) {
  Progress progress(label, 100, json);
  ops::OpControl control{.progress = [&progress](int p) { progress.Percent(p); }};
  return op(&control);
}

// After a state change: the record (--json) or "NAME: state N Name".
Status PrintStateAfter(Store& store, const Guid& vm, bool json) {
  ASSIGN_OR_RETURN(VmRecord r, store.GetVm(vm));
  if (json) {
    const VmFacts facts = GatherFacts(store, r);
    PrintJson(RecordJson(r, &facts));
  } else {
    std::printf("%s: state %d %s\n", r.name.c_str(), static_cast<int>(r.state),
                ops::StateName(r.state).data());
  }
  return Status::Ok();
}

// A hint for a failed body of WithVm: the command's own advice, "" for the usual one.
using VmHintFn = std::function<std::string(const Status&)>;

// Opens the store, resolves the VM and runs `body(store, vm)`; errors are reported with the hint
// of their step (`hint` first for the body's).
int WithVm(const VmArgs& a, const std::function<Status(Store&, const Guid&)>& body,
           bool read_only = false, const VmHintFn& hint = nullptr) {
  Result<std::unique_ptr<Store>> store = OpenStore(a.store, read_only);
  if (!store.ok()) return ReportError(store.status(), hint::OpenStore(store.status(), a.store));
  Result<Guid> vm = (*store)->FindVm(a.vm);
  if (!vm.ok()) return ReportError(vm.status(), hint::FindVm(vm.status(), a.store, a.vm));
  Status st = body(**store, *vm);
  if (!st.ok()) {
    std::string own = hint ? hint(st) : "";
    return ReportError(st, own.empty() ? hint::VmOperation(st, a.store, a.vm) : own);
  }
  if (!read_only) ReclaimDetachedIfNeeded(**store);
  return kExitOk;
}

// The point named by a.point (none: latest).
Result<std::optional<Guid>> PointArg(Store& store, const Guid& vm, const VmArgs& a) {
  if (a.point.empty()) return std::optional<Guid>();
  ASSIGN_OR_RETURN(VmRecord r, store.GetVm(vm));
  ASSIGN_OR_RETURN(Guid p, ops::FindPoint(r, a.point));
  return std::optional<Guid>(p);
}

int RunCreate(const VmArgs& a) {
  Result<std::unique_ptr<Store>> store = OpenStore(a.store);
  if (!store.ok()) return ReportError(store.status(), hint::OpenStore(store.status(), a.store));
  Result<Guid> vm = WithProgress("create", a.json, [&](const ops::OpControl* c) {
    return ops::CreateReplicaVm(
        **store, {.name = a.name, .base_path = a.base, .adopt = a.adopt, .retention = a.retention},
        c);
  });
  if (!vm.ok()) {
    std::string h = hint::OpenDisk(vm.status(), a.base, true);  // the base disk's
    return ReportError(vm.status(), h.empty() ? hint::VmOperation(vm.status(), a.store, "") : h);
  }
  if (!a.json) {
    std::printf("%s\n", vm->ToString(false).c_str());
    return kExitOk;
  }
  Status st = PrintStateAfter(**store, *vm, true);
  return st.ok() ? kExitOk : ReportError(st);
}

int RunList(const VmArgs& a) {
  Result<std::unique_ptr<Store>> store = OpenStore(a.store, true);
  if (!store.ok()) return ReportError(store.status(), hint::OpenStore(store.status(), a.store));
  Result<std::vector<VmRecord>> vms = (*store)->ListVms();
  if (!vms.ok()) return ReportError(vms.status(), hint::OpenStore(vms.status(), a.store));
  Json out = Json::array();
  std::vector<VmFacts> facts;
  for (const VmRecord& r : *vms) {
    facts.push_back(GatherFacts(**store, r));
    out.push_back(RecordJson(r, &facts.back()));
  }
  if (a.json) {
    PrintJson(out);
  } else {
    PrintVmTable(*vms, facts);
  }
  return kExitOk;
}

int RunShow(const VmArgs& a) {
  const auto show = [&](Store& store, const Guid& vm) {
    ASSIGN_OR_RETURN(VmRecord r, store.InspectVm(vm));  // a Critical VM is shown with its problems
    const VmFacts facts = GatherFacts(store, r);
    ASSIGN_OR_RETURN(std::optional<ops::ServedInfo> served, ops::IsServed(store, vm));
    // Statistics a damaged record cannot give are left out (store check names the problem).
    Result<ops::ReplicationReport> repl = ops::MeasureReplication(store, vm);
    if (a.json) {
      Json j = RecordJson(r, &facts);
      if (served)
        j["served"] = {{"uri", served->uri}, {"pid", served->pid}, {"host", served->host}};
      if (repl.ok()) j["replication"] = ReplicationJson(*repl);
      PrintJson(j);
    } else {
      PrintRecord(r, facts);
      if (served) {
        std::printf("  served:   %s (pid %lld on %s)\n", served->uri.c_str(),
                    static_cast<long long>(served->pid), served->host.c_str());
      }
      if (repl.ok()) PrintReplication(*repl, "  ");
      if (!repl.ok()) std::printf("  replication: %s\n", repl.status().message().c_str());
    }
    return Status::Ok();
  };
  return WithVm(a, show, /*read_only=*/true);
}

// vm stats (Measure-VMReplication): the statistics and health alone.
int RunStats(const VmArgs& a) {
  const auto stats = [&](Store& store, const Guid& vm) {
    ASSIGN_OR_RETURN(VmRecord r, store.GetVm(vm));
    ASSIGN_OR_RETURN(ops::ReplicationReport rep, ops::MeasureReplication(store, vm));
    if (a.json) {
      Json j{{"id", r.id.ToString(false)}, {"name", r.name}};
      j.update(ReplicationJson(rep));
      PrintJson(j);
    } else {
      std::printf("%s  %s\n", r.id.ToString(false).c_str(), r.name.c_str());
      PrintReplication(rep, "  ");
    }
    return Status::Ok();
  };
  return WithVm(a, stats, /*read_only=*/true);
}

int RunCheckpoint(const VmArgs& a) {
  Result<ops::RecoveryPointType> parsed = ops::ParsePointType(a.type);
  if (!parsed.ok()) return UsageError(parsed.status());
  const ops::RecoveryPointType type = *parsed;
  return WithVm(a, [&](Store& store, const Guid& vm) {
    ASSIGN_OR_RETURN(ops::RecoveryPoint p,
                     WithProgress("checkpoint", a.json, [&](const ops::OpControl* c) {
                       return ops::TakeRecoveryPoint(store, vm, type, c);
                     }));
    if (a.json) {
      PrintJson({{"id", p.id.ToString(false)}, {"name", p.name()}, {"file", p.file}});
    } else {
      std::printf("%s %s\n", p.name().c_str(), p.id.ToString(false).c_str());
    }
    return Status::Ok();
  });
}

int RunRecover(const VmArgs& a) {
  return WithVm(a, [&](Store& store, const Guid& vm) {
    ASSIGN_OR_RETURN(ops::VmRecoverReport r, ops::RecoverVm(store, vm));
    // Opening the store may have resolved the VM's leftovers already (its lock was free).
    const std::string id = vm.ToString(false);
    const ops::RecoveryReport& at_open = store.open_recovery();
    for (const std::string& s : at_open.rolled_back) {
      if (s.ends_with(id)) r.recovery.rolled_back.push_back(s);
    }
    for (const std::string& s : at_open.rolled_forward) {
      if (s.ends_with(id)) r.recovery.rolled_forward.push_back(s);
    }
    if (a.json) {
      ASSIGN_OR_RETURN(VmRecord rec, store.GetVm(vm));
      PrintJson({{"id", vm.ToString(false)},
                 {"name", rec.name},
                 {"state", static_cast<int>(rec.state)},
                 {"rolled_back", r.recovery.rolled_back},
                 {"rolled_forward", r.recovery.rolled_forward},
                 {"previous_owner", r.previous_owner},
                 {"owner_host", r.owner},
                 {"taken_over", r.taken_over},
                 {"epoch", r.epoch}});
      return Status::Ok();
    }
    for (const std::string& s : r.recovery.rolled_back) std::printf("rolled back %s\n", s.c_str());
    for (const std::string& s : r.recovery.rolled_forward) {
      std::printf("rolled forward %s\n", s.c_str());
    }
    if (r.taken_over) {
      std::printf("taken over from host %s (epoch %llu)\n", r.previous_owner.c_str(),
                  static_cast<unsigned long long>(r.epoch));
    }
    return PrintStateAfter(store, vm, false);
  });
}

int RunTest(const VmArgs& a) {
  return WithVm(a, [&](Store& store, const Guid& vm) {
    ASSIGN_OR_RETURN(std::optional<Guid> point, PointArg(store, vm, a));
    ASSIGN_OR_RETURN(Guid test, WithProgress("test", a.json, [&](const ops::OpControl* c) {
                       return ops::TestReplicaSystem(store, vm, point, c);
                     }));
    if (a.json) return PrintStateAfter(store, test, true);
    std::printf("%s\n", test.ToString(false).c_str());
    return Status::Ok();
  });
}

// A subcommand of `vm` that takes the VM as its first positional argument.
CLI::App* AddVmSub(CLI::App* vm, const char* name, const char* help, std::shared_ptr<VmArgs> a) {
  CLI::App* sub = vm->add_subcommand(name, help);
  sub->add_option("VM", a->vm, "VM GUID or name")->required();
  AddJsonFlag(sub, &a->json, "the VM record (as vm show)");
  return sub;
}

using StateFn = std::function<Status(Store&, const Guid&, const ops::OpControl*)>;

// `vm NAME VM`: runs `fn` with a progress line, then prints the record it left.
void AddStateCommand(CLI::App* vm, std::shared_ptr<VmArgs> a, const char* name, const char* help,
                     StateFn fn) {
  CLI::App* sub = AddVmSub(vm, name, help, a);
  const bool destroy = std::string_view(name) == "destroy";
  if (destroy) sub->get_option("--json")->description("Print id, name, source_vm, destroyed");
  // DestroyTestVm refuses a VM that is not a test VM with kUnsupported.
  VmHintFn hint = [destroy](const Status& s) {
    return destroy && s.code() == Code::kUnsupported ? hint::DestroyNotTestVm() : "";
  };
  SetCommand(sub, [a, name, destroy, hint, fn = std::move(fn)] {
    const auto body = [&](Store& s, const Guid& v) {
      Result<VmRecord> before = s.GetVm(v);
      RETURN_IF_ERROR(
          WithProgress(name, a->json, [&](const ops::OpControl* c) { return fn(s, v, c); }));
      if (!destroy) return PrintStateAfter(s, v, a->json);
      // A destroyed test VM has no record left to show: what it was.
      if (a->json && before.ok()) {
        PrintJson({{"id", before->id.ToString(false)},
                   {"name", before->name},
                   {"source_vm", before->source_vm.ToString(false)},
                   {"destroyed", true}});
      }
      return Status::Ok();
    };
    return WithVm(*a, body, false, hint);
  });
}

void AddVmStateCommands(CLI::App* vm, std::shared_ptr<VmArgs> a) {
  AddStateCommand(
      vm, a, "suspend", "Suspend replication (3 Replicating -> 7 Suspended)",
      [](Store& s, const Guid& v, const ops::OpControl*) { return ops::SuspendReplication(s, v); });
  AddStateCommand(
      vm, a, "resume", "Resume replication (7 Suspended -> 3 Replicating)",
      [](Store& s, const Guid& v, const ops::OpControl*) { return ops::ResumeReplication(s, v); });
  AddStateCommand(vm, a, "revert",
                  "Discard the failover disk, back on the replica chain (-> 3 Replicating)",
                  [](Store& s, const Guid& v, const ops::OpControl* c) {
                    return ops::RevertFailover(s, v, c);
                  });
  AddStateCommand(vm, a, "commit",
                  "Commit the failover: merge the points up to it into the base (-> 6 Committed)",
                  [](Store& s, const Guid& v, const ops::OpControl* c) {
                    return ops::CommitFailover(s, v, c);
                  });
  AddStateCommand(
      vm, a, "destroy", "Destroy a test VM and its disk",
      [](Store& s, const Guid& v, const ops::OpControl* c) { return ops::DestroyTestVm(s, v, c); });
}

// failover and test: on a recovery point (--point, default the latest).
void AddVmPointCommands(CLI::App* vm, std::shared_ptr<VmArgs> a) {
  CLI::App* failover = AddVmSub(vm, "failover", "Fail over to a recovery point (latest)", a);
  failover->add_option("--point", a->point, "recovery point GUID or name (rp-NNNN)");
  SetCommand(failover, [a] {
    return WithVm(*a, [a](Store& s, const Guid& v) {
      ASSIGN_OR_RETURN(std::optional<Guid> point, PointArg(s, v, *a));
      RETURN_IF_ERROR(WithProgress("failover", a->json, [&](const ops::OpControl* c) {
        return ops::InitiateFailover(s, v, point, c);
      }));
      return PrintStateAfter(s, v, a->json);
    });
  });
  CLI::App* test = AddVmSub(vm, "test", "Create a test VM on a recovery point (latest)", a);
  test->get_option("--json")->description("Print the test VM's record as JSON (as vm show)");
  test->add_option("--point", a->point, "recovery point GUID or name (rp-NNNN)");
  SetCommand(test, [a] { return RunTest(*a); });
}

void AddVmDataCommands(CLI::App* vm, std::shared_ptr<VmArgs> a) {
  CLI::App* create = vm->add_subcommand("create", "Create a replica VM from a base disk");
  create->add_option("NAME", a->name, "VM name")->required();
  create->add_option("--base", a->base, "fixed or dynamic VHDX")->required();
  create->add_flag("--adopt", a->adopt, "move the base into the store instead of copying it");
  create->add_option("--retention", a->retention,
                     "recovery points kept, 1.." + std::to_string(ops::kMaxRetention) + " (24)");
  AddJsonFlag(create, &a->json, "the new VM's record (as vm show)");
  SetCommand(create, [a] { return RunCreate(*a); });
  CLI::App* list = vm->add_subcommand("list", "List the VMs of the store");
  AddJsonFlag(list, &a->json, "an array of VM records (as vm show)");
  SetCommand(list, [a] { return RunList(*a); });
  CLI::App* show = AddVmSub(vm, "show", "Show a VM: state, chain, recovery points", a);
  show->get_option("--json")->description("Print the VM record as JSON (keys in hvdisk-json(7))");
  SetCommand(show, [a] { return RunShow(*a); });
  CLI::App* apply = AddVmSub(vm, "apply", "Apply a change-set file to the VM's head", a);
  apply->add_option("CHANGESET", a->file, "change-set file")->required();
  SetCommand(apply, [a] {
    const auto body = [a](Store& s, const Guid& v) {
      RETURN_IF_ERROR(ApplyChangeSetFile(s, v, a->file));
      return PrintStateAfter(s, v, a->json);
    };
    return WithVm(*a, body, false, hint::ApplyChangeSet);
  });
  CLI::App* stats =
      AddVmSub(vm, "stats", "Replication statistics and health (as Measure-VMReplication)", a);
  stats->get_option("--json")->description("Print the statistics as JSON (keys in hvdisk-json(7))");
  SetCommand(stats, [a] { return RunStats(*a); });
  CLI::App* recover = AddVmSub(
      vm, "recover",
      "Take a VM over from a host that lost the store: finish or roll back what it left (in use "
      "while that host still holds the VM)",
      a);
  recover->get_option("--json")->description(
      "Print id, name, state, rolled_back, rolled_forward, previous_owner, owner_host, "
      "taken_over, epoch");
  SetCommand(recover, [a] { return RunRecover(*a); });
  CLI::App* cp = AddVmSub(vm, "checkpoint", "Take a recovery point", a);
  cp->alias("snapshot");
  cp->get_option("--json")->description("Print the new point as JSON: id, name, file");
  cp->add_option("--type", a->type, "Standard, ApplicationConsistent or Planned");
  SetCommand(cp, [a] { return RunCheckpoint(*a); });
}

// What vm set left: the retention, the points it merged, the replication interval.
Status PrintSet(Store& s, const Guid& v, const std::vector<ops::RecoveryPoint>& merged, bool json) {
  ASSIGN_OR_RETURN(VmRecord r, s.GetVm(v));
  ASSIGN_OR_RETURN(ops::ReplicationStats stats, ops::LoadReplicationStats(s, v));
  Json names = Json::array();
  std::string text;
  for (const ops::RecoveryPoint& p : merged) {
    names.push_back(p.name());
    text += (text.empty() ? "" : ", ") + p.name();
  }
  if (json) {
    PrintJson({{"id", r.id.ToString(false)},
               {"name", r.name},
               {"retention", r.retention},
               {"merged", names},
               {"interval_s", stats.Interval().count()}});
  } else {
    std::printf("%s: retention %u, interval %lld s; %s\n", r.name.c_str(), r.retention,
                static_cast<long long>(stats.Interval().count()),
                merged.empty() ? "no recovery point merged"
                               : ("merged " + text + " into the base").c_str());
  }
  return Status::Ok();
}

// vm set (Set-VMReplication -RecoveryHistory) and vm remove (Remove-VMReplication).
void AddVmAdminCommands(CLI::App* vm, std::shared_ptr<VmArgs> a) {
  CLI::App* set =
      AddVmSub(vm, "set", "Change a replica's settings: --retention N, --interval SECONDS", a);
  set->get_option("--json")->description(
      "Print id, name, retention, the points merged and interval_s");
  CLI::Option* retention =
      set->add_option("--retention", a->retention,
                      "recovery points kept, 1.." + std::to_string(ops::kMaxRetention) +
                          "; the oldest beyond it are merged into the base now")
          ->check(CLI::Range(1u, ops::kMaxRetention));
  CLI::Option* interval =
      set->add_option("--interval", a->interval_s,
                      "replication interval in seconds, 1.." +
                          std::to_string(ops::kMaxReplicationInterval.count()) +
                          " (default 300): health turns Warning when no cycle succeeded within it")
          ->check(CLI::Range(int64_t{1}, int64_t{ops::kMaxReplicationInterval.count()}));
  SetCommand(set, [a, retention, interval] {
    if (retention->count() == 0 && interval->count() == 0) {
      return UsageError(InvalidArgument("vm set needs --retention N or --interval SECONDS"));
    }
    return WithVm(*a, [&](Store& s, const Guid& v) {
      std::vector<ops::RecoveryPoint> merged;
      if (retention->count() > 0) {
        ASSIGN_OR_RETURN(merged, WithProgress("set", a->json, [&](const ops::OpControl* c) {
                           return ops::SetRetention(s, v, a->retention, c);
                         }));
      }
      if (interval->count() > 0) {
        RETURN_IF_ERROR(ops::SetReplicationInterval(s, v, std::chrono::seconds(a->interval_s)));
      }
      return PrintSet(s, v, merged, a->json);
    });
  });
  CLI::App* remove = AddVmSub(
      vm, "remove", "Remove a replica VM and its disks (Remove-VMReplication; 3 or 7 only)", a);
  remove->get_option("--json")->description("Print id, name and the disks moved to the trash");
  SetCommand(remove, [a] {
    return WithVm(*a, [a](Store& s, const Guid& v) {
      ASSIGN_OR_RETURN(VmRecord r, s.GetVm(v));
      RETURN_IF_ERROR(WithProgress(
          "remove", a->json, [&](const ops::OpControl* c) { return ops::RemoveReplica(s, v, c); }));
      if (a->json) {
        PrintJson({{"id", r.id.ToString(false)}, {"name", r.name}, {"disks", r.ChainFiles()}});
      } else {
        std::printf("removed %s (%s): %zu disks moved to the store's trash\n", r.name.c_str(),
                    r.id.ToString(false).c_str(), r.ChainFiles().size());
      }
      return Status::Ok();
    });
  });
}

struct StoreArgs {
  std::string dir;
  bool json = false;
  bool repair = false;  // store check -r
};

Json RecoveryJson(const ops::RecoveryReport& r) {
  Json busy = Json::array();
  for (const Guid& g : r.busy) busy.push_back(g.ToString(false));
  Json not_writable = Json::array();
  for (const Guid& g : r.not_writable) not_writable.push_back(g.ToString(false));
  return Json{{"rolled_back", r.rolled_back}, {"rolled_forward", r.rolled_forward},
              {"removed", r.removed},         {"busy", busy},
              {"not_writable", not_writable}, {"deferred", r.deferred},
              {"quarantined", r.quarantined}, {"problems", r.problems}};
}

Json StoreRepairJson(const ops::StoreRepairReport& r) {
  return Json{{"recovery", RecoveryJson(r.recovery)}, {"actions", r.actions}, {"failed", r.failed}};
}

// What store check -r did, one line per action, before the check's own lines.
void PrintStoreRepair(const ops::StoreRepairReport& r) {
  const ops::RecoveryReport& rec = r.recovery;
  for (const std::string& s : rec.rolled_back) std::printf("repair: rolled back %s\n", s.c_str());
  for (const std::string& s : rec.rolled_forward) {
    std::printf("repair: rolled forward %s\n", s.c_str());
  }
  for (const std::string& s : rec.removed) std::printf("repair: removed %s\n", s.c_str());
  for (const std::string& s : rec.quarantined) std::printf("repair: quarantined %s\n", s.c_str());
  for (const std::string& s : rec.problems) std::printf("repair: left as it is: %s\n", s.c_str());
  for (const std::string& s : r.actions) std::printf("repair: %s\n", s.c_str());
  for (const std::string& s : r.failed) std::printf("repair: could not repair %s\n", s.c_str());
}

Json TrashJson(const ops::TrashReport& t) { return Json{{"files", t.files}, {"bytes", t.bytes}}; }

int RunStoreCheck(const StoreArgs& a) {
  Result<std::unique_ptr<Store>> store = OpenStore(a.dir);
  if (!store.ok()) return ReportError(store.status(), hint::OpenStore(store.status(), a.dir));
  Result<ops::StoreRepairReport> repair = ops::StoreRepairReport{};
  if (a.repair) repair = ops::RepairStore(store->get());
  if (!repair.ok()) return ReportError(repair.status(), hint::OpenStore(repair.status(), a.dir));
  Result<ops::StoreCheckReport> rep = ops::CheckStore(store->get());
  if (!rep.ok()) return ReportError(rep.status(), hint::OpenStore(rep.status(), a.dir));
  if (a.json) {
    Json j{{"ok", rep->ok()},
           {"vms", rep->vms},
           {"images_checked", rep->images_checked},
           {"problems", rep->problems},
           {"trash", TrashJson(rep->trash)},
           {"recovery", RecoveryJson((*store)->open_recovery())}};
    if (a.repair) j["repair"] = StoreRepairJson(*repair);
    PrintJson(j);
    return rep->ok() ? kExitOk : kExitCheckProblems;
  }
  if (a.repair) PrintStoreRepair(*repair);
  const ops::RecoveryReport& recovery = (*store)->open_recovery();
  for (const std::string& r : recovery.removed) std::printf("recovery removed %s\n", r.c_str());
  for (const std::string& q : recovery.quarantined) {
    std::printf("recovery quarantined %s\n", q.c_str());
  }
  for (const Guid& g : (*store)->open_recovery().not_writable) {
    std::printf("recovery not possible (the store is not writable): VM %s\n",
                g.ToString(false).c_str());
  }
  for (const std::string& p : rep->problems) std::printf("%s\n", p.c_str());
  if (rep->trash.files > 0) {
    std::printf("trash: %d files, %llu bytes awaiting reclamation (not a problem)\n",
                rep->trash.files, static_cast<unsigned long long>(rep->trash.bytes));
  }
  std::printf("%d VMs, %d images checked, %zu problems\n", rep->vms, rep->images_checked,
              rep->problems.size());
  return rep->ok() ? kExitOk : kExitCheckProblems;
}

int RunStoreRecover(const StoreArgs& a) {
  Result<std::unique_ptr<Store>> store = OpenStore(a.dir);
  if (!store.ok()) return ReportError(store.status(), hint::OpenStore(store.status(), a.dir));
  const ops::RecoveryReport& r = (*store)->open_recovery();
  if (a.json) {
    PrintJson(RecoveryJson(r));
  } else {
    for (const std::string& s : r.rolled_back) std::printf("rolled back %s\n", s.c_str());
    for (const std::string& s : r.rolled_forward) std::printf("rolled forward %s\n", s.c_str());
    for (const std::string& s : r.removed) std::printf("removed %s\n", s.c_str());
    for (const std::string& s : r.quarantined) std::printf("quarantined %s\n", s.c_str());
    for (const std::string& s : r.problems) std::printf("left as it is: %s\n", s.c_str());
    for (const Guid& g : r.busy) std::printf("in use, skipped %s\n", g.ToString(false).c_str());
    for (const Guid& g : r.not_writable) {
      std::printf("not writable, skipped %s\n", g.ToString(false).c_str());
    }
    for (const std::string& s : r.deferred) {
      std::printf("out of space, left for the next recovery: %s\n", s.c_str());
    }
  }
  ReclaimDetachedIfNeeded(**store);
  return kExitOk;
}

int RunStoreReclaim(const StoreArgs& a) {
  Result<ops::TrashReport> r = ops::ReclaimStoreTrash(DefaultFileSystem(), a.dir);
  if (!r.ok()) return ReportError(r.status(), hint::OpenStore(r.status(), a.dir));
  if (a.json) {
    PrintJson(TrashJson(*r));
  } else {
    std::printf("reclaimed %d files, %llu bytes\n", r->files,
                static_cast<unsigned long long>(r->bytes));
  }
  return kExitOk;
}

}  // namespace

// --host-id ID: this host's name in a shared store (ops/host_id.h reads it from the environment).
static void AddHostIdOption(CLI::App* app) {
  app->add_option_function<std::string>(
      "--host-id", [](const std::string& id) { setenv(ops::kHostIdEnv, id.c_str(), 1); },
      "this host's name in a shared store (default: $HVDISK_HOST_ID, else /etc/machine-id)");
}

void RegisterStoreCommands(CLI::App& app) {
  CLI::App* store = app.add_subcommand("store", "Replica stores: create, recover, check, reclaim");
  AddHostIdOption(store);
  store->require_subcommand(1);
  auto a = std::make_shared<StoreArgs>();
  CLI::App* create = store->add_subcommand("create", "Create an empty replica store");
  create->add_option("DIR", a->dir, "store directory")->required();
  AddJsonFlag(create, &a->json, "store, vms");
  SetCommand(create, [a] {
    Status st = Store::Create(DefaultFileSystem(), a->dir);
    if (!st.ok()) return ReportError(st, hint::NewFile(st, a->dir));
    if (a->json) PrintJson({{"store", a->dir}, {"vms", 0}});
    return kExitOk;
  });
  CLI::App* recover = store->add_subcommand("recover", "Run crash recovery and report it");
  recover->add_option("DIR", a->dir, "store directory")->required();
  AddJsonFlag(recover, &a->json, "rolled_back, rolled_forward, removed, busy");
  SetCommand(recover, [a] { return RunStoreRecover(*a); });
  CLI::App* check = store->add_subcommand(
      "check", "Check the store: records, intents, orphans, every image and chain");
  check->add_option("DIR", a->dir, "store directory")->required();
  AddJsonFlag(check, &a->json, "ok, vms, images_checked, problems, trash, recovery, repair");
  check->add_flag("-r,--repair", a->repair,
                  "Repair first: finish or roll back intents, quarantine unnamed files into "
                  "lost+found/, re-create a missing head, mark VMs with bad disks Critical");
  SetExitStatus(check, {"0  the store keeps its contract",
                        "1  could not check (store missing, unreadable, in use)",
                        "2  problems found (listed on stdout); also bad arguments (usage)"});
  SetCommand(check, [a] { return RunStoreCheck(*a); });
  CLI::App* reclaim = store->add_subcommand(
      "reclaim", "Free the files in the store's trash now (vm commands start this detached)");
  reclaim->add_option("DIR", a->dir, "store directory")->required();
  AddJsonFlag(reclaim, &a->json, "files, bytes (what was reclaimed)");
  SetCommand(reclaim, [a] { return RunStoreReclaim(*a); });
}

void RegisterVmCommands(CLI::App& app) {
  auto a = std::make_shared<VmArgs>();
  CLI::App* vm = app.add_subcommand("vm", "Replica VMs: replication, recovery points, failover");
  vm->add_option("--store", a->store, "replica store directory")->required();
  AddHostIdOption(vm);
  vm->require_subcommand(1);
  AddVmDataCommands(vm, a);
  RegisterVmReplicateCommand(vm);
  AddVmStateCommands(vm, a);
  AddVmPointCommands(vm, a);
  RegisterVmServeCommand(vm);
  AddVmAdminCommands(vm, a);
  // Set after the leaves are added: a subcommand inherits its parent's footer when it is made.
  // The state rules of ops/failover.h and ops/replication.h (docs/design.md, "States and
  // operations"): what an operator needs after a kInvalidState.
  vm->footer(
      "Replication states (WMI numbers) and the commands each allows:\n"
      "  3 Replicating            apply, checkpoint, suspend, failover, test, set, remove, "
      "replicate\n"
      "  7 Suspended              resume, failover, test, set, remove\n"
      "  12 Failover in progress  revert\n"
      "  5 Recovered              revert, commit (not while a test VM exists)\n"
      "  6 Committed              none: the VM runs on base <- failover disk\n"
      "  test VMs (mode 3)        destroy\n"
      "show and list work in every state. One test VM per replica at a time. A VM held by\n"
      "another command or a running consumer is in use, and so is a VM another host owns (failed\n"
      "over or made the test VM): 'recover' takes it over once that host lost the store.");
}

}  // namespace hvdisk::cli
