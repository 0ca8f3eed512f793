// Name rules and small helpers of the sequential models (kv.proto's header comment).
#include <vector>

#include "kvstate/model/models.h"

namespace keel::kvstate::model {
namespace {

// Splits on '/' and checks that there are `parts` parts, none empty.
bool HasParts(const std::string& name, size_t parts) {
  std::vector<std::string> split(1);
  for (char c : name) {
    if (c == '/') {
      split.emplace_back();
    } else {
      split.back() += c;
    }
  }
  if (split.size() != parts) return false;
  for (const std::string& part : split) {
    if (part.empty()) return false;
  }
  return true;
}

}  // namespace

kvpb::Result Code(kvpb::Code code) {
  kvpb::Result result;
  result.set_code(code);
  return result;
}

bool IsKey(const std::string& key) { return key.size() <= 512 && HasParts(key, 3); }
bool IsPoolName(const std::string& name) { return name.size() <= 256 && HasParts(name, 2); }
bool IsGroupName(const std::string& name) { return name.size() <= 128 && HasParts(name, 1); }
bool IsMemberName(const std::string& name) { return !name.empty() && name.size() <= 128; }

uint64_t RingHash(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  uint64_t z = h;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace keel::kvstate::model
