// OffsetStream: the offsets of a benchmark's I/O pattern, sequential (wrapping at the end) or
// uniformly random, block-aligned, over a file or disk of a given size. Shared by the benches.
#pragma once

#include <algorithm>
#include <cstdint>

namespace hvdisk {

class OffsetStream {
 public:
  OffsetStream(bool random, uint64_t block, uint64_t bytes)
      : random_(random), block_(block), blocks_(std::max<uint64_t>(1, bytes / block)) {}
  uint64_t Next() {
    if (!random_) {
      uint64_t off = next_ * block_;
      next_ = next_ + 1 == blocks_ ? 0 : next_ + 1;
      return off;
    }
    rng_ ^= rng_ << 13;  // xorshift64
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return (rng_ % blocks_) * block_;
  }

 private:
  bool random_;
  uint64_t block_;
  uint64_t blocks_;
  uint64_t next_ = 0;
  uint64_t rng_ = 0x2545F4914F6CDD1Dull;
};

}  // namespace hvdisk
