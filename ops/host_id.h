// HostId: the stable name of the host this process runs on, as a shared store records it (the
// owner of a job, of a failed-over or served VM, of an intent; docs/shared-storage.md).
//
// The first of: the environment variable HVDISK_HOST_ID (the CLI's --host-id sets it; tests give
// two mounts on one machine two host ids), /etc/machine-id, the host name. At most 255 bytes of
// printable ASCII (anything else is replaced by '_'); never empty ("localhost" at worst).
//
// Thread safety: reads the environment and files on each call; do not setenv concurrently.
#pragma once

#include <string>
#include <string_view>

namespace hvdisk::ops {

inline constexpr const char* kHostIdEnv = "HVDISK_HOST_ID";

std::string HostId();
// `text` as HostId would publish it (sanitized and capped).
std::string SanitizeHostId(std::string_view text);

}  // namespace hvdisk::ops
