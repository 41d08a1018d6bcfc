// What the store accepts from the files it reads (docs/store-layout.md, "What the store trusts"):
// the size caps on records and intents, and the names and paths they may hold.
//
// Records (vm.json) and intents (journal/<op>.json) are input like any other: a hand-edited or
// damaged one must never make the store touch a file outside the VM it belongs to. So every name
// a record holds is a plain file name (no '/', no NUL, not "." or "..", not empty where a file is
// meant, at most kMaxFileNameBytes), and every path an intent holds is one of the VM directory
// forms below, inside the intent's VM (or the test VM it creates or destroys). Checked when a
// record or an intent is decoded (DecodeVmRecord, DecodeIntent), so a bad one is kCorrupt before
// anything uses it.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ops/vm_record.h"
#include "platform/guid.h"
#include "platform/status.h"

namespace hvdisk::ops {

struct Intent;

inline constexpr uint64_t kMaxRecordBytes = 1u << 20;  // vm.json
inline constexpr uint64_t kMaxIntentBytes = 4u << 20;  // journal/<op>.json
inline constexpr size_t kMaxJsonDepth = 16;            // nesting of arrays and objects
inline constexpr size_t kMaxFileNameBytes = 255;       // a disk file name (NAME_MAX)
inline constexpr size_t kMaxVmNameBytes = 256;         // a VM's name

// A plain file name: non-empty, at most kMaxFileNameBytes, no '/', no NUL, not "." or "..".
bool IsPlainName(std::string_view name);
// kCorrupt "<what>: '<name>' is not a plain file name ..." unless IsPlainName.
Status CheckPlainName(std::string_view name, std::string_view what);
// A VM name given by a user: valid UTF-8, 1..kMaxVmNameBytes bytes, no control characters;
// kInvalidArgument saying which rule it breaks.
Status CheckVmName(std::string_view name);
// kCorrupt when `text` nests arrays and objects deeper than max_depth (checked before parsing,
// so that no parser recursion or allocation follows the input's depth).
Status CheckJsonDepth(std::string_view text, size_t max_depth, std::string_view where);

// The top-level string field `key` of a JSON text (possibly malformed otherwise: then the first
// `"key": "..."` in it, unescaped characters only); empty when there is none readable. For naming
// what a record or intent that fails to decode belongs to.
std::string JsonStringField(std::string_view text, const char* key);
// JsonStringField parsed as a GUID; zero when it is none.
Guid JsonGuidField(std::string_view text, const char* key);

// A store-relative path inside a VM's directory tree, one of:
//   vms/<guid>              (directory)      vms/<guid>/<name>        (file)
//   vms/<guid>/disks        (directory)      vms/<guid>/disks/<name>  (file)
// <guid> lower case, no braces (as LowerGuid writes it); <name> a plain name.
struct VmPath {
  Guid vm;
  bool in_disks = false;
  std::string name;  // empty: the directory itself
};
// kCorrupt naming `rel` when it is not one of the forms above.
Result<VmPath> ParseVmPath(std::string_view rel);

// The names a record holds: plain names, no file named twice, `attached` inside the VM's own
// disks/ (a test VM's: its source's). kCorrupt naming the field.
Status CheckRecordNames(const VmRecord& record);
// The paths an intent holds (see the file comment); the one absolute path allowed is an adopted
// base's origin (a `create` intent renaming it to the new VM's base.vhdx). kCorrupt naming it.
Status CheckIntentPaths(const Intent& intent);
// Whether `rename` is the adoption of a base from outside the store (its `from` is absolute).
bool IsAdoptRename(const Intent& intent, std::string_view from, std::string_view to);

}  // namespace hvdisk::ops
