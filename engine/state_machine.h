// The replicated application the replica applies committed entries to (kvstate in keel).
// Apply must be deterministic: the same commands in the same order produce the same results
// and the same Snapshot() bytes on every replica.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/types.h"

namespace keel {

class StateMachine {
 public:
  virtual ~StateMachine() = default;
  // Applies the command of the committed entry at `index`; returns the result delivered to
  // the proposer.
  virtual std::string Apply(Index index, absl::string_view command) = 0;
  // The whole state as of the last applied entry.
  virtual std::string Snapshot() const = 0;
  // Replaces the whole state with one produced by Snapshot(). Fails, changing nothing, if the
  // data cannot be decoded.
  virtual absl::Status Restore(absl::string_view data) = 0;
};

}  // namespace keel
