// The kv model's shortcuts for the search (KvModel::Accepts and KvModel::MayReach, model.h)
// against the generic path that only calls Step: the same verdict, the same failing
// partition and the same shortest failing prefix, on small random histories and on
// generated ones with 50 processes' worth of concurrent appends scaled down to what the
// generic path decides in time. The brute-force cross-check (brute_force_test.cc) holds both
// to the exhaustive reference on the small ones.
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
// clang-format off: rapidcheck's gtest glue needs gtest first.
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
// clang-format on
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sim/checker/history_gen.h"
#include "sim/checker/kv_model.h"
#include "sim/checker/typed_check.h"
#include "tests/checker/small_history.h"

namespace keel::checker::testing {
namespace {

// KvModel without its optional shortcuts: the search falls back to stepping states.
class SteppingKvModel {
 public:
  using State = KvModel::State;
  using Input = KvModel::Input;
  using Output = KvModel::Output;

  State Init() const { return model_.Init(); }
  absl::StatusOr<Call<SteppingKvModel>> Decode(const Operation& op) const {
    absl::StatusOr<Call<KvModel>> call = model_.Decode(op);
    if (!call.ok()) return call.status();
    return Call<SteppingKvModel>{call->input, call->output, call->read_only};
  }
  std::string PartitionKey(const Operation& op) const { return model_.PartitionKey(op); }
  std::optional<State> Step(const State& state, const Input& input,
                            const std::optional<Output>& output) const {
    return model_.Step(state, input, output);
  }
  uint64_t Hash(const State& state) const { return model_.Hash(state); }
  std::string Describe(const State& state) const { return model_.Describe(state); }

 private:
  KvModel model_;
};
static_assert(SequentialModel<SteppingKvModel> && !HasAccepts<SteppingKvModel> &&
              !HasMayReach<SteppingKvModel>);

// What must not depend on the path: the verdict and, when it fails, where.
std::string Outcome(const CheckResult& result) {
  std::string out(VerdictName(result.verdict));
  if (result.failure.has_value()) {
    absl::StrAppend(&out, " partition ", result.failure->partition, " prefix-end-line ",
                    result.failure->prefix_end_line, " shortest ",
                    result.failure->prefix_is_shortest, " blocked ", result.failure->blocked_op);
  }
  return out;
}

std::string OutcomeOf(const absl::StatusOr<CheckResult>& result) {
  return result.ok() ? Outcome(*result) : std::string(result.status().message());
}

void CompareOnSmallHistory(SmallWorkload workload) {
  const std::vector<std::string> lines = GenSmallHistory(workload);
  RC_LOG() << absl::StrJoin(lines, "\n") << "\n";
  absl::StatusOr<History> history = ParseHistory(absl::StrJoin(lines, "\n"));
  RC_ASSERT(history.ok());
  const absl::StatusOr<CheckResult> fast = CheckHistory(KvModel(), *history, CheckOptions{});
  const absl::StatusOr<CheckResult> stepping =
      CheckHistory(SteppingKvModel(), *history, CheckOptions{});
  RC_ASSERT(fast.ok() && stepping.ok());
  RC_ASSERT(OutcomeOf(fast) == OutcomeOf(stepping));
  RC_TAG(VerdictName(fast->verdict));
}

RC_GTEST_PROP(KvShortcuts, MatchSteppingOnAppends, ()) {
  CompareOnSmallHistory(SmallWorkload::kKvAppend);
}

RC_GTEST_PROP(KvShortcuts, MatchSteppingOnPutsAndAppends, ()) {
  CompareOnSmallHistory(SmallWorkload::kKv);
}

// Generated histories (keel-check gen-kv), some with one planted anomaly, some with lost
// acknowledgements and refused writes, some with :put among the appends. The generic path is
// slow on appends (what the shortcuts are for), so it gets a step budget; where it runs out,
// there is nothing to compare.
TEST(KvShortcuts, MatchSteppingOnGeneratedHistories) {
  int failing = 0, compared = 0;
  for (uint64_t seed = 1; seed <= 24; ++seed) {
    GeneratorOptions options;
    options.appends_only = seed % 4 != 0;
    options.plant_anomaly = seed % 2 == 0;
    options.operations = 100;
    options.clients = 3 + static_cast<int>(seed % 4);
    options.keys = 1 + static_cast<int>(seed % 3);
    options.seed = seed;
    options.info_rate = seed % 3 == 0 ? 0.05 : 0.0;
    options.fail_rate = seed % 3 == 0 ? 0.05 : 0.0;
    absl::StatusOr<History> history = ParseHistory(GenerateHistory(options));
    ASSERT_TRUE(history.ok()) << history.status();
    CheckOptions check;
    check.max_steps = 20'000;
    check.explain_max_steps = 20'000;
    const absl::StatusOr<CheckResult> fast = CheckHistory(KvModel(), *history, check);
    const absl::StatusOr<CheckResult> stepping = CheckHistory(SteppingKvModel(), *history, check);
    ASSERT_TRUE(fast.ok() && stepping.ok());
    ASSERT_NE(fast->verdict, Verdict::kUnknown) << "seed " << seed;
    failing += fast->verdict == Verdict::kNotLinearizable ? 1 : 0;
    if (stepping->verdict == Verdict::kUnknown) continue;
    ++compared;
    EXPECT_EQ(fast->verdict, stepping->verdict) << "seed " << seed;
    if (fast->failure.has_value() && fast->failure->prefix_is_shortest &&
        stepping->failure->prefix_is_shortest) {
      EXPECT_EQ(OutcomeOf(fast), OutcomeOf(stepping)) << "seed " << seed;
    }
  }
  EXPECT_GE(compared, 20);
  EXPECT_GE(failing, 10);  // the planted anomalies are caught
}

}  // namespace
}  // namespace keel::checker::testing
