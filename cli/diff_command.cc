// `hvdisk diff OLD NEW -o CHANGESET`: the change set (docs/change-set.md) that turns OLD's
// content into NEW's, for `hvdisk vm --store DIR apply VM CHANGESET` on a replica holding OLD.
//
// Steps and crash points:
//   1. OLD and NEW opened read-only (raw, VHDX, or a differencing .avhdx with its chain), their
//      virtual sizes compared (kInvalidArgument, nothing created);
//   2. a hidden temporary created beside CHANGESET (platform/atomic_output.h); from here until 4,
//      a crash, a kill or a failure leaves only that temporary (removed by the next diff for the
//      same CHANGESET, or at once on a failure or SIGINT/SIGTERM), never a file at CHANGESET;
//   3. the differing extents streamed into it (ops::DiffToChangeSet), its count and checksum
//      written, flushed;
//   4. renamed to CHANGESET (replacing an existing file atomically) and the directory synced.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/hints.h"
#include "cli/interrupt.h"
#include "cli/progress.h"
#include "disk/open.h"
#include "ops/change_set_writer.h"
#include "platform/atomic_output.h"

namespace hvdisk::cli {
namespace {

struct DiffArgs {
  std::string old_disk;
  std::string new_disk;
  std::string out;
  std::vector<std::string> roots;
  bool force_share = false;
  bool json = false;
};

void PrintDiff(const DiffArgs& a, const ops::DiffReport& r) {
  if (a.json) {
    PrintJson(nlohmann::ordered_json{{"old", a.old_disk},
                                     {"new", a.new_disk},
                                     {"change-set", a.out},
                                     {"virtual-size", r.virtual_size},
                                     {"extents", r.extents},
                                     {"data-bytes", r.data_bytes}});
    return;
  }
  std::printf("%s: %u extents, %llu bytes of changed data\n", a.out.c_str(), r.extents,
              static_cast<unsigned long long>(r.data_bytes));
}

Result<std::unique_ptr<disk::VirtualDisk>> OpenInput(const DiffArgs& a, const std::string& path) {
  return OpenDisk(path, {.force_share = a.force_share, .allowed_roots = a.roots});
}

// Steps 3 and 4: the change set into the temporary, then the rename; the temporary is removed on
// any failure (`out` is reset).
int WriteDiff(const DiffArgs& a, disk::VirtualDisk* old_disk, disk::VirtualDisk* new_disk,
              std::unique_ptr<AtomicOutput> out) {
  Progress progress("diff", new_disk->size(), a.json);
  disk::CopyOptions copy{
      .progress = [&](uint64_t done, uint64_t) { progress.Update(done); },
      .check = [] { return CancelRequested() ? CancelledBySignal() : Status::Ok(); }};
  Result<ops::DiffReport> r =
      ops::DiffToChangeSet(DefaultFileSystem(), old_disk, new_disk, out->temp_path(), copy);
  progress.Finish();
  Status s = r.status();
  if (s.ok() && CancelRequested()) s = CancelledBySignal();
  if (s.ok()) s = out->Commit();
  if (!s.ok()) {
    out.reset();  // removes the temporary: no CHANGESET
    s = s.WithContext("diff " + a.old_disk + " " + a.new_disk + " into " + a.out);
    return ReportError(s, s.code() == Code::kNoSpace ? hint::NewFile(s, a.out, a.new_disk)
                                                     : hint::OpenDisk(s, a.new_disk, true));
  }
  PrintDiff(a, *r);
  return kExitOk;
}

int RunDiff(const DiffArgs& a) {
  CancelOnSignals cancel_on_signals;  // before the temporary exists
  Result<std::unique_ptr<disk::VirtualDisk>> old_disk = OpenInput(a, a.old_disk);
  if (!old_disk.ok()) return ReportDiskError(old_disk.status(), a.old_disk, true);
  Result<std::unique_ptr<disk::VirtualDisk>> new_disk = OpenInput(a, a.new_disk);
  if (!new_disk.ok()) return ReportDiskError(new_disk.status(), a.new_disk, true);
  if ((*old_disk)->size() != (*new_disk)->size()) {
    return ReportError(InvalidArgument("OLD and NEW differ in virtual size: " + a.old_disk +
                                       " is " + std::to_string((*old_disk)->size()) + " bytes, " +
                                       a.new_disk + " is " + std::to_string((*new_disk)->size())),
                       "a change set carries the changes between two states of one disk; resize "
                       "one of them first ('hvdisk resize')");
  }
  Result<FileKind> kind = DefaultFileSystem()->KindOf(a.out);
  if (kind.ok() && *kind != FileKind::kFile) {
    ReportError(InvalidArgument(a.out + " exists and is not a regular file"),
                hint::FileExists(a.out));
    return kExitUsage;
  }
  const AtomicOutput::Options options{.replace = kind.ok() ? AtomicOutput::Replace::kAllowed
                                                           : AtomicOutput::Replace::kNever};
  Result<std::unique_ptr<AtomicOutput>> out =
      AtomicOutput::Create(DefaultFileSystem(), a.out, options, [](const std::string& temp) {
        return DefaultFileSystem()->Open(temp, OpenOptions::CreateNew()).status();
      });
  if (!out.ok()) {
    return ReportError(out.status().WithContext("create " + a.out),
                       hint::NewFile(out.status(), a.out, a.new_disk));
  }
  return WriteDiff(a, old_disk->get(), new_disk->get(), std::move(*out));
}

}  // namespace

void RegisterDiffCommand(CLI::App& app) {
  auto a = std::make_shared<DiffArgs>();
  CLI::App* sub = app.add_subcommand(
      "diff", "Write the change set that turns OLD's content into NEW's (for 'vm apply')");
  AddJsonFlag(sub, &a->json, "old, new, change-set, virtual-size, extents, data-bytes");
  AddAllowRootOption(sub, &a->roots);
  AddForceShareFlag(sub, &a->force_share);
  AddProgressFlags(sub);
  sub->add_option("OLD", a->old_disk, "The disk as the replica holds it (raw, VHDX, .avhdx)")
      ->required();
  sub->add_option("NEW", a->new_disk, "The disk as it is now (same virtual size)")->required();
  sub->add_option("-o,--change-set", a->out,
                  "The change-set file (HVDKCHG1, docs/change-set.md); it appears only once "
                  "complete and flushed, replacing an existing file")
      ->required();
  SetExitStatus(sub, {"0  done", "1  the diff failed (the error on stderr); no CHANGESET made",
                      "2  bad arguments (usage)",
                      "130, 143  (as a shell shows them) interrupted by SIGINT, SIGTERM: nothing "
                      "left behind"});
  SetCommand(sub, [a] { return RunDiff(*a); });
}

}  // namespace hvdisk::cli
