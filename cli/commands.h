// The hvdisk command registry: each cli/*_commands.cc adds its subcommands to the app.
//
// A command's callback returns the process exit code; errors go to stderr as
// "hvdisk: <code in words>: <message>" followed by the error site's hint, through ReportError
// (cli/hints.h; with --json one JSON object keeping the code's name).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "platform/status.h"

namespace hvdisk::cli {

// Exit codes shared by every command (a command may define more, documented in its help).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the operation failed
inline constexpr int kExitUsage = 2;    // bad arguments
// kCancelled: stopped on request, nothing left half-done. A command cancelled by SIGINT or
// SIGTERM then ends by that signal (cli/interrupt.h), which a shell reports as 130 or 143.
inline constexpr int kExitCancelled = 130;
// kFenced: this host lost its hold on a shared store (docs/shared-storage.md).
inline constexpr int kExitFenced = 4;

// Where a command stores its exit code once its callback ran.
int& ExitCode();

// Prints the error with its code and `hint` (cli/hints.h: what the error site advises in its
// situation; none when empty); returns kExitFailure (kExitCancelled for kCancelled).
int ReportError(const Status& status, const std::string& hint = "");

// Registration hooks, one per command family.
void RegisterImageCommands(CLI::App& app);    // create, info (image_commands.cc)
void RegisterCheckCommand(CLI::App& app);     // check (check_command.cc)
void RegisterConvertCommands(CLI::App& app);  // convert, compare (convert_commands.cc)
void RegisterDiffCommand(CLI::App& app);      // diff (diff_command.cc)
void RegisterIoCommands(CLI::App& app);       // digest, map, read, write (io_commands.cc)
void RegisterBenchCommand(CLI::App& app);     // bench (bench_command.cc)
void RegisterDemoCommand(CLI::App& app);      // demo (demo_command.cc)
void RegisterChainCommands(CLI::App& app);    // merge, reparent (chain_commands.cc)
void RegisterStoreCommands(CLI::App& app);    // store create|recover|check (vm_commands.cc)
void RegisterVmCommands(CLI::App& app);       // vm ... (vm_commands.cc)
void RegisterWmiCommands(CLI::App& app);      // wmi invoke|job|query|methods (wmi_commands.cc)
void RegisterWsmanCommand(CLI::App& app);     // wsman: runs hvdisk-wsman (wsman_command.cc)
void RegisterServeCommand(CLI::App& app);     // serve (serve_command.cc)
void RegisterVmServeCommand(CLI::App* vm);    // vm serve (serve_command.cc)
// vm replicate (replicate_command.cc)
void RegisterVmReplicateCommand(CLI::App* vm);
// resize, compact (maintain_commands.cc)
void RegisterMaintainCommands(CLI::App& app);

}  // namespace hvdisk::cli
