// SIGINT and SIGTERM as requests to cancel the running command.
//
// A command that can stop cleanly (convert: it removes its partial output) holds a
// CancelOnSignals for its run and polls CancelRequested() between steps, returning a kCancelled
// status (CancelledBySignal()) when it is set. The first SIGINT or SIGTERM only sets the flag; the
// handler is installed with SA_RESETHAND, so a second one ends the process at once, as it would
// without a handler (a partial output may then stay behind as a hidden temporary, which the next
// run for the same output removes). A signal ignored when the command starts (nohup, a background
// job of a non-interactive shell) stays ignored. Commands that hold no CancelOnSignals keep the
// default: a signal ends them at once.
//
// Once the command has cleaned up and reported, main calls EndByCancelSignal: the process ends by
// the signal that cancelled it, so that a shell reports 130 (SIGINT) or 143 (SIGTERM) and a
// script stops as it does for any interrupted command.
//
// Thread safety: CancelRequested may be called from any thread; hold one CancelOnSignals at a
// time, from the main thread.
#pragma once

#include <signal.h>

#include "platform/status.h"

namespace hvdisk::cli {

class CancelOnSignals {
 public:
  CancelOnSignals();   // installs the handlers
  ~CancelOnSignals();  // restores what was there before
  CancelOnSignals(const CancelOnSignals&) = delete;
  CancelOnSignals& operator=(const CancelOnSignals&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// Whether a SIGINT or SIGTERM arrived while a CancelOnSignals was held.
bool CancelRequested();

// kCancelled: "interrupted by SIGINT" (or SIGTERM); the caller adds what was interrupted.
Status CancelledBySignal();

// If a signal cancelled the command, ends the process by it (default disposition, raised again);
// otherwise returns.
void EndByCancelSignal();

}  // namespace hvdisk::cli
