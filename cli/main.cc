// hvdisk: the offline repair utility and admin front end for VHDX disks and replica stores.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/interrupt.h"

namespace hvdisk::cli {

int& ExitCode() {
  static int code = kExitOk;
  return code;
}

namespace {

// What the operator can do about an error of this Code; every Code has a hint.
std::string HintFor(Code code) {
  switch (code) {
    case Code::kOk:
      return "";
    case Code::kInvalidArgument:
      return "run 'hvdisk " + (CommandName().empty() ? "COMMAND" : CommandName()) + " --help'";
    case Code::kNotFound:
      return "check the path";
    case Code::kCorrupt:
      return "run 'hvdisk check FILE' for details, 'hvdisk check -r all FILE' to repair it, or "
             "'hvdisk convert --salvage FILE NEW' to copy what is readable";
    case Code::kUnsupported:
      return "this file uses a feature hvdisk does not support";
    case Code::kIoError:
      return "check the device and the system log (dmesg), then retry";
    case Code::kNoSpace:
      return "free space on the file system";
    case Code::kAccessDenied:
      return "you may not write this (another user owns it, or it is on a read-only mount): "
             "run as its owner or fix its ownership ('ls -l'); read-only commands still work";
    case Code::kInUse:
      return "another process holds the file; retry when it is done";
    case Code::kTimeout:
      return "the holder did not finish in time; retry, or raise --lock-timeout";
    case Code::kInvalidState:
      return "'hvdisk vm --store DIR show VM' shows the state; 'hvdisk help vm' lists which "
             "operations each state allows";
    case Code::kOutOfMemory:
      return "free memory, or use smaller requests";
    case Code::kUnavailable:
      return "check that the store exists and is mounted ('hvdisk store check DIR')";
    case Code::kWrongType:
      return "'hvdisk info FILE' shows what the file is";
    case Code::kCancelled:
      return "nothing was left half-done; run the command again to do it";
  }
  return "";
}

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

int ReportError(const Status& status) {
  std::fprintf(stderr, "hvdisk: %s\n", status.ToString().c_str());
  const std::string hint = HintFor(status.code());
  if (!hint.empty()) std::fprintf(stderr, "hint: %s\n", hint.c_str());
  return status.code() == Code::kCancelled ? kExitCancelled : kExitFailure;
}

}  // namespace hvdisk::cli

int main(int argc, char** argv) {
  using namespace hvdisk::cli;
  CLI::App app{"hvdisk: VHDX virtual disks, differencing chains and replica stores", "hvdisk"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hvdisk " HVDISK_VERSION);
  RegisterImageCommands(app);
  RegisterCheckCommand(app);
  RegisterConvertCommands(app);
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
      "130 or 143); check and compare document more.");
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
