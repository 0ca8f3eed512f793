// Runs many simulation seeds over forked worker processes (keel-sim sweep).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace keel::tools {

struct SeedVerdict {
  bool passed = true;
  std::string failure;  // may span lines
};

struct SweepOutcome {
  std::vector<std::pair<uint64_t, std::string>> failures;  // sorted by seed
  uint64_t runs = 0;     // seeds that ran to a verdict (crashed ones excluded)
  int worker_crashes = 0;
};

// Runs `run(seed)` for every seed in [first, last] across `jobs` worker processes, each taking
// the next seed not yet handed out when it finishes one (in increasing order). A worker that
// dies (an assertion, a signal) is reported as a failure of the seed it was running, and a
// new worker carries on with the seeds left. With `first_failure`, no seed is handed out after
// a failure; the seeds below it were all handed out already and run to their verdicts, so the
// smallest failing seed is the first one in the range.
// Preconditions: first <= last, jobs >= 1. Must be called from a single-threaded process.
SweepOutcome RunSweep(uint64_t first, uint64_t last, int jobs, bool first_failure,
                      const std::function<SeedVerdict(uint64_t seed)>& run);

}  // namespace keel::tools
