// Hex: how every layer prints a number in hex (offsets, lengths, checksums) in messages and
// reports, so that one value reads the same in every error.
// Thread-safe: a pure function.
#pragma once

#include <cstdint>
#include <string>

namespace hvdisk {

// "0x1f00000": lower case, no padding (as qemu-img map prints offsets).
std::string Hex(uint64_t v);

}  // namespace hvdisk
