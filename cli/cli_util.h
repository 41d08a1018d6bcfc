// Helpers shared by the hvdisk command files: running a command body with its exit code,
// usage errors, and the options several commands take.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "disk/open.h"
#include "disk/virtual_disk.h"
#include "platform/status.h"

namespace hvdisk::cli {

// Makes `body` the subcommand's callback: its return value becomes the exit code, and an
// exception (allocation failure, thread creation) is reported instead of escaping. A command
// whose help has no exit-status footer yet gets the standard one (0, 1, 2).
void SetCommand(CLI::App* sub, std::function<int()> body);

// The help footer listing a command's exit codes, e.g. {"0 consistent", "2 corrupted"}.
void SetExitStatus(CLI::App* sub, const std::vector<std::string>& codes);

// The full name of the command running, e.g. "vm show" (empty before one runs): error hints
// point at its help.
const std::string& CommandName();

// Whether the running command was asked for JSON (--json, --output=json): errors are then
// printed as JSON.
bool JsonRequested();

// Reports an error of opening or using the disk at `path` with the hint for that situation
// (hint::OpenDisk); `read_only`: the command takes -U.
int ReportDiskError(const Status& status, const std::string& path, bool read_only);

// Adds "--json" storing into *json, and qemu-img's "--output=human|json" setting it; `what`
// names the keys (all documented in docs/json.md).
CLI::Option* AddJsonFlag(CLI::App* sub, bool* json, const std::string& what);

// Reports a usage problem found after parsing (a value out of range for this disk, ...) and
// returns kExitUsage.
int UsageError(const Status& status);

// Adds "-f,--format raw|vhdx" (default: detect) storing into *format.
CLI::Option* AddFormatOption(CLI::App* sub, std::string* format);

// Adds "--allow-root DIR" (repeatable) storing into *roots: directory trees a differencing
// image's parents may resolve into besides the leaf's own (see disk::ChainRoots).
CLI::Option* AddAllowRootOption(CLI::App* sub, std::vector<std::string>* roots);

// Adds "-U,--force-share" storing into *force_share: a read-only command opens the disk beside
// a writer (another hvdisk, qemu, a running VM) instead of failing with kInUse, as qemu-img -U.
CLI::Option* AddForceShareFlag(CLI::App* sub, bool* force_share);

// Adds qemu-img's "-p" (show the progress line even off a terminal) and "-q" (never; and with
// `quiet`, set *quiet: print nothing but errors).
void AddProgressFlags(CLI::App* sub, bool* quiet = nullptr);

// Adds a sector-size option ("--logical-sector" or "--physical-sector"): 512 or 4096, also
// written with a suffix ("4K"); `help` says which default applies.
CLI::Option* AddSectorOption(CLI::App* sub, const std::string& name, uint32_t* value,
                             const std::string& help);

// `status` from opening a chain, with a hint on --allow-root when a parent was refused for lying
// outside the allowed roots (kAccessDenied); other statuses unchanged.
Status ExplainChainError(const Status& status);

// disk::Open on the default file system, its errors explained (ExplainChainError).
Result<std::unique_ptr<disk::VirtualDisk>> OpenDisk(const std::string& path,
                                                    const disk::OpenOptions& options);

// Prints a --json document on stdout (4-space indent, as qemu-img).
void PrintJson(const nlohmann::ordered_json& j);

// Writes all of `data` to stdout; kIoError on failure (a closed pipe, a full disk).
Status WriteStdout(const void* data, size_t size);

}  // namespace hvdisk::cli
