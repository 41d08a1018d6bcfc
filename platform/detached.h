// Detached processes: work that outlives the calling process (freeing a big file, reclaiming a
// store's trash) without anybody waiting for it or reaping it.
#pragma once

namespace hvdisk {

// Runs child(arg) in a grandchild in a session of its own, an orphan of init (a double fork, so
// nobody has to reap it); waits only for the short-lived intermediate child. child runs right
// after fork in a process that may have threads: only async-signal-safe calls, and it must not
// return (it ends with _exit or exec). Returns false when no process could be made.
bool RunDetached(void (*child)(const void* arg), const void* arg);

// Closes every descriptor in [first, last] (close_range; async-signal-safe).
void CloseDescriptors(unsigned first, unsigned last);

}  // namespace hvdisk
