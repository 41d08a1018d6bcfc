#include "platform/content_digest.h"

#include <algorithm>
#include <array>
#include <vector>

namespace hvdisk {
namespace {

// The canonical form of a hash: high half first, each half big-endian (XXH128_canonical_t).
std::array<std::byte, 16> Canonical(const Hash128& h) {
  std::array<std::byte, 16> out;
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<std::byte>(h.high >> (56 - 8 * i));
    out[8 + i] = static_cast<std::byte>(h.low >> (56 - 8 * i));
  }
  return out;
}

// kCopies repetitions of the canonical hash of one all-zero leaf, to feed whole zero leaves in
// batches.
constexpr size_t kCopies = 4096;
const std::vector<std::byte>& ZeroLeafHashes() {
  static const std::vector<std::byte> hashes = [] {
    const std::vector<std::byte> zeros(ContentDigest::kLeafSize);
    const std::array<std::byte, 16> one = Canonical(Xxh3_128(zeros));
    std::vector<std::byte> v;
    v.reserve(kCopies * one.size());
    for (size_t i = 0; i < kCopies; ++i) v.insert(v.end(), one.begin(), one.end());
    return v;
  }();
  return hashes;
}

}  // namespace

void ContentDigest::EndLeaf() {
  const std::array<std::byte, 16> h = Canonical(leaf_.Finish());
  top_.Update(h);
  leaf_.Reset();
  leaf_fill_ = 0;
}

void ContentDigest::Update(std::span<const std::byte> data) {
  while (!data.empty()) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kLeafSize - leaf_fill_, data.size()));
    leaf_.Update(data.first(n));
    leaf_fill_ += n;
    data = data.subspan(n);
    if (leaf_fill_ == kLeafSize) EndLeaf();
  }
}

void ContentDigest::UpdateZeros(uint64_t count) {
  if (leaf_fill_ > 0) {  // the zeros that complete the current leaf are hashed as bytes
    const uint64_t n = std::min(kLeafSize - leaf_fill_, count);
    leaf_.UpdateZeros(n);
    leaf_fill_ += n;
    count -= n;
    if (leaf_fill_ == kLeafSize) EndLeaf();
  }
  const std::vector<std::byte>& hashes = ZeroLeafHashes();
  for (uint64_t leaves = count / kLeafSize; leaves > 0;) {
    const uint64_t n = std::min<uint64_t>(leaves, kCopies);
    top_.Update(std::span(hashes).first(n * 16));
    leaves -= n;
  }
  count %= kLeafSize;
  if (count > 0) {
    leaf_.UpdateZeros(count);
    leaf_fill_ = count;
  }
}

Hash128 ContentDigest::Finish() {
  if (leaf_fill_ > 0) EndLeaf();  // the last leaf, shorter
  return top_.Finish();
}

Hash128 ContentDigestOf(std::span<const std::byte> data) {
  ContentDigest d;
  d.Update(data);
  return d.Finish();
}

}  // namespace hvdisk
