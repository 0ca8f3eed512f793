// The replicated application as the node driver (engine/node.h) sees it: a StateMachine that
// also understands its clients' commands well enough to validate them, stamp them with the
// leader's time, and answer reads from its current state without a log entry. kvstate's
// KvState is keel's; the engine never looks inside a command itself.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "engine/state_machine.h"

namespace keel {

// What the node needs to know about a client command before deciding anything.
struct CommandInfo {
  bool valid = false;
  std::string error;      // why not, when !valid
  bool read_only = false;  // changes nothing: may be served by ReadIndex without a log entry
  // Proposing it twice has the effect of proposing it once (a read, or a command deduplicated
  // by its client session): a proxy may resend it when an answer is late.
  bool retry_safe = false;
  uint64_t session = 0;    // the client session and sequence it carries (0: none)
  uint64_t sequence = 0;
  // The command's kind for counters and metrics (e.g. "kv_put"); "" when not valid. A small
  // fixed set: it becomes a metric label.
  std::string kind;
};

class Application : public StateMachine {
 public:
  // Parses and classifies `command`. Pure: no state is read or changed.
  virtual CommandInfo Inspect(absl::string_view command) const = 0;
  // `command` with the proposing leader's clock reading stamped in (the state machine's only
  // clock). Precondition: Inspect(command).valid.
  virtual std::string StampLeaderTime(absl::string_view command, int64_t leader_time_nanos) const = 0;
  // Answers a read-only command from the state as of the last applied entry, exactly as
  // applying it at the next index would (minus any effect of time passing).
  // Precondition: Inspect(command).read_only.
  virtual std::string Query(absl::string_view command) const = 0;
  // `command` with its sequence number replaced. Only for the planted bug proxy-retry-twice
  // (engine/planted_bugs.h); production never calls it.
  virtual std::string WithSequence(absl::string_view command, uint64_t sequence) const = 0;
};

}  // namespace keel
