// NbdSource: a ReplicationSource read from an NBD export through libnbd (one connection).
//
// Changes: one NBD_CMD_BLOCK_STATUS per window with the meta contexts base:allocation and, with a
// bitmap, qemu:dirty-bitmap:NAME. A range is a change when the bitmap marks it dirty (every range
// without a bitmap); a change is zero when base:allocation flags it LIBNBD_STATE_ZERO. The
// server's answer is untrusted: an extent of length 0, a context answered twice or not at all,
// more extents than the window holds sectors are refused (kCorrupt); extents past the window are
// cut off (the protocol allows the last to run on).
//
// Read: NBD_CMD_READs kept `depth` deep in flight (nbd_aio_pread), completed in order.
//
// Timeouts: a command with no reply and no socket activity for kNbdStallTimeout is kTimeout. A
// server that goes away fails the command in flight with kUnavailable.
//
// Built without libnbd (HVDISK_USE_LIBNBD=OFF or libnbd-dev missing), OpenNbdSource is
// kUnsupported saying so.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "disk/replication_source.h"
#include "platform/status.h"

namespace hvdisk::disk {

inline constexpr std::chrono::seconds kNbdStallTimeout{60};

// Connects to `uri` (nbd_connect_uri) asking for base:allocation and, when `bitmap` is not empty,
// qemu:dirty-bitmap:<bitmap>. kUnavailable when the server cannot be reached or refuses the
// export; kNotFound when the export has no such bitmap; kUnsupported without libnbd.
Result<std::unique_ptr<ReplicationSource>> OpenNbdSource(const std::string& uri,
                                                         const std::string& bitmap);

// Whether this build reads NBD sources.
bool HaveNbdSource();

}  // namespace hvdisk::disk
