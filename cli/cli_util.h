// Helpers shared by the hvdisk command files: running a command body with its exit code,
// usage errors, and the options several commands take.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

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

// Writes all of `data` to stdout; kIoError on failure (a closed pipe, a full disk).
Status WriteStdout(const void* data, size_t size);

}  // namespace hvdisk::cli
