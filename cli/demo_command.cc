// demo: the replica lifecycle end to end, as a management service drives it. In a fresh store it
// creates a replica VM, applies replicated changes and takes recovery points; then, through the
// WMI facade (Msvm_ReplicationService) and its jobs, fails over to the oldest point, writes into
// the failover disk, reverts, proves every point's digest unchanged, fails over again to the
// latest point and commits. Each step prints the WMI return value, the job's end state and the
// digests; the run ends with one verdict line, "demo: PASS ..." (exit 0) or "demo: FAIL ..."
// (exit 1). With --serve, the failed-over VM is served over NBD (`hvdisk vm serve`) and written
// through NBD with qemu-io, as the hypervisor running it would write it. Where qemu-img, qemu-io
// and qemu-nbd are installed, the points come from a qemu primary over NBD (a full sync, then
// incremental cycles of its dirty bitmap: docs/replication.md); without them the demo says so and
// applies replicated changes through the engine.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "chain/chain.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/demo_replicate.h"
#include "cli/demo_serve.h"
#include "cli/hints.h"
#include "ops/consumer.h"
#include "ops/recovery_point.h"
#include "ops/replication.h"
#include "ops/store.h"
#include "ops/store_check.h"
#include "ops/wmi/cim_reference.h"
#include "ops/wmi/replication_service.h"
#include "platform/content_digest.h"
#include "vhdx/image.h"

namespace hvdisk::cli {
namespace {

using vhdx::kMiB;

constexpr uint64_t kDiskSize = 64 * kMiB;
constexpr int kPoints = 3;
const char kMarker[] = ".hvdisk-demo";  // marks a directory this command created

struct Demo {
  FileSystem* fs = DefaultFileSystem();
  std::string dir;
  std::unique_ptr<ops::Store> store;
  Guid vm;
  std::map<std::string, std::string> digests;  // point name (and "head") -> digest
  int step = 0;
  bool serve = false;  // --serve: write through NBD (qemu-io) into the served VM
  bool json = false;   // --json: steps collected, printed at the end
  nlohmann::ordered_json steps = nlohmann::ordered_json::array();
};

std::vector<std::byte> Pattern(size_t size, uint64_t seed) {
  std::vector<std::byte> out(size);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (std::byte& b : out) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    b = std::byte(x >> 24);
  }
  return out;
}

void Say(Demo& d, const std::string& text) {
  ++d.step;
  if (d.json) {
    d.steps.push_back({{"step", d.step}, {"text", text}});
  } else {
    std::printf("[%d] %s\n", d.step, text.c_str());
  }
}

// A detail line of the current step ("      rp-0001 digest ... unchanged").
void Detail(Demo& d, const std::string& text) {
  if (d.json) {
    d.steps.back()["details"].push_back(text);
  } else {
    std::printf("      %s\n", text.c_str());
  }
}

std::string DiskPath(Demo& d, const std::string& name) {
  return d.store->layout().Abs(ops::StoreLayout::DiskRel(d.vm, name));
}

// The ContentDigest (`hvdisk digest`'s value) of the virtual content seen through `file` of the
// VM's disks.
Result<std::string> DigestOf(Demo& d, const std::string& file) {
  ASSIGN_OR_RETURN(auto chain, chain::Chain::Open(d.fs, DiskPath(d, file), {}));
  ContentDigest stream;
  std::vector<std::byte> buf(8 * kMiB);
  for (uint64_t off = 0; off < chain->virtual_size(); off += buf.size()) {
    RETURN_IF_ERROR(chain->Read(off, buf));
    stream.Update(buf);
  }
  return stream.Finish().ToHex();
}

// A fresh store directory: refuses a non-empty directory this command did not create.
Status PrepareDir(Demo& d) {
  ASSIGN_OR_RETURN(bool exists, d.fs->Exists(d.dir));
  if (exists) {
    ASSIGN_OR_RETURN(bool ours, d.fs->Exists(JoinPath(d.dir, kMarker)));
    ASSIGN_OR_RETURN(auto names, d.fs->List(d.dir));
    if (!ours && !names.empty()) {
      return InvalidArgument(d.dir + " exists and is not a demo directory: pass another DIR");
    }
    std::error_code ec;
    if (ours && (std::filesystem::remove_all(d.dir, ec), ec)) {
      return IoError("could not remove the previous demo in " + d.dir + ": " + ec.message());
    }
  }
  RETURN_IF_ERROR(d.fs->CreateDir(d.dir));
  RETURN_IF_ERROR(WriteFileAtomically(d.fs, JoinPath(d.dir, kMarker), {}));
  RETURN_IF_ERROR(ops::Store::Create(d.fs, JoinPath(d.dir, "store")));
  ASSIGN_OR_RETURN(d.store, ops::Store::Open(d.fs, JoinPath(d.dir, "store")));
  return Status::Ok();
}

// A base disk with content, and the replica VM made from it.
Status CreateReplica(Demo& d) {
  const std::string base = JoinPath(d.dir, "base.vhdx");
  RETURN_IF_ERROR(vhdx::Image::Create(d.fs, base, {.virtual_size = kDiskSize, .block_size = kMiB}));
  ASSIGN_OR_RETURN(auto image, vhdx::Image::Open(d.fs, base, {.read_only = false}));
  RETURN_IF_ERROR(image->Write(0, Pattern(8 * kMiB, 1)));
  RETURN_IF_ERROR(image->Close());
  ASSIGN_OR_RETURN(
      d.vm, ops::CreateReplicaVm(*d.store, {.name = "demo-vm", .base_path = base, .adopt = true}));
  Say(d, "replica VM demo-vm " + d.vm.ToString() + " on a 64 MiB dynamic base: state 3 (" +
             std::string(ops::StateName(ops::ReplicationState::kReplicating)) + ")");
  return Status::Ok();
}

// Replicated changes, then a point, kPoints times; records each point's digest.
Status Replicate(Demo& d) {
  for (int i = 1; i <= kPoints; ++i) {
    auto a = Pattern(2 * kMiB, 10 + i), b = Pattern(100000, 20 + i);
    std::vector<ops::ChangeExtent> changes = {{.offset = uint64_t(i) * 10 * kMiB, .data = a},
                                              {.offset = 3 * kMiB + 4096u * i + 512, .data = b}};
    RETURN_IF_ERROR(ops::ApplyChanges(*d.store, d.vm, changes));
    ASSIGN_OR_RETURN(ops::RecoveryPoint rp, ops::TakeRecoveryPoint(*d.store, d.vm));
    ASSIGN_OR_RETURN(d.digests[rp.name()], DigestOf(d, rp.file));
    Say(d, "applied 2 extents, took " + rp.name() + ": digest " + d.digests[rp.name()]);
  }
  ASSIGN_OR_RETURN(ops::VmRecord rec, d.store->GetVm(d.vm));
  ASSIGN_OR_RETURN(d.digests["head"], DigestOf(d, rec.head));
  return Status::Ok();
}

// A replicate cycle's point: its digest, which must equal the primary's at that instant.
Status CheckCycle(Demo& d, QemuPrimary& primary, const std::string& what, const CycleReport& r) {
  ASSIGN_OR_RETURN(ops::VmRecord rec, d.store->GetVm(d.vm));
  if (rec.points.empty()) return Corrupt(what + " took no recovery point");
  const ops::RecoveryPoint& rp = rec.points.back();
  ASSIGN_OR_RETURN(d.digests[rp.name()], DigestOf(d, rp.file));
  ASSIGN_OR_RETURN(std::string source, primary.Digest(d.fs));
  const bool same = source == d.digests[rp.name()];
  Say(d, what + (r.bytes >= 0 ? ", " + std::to_string(r.bytes) + " bytes applied" : "") +
             ", --checkpoint took " + rp.name() + ": digest " + d.digests[rp.name()] +
             (same ? " (= the primary's)" : " (the primary's is " + source + ")"));
  return same ? Status::Ok() : Corrupt(rp.name() + " differs from the primary it was read from");
}

// The points from a qemu primary, docs/replication.md's offline protocol: a qcow2 image whose
// bitmap b0 starts before the full sync; then, per cycle, the VM writes (qemu-io), the next
// generation starts and the old one stops (qemu-img bitmap), qemu-nbd -B exports the old one, an
// incremental cycle applies it with --checkpoint, and only then the old bitmap is removed.
Status ReplicateFromQemu(Demo& d) {
  const std::string dir = std::filesystem::absolute(d.dir).string();
  const std::string store = JoinPath(dir, "store");
  QemuPrimary primary(dir);
  RETURN_IF_ERROR(primary.Create(kDiskSize, 8 * kMiB, 0x5a));
  RETURN_IF_ERROR(primary.Export(""));
  Say(d, "primary: " + primary.image() + " (qcow2, 64 MiB, dirty bitmap b0), served by qemu-nbd " +
             "(pid " + std::to_string(primary.export_pid()) + ") at " + primary.uri());
  ASSIGN_OR_RETURN(CycleReport full, primary.Replicate(store, d.vm.ToString(), ""));
  RETURN_IF_ERROR(primary.StopExport());
  RETURN_IF_ERROR(CheckCycle(d, primary, "full sync (vm replicate --from the export)", full));
  for (int i = 2; i <= kPoints; ++i) {
    RETURN_IF_ERROR(primary.Write(uint64_t(i) * 10 * kMiB, 2 * kMiB, 0x60 + i));
    RETURN_IF_ERROR(primary.Write(3 * kMiB + 64 * 1024 * uint64_t(i), 96 * 1024, 0x70 + i));
    ASSIGN_OR_RETURN(std::string old, primary.NewGeneration());
    RETURN_IF_ERROR(primary.Export(old));
    Say(d, "the primary wrote 2 MiB + 96 KiB (qemu-io); b" + std::to_string(i - 1) + " started, " +
               old + " disabled and exported by qemu-nbd -B " + old + " (pid " +
               std::to_string(primary.export_pid()) + ")");
    ASSIGN_OR_RETURN(CycleReport cycle, primary.Replicate(store, d.vm.ToString(), old));
    RETURN_IF_ERROR(primary.StopExport());
    RETURN_IF_ERROR(primary.RemoveBitmap(old));
    RETURN_IF_ERROR(CheckCycle(d, primary, "incremental cycle --bitmap " + old, cycle));
  }
  ASSIGN_OR_RETURN(ops::VmRecord rec, d.store->GetVm(d.vm));
  ASSIGN_OR_RETURN(d.digests["head"], DigestOf(d, rec.head));
  return Status::Ok();
}

// Polls a started job like os-win does until it reaches a final state; prints it.
Result<ops::wmi::Job> FinalJob(Demo& d, ops::wmi::ReplicationService& service,
                               const std::string& what, const ops::wmi::MethodResult& r) {
  if (r.return_value != 4096) {
    return Unavailable(what + ": ReturnValue " + std::to_string(r.return_value) + " " + r.error);
  }
  for (;;) {
    ASSIGN_OR_RETURN(ops::wmi::Job job, service.GetJob(r.job));
    if (static_cast<int>(job.state) >= 7) {
      ASSIGN_OR_RETURN(ops::VmRecord rec, d.store->GetVm(d.vm));
      Say(d, what + ": ReturnValue 4096, job " + job.id.ToString() + " -> JobState " +
                 std::to_string(static_cast<int>(job.state)) + " (" +
                 std::string(ops::wmi::JobStateName(job.state)) + "), ErrorCode " +
                 std::to_string(job.error_code) + "; VM state " +
                 std::to_string(static_cast<int>(rec.state)) + " (" +
                 std::string(ops::StateName(rec.state)) + ")");
      return job;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// A method that must succeed: its job completes with ErrorCode 0.
Status Await(Demo& d, ops::wmi::ReplicationService& service, const std::string& what,
             const ops::wmi::MethodResult& r) {
  ASSIGN_OR_RETURN(ops::wmi::Job job, FinalJob(d, service, what, r));
  if (job.state != ops::wmi::JobState::kCompleted || job.error_code != 0) {
    return Unavailable(what + " failed: " + job.error_description);
  }
  return Status::Ok();
}

// A method the served VM must refuse: 32774 System is in use, at once or as its job's ErrorCode.
Status ExpectInUse(Demo& d, ops::wmi::ReplicationService& service, const std::string& what,
                   const ops::wmi::MethodResult& r) {
  if (r.return_value == 32774) {
    Say(d, what + ": ReturnValue 32774 (System is in use)");
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(ops::wmi::Job job, FinalJob(d, service, what, r));
  if (job.error_code != 32774) return Corrupt(what + " was not refused with 32774");
  return Status::Ok();
}

// Writes into the failover disk as the running VM would.
Status WriteAsFailedOverVm(Demo& d) {
  ASSIGN_OR_RETURN(auto attached, ops::AttachedDisk::Attach(*d.store, d.vm));
  RETURN_IF_ERROR(attached->disk()->Write(5 * kMiB + 512, Pattern(3 * kMiB, 99)));
  RETURN_IF_ERROR(attached->Detach());
  ASSIGN_OR_RETURN(ops::VmRecord rec, d.store->GetVm(d.vm));
  ASSIGN_OR_RETURN(std::string digest, DigestOf(d, rec.failover_disk));
  Say(d, "the failed-over VM wrote 3 MiB into " + rec.failover_disk + ": digest " + digest);
  return Status::Ok();
}

// --serve: the failed-over VM served over NBD by `hvdisk vm serve` and written through NBD with
// qemu-io (RevertFailover meanwhile is refused: 32774); without qemu-io the demo says so and
// writes as WriteAsFailedOverVm does.
Status WriteThroughNbd(Demo& d, ops::wmi::ReplicationService& service, const std::string& vm) {
  if (!OnPath("qemu-io")) {
    Say(d, "--serve: qemu-io not found (apt-get install qemu-utils): writing through the engine");
    return WriteAsFailedOverVm(d);
  }
  const std::string dir = std::filesystem::absolute(d.dir).string();
  const ServedWrite w{.store = JoinPath(dir, "store"),
                      .vm = d.vm.ToString(),
                      .socket = JoinPath(dir, "nbd.sock"),
                      .log = JoinPath(dir, "serve.log"),
                      .offset = 5 * kMiB + 512,
                      .length = 3 * kMiB,
                      .pattern = 0x63};
  ServedVm server;
  RETURN_IF_ERROR(server.Start(w));
  Say(d, "hvdisk vm serve demo-vm: the failover disk served at " + server.uri());
  RETURN_IF_ERROR(
      ExpectInUse(d, service, "RevertFailover while served", service.RevertFailover(vm)));
  RETURN_IF_ERROR(server.WriteWithQemuIo(w));
  RETURN_IF_ERROR(server.Stop());
  ASSIGN_OR_RETURN(ops::VmRecord rec, d.store->GetVm(d.vm));
  ASSIGN_OR_RETURN(std::string digest, DigestOf(d, rec.failover_disk));
  Say(d, "qemu-io wrote 3 MiB through NBD into " + rec.failover_disk +
             ", the server stopped on SIGTERM: digest " + digest);
  return Status::Ok();
}

// Every point's digest, and the head's, as recorded before the failover.
Status VerifyDigests(Demo& d) {
  ASSIGN_OR_RETURN(ops::VmRecord rec, d.store->GetVm(d.vm));
  for (const ops::RecoveryPoint& rp : rec.points) {
    ASSIGN_OR_RETURN(std::string now, DigestOf(d, rp.file));
    bool same = now == d.digests[rp.name()];
    Detail(d, rp.name() + " digest " + now + (same ? " unchanged" : " CHANGED"));
    if (!same) return Corrupt(rp.name() + " changed");
  }
  ASSIGN_OR_RETURN(std::string head, DigestOf(d, rec.head));
  Detail(d, "head   digest " + head + (head == d.digests["head"] ? " unchanged" : " CHANGED"));
  return head == d.digests["head"] ? Status::Ok() : Corrupt("the head changed");
}

Status FailoverRevertCommit(Demo& d) {
  ops::wmi::ReplicationService service(d.fs, JoinPath(d.dir, "store"));
  const std::string vm = ops::wmi::ComputerSystemPath(d.vm);
  ASSIGN_OR_RETURN(ops::VmRecord rec, d.store->GetVm(d.vm));
  const ops::RecoveryPoint oldest = rec.points.front();
  RETURN_IF_ERROR(Await(d, service, "InitiateFailover(" + oldest.name() + ")",
                        service.InitiateFailover(vm, ops::wmi::SnapshotPath(oldest.id))));
  RETURN_IF_ERROR(d.serve ? WriteThroughNbd(d, service, vm) : WriteAsFailedOverVm(d));
  RETURN_IF_ERROR(Await(d, service, "RevertFailover", service.RevertFailover(vm)));
  RETURN_IF_ERROR(VerifyDigests(d));
  RETURN_IF_ERROR(Await(d, service, "InitiateFailover(latest)", service.InitiateFailover(vm, "")));
  RETURN_IF_ERROR(Await(d, service, "CommitFailover", service.CommitFailover(vm)));
  ASSIGN_OR_RETURN(rec, d.store->GetVm(d.vm));
  ASSIGN_OR_RETURN(std::string committed, DigestOf(d, rec.failover_disk));
  const std::string latest = d.digests["rp-000" + std::to_string(kPoints)];
  Say(d, "committed disk " + rec.failover_disk + ": digest " + committed +
             (committed == latest ? " (= the latest point)" : " (DIFFERS from the latest point)"));
  if (committed != latest) return Corrupt("the committed disk differs from its point");
  ASSIGN_OR_RETURN(ops::StoreCheckReport check, ops::CheckStore(d.store.get()));
  Say(d, "store check: " + std::string(check.ok() ? "clean" : "NOT CLEAN"));
  return check.ok() ? Status::Ok() : Corrupt("the store does not check clean");
}

// --json: {"verdict", "store", "seconds", "steps": [{"step", "text", "details"?}], "error"?}.
int PrintDemoJson(const Demo& d, const Status& st, double secs) {
  nlohmann::ordered_json j{{"verdict", st.ok() ? "PASS" : "FAIL"},
                           {"store", JoinPath(d.dir, "store")},
                           {"seconds", secs},
                           {"steps", d.steps}};
  if (!st.ok()) j["error"] = std::string(CodeWords(st.code())) + ": " + st.message();
  PrintJson(j);
  return st.ok() ? kExitOk : kExitFailure;
}

int RunDemo(const std::string& dir, bool serve, bool json) {
  auto start = std::chrono::steady_clock::now();
  Demo d{.dir = dir, .serve = serve, .json = json};
  const std::string store = JoinPath(dir, "store");
  if (!json) {
    std::printf("hvdisk demo: a replica VM's lifecycle in %s (its replica store: %s)\n",
                dir.c_str(), store.c_str());
  }
  Status st = PrepareDir(d);
  if (st.ok()) st = CreateReplica(d);
  if (st.ok()) {
    const std::string missing = QemuPrimary::MissingTool();
    if (missing.empty()) {
      st = ReplicateFromQemu(d);
    } else {
      Say(d, missing +
                 " not found (apt-get install qemu-utils): no qemu primary to replicate "
                 "from; applying replicated changes through the engine");
      st = Replicate(d);
    }
  }
  if (st.ok()) st = FailoverRevertCommit(d);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (json) return PrintDemoJson(d, st, secs);
  if (!st.ok()) {
    std::printf("demo: FAIL at step %d: %s: %s\n", d.step + 1,
                std::string(CodeWords(st.code())).c_str(), st.message().c_str());
    return kExitFailure;
  }
  std::printf("The store is left in %s: 'hvdisk vm --store %s show demo-vm' shows the VM.\n",
              store.c_str(), store.c_str());
  std::printf(
      "demo: PASS: %d recovery points; failover, revert and commit through "
      "Msvm_ReplicationService jobs; every point's digest unchanged by the revert (%.1f s)\n",
      kPoints, secs);
  return kExitOk;
}

}  // namespace

void RegisterDemoCommand(CLI::App& app) {
  auto dir = std::make_shared<std::string>("./hvdisk-demo");
  CLI::App* sub = app.add_subcommand(
      "demo", "Run the replica lifecycle demo in a fresh store in DIR (default ./hvdisk-demo)");
  sub->add_option("DIR", *dir, "Directory for the demo (recreated when a previous demo made it)");
  auto serve = std::make_shared<bool>(false);
  sub->add_flag("--serve", *serve,
                "Serve the failed-over VM over NBD (hvdisk vm serve) and write into it with "
                "qemu-io (when installed) instead of through the engine");
  SetExitStatus(sub, {"0  the verdict is PASS", "1  the verdict is FAIL, or the demo could not run",
                      "2  bad arguments (usage)"});
  auto json = std::make_shared<bool>(false);
  AddJsonFlag(sub, json.get(), "verdict, store, seconds, steps");
  SetCommand(sub, [dir, serve, json] { return RunDemo(*dir, *serve, *json); });
}

}  // namespace hvdisk::cli
