// The consistent-hash function of kvstate/README.md: FNV-1a 64 followed by splitmix64's
// finaliser. It is part of the replicated contract (every replica and the model must place
// ring points identically), so it must never change.
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"

namespace keel::kvstate {

uint64_t RingHash(absl::string_view bytes);

}  // namespace keel::kvstate
