// The checker against an exhaustive reference (brute_force.h) on small random histories of a
// simulated, sometimes wrong system (small_history.h), for every model. Each drawn history is
// checked with all its prefixes, so invocations left without a completion are covered too.
// For a non-linearizable verdict the report's claim is checked as well: the history cut after
// prefix_end_line is not linearizable, and (for an unpartitioned model) one line earlier it is.
#include "gtest/gtest.h"
// clang-format off: rapidcheck's gtest glue needs gtest first.
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
// clang-format on
#include "absl/strings/str_join.h"
#include "sim/checker/kv_model.h"
#include "sim/checker/kvstate_model.h"
#include "sim/checker/register_model.h"
#include "sim/checker/typed_check.h"
#include "tests/checker/brute_force.h"
#include "tests/checker/small_history.h"

namespace keel::checker::testing {
namespace {

History MustParse(const std::vector<std::string>& lines, size_t count) {
  const std::string text =
      absl::StrJoin(lines.begin(), lines.begin() + static_cast<std::ptrdiff_t>(count), "\n");
  absl::StatusOr<History> history = ParseHistory(text);
  RC_ASSERT(history.ok());
  return *history;
}

// The first `count` lines, plus the :fail completions after them: the history cut there by
// someone who knows which operations never happened (what Failure::prefix_end_line promises).
History CutKnowingFailures(const std::vector<std::string>& lines, size_t count) {
  std::vector<std::string> cut(lines.begin(), lines.begin() + static_cast<std::ptrdiff_t>(count));
  for (const Operation& op : MustParse(lines, lines.size()).ops) {
    if (op.outcome == Outcome::kFail && static_cast<size_t>(op.invoke_line) <= count &&
        static_cast<size_t>(op.complete_line) > count) {
      cut.push_back(lines[static_cast<size_t>(op.complete_line - 1)]);
    }
  }
  return MustParse(cut, cut.size());
}

template <SequentialModel M>
void CrossCheck(const M& model, SmallWorkload workload, bool partitioned) {
  const std::vector<std::string> lines = GenSmallHistory(workload);
  RC_LOG() << absl::StrJoin(lines, "\n") << "\n";
  bool full_history_linearizable = true;
  for (size_t count = 0; count <= lines.size(); ++count) {
    const std::vector<std::string> prefix(lines.begin(),
                                          lines.begin() + static_cast<std::ptrdiff_t>(count));
    const History history = MustParse(prefix, count);
    const bool expected = BruteForceLinearizable(model, history);
    absl::StatusOr<CheckResult> result = CheckHistory(model, history, CheckOptions{});
    RC_ASSERT(result.ok());
    RC_ASSERT(result->verdict == (expected ? Verdict::kLinearizable : Verdict::kNotLinearizable));
    RC_ASSERT(result->failure.has_value() == !expected);
    if (count == lines.size()) full_history_linearizable = expected;
    if (expected) continue;

    const Failure& failure = *result->failure;
    const int end = failure.prefix_end_line;
    RC_ASSERT(end >= 1 && static_cast<size_t>(end) <= count);
    RC_ASSERT(!BruteForceLinearizable(model, CutKnowingFailures(prefix, static_cast<size_t>(end))));
    if (!partitioned) {
      RC_ASSERT(
          BruteForceLinearizable(model, CutKnowingFailures(prefix, static_cast<size_t>(end - 1))));
    }
    // The reported linearization replays in the model and leaves out every pending operation.
    // It is a linearization of the prefix: an operation that completes after the prefix was in
    // flight there, so it replays without its result (which may be the impossible one).
    typename M::State state = model.Init();
    for (const int op : failure.linearized) {
      const Operation& operation = history.ops[static_cast<size_t>(op)];
      absl::StatusOr<Call<M>> call = model.Decode(operation);
      RC_ASSERT(call.ok());
      if (operation.complete_line > end) call->output.reset();
      std::optional<typename M::State> next = model.Step(state, call->input, call->output);
      RC_ASSERT(next.has_value());
      state = *next;
    }
    RC_ASSERT(model.Describe(state) == failure.state);
    bool blocked_is_pending = false;
    for (const PendingOp& pending : failure.pending) {
      blocked_is_pending |= pending.op == failure.blocked_op;
    }
    RC_ASSERT(blocked_is_pending);
  }
  RC_TAG(full_history_linearizable ? "linearizable" : "not linearizable");
}

RC_GTEST_PROP(CheckerMatchesBruteForce, Register, ()) {
  CrossCheck(RegisterModel(/*with_cas=*/false), SmallWorkload::kRegister, false);
}

RC_GTEST_PROP(CheckerMatchesBruteForce, CasRegister, ()) {
  CrossCheck(RegisterModel(/*with_cas=*/true), SmallWorkload::kCasRegister, false);
}

// The reference does not split by key, so this also checks that P-compositionality holds for
// the kv model: per-key verdicts combine to the whole history's.
RC_GTEST_PROP(CheckerMatchesBruteForce, Kv, ()) {
  CrossCheck(KvModel(), SmallWorkload::kKv, true);
}

// Up to 5 processes appending and reading: the shape where the search leans on
// KvModel::MayReach and on looking past the urgent operation (search.cc, StuckOperation).
RC_GTEST_PROP(CheckerMatchesBruteForce, KvAppends, ()) {
  CrossCheck(KvModel(), SmallWorkload::kKvAppend, true);
}

RC_GTEST_PROP(CheckerMatchesBruteForce, Pool, ()) {
  CrossCheck(KvstateModel(KvstateModel::Objects::kPools), SmallWorkload::kPool, false);
}

RC_GTEST_PROP(CheckerMatchesBruteForce, Lb, ()) {
  CrossCheck(KvstateModel(KvstateModel::Objects::kLoadBalancers), SmallWorkload::kLb, false);
}

// Two KV keys of one block and a pool: two partitions.
RC_GTEST_PROP(CheckerMatchesBruteForce, Kvstate, ()) {
  CrossCheck(KvstateModel(KvstateModel::Objects::kAll), SmallWorkload::kKvstate, true);
}

// The KV partition learns versions from results instead of knowing log indexes; a system that
// always tells the truth must still pass (the abstraction never rejects a linearizable
// history), whatever it lost or refused.
RC_GTEST_PROP(KvstateModelIsSound, TruthfulHistoriesPass, ()) {
  const SmallWorkload workload =
      *rc::gen::elementOf(std::vector<SmallWorkload>{SmallWorkload::kPool, SmallWorkload::kLb, SmallWorkload::kKvstate});
  const std::vector<std::string> lines = GenSmallHistory(workload, /*corrupt=*/false);
  RC_LOG() << absl::StrJoin(lines, "\n") << "\n";
  const KvstateModel model(KvstateModel::Objects::kAll);
  absl::StatusOr<CheckResult> result = CheckHistory(model, MustParse(lines, lines.size()), CheckOptions{});
  RC_ASSERT(result.ok());
  RC_ASSERT(result->verdict == Verdict::kLinearizable);
}

}  // namespace
}  // namespace keel::checker::testing
