// Helpers for end-to-end tests that run the built `hvdisk` binary in a shell.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace hvdisk::testing {

// The hvdisk binary of this build tree.
const std::string& HvdiskPath();

// Single-quotes a path for the shell (paths in tests never hold a quote).
std::string Q(const std::string& path);

// Runs `hvdisk ARGS`; returns its exit status and captures stdout (and stderr when merge_stderr).
int Hvdisk(const std::string& args, std::string* out = nullptr, bool merge_stderr = true);

// Starts `hvdisk ARGS` (not through a shell) with stdout discarded, stderr appended to
// `stderr_path`, and SIGINT and SIGTERM at their defaults, unblocked; returns its pid, or -1 (and
// fails the test) when it cannot start.
int SpawnHvdisk(const std::vector<std::string>& args, const std::string& stderr_path);
// Waits for a child: its exit code, or -N when signal N ended it.
int WaitForExit(int pid);

// Whole-file helpers for test inputs and outputs.
void WriteBinaryFile(const std::string& path, const std::vector<std::byte>& data);
std::vector<std::byte> ReadBinaryFile(const std::string& path);
std::string AsString(const std::vector<std::byte>& data);

}  // namespace hvdisk::testing
