// OpControl: how a caller (the WMI facade's job runner, the CLI) follows and cancels a long
// operation.
//
// Progress is reported as a percentage at step boundaries, from the thread running the operation.
// Cancellation is checked between the steps before an operation's commit point; a cancelled
// operation rolls back exactly as crash recovery would (the VM ends in its before-state) and
// returns Code::kCancelled. Past the commit point an operation cannot be cancelled and runs to
// its end.
#pragma once

#include <atomic>
#include <functional>

#include "platform/status.h"

namespace hvdisk::ops {

struct OpControl {
  std::function<void(int percent)> progress;  // may be empty
  const std::atomic<bool>* cancel = nullptr;  // may be null; not owned

  void Report(int percent) const {
    if (progress) progress(percent);
  }
  bool cancelled() const { return cancel != nullptr && cancel->load(); }
};

}  // namespace hvdisk::ops
