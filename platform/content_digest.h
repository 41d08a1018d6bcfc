// ContentDigest: the digest of a virtual disk's content, `hvdisk digest`'s value.
//
// Definition ("xxh3-128-1m"): the content is cut into leaves of kLeafSize (1 MiB) bytes, the last
// one shorter; the digest is the XXH3-128 of the concatenated canonical (big-endian, 16-byte)
// XXH3-128 hashes of the leaves, in order (no leaves, for an empty disk: the XXH3-128 of nothing).
// With coreutils and xxhsum, for a raw copy of the disk:
//   split -b 1M --filter='xxhsum -H2 - | cut -c1-32' disk.raw | tr a-f A-F | basenc --base16 -d |
//     xxhsum -H2
// Why not the plain XXH3-128 of all bytes: that one cannot skip a zero range (its state after n
// zero bytes costs n to compute), so an empty 64 TiB disk took an hour. Here every whole zero leaf
// contributes the same precomputed 16 bytes: UpdateZeros(n) costs n / 64 Ki bytes of hashing
// (64 TiB of zeros: 1 GiB of leaf hashes, a fraction of a second), and the value depends only on
// the bytes, never on how they were fed (raw, VHDX, chain; data or known zeros) or on block sizes.
//
// Not thread-safe per object.
#pragma once

#include <cstdint>
#include <span>

#include "platform/digest.h"

namespace hvdisk {

class ContentDigest {
 public:
  static constexpr uint64_t kLeafSize = uint64_t{1} << 20;

  ContentDigest() = default;
  ContentDigest(const ContentDigest&) = delete;
  ContentDigest& operator=(const ContentDigest&) = delete;

  // The next bytes of the content.
  void Update(std::span<const std::byte> data);
  // The next `count` bytes of the content are zeros: whole zero leaves cost 16 bytes of hashing.
  void UpdateZeros(uint64_t count);
  // The digest of everything fed; ends the object's use (feed no more after it).
  Hash128 Finish();

 private:
  // Appends the hash of the leaf being filled (leaf_fill_ > 0) and starts the next one.
  void EndLeaf();

  Digest128 top_;   // over the leaf hashes
  Digest128 leaf_;  // over the bytes of the current leaf
  uint64_t leaf_fill_ = 0;
};

// ContentDigest of `data` in one call.
Hash128 ContentDigestOf(std::span<const std::byte> data);

}  // namespace hvdisk
