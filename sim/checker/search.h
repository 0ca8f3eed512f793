// The linearizability search over one partition, independent of the model: the model side
// (state stack and memo) sits behind SearchSpace, see partition_problem.h.
//
// It is the Wing & Gong / Lowe search with memoisation ("Testing for linearizability", Lowe
// 2017; what Porcupine implements), seen as a depth-first search over configurations
// (L, s): the set L of operations linearized so far and the model state s after them. In a
// configuration, the urgent operation is the unlinearized determinate one that returns first;
// every operation invoked before that return and not in L is a candidate to linearize next
// (real time forbids placing anything invoked later). A configuration fails when no candidate
// leads to success; one the memo has seen before (or one it dominates, see
// partition_problem.h) failed already. The search succeeds when every determinate operation
// is in L: indeterminate ones (:info) may be linearized anywhere after their call, or never.
//
// Wing & Gong's list walk tries candidates in invocation order; with many concurrent writers
// that linearizes writes long before they are needed and then backtracks through every subset
// of them (exponential in the number of concurrent processes). These rules, none of which
// loses completeness (the brute-force cross-check in tests/checker guards that), keep
// linearizable histories cheap:
//  - A read-only candidate (one that never changes any state) that the model accepts now is
//    placed at once and alone: any linearization that places it later stays valid with it
//    moved to the front (nothing it precedes can have returned before its call, and the
//    states along the way do not change). So if that fails, the configuration fails. (Being
//    accepted without a state change now is not enough: a write of the current value is, but
//    later on it may be the write a read needs.)
//  - An indeterminate candidate that would leave the state unchanged is not placed: leaving
//    it out (it may never happen) is at least as good.
//  - If some candidate, or one of the next few operations invoked after the urgent one
//    returns, is not legal now and no state reachable through the operations that may still
//    run before it (the unlinearized ones invoked before it returns, each taken any number of
//    times: an over-approximation) accepts it, the configuration fails at once. Without this,
//    a wrong early choice (a write placed after the write a pending read needs) is found out
//    only when that read becomes urgent, after trying every subset of the writes in flight in
//    between; with many concurrent :append, every order of them. (Any unlinearized
//    determinate operation must be placed some day, so checking operations that are not
//    candidates yet is as sound; the next few are where a wrong order shows first.) Models
//    can answer "reachable?" directly (SequentialModel's optional MayReach, e.g. kv: a :get
//    needs a prefix of its value); otherwise a few dozen states are explored by Step.
//  - If the urgent operation is not legal now, candidates after which it is are tried first
//    (the write a read saw); otherwise candidates are tried earliest return first,
//    indeterminate ones last: the ones that must be placed soonest.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/checker/check.h"
#include "sim/checker/linearized_set.h"

namespace keel::checker {

// One operation as the search sees it: event positions only.
struct SearchOp {
  int64_t call = 0;
  int64_t ret = 0;  // kNeverReturns (history.h) for an indeterminate operation
};

// The model side of one partition's search.
class SearchSpace {
 public:
  enum class Outcome : uint8_t {
    kIllegal,  // the model rejects the operation in the current state
    // Legal, but nothing new: (linearized set, new state) was reached before, and failed then;
    // or the operation is indeterminate and leaves the state as it is, so leaving it out (it
    // may never happen) is at least as good as placing it.
    kExplored,
    kAdvanced,  // legal and new: remembered, and the new state is now current
  };

  virtual ~SearchSpace() = default;
  // Applies operation `op` to the current model state, given the linearized set with `op` in
  // it. Only kAdvanced changes anything.
  virtual Outcome Advance(int op, const LinearizedSet& linearized_after) = 0;
  // Undoes the latest kAdvanced.
  virtual void Retreat() = 0;

  // Probes that change nothing. Whether the model accepts `op` in the current state:
  virtual bool Accepts(int op) = 0;
  // ... and `op` is read-only (Call::read_only: never changes any state):
  virtual bool AcceptsReadOnly(int op) = 0;
  // Whether it accepts `first` and then `then`:
  virtual bool AcceptsBoth(int first, int then) = 0;
  // False only if no sequence of `candidates` (each any number of times) leads from the
  // current state to one that accepts `op`, which it does not now. May answer true when it
  // cannot tell (it gives up after a few dozen states or a few thousand steps). `candidates`
  // may hold `op` itself: no sequence reaches a state accepting `op` by way of `op`.
  virtual bool MayBecomeLegal(int op, const std::vector<int>& candidates) = 0;
  // MayBecomeLegal is cheap (the model answers reachability directly, not by stepping): the
  // search may also ask it of operations beyond the current candidates.
  virtual bool CheapReachability() const { return false; }
};

// Counts search steps across partitions and decides when the check must stop.
class StepBudget {
 public:
  explicit StepBudget(const CheckOptions& options) : options_(options) {}
  // Takes one step; false once the budget is spent (and from then on).
  bool Spend();
  uint64_t steps() const { return steps_; }
  bool exhausted() const { return exhausted_; }

 private:
  static constexpr uint64_t kPollInterval = 4096;
  const CheckOptions& options_;
  uint64_t steps_ = 0;
  bool exhausted_ = false;
};

struct SearchResult {
  Verdict verdict = Verdict::kLinearizable;
  // kLinearizable: a witness, operations in linearization order (indeterminate ones that it
  // leaves out never happened). kNotLinearizable: the partial linearization that got furthest
  // through the history. kUnknown: empty.
  std::vector<int> order;
};

// Precondition: ops with ret != kNeverReturns come first (any order among themselves is fine,
// invocation order keeps the memo small), then the indeterminate ones; call < ret; all event
// positions distinct; fewer than 2^31 operations.
SearchResult Search(const std::vector<SearchOp>& ops, SearchSpace& space, StepBudget& budget);

}  // namespace keel::checker
