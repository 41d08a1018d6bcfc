// check: validates a VHDX image's structures and BAT (Image::Check), and for a differencing image
// every parent and every link of its chain (chain::CheckChain), with qemu-img check's exit codes:
// 0 consistent, 1 the check could not run, 2 corrupted (a broken link too: a missing parent, a
// linkage or geometry mismatch, a parent outside the allowed roots), 3 leaks or repairable
// findings only. With -r leaks|all the image (never a parent) is repaired first (vhdx/repair.h)
// and the codes then say what is left.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "chain/chain.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/hints.h"
#include "cli/progress.h"
#include "disk/disk_format.h"
#include "disk/open.h"
#include "platform/hex.h"
#include "vhdx/image.h"
#include "vhdx/repair.h"

namespace hvdisk::cli {
namespace {

using Json = nlohmann::ordered_json;

constexpr int kExitCorrupt = 2;
constexpr int kExitLeaks = 3;

struct CheckArgs {
  std::string file;
  std::vector<std::string> roots;
  bool json = false;
  bool force_share = false;
  std::string repair;  // "", "leaks" or "all"
};

// A status from detection or Check: a file we know to be a damaged VHDX is "corrupted" (2);
// anything else means the check could not run (1).
int ReportCheckFailure(const Status& status, const std::string& file) {
  // A damaged image is what check reports: no hint to run check.
  ReportError(status, status.code() == Code::kCorrupt ? "" : hint::OpenDisk(status, file, true));
  return status.code() == Code::kCorrupt ? kExitCorrupt : kExitFailure;
}

void PrintSummary(const vhdx::CheckReport& r) {
  if (r.corruptions.empty() && r.leaks.empty() && r.warnings.empty()) {
    std::printf("No errors were found on the image.\n");
  }
  if (!r.corruptions.empty()) {
    std::printf(
        "\n%zu errors were found on the image.\n"
        "Data may be corrupted, or further writes to the image may corrupt it.\n",
        r.corruptions.size());
  }
  if (!r.leaks.empty()) {
    std::printf(
        "\n%zu leaked clusters were found on the image.\n"
        "This means waste of disk space, but no harm to data.\n",
        r.leaks.size());
  }
  if (!r.warnings.empty()) {
    std::printf(
        "\n%zu repairable findings were found on the image (no data is lost; check -r "
        "rewrites them).\n",
        r.warnings.size());
  }
  if (r.log_replayed) {
    std::printf(
        "The log holds unapplied entries (not cleanly closed); they were replayed in "
        "memory for the check.\n");
  }
  if (r.total_blocks == 0) return;  // the structures could not be read that far
  const double pct = 100.0 * r.allocated_blocks / r.total_blocks;
  std::printf("%llu/%llu = %0.2f%% allocated\n",
              static_cast<unsigned long long>(r.allocated_blocks),
              static_cast<unsigned long long>(r.total_blocks), pct);
}

// One image's findings; the path heads them when the chain has more than one image.
void PrintImage(const std::string& path, const vhdx::CheckReport& r, bool named) {
  if (named) std::printf("%s:\n", path.c_str());
  for (const std::string& c : r.corruptions) std::printf("ERROR %s\n", c.c_str());
  for (const std::string& l : r.leaks) std::printf("Leaked: %s\n", l.c_str());
  for (const std::string& w : r.warnings) std::printf("Warning: %s\n", w.c_str());
  PrintSummary(r);
  if (named) std::printf("\n");
}

Json ImageJson(const std::string& path, const vhdx::CheckReport& r) {
  return Json{{"filename", path},
              {"corruptions", r.corruptions},
              {"leaks", r.leaks},
              {"warnings", r.warnings},
              {"allocated-blocks", r.allocated_blocks},
              {"total-blocks", r.total_blocks},
              {"log-replayed", r.log_replayed}};
}

// qemu-img check's keys (counts over the whole chain), then each image's findings.
Json CheckJson(const std::string& file, const chain::ChainCheckReport& report) {
  size_t corruptions = report.link_errors.size(), leaks = 0, warnings = 0;
  Json images = Json::array();
  for (size_t i = 0; i < report.images.size(); ++i) {
    corruptions += report.images[i].corruptions.size();
    leaks += report.images[i].leaks.size();
    warnings += report.images[i].warnings.size();
    images.push_back(ImageJson(report.paths[i], report.images[i]));
  }
  const char* result = report.corrupt()    ? "corrupt"
                       : report.leaks()    ? "leaks"
                       : report.warnings() ? "repairable"
                                           : "consistent";
  const vhdx::CheckReport leaf = report.images.empty() ? vhdx::CheckReport{} : report.images[0];
  return Json{{"filename", file},
              {"format", "vhdx"},
              {"result", result},
              {"check-errors", 0},
              {"corruptions", corruptions},
              {"leaks", leaks},
              {"warnings", warnings},
              {"allocated-clusters", leaf.allocated_blocks},
              {"total-clusters", leaf.total_blocks},
              {"images", images},
              {"link-errors", report.link_errors}};
}

void PrintCheckText(const chain::ChainCheckReport& report) {
  const bool named = report.images.size() > 1 || !report.link_errors.empty();
  for (size_t i = 0; i < report.images.size(); ++i) {
    PrintImage(report.paths[i], report.images[i], named);
  }
  for (const std::string& e : report.link_errors) std::printf("ERROR chain: %s\n", e.c_str());
  if (!report.link_errors.empty()) {
    std::printf("\nThe chain is broken: %zu link errors.\n", report.link_errors.size());
  }
}

Json RepairJson(const std::string& mode, const vhdx::RepairReport& r) {
  Json lost = Json::array();
  for (const vhdx::LostRange& l : r.lost) {
    lost.push_back(Json{{"offset", l.offset}, {"length", l.length}, {"reason", l.why}});
  }
  return Json{{"mode", mode}, {"actions", r.actions}, {"lost", lost}, {"not-repaired", r.left}};
}

void PrintRepairText(const vhdx::RepairReport& r) {
  for (const std::string& action : r.actions) std::printf("Repaired: %s\n", action.c_str());
  for (const vhdx::LostRange& l : r.lost) {
    std::printf("Lost: virtual bytes %s..%s (%s)\n", Hex(l.offset).c_str(),
                Hex(l.offset + l.length).c_str(), l.why.c_str());
  }
  for (const std::string& why : r.left) std::printf("Not repaired: %s\n", why.c_str());
  std::printf("%s\n", r.actions.empty() ? "Nothing needed repair; checking the image now..."
                                        : "Double checking the fixed image now...");
}

int RunCheck(const CheckArgs& a) {
  const std::string& file = a.file;
  FileSystem* fs = DefaultFileSystem();
  Result<disk::Format> format = disk::DetectFormat(fs, file, disk::Format::kAuto);
  // A VHDX whose file identifier is damaged: -r gives it its signature back.
  const bool damaged_id = !format.ok() && format.status().code() == Code::kCorrupt &&
                          !a.repair.empty() && vhdx::HasHeaderCopy(fs, file);
  if (!format.ok() && !damaged_id) return ReportCheckFailure(format.status(), file);
  if (!damaged_id && *format != disk::Format::kVhdx) {
    const Status not_vhdx = WrongType(file + ": not a VHDX image (no \"vhdxfile\" signature); " +
                                      "check works on VHDX images only");
    return ReportError(not_vhdx, hint::OpenDisk(not_vhdx, file, true));
  }
  Result<std::vector<std::string>> roots = disk::ChainRoots(fs, file, a.roots);
  if (!roots.ok()) return ReportDiskError(roots.status(), file, true);
  std::optional<vhdx::RepairReport> repaired;
  if (!a.repair.empty() && a.force_share) {
    return UsageError(InvalidArgument("-r writes the image: it cannot share it (--force-share)"));
  }
  if (!a.repair.empty()) {
    Result<vhdx::RepairReport> r = vhdx::Repair(
        fs, file, a.repair == "all" ? vhdx::RepairMode::kAll : vhdx::RepairMode::kLeaks);
    if (!r.ok()) return ReportCheckFailure(r.status().WithContext("repair " + file), file);
    repaired = std::move(r).value();
    if (a.repair == "all") {  // a chain that does not open has nothing to refresh
      Result<std::string> refreshed =
          chain::RefreshParentLocator(fs, file, {.allowed_roots = *roots});
      if (refreshed.ok() && !refreshed->empty()) repaired->actions.push_back(*refreshed);
    }
    if (!a.json) PrintRepairText(*repaired);
  }
  Progress progress("check", 0, a.json);
  Result<chain::ChainCheckReport> report = chain::CheckChain(
      fs, file, {.force_share = a.force_share, .allowed_roots = std::move(roots).value()},
      [&progress](uint64_t done, uint64_t total) {
        progress.Percent(static_cast<int>(done * 100 / std::max<uint64_t>(total, 1)));
      });
  progress.Finish();
  if (!report.ok()) return ReportCheckFailure(report.status(), file);
  if (a.json) {
    Json j = CheckJson(file, *report);
    if (repaired) j["repair"] = RepairJson(a.repair, *repaired);
    PrintJson(j);
  } else {
    PrintCheckText(*report);
  }
  if (report->corrupt()) return kExitCorrupt;
  if (report->leaks() || report->warnings()) return kExitLeaks;
  return kExitOk;
}

}  // namespace

void RegisterCheckCommand(CLI::App& app) {
  auto a = std::make_shared<CheckArgs>();
  CLI::App* sub = app.add_subcommand(
      "check",
      "Check a VHDX image's structures, and a differencing image's whole chain and its links "
      "(never writes); exit codes as qemu-img check");
  AddJsonFlag(sub, &a->json, "result, counts, each image's findings, link errors");
  AddAllowRootOption(sub, &a->roots);
  AddForceShareFlag(sub, &a->force_share);
  sub->add_option("-r,--repair", a->repair,
                  "Repair the image first (never its parents): leaks (replay a dirty log, "
                  "rewrite a bad header or region table copy, free leaked space) or all (also "
                  "clear the BAT entries that are invalid, reporting the data lost)")
      ->check(CLI::IsMember({"leaks", "all"}));
  sub->add_option("-f,--format", "Format of FILE: vhdx (the only one check checks), as qemu-img -f")
      ->check(CLI::IsMember({"vhdx"}));
  sub->add_option("FILE", a->file, "The image")->required();
  SetExitStatus(sub, {"0  consistent", "1  could not check (not a VHDX, missing file, I/O error)",
                      "2  corrupted or a broken chain link; also bad arguments (usage)",
                      "3  leaked space or repairable findings only (after -r: left unrepaired)"});
  SetCommand(sub, [a] { return RunCheck(*a); });
}

}  // namespace hvdisk::cli
