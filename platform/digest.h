// XXH3 digests (xxHash): 64-bit for checksums of our own records, 128-bit for virtual-disk content.
// Digest64 and Digest128 stream; Hash128's hex form is the one `xxhsum -H2` prints. Not
// thread-safe per object.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace hvdisk {

uint64_t Xxh3_64(std::span<const std::byte> data);

struct Hash128 {
  uint64_t high = 0;
  uint64_t low = 0;
  bool operator==(const Hash128&) const = default;
  // 32 lower-case hex digits, high half first (xxhsum's canonical form).
  std::string ToHex() const;
};

Hash128 Xxh3_128(std::span<const std::byte> data);

// Xxh3_64 of bytes given in pieces.
class Digest64 {
 public:
  Digest64();
  ~Digest64();
  Digest64(const Digest64&) = delete;
  Digest64& operator=(const Digest64&) = delete;

  void Update(std::span<const std::byte> data);
  uint64_t Finish() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

class Digest128 {
 public:
  Digest128();
  ~Digest128();
  Digest128(const Digest128&) = delete;
  Digest128& operator=(const Digest128&) = delete;

  void Update(std::span<const std::byte> data);
  // Updates with `count` zero bytes without materialising them all at once.
  void UpdateZeros(uint64_t count);
  Hash128 Finish() const;
  // Starts over, as a new object.
  void Reset();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace hvdisk
