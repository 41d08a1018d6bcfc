// The health of one VM as the store sees it (`vm list`, `vm show`, `store check`): what of the
// VM's directory, record, disks, lock file and pending intents the store cannot use. One bad
// item makes its VM Critical and nothing else (docs/store-layout.md, "What the store trusts").
//
// Thread safety: functions over a thread-safe FileSystem; no lock is taken (a snapshot).
#pragma once

#include <string>
#include <vector>

#include "ops/journal.h"
#include "ops/store_layout.h"
#include "ops/vm_record.h"
#include "platform/file.h"
#include "platform/guid.h"
#include "platform/status.h"

namespace hvdisk::ops {

// The record of `vm` as the store reports it: its own, with health kCritical and `problems`
// naming each problem when there are any; a placeholder (the id, health kCritical, `problems`)
// when it has no usable record. kNotFound when nothing of the VM exists, or when its record is
// missing while an intent of `journal` creates or removes it (an operation in flight).
Result<VmRecord> InspectVm(FileSystem* fs, const StoreLayout& layout, const Guid& vm,
                           const JournalScan& journal);

// Problems of the entries in the VM's disks/ that are not regular files (directories, symbolic
// links, special files): left in place, never followed, reported.
std::vector<std::string> OddDiskEntries(FileSystem* fs, const StoreLayout& layout, const Guid& vm);

// Whether an intent of `journal` names `vm` (as its VM or the test VM it creates or removes).
bool InFlight(const JournalScan& journal, const Guid& vm);

}  // namespace hvdisk::ops
