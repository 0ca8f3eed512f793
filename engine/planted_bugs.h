// Known bugs that tests and the simulator can switch on to prove that their checkers catch
// them ("a simulator that cannot fail proves nothing"). They exist only in builds compiled with
// KEEL_PLANTED_BUGS (the keel_engine_planted library); in the production library every
// KEEL_PLANTED_BUG(...) test is the constant false and the compiler removes the buggy branch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace keel {

enum PlantedBug : uint32_t {
  kBugDoubleVote = 1u << 0,       // grant a second vote in the same term
  kBugAckBeforeFsync = 1u << 1,   // send append acks before the entries are durable
  kBugCommitOldTerm = 1u << 2,    // commit a previous-term entry by counting replicas (Fig. 8)
  kBugSkipLogMatching = 1u << 3,  // accept AppendEntries without the prev-entry check
  kBugApplyTwice = 1u << 4,       // kvstate: session dedupe off, a retried command applies again
  kBugProxyRetryTwice = 1u << 5,  // node: a proxy resends a late request under a new sequence
  kBugJointSingleQuorum = 1u << 6,   // commit in a joint config with only C_new's majority
  kBugRemovedLeaderStays = 1u << 7,  // a leader removed by a committed config keeps leading
  kBugStaleRead = 1u << 8,           // node: serve linearizable reads from local state
  kBugLeaseIgnoresDrift = 1u << 9,   // the lease lasts a whole election timeout: no drift margin
};

// Where a planted bug lives: the Raft core (caught by the engine's invariant checkers), the
// replicated state machine or the node driver (both caught by the linearizability checker on
// client histories).
// kMembership bugs live in the core but need membership changes to show: they are caught by
// the membership tests and sweeps.
// kRead bugs live in the read path (core or node) and break no invariant of the logs: the
// simulator catches them, by the linearizability check of the clients' history (stale-read)
// or by its lease check (lease-ignores-drift: a lease held after a later leader's election).
enum class BugLayer : uint8_t { kEngine, kKvstate, kNode, kMembership, kRead };

struct PlantedBugInfo {
  absl::string_view name;
  PlantedBug bug;
  absl::string_view description;
  BugLayer layer = BugLayer::kEngine;
};
const std::vector<PlantedBugInfo>& AllPlantedBugs();
// The planted bugs of one layer, in AllPlantedBugs() order.
std::vector<PlantedBugInfo> PlantedBugsIn(BugLayer layer);
std::optional<PlantedBug> PlantedBugByName(absl::string_view name);

#ifdef KEEL_PLANTED_BUGS
inline constexpr bool kPlantedBugsCompiledIn = true;
#else
inline constexpr bool kPlantedBugsCompiledIn = false;
#endif

}  // namespace keel

// True iff `bug` is switched on in this core's config (always false in production builds).
#define KEEL_PLANTED_BUG(bug) (::keel::kPlantedBugsCompiledIn && (config_.planted_bugs & (bug)) != 0)
