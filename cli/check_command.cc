// check: validates a VHDX image's structures and BAT (Image::Check), and for a differencing image
// every parent and every link of its chain (chain::CheckChain), with qemu-img check's exit codes:
// 0 consistent, 1 the check could not run, 2 corrupted (a broken link too: a missing parent, a
// linkage or geometry mismatch, a parent outside the allowed roots), 3 leaks only.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chain/chain.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/hints.h"
#include "cli/progress.h"
#include "disk/disk_format.h"
#include "disk/open.h"
#include "vhdx/image.h"

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
};

// A status from detection or Check: a file we know to be a damaged VHDX is "corrupted" (2);
// anything else means the check could not run (1).
int ReportCheckFailure(const Status& status, const std::string& file) {
  // A damaged image is what check reports: no hint to run check.
  ReportError(status, status.code() == Code::kCorrupt ? "" : hint::OpenDisk(status, file, true));
  return status.code() == Code::kCorrupt ? kExitCorrupt : kExitFailure;
}

void PrintSummary(const vhdx::CheckReport& r) {
  if (r.corruptions.empty() && r.leaks.empty()) {
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
  PrintSummary(r);
  if (named) std::printf("\n");
}

Json ImageJson(const std::string& path, const vhdx::CheckReport& r) {
  return Json{{"filename", path},
              {"corruptions", r.corruptions},
              {"leaks", r.leaks},
              {"allocated-blocks", r.allocated_blocks},
              {"total-blocks", r.total_blocks},
              {"log-replayed", r.log_replayed}};
}

// qemu-img check's keys (counts over the whole chain), then each image's findings.
Json CheckJson(const std::string& file, const chain::ChainCheckReport& report) {
  size_t corruptions = report.link_errors.size(), leaks = 0;
  Json images = Json::array();
  for (size_t i = 0; i < report.images.size(); ++i) {
    corruptions += report.images[i].corruptions.size();
    leaks += report.images[i].leaks.size();
    images.push_back(ImageJson(report.paths[i], report.images[i]));
  }
  const char* result = report.corrupt() ? "corrupt" : report.leaks() ? "leaks" : "consistent";
  const vhdx::CheckReport leaf = report.images.empty() ? vhdx::CheckReport{} : report.images[0];
  return Json{{"filename", file},
              {"format", "vhdx"},
              {"result", result},
              {"check-errors", 0},
              {"corruptions", corruptions},
              {"leaks", leaks},
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

int RunCheck(const CheckArgs& a) {
  const std::string& file = a.file;
  FileSystem* fs = DefaultFileSystem();
  Result<disk::Format> format = disk::DetectFormat(fs, file, disk::Format::kAuto);
  if (!format.ok()) return ReportCheckFailure(format.status(), file);
  if (*format != disk::Format::kVhdx) {
    const Status not_vhdx = WrongType(file + ": not a VHDX image (no \"vhdxfile\" signature); " +
                                      "check works on VHDX images only");
    return ReportError(not_vhdx, hint::OpenDisk(not_vhdx, file, true));
  }
  Result<std::vector<std::string>> roots = disk::ChainRoots(fs, file, a.roots);
  if (!roots.ok()) return ReportDiskError(roots.status(), file, true);
  Progress progress("check", 0, a.json);
  Result<chain::ChainCheckReport> report = chain::CheckChain(
      fs, file, {.force_share = a.force_share, .allowed_roots = std::move(roots).value()},
      [&progress](uint64_t done, uint64_t total) {
        progress.Percent(static_cast<int>(done * 100 / std::max<uint64_t>(total, 1)));
      });
  progress.Finish();
  if (!report.ok()) return ReportCheckFailure(report.status(), file);
  if (a.json) {
    PrintJson(CheckJson(file, *report));
  } else {
    PrintCheckText(*report);
  }
  if (report->corrupt()) return kExitCorrupt;
  if (report->leaks()) return kExitLeaks;
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
  sub->add_option("-f,--format", "Format of FILE: vhdx (the only one check checks), as qemu-img -f")
      ->check(CLI::IsMember({"vhdx"}));
  sub->add_option("FILE", a->file, "The image")->required();
  SetExitStatus(sub, {"0  consistent", "1  could not check (not a VHDX, missing file, I/O error)",
                      "2  corrupted or a broken chain link; also bad arguments (usage)",
                      "3  leaked space only"});
  SetCommand(sub, [a] { return RunCheck(*a); });
}

}  // namespace hvdisk::cli
