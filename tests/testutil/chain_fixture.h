// Chains for the chain tests: a dynamic base and differencing layers, each writing its own
// pattern over part of the disk (whole blocks, partial blocks, zeroed and trimmed ranges).
#pragma once

#include <string>
#include <vector>

#include "chain/chain.h"
#include "platform/digest.h"
#include "platform/file.h"

namespace hvdisk::chain::testing {

inline constexpr uint64_t kDisk = 8 * vhdx::kMiB;
inline constexpr uint32_t kBlock = 1 * vhdx::kMiB;

// Creates dir/base.vhdx and dir/d1.avhdx ... dir/dN.avhdx (each on the previous), fills each
// layer with WriteLayer(i). Returns the paths, base first.
Result<std::vector<std::string>> MakeChain(FileSystem* fs, const std::string& dir, int children);

// Writes layer i's pattern into an open image (i = 0 for the base).
Status WriteLayer(vhdx::Image* image, int layer);

// XXH3-128 hex of the whole virtual content seen through `leaf`.
Result<std::string> ChainDigest(FileSystem* fs, const std::string& leaf,
                                const ChainOptions& options = {});

}  // namespace hvdisk::chain::testing
