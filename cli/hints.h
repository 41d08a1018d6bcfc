// What hvdisk prints when a command fails: the error with its code as words ("not found"), and a
// hint chosen by the error site for the situation it knows (opening a disk, a store, a VM, making a
// file), never by the code alone. With --json the error is one JSON object on stderr that keeps
// the stable code name ("kNotFound", docs/json.md "Errors").
//
// Thread safety: pure functions (they stat paths); call from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "platform/status.h"

namespace hvdisk::cli {

// The stderr text of an error: "hvdisk: not found: MESSAGE\nhint: HINT\n" (no hint line when
// `hint` is empty), or with `json` one line {"error": {"code", "words", "message", "hint"}}.
std::string FormatError(const Status& status, std::string_view hint, bool json);

// The hints, one per situation. Each returns "" when it has no advice for `status`.
namespace hint {

// A bad argument of COMMAND ("vm show"): its help.
std::string BadArgument(const std::string& command);
// Opening the disk at `path` (and its parents) failed. `read_only`: the command takes -U.
std::string OpenDisk(const Status& status, const std::string& path, bool read_only);
// Making a new file at `path` from `source` (a parent, convert's SRC; none: "") failed.
std::string NewFile(const Status& status, const std::string& path, const std::string& source = "");
// `path` exists where a new file was to be made.
std::string FileExists(const std::string& path);
// Opening the replica store `dir` failed.
std::string OpenStore(const Status& status, const std::string& dir);
// Looking up VM (or a point of it) in the store `dir` failed.
std::string FindVm(const Status& status, const std::string& dir, const std::string& vm);
// An operation on VM in the store `dir` failed (a state it does not allow, a busy VM, ...).
std::string VmOperation(const Status& status, const std::string& dir, const std::string& vm);
// A replication cycle of VM from `from` (an NBD URI or a disk file) failed at its source: the
// wrong size, an NBD server gone or unreachable, a file that cannot be opened.
std::string ReplicationSource(const Status& status, const std::string& from, const std::string& dir,
                              const std::string& vm);
// `vm apply` failed on its change-set file: a file that is not a change set is told what is.
std::string ApplyChangeSet(const Status& status);
// vm destroy on a VM that is not a test VM.
std::string DestroyNotTestVm();
// An operation stopped by SIGINT/SIGTERM or a job's Kill.
std::string Cancelled();

}  // namespace hint

// Every hint text hint:: can give (with FILE/DIR/VM placeholders), for the test that ties each
// to a situation.
std::vector<std::string> AllHintTemplates();

}  // namespace hvdisk::cli
