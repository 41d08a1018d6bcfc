// FileIdentifier: the first structure of a VHDX file (MS-VHDX §2.2.1).
//
// At offset 0: the ASCII signature "vhdxfile" (8 bytes) and a 512-byte UTF-16LE Creator string,
// diagnostic only (may lack a NUL). The rest of the 64 KiB slot is reserved. The first 64 KiB MUST
// NOT be overwritten after creation. Codec only: no I/O. Thread-safe: a value type.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "platform/status.h"

namespace hvdisk::vhdx {

struct FileIdentifier {
  static constexpr size_t kSignatureSize = 8;
  static constexpr size_t kCreatorSize = 512;                            // 256 UTF-16 code units
  static constexpr size_t kEncodedSize = kSignatureSize + kCreatorSize;  // 520

  // UTF-8; on decode, the UTF-16 text up to the first NUL (unpaired surrogates become U+FFFD).
  std::string creator;

  // REQUIRES nothing; needs bytes.size() >= kEncodedSize. Corrupt on a bad signature.
  static Result<FileIdentifier> Decode(std::span<const std::byte> bytes);
  // Writes the signature and creator (truncated to 256 code units) and zeroes the rest of `out`.
  // REQUIRES: out.size() >= kEncodedSize (pass the whole 64 KiB slot to zero its reserved tail).
  void EncodeTo(std::span<std::byte> out) const;

  bool operator==(const FileIdentifier&) const = default;
};

}  // namespace hvdisk::vhdx
