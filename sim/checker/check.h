// What a linearizability check is asked (options) and what it answers (result).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace keel::checker {

enum class Verdict : uint8_t { kLinearizable, kNotLinearizable, kUnknown };

// "linearizable", "not-linearizable", "unknown".
inline absl::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kLinearizable:
      return "linearizable";
    case Verdict::kNotLinearizable:
      return "not-linearizable";
    case Verdict::kUnknown:
      return "unknown";
  }
  return "?";
}

struct CheckOptions {
  // Stop with verdict kUnknown after this many search steps over the whole history (0: no
  // limit). Deterministic, unlike a deadline: tests use it.
  uint64_t max_steps = 0;
  // Polled every few thousand search steps; returning true stops the search with verdict
  // kUnknown. This is how a wall-clock limit gets in: the library never reads a clock, the
  // caller (keel-check) passes a deadline check.
  std::function<bool()> should_stop;
  // Runs task(0), ..., task(count - 1), possibly at the same time, and returns once all have
  // returned. Set by a caller that may use threads (keel-check --jobs); the library never
  // starts one. With it, partitions are searched concurrently; a partition stops early only
  // when one before it in key order has failed, so the verdict and the reported failure (the
  // first failing partition in key order) are the same as one after another. Not used when
  // max_steps is set (a step limit stays exact and machine-independent).
  std::function<void(size_t count, const std::function<void(size_t)>& task)> parallel_for;
  // Search steps the failure explanation (Failure) may take, counted apart from the verdict's
  // max_steps (0: no limit). The verdict is known before the explanation starts; when this
  // runs out, the report keeps the shortest failing prefix found so far and says it may not
  // be the shortest (Failure::prefix_is_shortest). should_stop applies to both.
  uint64_t explain_max_steps = 0;
  // Called once, as soon as the verdict is known and before the failure explanation (if any)
  // is built: lets a caller time the two apart (the library reads no clock).
  std::function<void()> on_verdict;
};

// Why one operation was left out of the longest linearization found.
struct PendingOp {
  int op = 0;  // index into History::ops
  std::string reason;
};

// Where the search got stuck, for the first non-linearizable partition (in key order).
struct Failure {
  std::string partition;  // the model's PartitionKey; "" when the model does not split
  int partition_ops = 0;  // operations searched in that partition (without :fail and unseen reads)
  // The operation whose completion no linearization of this partition gets past: every order
  // of the operations invoked before it either breaks the model or leaves it out. The history
  // cut after its completion line is not linearizable; if prefix_is_shortest, cut after any
  // earlier line this partition is. (Cut, but knowing which operations :fail later: those
  // never happened.) prefix_is_shortest is false only when the budget ran out while looking
  // for the shortest prefix.
  int blocked_op = 0;
  int prefix_end_line = 0;
  bool prefix_is_shortest = true;
  // A linearization (indices into History::ops, in order) of the partition's operations that
  // completed before that line, without the blocked one (or, failing that, the longest the
  // search found); the model state after it; and every operation invoked before the blocked
  // completion that it leaves out (the blocked operation among them), in invocation order.
  std::vector<int> linearized;
  std::string state;
  std::vector<PendingOp> pending;
};

struct CheckResult {
  Verdict verdict = Verdict::kLinearizable;
  int ops_ok = 0;
  int ops_fail = 0;          // did not happen: dropped before the search
  int ops_info = 0;          // indeterminate, including invocations that never completed
  int ops_unseen_reads = 0;  // indeterminate and read-only: constrain nothing, dropped
  int partitions = 0;
  int partitions_checked = 0;  // searched to a verdict before the check ended
  // Partitions whose search the budget stopped, in key order.
  std::vector<std::string> partitions_unknown;
  uint64_t steps = 0;              // search steps to the verdict, over all partitions
  uint64_t explain_steps = 0;      // search steps spent explaining the failure
  std::optional<Failure> failure;  // set iff verdict is kNotLinearizable
};

}  // namespace keel::checker
