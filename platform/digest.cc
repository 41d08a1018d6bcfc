#include "platform/digest.h"

#include <xxhash.h>

#include <cstdio>
#include <vector>

namespace hvdisk {

uint64_t Xxh3_64(std::span<const std::byte> data) { return XXH3_64bits(data.data(), data.size()); }

std::string Hash128::ToHex() const {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(high),
                static_cast<unsigned long long>(low));
  return buf;
}

Hash128 Xxh3_128(std::span<const std::byte> data) {
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  return {h.high64, h.low64};
}

struct Digest64::State {
  XXH3_state_t* xxh = XXH3_createState();
  ~State() { XXH3_freeState(xxh); }
};

Digest64::Digest64() : state_(std::make_unique<State>()) { XXH3_64bits_reset(state_->xxh); }
Digest64::~Digest64() = default;

void Digest64::Update(std::span<const std::byte> data) {
  XXH3_64bits_update(state_->xxh, data.data(), data.size());
}

uint64_t Digest64::Finish() const { return XXH3_64bits_digest(state_->xxh); }

struct Digest128::State {
  XXH3_state_t* xxh = XXH3_createState();
  ~State() { XXH3_freeState(xxh); }
};

Digest128::Digest128() : state_(std::make_unique<State>()) { XXH3_128bits_reset(state_->xxh); }
Digest128::~Digest128() = default;

void Digest128::Update(std::span<const std::byte> data) {
  XXH3_128bits_update(state_->xxh, data.data(), data.size());
}

void Digest128::UpdateZeros(uint64_t count) {
  static const std::vector<std::byte> kZeros(1 << 20);
  while (count > 0) {
    size_t n = count < kZeros.size() ? count : kZeros.size();
    Update(std::span(kZeros).first(n));
    count -= n;
  }
}

void Digest128::Reset() { XXH3_128bits_reset(state_->xxh); }

Hash128 Digest128::Finish() const {
  XXH128_hash_t h = XXH3_128bits_digest(state_->xxh);
  return {h.high64, h.low64};
}

}  // namespace hvdisk
