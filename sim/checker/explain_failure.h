// Turns a failed search into a report: the exact shortest non-linearizable prefix of the
// partition, the operation whose completion ends it, a linearization of everything before it,
// and why each operation left out could not come next.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "engine/assert.h"
#include "sim/checker/check.h"
#include "sim/checker/history.h"
#include "sim/checker/model.h"
#include "sim/checker/partition_problem.h"
#include "sim/checker/search.h"

namespace keel::checker::internal {

// `members`: the partition's history indices in invocation order; `problem` and `found`: the
// whole partition and the search's kNotLinearizable answer for it. Spends search steps from
// `budget`; if it runs out, the report keeps the search's first answer (not necessarily the
// shortest prefix, and says so).
template <SequentialModel M>
Failure ExplainFailure(const M& model, const History& history, const std::string& partition,
                       const std::vector<int>& members,
                       const std::vector<std::optional<Call<M>>>& calls,
                       const PartitionProblem<M>& problem, const SearchResult& found,
                       StepBudget& budget) {
  auto op_at = [&](int i) -> const Operation& { return history.ops[static_cast<size_t>(i)]; };
  Failure failure;
  failure.partition = partition;
  failure.partition_ops = static_cast<int>(problem.members.size());

  // The search proved that the whole partition fails, i.e. the cut after its last return (an
  // operation that never returns may also never happen). Cutting after an earlier return can
  // only be easier (operations that returned later become indeterminate), so binary search
  // the returns for the first cut that fails. The blocked operation's return is not a safe
  // upper end: an operation that returns later with an impossible result was used with that
  // result when the search blocked, and may be fine as indeterminate (e.g. a corrupted
  // acknowledgement of the write that the blocked read saw).
  std::vector<int64_t> returns;
  for (const int i : problem.members) {
    if (op_at(i).ret != kNeverReturns) returns.push_back(op_at(i).ret);
  }
  std::sort(returns.begin(), returns.end());
  KEEL_ASSERT(!returns.empty());
  size_t low = 0, high = returns.size() - 1;  // returns[high] fails
  bool exact = true;
  while (low < high) {
    const size_t mid = low + (high - low) / 2;
    const SearchResult cut =
        Solve(model, BuildProblem(history, members, calls, returns[mid]), budget);
    if (cut.verdict == Verdict::kUnknown) {
      exact = false;
      break;
    }
    if (cut.verdict == Verdict::kNotLinearizable) {
      high = mid;
    } else {
      low = mid + 1;
    }
  }
  const int64_t end = returns[high];  // fails, whether or not the search got to the shortest
  const int blocked =
      *std::find_if(members.begin(), members.end(), [&](int i) { return op_at(i).ret == end; });
  failure.blocked_op = blocked;
  failure.prefix_end_line = op_at(blocked).complete_line;
  failure.prefix_is_shortest = exact;

  // Everything that returned before the blocked operation, without it, linearizes (that is
  // what the shortest prefix means), except in rare cases where the blocked operation's
  // effect is needed with a result it did not return; then show what the search found.
  // Replayed with the calls the search used: an operation that returns after the cut was
  // placed without its result.
  auto replay = [&](const PartitionProblem<M>& source, const std::vector<int>& order) {
    typename M::State state = model.Init();
    for (const int k : order) {
      const Call<M>& call = *source.calls[static_cast<size_t>(k)];
      std::optional<typename M::State> next = model.Step(state, call.input, call.output);
      KEEL_ASSERT_MSG(next.has_value(), "a linearization the search found must replay");
      state = *std::move(next);
      failure.linearized.push_back(source.members[static_cast<size_t>(k)]);
    }
    return state;
  };
  std::optional<typename M::State> state;
  if (exact) {
    const PartitionProblem<M> before = BuildProblem(history, members, calls, end, blocked);
    const SearchResult witness = Solve(model, before, budget);
    if (witness.verdict == Verdict::kLinearizable) state = replay(before, witness.order);
  }
  if (!state.has_value()) state = replay(problem, found.order);
  failure.state = model.Describe(*state);

  std::vector<int> placed = failure.linearized;
  std::sort(placed.begin(), placed.end());
  for (const int i : members) {
    if (op_at(i).call > end || std::binary_search(placed.begin(), placed.end(), i)) continue;
    const Call<M>& call = *calls[static_cast<size_t>(i)];
    const bool legal = model.Step(*state, call.input, call.output).has_value();
    std::string reason = legal ? "the model accepts it next, but no linearization continues "
                                 "from there"
                               : "the model rejects it in this state";
    if (!call.output.has_value()) reason += "; indeterminate, so it may also never happen";
    if (i == blocked) reason = "completes before any linearization can place it; " + reason;
    failure.pending.push_back(PendingOp{i, std::move(reason)});
  }
  return failure;
}

}  // namespace keel::checker::internal
