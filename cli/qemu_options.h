// The qemu-img spellings hvdisk accepts beside its own (README "qemu-img and hvdisk"): `-o
// key=value,...` image options, and the check that catches qemu-img's `-b BACKING` given a block
// size out of habit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "platform/status.h"

namespace hvdisk::cli {

// What `-o` may set, as qemu-img's VHDX driver names it.
struct ImageOptions {
  std::optional<std::string> subformat;         // fixed or dynamic
  std::optional<std::string> block_size;        // a size text ("1M")
  std::optional<uint32_t> logical_sector_size;  // 512 or 4096
  std::optional<uint64_t> log_size;             // bytes (hvdisk writes a 1 MiB log)
};

// Parses "subformat=fixed,block_size=1M,log_size=1M,logical_sector_size=4096" (repeatable -o
// texts joined by commas). kInvalidArgument naming the key for an unknown key, a missing '=', or
// a value out of range (log_size other than 1M: hvdisk writes a 1 MiB log).
Result<ImageOptions> ParseImageOptions(std::string_view text);

// For `-b VALUE` naming no file: kInvalidArgument "did you mean --block-size VALUE?" when VALUE
// reads as a size (qemu-img's -b is the backing file, hvdisk's old -b the block size); OK
// otherwise (the caller reports the missing backing file as it would).
Status CheckBackingIsNotABlockSize(const std::string& value);

}  // namespace hvdisk::cli
