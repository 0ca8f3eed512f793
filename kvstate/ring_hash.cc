#include "kvstate/ring_hash.h"

namespace keel::kvstate {

uint64_t RingHash(absl::string_view bytes) {
  uint64_t z = 0xcbf29ce484222325ull;  // FNV-1a 64 offset basis
  for (const char c : bytes) {
    z ^= static_cast<uint8_t>(c);
    z *= 0x100000001b3ull;  // FNV-1a 64 prime
  }
  // FNV-1a alone spreads short, similar strings ("a#1", "a#2") poorly over the high bits;
  // the finaliser mixes every input bit into every output bit.
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return z;
}

}  // namespace keel::kvstate
