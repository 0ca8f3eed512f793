// One partition of a history as a search problem for a SequentialModel M, and the typed
// side of the search (model states and memo). Templates, so that a model's State is a
// concrete type inside the memo (no boxing per step).
#pragma once

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "engine/assert.h"
#include "sim/checker/history.h"
#include "sim/checker/linearized_set.h"
#include "sim/checker/model.h"
#include "sim/checker/search.h"

namespace keel::checker {

// One partition's model side of the search: the stack of states along the current partial
// linearization, and the memo of the configurations reached so far.
//
// The memo maps (determinate operations placed, state) to the sets of indeterminate
// operations placed with them. A configuration is not worth exploring if one with the same
// determinate operations and state and a subset of its indeterminate ones was reached before:
// the extra indeterminate operations may simply never happen, so the earlier configuration
// can do everything this one can. (It either failed, or it is an ancestor still being
// explored, which then finds the same completions along another branch.) Without this, every
// subset of the :info writes that were placed and then overwritten counts as new.
// The memo is only ever probed, never iterated, so its hash order cannot leak into results.
template <SequentialModel M>
class TypedSearchSpace final : public SearchSpace {
 public:
  // `*calls[i]` is search operation i; model and calls must outlive this object.
  TypedSearchSpace(const M& model, const std::vector<const Call<M>*>& calls)
      : model_(model), calls_(calls) {
    states_.push_back(model_.Init());
    memo_.reserve(calls.size());  // most searches take about one step per operation
  }

  Outcome Advance(int op, const LinearizedSet& linearized_after) override {
    std::optional<typename M::State> next = StepFrom(states_.back(), op);
    if (!next.has_value()) return Outcome::kIllegal;
    KEEL_ASSERT_MSG(!calls_[static_cast<size_t>(op)]->read_only || *next == states_.back(),
                    "a read-only operation changed the model state");
    if (!calls_[static_cast<size_t>(op)]->output.has_value() && *next == states_.back()) {
      return Outcome::kExplored;  // indeterminate and no effect: never worth placing
    }
    LinearizedSet::Indeterminate indeterminate = linearized_after.IndeterminatePart();
    auto [entry, inserted] =
        memo_.try_emplace(MemoKey{HashMix(linearized_after.determinate_hash(), model_.Hash(*next)),
                                  linearized_after.DeterminatePart(), *next});
    auto& reached = entry->second;
    if (!inserted) {
      for (const LinearizedSet::Indeterminate& earlier : reached) {
        if (LinearizedSet::IsSubset(earlier, indeterminate)) return Outcome::kExplored;
      }
      // Keep the sets minimal: any that include this one are dominated from now on.
      reached.erase(std::remove_if(reached.begin(), reached.end(),
                                   [&](const LinearizedSet::Indeterminate& earlier) {
                                     return LinearizedSet::IsSubset(indeterminate, earlier);
                                   }),
                    reached.end());
    }
    reached.push_back(std::move(indeterminate));
    states_.push_back(*std::move(next));
    return Outcome::kAdvanced;
  }

  void Retreat() override {
    KEEL_ASSERT(states_.size() > 1);
    states_.pop_back();
  }

  bool Accepts(int op) override { return AcceptsFrom(states_.back(), op); }

  // (Advance asserts that a read-only operation leaves the state as it is.)
  bool AcceptsReadOnly(int op) override {
    return calls_[static_cast<size_t>(op)]->read_only && AcceptsFrom(states_.back(), op);
  }

  bool AcceptsBoth(int first, int then) override {
    const std::optional<typename M::State> next = StepFrom(states_.back(), first);
    return next.has_value() && AcceptsFrom(*next, then);
  }

  bool CheapReachability() const override { return HasMayReach<M>; }

  bool MayBecomeLegal(int op, const std::vector<int>& candidates) override {
    if constexpr (HasMayReach<M>) {
      const Call<M>& call = *calls_[static_cast<size_t>(op)];
      if (!call.output.has_value()) return true;  // indeterminate: Step accepts it in any state it can run in
      steps_.clear();
      for (const int candidate : candidates) {
        steps_.push_back(&calls_[static_cast<size_t>(candidate)]->input);
      }
      return model_.MayReach(states_.back(), call.input, *call.output, steps_);
    } else {
      return MayBecomeLegalByStepping(op, candidates);
    }
  }

 private:
  bool MayBecomeLegalByStepping(int op, const std::vector<int>& candidates) {
    // Breadth-first over states, each candidate usable again and again: a superset of what
    // any real sequence of them reaches.
    constexpr size_t kMaxStates = 64;
    constexpr int kMaxSteps = 4096;
    int steps = 0;
    std::vector<typename M::State> seen = {states_.back()};
    for (size_t next_to_expand = 0; next_to_expand < seen.size(); ++next_to_expand) {
      for (const int candidate : candidates) {
        if (++steps > kMaxSteps) return true;
        std::optional<typename M::State> next = StepFrom(seen[next_to_expand], candidate);
        if (!next.has_value() || std::find(seen.begin(), seen.end(), *next) != seen.end()) {
          continue;
        }
        if (StepFrom(*next, op).has_value() || seen.size() == kMaxStates) return true;
        seen.push_back(*std::move(next));
      }
    }
    return false;
  }

  bool AcceptsFrom(const typename M::State& state, int op) const {
    const Call<M>& call = *calls_[static_cast<size_t>(op)];
    if constexpr (HasAccepts<M>) {
      return model_.Accepts(state, call.input, call.output);
    } else {
      return model_.Step(state, call.input, call.output).has_value();
    }
  }

  std::optional<typename M::State> StepFrom(const typename M::State& state, int op) const {
    const Call<M>& call = *calls_[static_cast<size_t>(op)];
    return model_.Step(state, call.input, call.output);
  }

  struct MemoKey {
    uint64_t hash;
    LinearizedSet::Determinate determinate;
    typename M::State state;
  };
  struct MemoHash {
    size_t operator()(const MemoKey& key) const { return key.hash; }
  };
  struct MemoEq {
    bool operator()(const MemoKey& a, const MemoKey& b) const {
      return a.hash == b.hash && a.determinate == b.determinate && a.state == b.state;
    }
  };

  const M& model_;
  const std::vector<const Call<M>*>& calls_;
  std::vector<typename M::State> states_;
  std::vector<const typename M::Input*> steps_;  // scratch for MayReach
  // Usually one set per entry (often empty): inline, so that an entry costs no allocation.
  absl::flat_hash_map<MemoKey, absl::InlinedVector<LinearizedSet::Indeterminate, 1>, MemoHash,
                      MemoEq>
      memo_;
};

// The operations of one partition in the order Search wants them (determinate ones first,
// each group in invocation order), with their decoded calls. The calls point into the
// caller's decoded calls (copying them would copy every read's result), except those the
// problem makes indeterminate, whose copies without a result it owns. Move-only: a copy
// would point into the original.
template <SequentialModel M>
struct PartitionProblem {
  PartitionProblem() = default;
  PartitionProblem(PartitionProblem&&) noexcept = default;
  PartitionProblem& operator=(PartitionProblem&&) noexcept = default;
  PartitionProblem(const PartitionProblem&) = delete;
  PartitionProblem& operator=(const PartitionProblem&) = delete;

  std::vector<int> members;  // index into History::ops of each search operation
  std::vector<SearchOp> ops;
  std::vector<const Call<M>*> calls;
  std::vector<Call<M>> without_result;  // reserved up front: calls points into it
};

// Builds the problem for the partition made of `members` (history indices in invocation
// order; calls[i] is the decoded call of history operation i, and must outlive the problem).
// With a `cut` (an event position), it is the history as seen at that moment by someone who
// knows which operations fail later: operations invoked after the cut are left out, and
// those that return after it become indeterminate (read-only ones then constrain nothing and
// are left out too). `omit`, a history index, is left out as well.
template <SequentialModel M>
PartitionProblem<M> BuildProblem(const History& history, const std::vector<int>& members,
                                 const std::vector<std::optional<Call<M>>>& calls,
                                 int64_t cut = kNeverReturns, int omit = -1) {
  PartitionProblem<M> problem;
  std::vector<int> indeterminate;
  for (const int i : members) {
    const Operation& op = history.ops[static_cast<size_t>(i)];
    if (i == omit || op.call > cut) continue;
    const bool determinate = op.ret != kNeverReturns && op.ret <= cut;
    if (!determinate && calls[static_cast<size_t>(i)]->read_only) continue;
    (determinate ? problem.members : indeterminate).push_back(i);
  }
  const size_t determinate_count = problem.members.size();
  problem.members.insert(problem.members.end(), indeterminate.begin(), indeterminate.end());
  problem.without_result.reserve(indeterminate.size());
  for (size_t k = 0; k < problem.members.size(); ++k) {
    const int i = problem.members[k];
    const Operation& op = history.ops[static_cast<size_t>(i)];
    const Call<M>& call = *calls[static_cast<size_t>(i)];
    if (k < determinate_count) {
      problem.ops.push_back(SearchOp{op.call, op.ret});
      problem.calls.push_back(&call);
    } else {
      problem.ops.push_back(SearchOp{op.call, kNeverReturns});
      if (call.output.has_value()) {
        problem.without_result.push_back(call);
        problem.without_result.back().output.reset();
        problem.calls.push_back(&problem.without_result.back());
      } else {
        problem.calls.push_back(&call);
      }
    }
  }
  return problem;
}

// Searches `problem`. The answer's operation indices are into problem.members.
template <SequentialModel M>
SearchResult Solve(const M& model, const PartitionProblem<M>& problem, StepBudget& budget) {
  TypedSearchSpace<M> space(model, problem.calls);
  return Search(problem.ops, space, budget);
}

}  // namespace keel::checker
