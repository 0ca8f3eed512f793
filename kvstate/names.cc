#include "kvstate/names.h"

namespace keel::kvstate {
namespace {

// True iff `name` is exactly `parts` non-empty '/'-separated parts and at most `max_bytes`.
bool HasParts(absl::string_view name, size_t parts, size_t max_bytes) {
  if (name.empty() || name.size() > max_bytes) return false;
  size_t seen = 0;
  size_t start = 0;
  while (true) {
    const size_t slash = name.find('/', start);
    const size_t end = slash == absl::string_view::npos ? name.size() : slash;
    if (end == start) return false;  // an empty part: leading, trailing or doubled '/'
    ++seen;
    if (seen > parts) return false;
    if (slash == absl::string_view::npos) break;
    start = slash + 1;
  }
  return seen == parts;
}

}  // namespace

bool IsKey(absl::string_view key) { return HasParts(key, 3, kMaxKeyBytes); }
bool IsPoolName(absl::string_view name) { return HasParts(name, 2, kMaxPoolNameBytes); }
bool IsGroupName(absl::string_view name) { return HasParts(name, 1, kMaxGroupBytes); }
bool IsMemberName(absl::string_view name) { return !name.empty() && name.size() <= kMaxMemberBytes; }
bool IsValue(absl::string_view value) { return value.size() <= kMaxValueBytes; }

}  // namespace keel::kvstate
