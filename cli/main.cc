// hvdisk: the offline repair utility and admin front end for VHDX disks and replica stores.
#include <cstdio>
#include <iostream>

#include "cli/commands.h"

namespace hvdisk::cli {

int& ExitCode() {
  static int code = kExitOk;
  return code;
}

namespace {

const char* HintFor(Code code) {
  switch (code) {
    case Code::kNotFound:
      return "check the path";
    case Code::kCorrupt:
      return "run 'hvdisk check FILE' for details";
    case Code::kUnsupported:
      return "this file uses a feature hvdisk does not support";
    case Code::kAccessDenied:
      return "check the file's permissions";
    case Code::kInUse:
      return "another process holds the file; retry when it is done";
    case Code::kNoSpace:
      return "free space on the file system";
    case Code::kInvalidArgument:
      return "see 'hvdisk help COMMAND'";
    default:
      return nullptr;
  }
}

}  // namespace

int ReportError(const Status& status) {
  std::fprintf(stderr, "hvdisk: %s\n", status.ToString().c_str());
  if (const char* hint = HintFor(status.code())) std::fprintf(stderr, "hint: %s\n", hint);
  return kExitFailure;
}

}  // namespace hvdisk::cli

int main(int argc, char** argv) {
  using namespace hvdisk::cli;
  CLI::App app{"hvdisk: VHDX virtual disks, differencing chains and replica stores"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hvdisk 0.1.0");
  RegisterImageCommands(app);
  RegisterCheckCommand(app);
  RegisterConvertCommands(app);
  RegisterIoCommands(app);
  RegisterBenchCommand(app);
  RegisterDemoCommand(app);
  RegisterChainCommands(app);
  RegisterStoreCommands(app);
  RegisterVmCommands(app);
  RegisterWmiCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  return ExitCode();
}
