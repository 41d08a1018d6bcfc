// The work one fuzz input drives through the VHDX engine, shared by the fuzzers.
#pragma once

#include <cstdint>
#include <string_view>

namespace hvdisk::fuzz {

// The meta fuzzer's file layout: the input is the first kMetaAreaSize bytes (padded or cut), and a
// fixed kPayloadAreaSize of patterned payload follows.
inline constexpr uint64_t kMetaAreaSize = uint64_t{4} << 20;
inline constexpr uint64_t kPayloadAreaSize = uint64_t{4} << 20;

// Puts `file` into an in-memory file system and exercises it: a read-only Open with bounded
// reads and maps, Image::Check, then a read-write Open with a small write, flush and close.
// Every failure must be a Status; the sanitizers and libFuzzer catch anything else.
void ExerciseImage(std::string_view file);

}  // namespace hvdisk::fuzz
