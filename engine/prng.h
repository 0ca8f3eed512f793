// The only source of randomness the engine may use: a small, seeded, portable PRNG
// (xoshiro256**, seeded through splitmix64). Same seed, same sequence, on every platform.
#pragma once

#include <cstdint>

#include "engine/assert.h"

namespace keel {

class Prng {
 public:
  explicit Prng(uint64_t seed) {
    uint64_t x = seed;
    for (auto& word : state_) word = SplitMix64(x);
  }

  uint64_t Next() {
    const uint64_t result = Rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = Rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, bound). Precondition: bound > 0. Uses rejection to avoid modulo bias.
  uint64_t Uniform(uint64_t bound) {
    KEEL_ASSERT(bound > 0);
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t value;
    do {
      value = Next();
    } while (value >= limit);
    return value % bound;
  }

  // Uniform in [0, 1).
  double NextDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  // A derived, independent stream: lets callers split one seed into sub-streams so that drawing
  // more numbers from one does not shift the others.
  Prng Fork(uint64_t stream_id) { return Prng(Next() ^ (stream_id * 0x9E3779B97F4A7C15ULL)); }

 private:
  static uint64_t SplitMix64(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  uint64_t state_[4];
};

}  // namespace keel
