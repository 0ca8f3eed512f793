// Random message schedules over a Cluster: the action vocabulary shared by the RapidCheck
// properties (which generate and shrink the actions) and the planted-bug tests (which draw them
// from a seeded Prng).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/prng.h"
#include "tests/harness/cluster.h"

namespace keel::testing {

// One step of a schedule. `kind` selects the action by weight (see ActionName); `node` and
// `arg` are reduced modulo what the action needs, so every value is meaningful.
struct Action {
  uint32_t kind = 0;  // 0..999
  uint32_t node = 0;
  uint32_t arg = 0;
};

std::string DescribeAction(const Action& action, const Cluster& cluster);

// Applies one action. Never fails by itself; violations are recorded in cluster.violation().
void ApplyAction(Cluster& cluster, const Action& action, uint64_t* proposal_counter);

// After the faults: heal everything, restart crashed nodes, and require that within
// `max_rounds` rounds of tick-all-and-stabilize a leader emerges and a fresh proposal is
// applied by every node. Returns an error describing the stall otherwise.
absl::Status CheckLiveness(Cluster& cluster, int max_rounds);

// Runs `actions` then the liveness check; returns the first violation (safety or liveness).
absl::Status RunSchedule(Cluster& cluster, const std::vector<Action>& actions);

// A schedule of `count` actions drawn from `prng`.
std::vector<Action> RandomActions(Prng& prng, size_t count);

}  // namespace keel::testing
