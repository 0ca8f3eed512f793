// Vocabulary types shared by the engine's components.
#pragma once

#include <cstdint>

namespace keel {

using NodeId = uint64_t;  // 0 is reserved for "nobody"
using Term = uint64_t;    // 0 only before the first election
using Index = uint64_t;   // log indexes start at 1; 0 means "before the log"

inline constexpr NodeId kNoNode = 0;

// Where a proposal landed in the log. The entry is committed iff the entry applied at `index`
// has `term`; a different term there means the proposal was lost to a leader change.
struct LogPosition {
  Index index = 0;
  Term term = 0;
  friend bool operator==(const LogPosition&, const LogPosition&) = default;
};

}  // namespace keel
