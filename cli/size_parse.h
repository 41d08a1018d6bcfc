// Parsing and printing of the sizes and small numbers the hvdisk commands take.
//
// Sizes are byte counts with an optional binary suffix: K, M, G, T (also KiB/KB/k...: always
// powers of 1024), e.g. "64M" = 67108864. Plain numbers are bytes; "0x" prefixes hex.
// Thread-safe: pure functions.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "platform/status.h"

namespace hvdisk::cli {

// "4K" -> 4096. kInvalidArgument on an empty string, junk, or overflow.
Result<uint64_t> ParseSize(std::string_view text);
// A byte value: "0xA5", "165", "0245" is decimal. kInvalidArgument if > 255.
Result<uint8_t> ParseByte(std::string_view text);
// "64 MiB", "1.5 GiB", "512 B": for humans.
std::string FormatSize(uint64_t bytes);

// CLI11 validators, so that a malformed value is a usage error (exit 2) raised by the parser.
CLI::Validator SizeValidator();
CLI::Validator ByteValidator();

// Returns ParseSize(text) for text already checked by SizeValidator (0 if it somehow fails).
uint64_t CheckedSize(const std::string& text);

}  // namespace hvdisk::cli
