// PausePoint: a named step where an operation can be made to wait, for tests that must act (kill
// or freeze a host, take the store over) while an operation is deterministically in the middle.
//
// Compiled into every build and harmless: it does nothing unless the environment variable
// HVDISK_PAUSE_AT names the step ("revert:commit", "commit:finish": the intent's op, then
// "begin", "commit" or "finish", intent_runner.h). When it does, the step prints
// "hvdisk: paused at STEP (pid N)" on stderr and sleeps HVDISK_PAUSE_SECONDS (default 30, at most
// 3600), then goes on as if nothing happened.
//
// Thread safety: reads the environment; callable from any thread.
#pragma once

#include <string_view>

namespace hvdisk::ops {

void PausePoint(std::string_view step);

}  // namespace hvdisk::ops
