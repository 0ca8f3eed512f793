// Generates Jepsen-style histories by simulating a linearizable system: every operation takes
// effect atomically at a random moment between its invocation and its completion, against one
// true state. Used for benchmarks (keel-check gen-kv, gen-register) and tests. Optional
// planted faults: lost acknowledgements (:info, after which the operation takes effect later or
// never), refused operations (:fail), and stale reads (a non-linearizable system).
// Deterministic: the same options give the same bytes.
#pragma once

#include <cstdint>
#include <string>

namespace keel::checker {

struct GeneratorOptions {
  enum class Workload : uint8_t {
    kKv,           // :get / :put / :append on :key "k0".."k<keys-1>" (model kv)
    kRegister,     // :read / :write (model register)
    kCasRegister,  // :read / :write / :cas (model cas-register)
  };
  Workload workload = Workload::kKv;
  int operations = 1000;  // invocations in the history
  int clients = 10;       // operations in flight at once, at most
  int keys = 100;         // kv only
  // Register values drawn from [0, values); 0: every write writes a fresh value, which makes
  // reads identify writes and the search easy. Small domains make it hard.
  int values = 0;
  uint64_t seed = 1;
  // Chance that an operation's acknowledgement is lost (:info); its client then continues as
  // a new process, as Jepsen's do, and the operation takes effect before, after, or never.
  double info_rate = 0.0;
  // Chance that a write is refused without effect (:fail). :cas also fails on a mismatch.
  double fail_rate = 0.0;
  // Planted bug: chance that a read returns the value from before the latest write.
  double stale_read_rate = 0.0;
  // kv only: every write is an :append (no :put), as in Jepsen's append workload, so a key's
  // value is the whole sequence of appends to it and grows through the history.
  bool appends_only = false;
  // kv only: plants exactly one anomaly, which makes the history non-linearizable: the first
  // :get invoked after half the operations whose key's latest write was already acknowledged
  // returns the value from before that write. (A stale read of a write still in flight may
  // be linearizable; this one never is, since values never repeat.) A comment line at the end
  // names it. No anomaly if no :get qualifies (tiny histories).
  bool plant_anomaly = false;
};

// The history as EDN, one event per line, with :index and :time keys as Jepsen writes them.
// Preconditions: operations >= 0, clients >= 1, keys >= 1, values >= 0, rates in [0, 1].
std::string GenerateHistory(const GeneratorOptions& options);

}  // namespace keel::checker
