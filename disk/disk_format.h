// Format: what a file holds, raw bytes or a VHDX image, and how it is told.
//
// Detection (DetectFormat): a file whose first 8 bytes are "vhdxfile" is VHDX; a file named
// *.vhdx or *.avhdx without that signature is refused with kCorrupt (never read as raw, so a
// damaged image cannot be mistaken for a raw disk); anything else is raw. An explicit format
// (-f raw / -f vhdx) skips detection.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "platform/file.h"
#include "platform/status.h"

namespace hvdisk::disk {

enum class Format : uint8_t { kAuto, kRaw, kVhdx };

// "raw" / "vhdx" / "auto".
std::string_view FormatName(Format format);
// Accepts "raw", "vhdx", "auto" and "" (auto).
Result<Format> ParseFormat(std::string_view name);
// True for names ending in .vhdx or .avhdx (any case).
bool HasVhdxExtension(std::string_view path);
// The format of the existing file `path`, as described above. `forced` other than kAuto is
// returned as is once the file is known to open.
Result<Format> DetectFormat(FileSystem* fs, const std::string& path, Format forced);

}  // namespace hvdisk::disk
