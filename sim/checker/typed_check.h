// CheckHistory<M>: checks a whole history against a SequentialModel M. Decodes every
// operation, drops :fail ones and unseen reads, splits the rest by the model's partition key
// (P-compositionality), searches each partition in key order with a memo of (linearized set,
// model state), and stops at the first partition that is not linearizable.
//
// A template so that a model's State is a concrete type inside the memo; models.cc
// instantiates it once per registered model, and tests instantiate it for their own models.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "engine/assert.h"
#include "sim/checker/check.h"
#include "sim/checker/explain_failure.h"
#include "sim/checker/history.h"
#include "sim/checker/model.h"
#include "sim/checker/partition_problem.h"
#include "sim/checker/search.h"

namespace keel::checker {

namespace internal {

using PartitionList = std::vector<const std::pair<const std::string, std::vector<int>>*>;

// Reads the partitions' search outcomes in key order, up to and including the first failure;
// entries of `found` after it are never read. Calls options.on_verdict, then explains the
// failure, if any, with a budget of its own (options.explain_max_steps).
template <SequentialModel M>
CheckResult Tally(const M& model, const History& history, const std::vector<std::optional<Call<M>>>& calls,
                  const PartitionList& list, const std::vector<SearchResult>& found,
                  const CheckOptions& options, CheckResult result) {
  size_t failed = list.size();
  for (size_t k = 0; k < list.size() && failed == list.size(); ++k) {
    switch (found[k].verdict) {
      case Verdict::kLinearizable:
        ++result.partitions_checked;
        break;
      case Verdict::kUnknown:
        result.partitions_unknown.push_back(list[k]->first);
        break;
      case Verdict::kNotLinearizable:
        ++result.partitions_checked;
        failed = k;
        break;
    }
  }
  result.verdict = failed < list.size()               ? Verdict::kNotLinearizable
                   : result.partitions_unknown.empty() ? Verdict::kLinearizable
                                                       : Verdict::kUnknown;
  if (options.on_verdict) options.on_verdict();
  if (failed == list.size()) return result;
  CheckOptions explain_options;
  explain_options.max_steps = options.explain_max_steps;
  explain_options.should_stop = options.should_stop;
  StepBudget budget(explain_options);
  const auto& [key, members] = *list[failed];
  result.failure = ExplainFailure(model, history, key, members, calls,
                                  BuildProblem(history, members, calls), found[failed], budget);
  result.explain_steps = budget.steps();
  return result;
}

// Every partition searched as its own task of options.parallel_for; a task stops early only
// when a partition before it in key order has failed.
template <SequentialModel M>
std::vector<SearchResult> SearchInParallel(const M& model, const History& history,
                                           const std::vector<std::optional<Call<M>>>& calls,
                                           const PartitionList& list, const CheckOptions& options,
                                           uint64_t* steps) {
  std::vector<SearchResult> found(list.size());
  std::atomic<size_t> first_failed{list.size()};  // smallest failing partition so far
  std::atomic<uint64_t> total_steps{0};
  options.parallel_for(list.size(), [&](size_t k) {
    CheckOptions local;
    local.should_stop = [&, k] {
      return first_failed.load() < k || (options.should_stop && options.should_stop()) ||
             (options.max_steps != 0 && total_steps.load() >= options.max_steps);
    };
    StepBudget budget(local);
    found[k] = Solve(model, BuildProblem(history, list[k]->second, calls), budget);
    total_steps += budget.steps();
    if (found[k].verdict == Verdict::kNotLinearizable) {
      size_t current = first_failed.load();
      while (k < current && !first_failed.compare_exchange_weak(current, k)) {
      }
    }
  });
  *steps = total_steps.load();
  return found;
}

}  // namespace internal

// Checks `history` against `model`. Errors: the model's Decode rejected an operation (an input
// error, InvalidArgument with the line). Otherwise the verdict is kNotLinearizable as soon as
// one partition is (with `failure` describing it), kUnknown if the budget stopped some
// partition and none failed, else kLinearizable. Deterministic given max_steps; with
// should_stop, only where it stops depends on when it returns true.
//
// `decode(i)` turns history.ops[i] (outcome kOk or kInfo) into the model's call and its
// partition key, as a StatusOr<std::pair<Call<M>, std::string>>: CheckHistory's decodes the
// EDN with model.Decode and model.PartitionKey; a caller that holds the operations' typed
// values (the simulator) decodes nothing.
template <SequentialModel M, typename Decode>
absl::StatusOr<CheckResult> CheckHistoryWith(const M& model, const History& history, const CheckOptions& options,
                                             Decode&& decode) {
  CheckResult result;
  std::vector<std::optional<Call<M>>> calls(history.ops.size());
  // Key order, not hash order: which partition fails first must not depend on the process.
  absl::btree_map<std::string, std::vector<int>> partitions;  // members in invocation order
  for (size_t i = 0; i < history.ops.size(); ++i) {
    const Operation& op = history.ops[i];
    switch (op.outcome) {
      case Outcome::kOk:
        ++result.ops_ok;
        break;
      case Outcome::kFail:
        ++result.ops_fail;
        continue;  // did not happen
      case Outcome::kInfo:
        ++result.ops_info;
        break;
    }
    absl::StatusOr<std::pair<Call<M>, std::string>> decoded = decode(i);
    if (!decoded.ok()) return decoded.status();
    Call<M>& call = decoded->first;
    KEEL_ASSERT_MSG(call.output.has_value() == (op.outcome == Outcome::kOk),
                    "a model's Decode must leave the output unknown exactly for :info");
    if (call.read_only && !call.output.has_value()) {
      ++result.ops_unseen_reads;  // constrains nothing
      continue;
    }
    partitions[std::move(decoded->second)].push_back(static_cast<int>(i));
    calls[i] = std::move(call);
  }
  result.partitions = static_cast<int>(partitions.size());

  internal::PartitionList list;
  for (const auto& entry : partitions) list.push_back(&entry);
  std::vector<SearchResult> found(list.size());
  // In parallel, a step limit could only be approximate (partitions add their steps when they
  // finish): with one, search one partition after another so that it stays exact.
  if (options.parallel_for && options.max_steps == 0 && list.size() > 1) {
    found = internal::SearchInParallel(model, history, calls, list, options, &result.steps);
    return internal::Tally(model, history, calls, list, found, options, std::move(result));
  }
  // One after another with one budget, up to the first failure.
  StepBudget budget(options);
  for (size_t k = 0; k < list.size(); ++k) {
    found[k] = Solve(model, BuildProblem(history, list[k]->second, calls), budget);
    if (found[k].verdict == Verdict::kNotLinearizable) break;
  }
  result.steps = budget.steps();
  return internal::Tally(model, history, calls, list, found, options, std::move(result));
}

// CheckHistoryWith, decoding each operation's EDN with the model.
template <SequentialModel M>
absl::StatusOr<CheckResult> CheckHistory(const M& model, const History& history,
                                         const CheckOptions& options) {
  return CheckHistoryWith(model, history, options,
                          [&](size_t i) -> absl::StatusOr<std::pair<Call<M>, std::string>> {
                            const Operation& op = history.ops[i];
                            absl::StatusOr<Call<M>> call = model.Decode(op);
                            if (!call.ok()) return call.status();
                            return std::pair<Call<M>, std::string>(*std::move(call), model.PartitionKey(op));
                          });
}

}  // namespace keel::checker
