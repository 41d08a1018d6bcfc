// The store check: the crash contract of docs/design.md as a read-only check.
//
// CheckStore changes nothing: it reports pending and refused intents, orphans, what lost+found/
// holds, every Critical VM with its problems, files a record names that are missing, and every VHDX
// that does not check clean (Image::Check) or whose chain is broken. The trash (trash.h) is
// reported as information, never as a problem: its entries belong to no VM.
//
// Thread safety: as Store.
#pragma once

#include <string>
#include <vector>

#include "ops/store.h"
#include "ops/trash.h"

namespace hvdisk::ops {

struct StoreCheckReport {
  std::vector<std::string> problems;  // one line each, naming the store-relative path
  int vms = 0;
  int images_checked = 0;
  TrashReport trash;  // awaiting reclamation: not a problem
  bool ok() const { return problems.empty(); }
};
Result<StoreCheckReport> CheckStore(Store* store);

}  // namespace hvdisk::ops
