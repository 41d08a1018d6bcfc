// Store epochs: the fencing token of a store shared by several hosts (docs/shared-storage.md).
//
// STORE/epoch holds a counter (decimal text; missing: 0). Every VM record and every journal
// intent carries the epoch of the holder that wrote it (a record or intent without one is epoch
// 0, as every store made before epochs). A holder that takes over a VM after a crash, recovering
// another holder's leftover intent, first takes a new epoch (NextEpoch: above the counter and
// everything it found) and writes it into the VM's record before it changes anything else; from
// then on every write of that VM's record and intents carries it. A late writer (a host that lost
// its lock without noticing, on a file system that does not fence it) checks the record's epoch
// before each step that a takeover would otherwise let through (CheckEpoch: before writing an
// intent, before each prepare step, before replacing the record, before finishing and removing
// its intent) and stops with kFenced when it finds a newer one.
//
// Thread safety: functions over a FileSystem; NextEpoch serializes takers through
// STORE/locks/epoch.lock (held for the read-increment-write only).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ops/store_layout.h"
#include "platform/file.h"
#include "platform/guid.h"
#include "platform/status.h"

namespace hvdisk::ops {

std::string StoreEpochPath(const StoreLayout& layout);  // STORE/epoch

// The store's counter: 0 when STORE/epoch is missing; kCorrupt when it is not a number.
Result<uint64_t> ReadStoreEpoch(FileSystem* fs, const StoreLayout& layout);
// A new epoch for a takeover: greater than the counter and than `at_least`, written durably
// (atomic replace) before it returns. A malformed counter is replaced. kCorrupt at UINT64_MAX.
Result<uint64_t> NextEpoch(FileSystem* fs, const StoreLayout& layout, uint64_t at_least);
// kFenced when vm's record carries an epoch newer than `epoch` (another holder took the VM over
// since this one read it); OK when it does not, or when the record is missing. `step` names what
// was about to happen, for the message.
Status CheckEpoch(FileSystem* fs, const StoreLayout& layout, const Guid& vm, uint64_t epoch,
                  std::string_view step);

}  // namespace hvdisk::ops
