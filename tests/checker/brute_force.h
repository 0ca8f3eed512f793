// The reference the checker is compared against: linearizability by exhaustive enumeration,
// with no memo, no partitioning and no event list, so that it is obviously right. Only for
// small histories (it is exponential in every way).
#pragma once

#include <optional>
#include <vector>

#include "engine/assert.h"
#include "sim/checker/history.h"
#include "sim/checker/model.h"

namespace keel::checker::testing {

namespace internal {

// Is there an order of the operations in `chosen` not yet in `placed`, starting from `state`,
// in which every operation comes after every operation that returned before it was invoked,
// and which the model accepts?
template <SequentialModel M>
bool CanOrder(const M& model, const std::vector<const Operation*>& ops,
              const std::vector<Call<M>>& calls, const std::vector<int>& chosen,
              std::vector<bool>& placed, const typename M::State& state, size_t placed_count) {
  if (placed_count == chosen.size()) return true;
  for (const int x : chosen) {
    if (placed[static_cast<size_t>(x)]) continue;
    bool must_wait = false;  // some unplaced operation returned before x was invoked
    for (const int y : chosen) {
      if (!placed[static_cast<size_t>(y)] && y != x &&
          ops[static_cast<size_t>(y)]->ret < ops[static_cast<size_t>(x)]->call) {
        must_wait = true;
      }
    }
    if (must_wait) continue;
    const Call<M>& call = calls[static_cast<size_t>(x)];
    std::optional<typename M::State> next = model.Step(state, call.input, call.output);
    if (!next.has_value()) continue;
    placed[static_cast<size_t>(x)] = true;
    const bool found = CanOrder(model, ops, calls, chosen, placed, *next, placed_count + 1);
    placed[static_cast<size_t>(x)] = false;
    if (found) return true;
  }
  return false;
}

}  // namespace internal

// True iff some subset of the indeterminate operations together with every :ok operation has
// an order that respects real time and that the model accepts from Init(). :fail operations
// are left out. Inert operations are kept (the reference must not rely on the checker's
// shortcut). Precondition: the model decodes every operation; at most 12 operations.
template <SequentialModel M>
bool BruteForceLinearizable(const M& model, const History& history) {
  std::vector<const Operation*> ops;
  std::vector<Call<M>> calls;
  std::vector<int> required, optional;
  for (const Operation& op : history.ops) {
    if (op.outcome == Outcome::kFail) continue;
    absl::StatusOr<Call<M>> call = model.Decode(op);
    KEEL_ASSERT(call.ok());
    (op.outcome == Outcome::kOk ? required : optional).push_back(static_cast<int>(ops.size()));
    ops.push_back(&op);
    calls.push_back(*std::move(call));
  }
  KEEL_ASSERT(ops.size() <= 12);
  for (uint32_t subset = 0; subset < (uint32_t{1} << optional.size()); ++subset) {
    std::vector<int> chosen = required;
    for (size_t i = 0; i < optional.size(); ++i) {
      if ((subset >> i) & 1) chosen.push_back(optional[i]);
    }
    std::vector<bool> placed(ops.size(), false);
    if (internal::CanOrder(model, ops, calls, chosen, placed, model.Init(), 0)) return true;
  }
  return false;
}

}  // namespace keel::checker::testing
