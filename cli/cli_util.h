// Helpers shared by the hvdisk command files: running a command body with its exit code,
// usage errors, and the options several commands take.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "platform/status.h"

namespace hvdisk::cli {

// Makes `body` the subcommand's callback: its return value becomes the exit code, and an
// exception (allocation failure, thread creation) is reported instead of escaping.
void SetCommand(CLI::App* sub, std::function<int()> body);

// Reports a usage problem found after parsing (a value out of range for this disk, ...) and
// returns kExitUsage.
int UsageError(const Status& status);

// Adds "-f,--format raw|vhdx" (default: detect) storing into *format.
CLI::Option* AddFormatOption(CLI::App* sub, std::string* format);

// Adds "--allow-root DIR" (repeatable) storing into *roots: directory trees a differencing
// image's parents may resolve into besides the leaf's own (see ChainRoots in disk_source.h).
CLI::Option* AddAllowRootOption(CLI::App* sub, std::vector<std::string>* roots);

// Writes all of `data` to stdout; kIoError on failure (a closed pipe, a full disk).
Status WriteStdout(const void* data, size_t size);

}  // namespace hvdisk::cli
