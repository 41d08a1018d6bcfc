// hvdisk: the offline repair utility and admin front end for VHDX disks and replica stores.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli/build_info.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/hints.h"
#include "cli/interrupt.h"
#include "platform/io_queue.h"

namespace hvdisk::cli {

int& ExitCode() {
  static int code = kExitOk;
  return code;
}

namespace {

// "hvdisk help [COMMAND...]" is "hvdisk [COMMAND...] --help"; COMMAND must name a command.
std::vector<std::string> RewriteHelp(CLI::App& app, int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "help") {
    args.erase(args.begin());
    CLI::App* cmd = &app;
    for (const std::string& name : args) {
      cmd = cmd->get_subcommand(name);  // throws CLI::OptionNotFound, a usage error
    }
    args.push_back("--help");
  }
  std::reverse(args.begin(), args.end());  // CLI11 parses a vector from its back
  return args;
}

}  // namespace

int ReportError(const Status& status, const std::string& hint) {
  const std::string text = FormatError(
      status, hint.empty() && status.code() == Code::kCancelled ? hint::Cancelled() : hint,
      JsonRequested());
  std::fputs(text.c_str(), stderr);
  if (status.code() == Code::kFenced) return kExitFenced;
  return status.code() == Code::kCancelled ? kExitCancelled : kExitFailure;
}

// `--version`: the release, then what this build is (the commit it was made from, its build type,
// the I/O backends compiled in), as `qemu-img --version` names its build.
std::string VersionText() {
  std::string backends;
  for (hvdisk::IoBackend b :
       {hvdisk::IoBackend::kIoUring, hvdisk::IoBackend::kLibaio, hvdisk::IoBackend::kSync}) {
    if (hvdisk::IoBackendBuilt(b)) {
      backends += (backends.empty() ? "" : " ") + std::string(hvdisk::IoBackendName(b));
    }
  }
  return std::string("hvdisk ") + HVDISK_BUILD_VERSION + " (commit " + HVDISK_GIT_COMMIT + ", " +
         HVDISK_BUILD_TYPE + " build)\nI/O backends: " + backends;
}

}  // namespace hvdisk::cli

int main(int argc, char** argv) {
  using namespace hvdisk::cli;
  CLI::App app{"hvdisk: VHDX virtual disks, differencing chains and replica stores", "hvdisk"};
  app.require_subcommand(1);
  app.set_version_flag("--version", VersionText());
  RegisterImageCommands(app);
  RegisterCheckCommand(app);
  RegisterConvertCommands(app);
  RegisterDiffCommand(app);
  RegisterIoCommands(app);
  RegisterBenchCommand(app);
  RegisterDemoCommand(app);
  RegisterChainCommands(app);
  RegisterMaintainCommands(app);
  RegisterStoreCommands(app);
  RegisterVmCommands(app);
  RegisterWmiCommands(app);
  RegisterServeCommand(app);
  RegisterWsmanCommand(app);
  app.footer(
      "'hvdisk help COMMAND' (or 'hvdisk COMMAND --help') shows a command's options and exit "
      "codes.\nExit status: 0 done; 1 the operation failed; 2 bad arguments; a convert "
      "interrupted by SIGINT or SIGTERM removes its output and ends by that signal (a shell shows "
      "130 or 143); 4 fenced: this host lost its hold on a shared store (another host may have "
      "taken over: 'vm recover' on a host that holds it); check and compare document more.");
  try {
    app.parse(RewriteHelp(app, argc, argv));
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  } catch (const CLI::OptionNotFound& e) {
    std::fprintf(stderr, "hvdisk: unknown command (%s); see 'hvdisk --help'\n", e.what());
    return kExitUsage;
  }
  EndByCancelSignal();
  return ExitCode();
}
