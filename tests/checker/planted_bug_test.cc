// A checker that cannot fail proves nothing. These tests plant bugs and require that they be
// seen: a model step that accepts stale reads makes a known non-linearizable history pass and
// disagrees with the brute-force reference (so the cross-check would catch such a bug); and a
// simulated system that serves stale reads produces histories the checker rejects.
#include "engine/prng.h"
#include "gtest/gtest.h"
#include "sim/checker/history_gen.h"
#include "sim/checker/kv_model.h"
#include "sim/checker/register_model.h"
#include "sim/checker/typed_check.h"
#include "tests/checker/brute_force.h"

namespace keel::checker {
namespace {

// RegisterModel with a planted bug: a read may also return the value before the latest write.
class StaleReadRegisterModel {
 public:
  struct State {
    RegisterModel::Value current, previous;
    friend bool operator==(const State&, const State&) = default;
  };
  using Input = RegisterModel::Input;
  using Output = RegisterModel::Output;

  State Init() const { return {}; }
  absl::StatusOr<Call<StaleReadRegisterModel>> Decode(const Operation& op) const {
    absl::StatusOr<Call<RegisterModel>> call = correct_.Decode(op);
    if (!call.ok()) return call.status();
    return Call<StaleReadRegisterModel>{call->input, call->output, call->read_only};
  }
  std::string PartitionKey(const Operation&) const { return ""; }
  std::optional<State> Step(const State& state, const Input& input,
                            const std::optional<Output>& output) const {
    if (input.kind == Input::Kind::kRead) {
      if (output.has_value() && *output != state.current && *output != state.previous) {
        return std::nullopt;
      }
      return state;
    }
    std::optional<RegisterModel::State> next = correct_.Step(state.current, input, output);
    if (!next.has_value()) return std::nullopt;
    return State{*next, state.current};
  }
  uint64_t Hash(const State& state) const {
    return HashMix(correct_.Hash(state.current), correct_.Hash(state.previous));
  }
  std::string Describe(const State& state) const { return correct_.Describe(state.current); }

 private:
  RegisterModel correct_{/*with_cas=*/true};
};

History MustParse(absl::string_view text) {
  absl::StatusOr<History> history = ParseHistory(text);
  KEEL_ASSERT(history.ok());
  return *history;
}

template <SequentialModel M>
Verdict VerdictOf(const M& model, const History& history) {
  absl::StatusOr<CheckResult> result = CheckHistory(model, history, CheckOptions{});
  KEEL_ASSERT(result.ok());
  return result->verdict;
}

TEST(PlantedModelBug, StaleReadModelPassesAKnownBadHistory) {
  const History stale = MustParse(
      "{:process 0, :type :invoke, :f :write, :value 1}\n"
      "{:process 0, :type :ok, :f :write, :value 1}\n"
      "{:process 0, :type :invoke, :f :write, :value 2}\n"
      "{:process 0, :type :ok, :f :write, :value 2}\n"
      "{:process 1, :type :invoke, :f :read, :value nil}\n"
      "{:process 1, :type :ok, :f :read, :value 1}\n");
  EXPECT_EQ(VerdictOf(RegisterModel(true), stale), Verdict::kNotLinearizable);
  EXPECT_EQ(VerdictOf(StaleReadRegisterModel(), stale), Verdict::kLinearizable);
}

// The cross-check's sensitivity: on small generated histories (with stale reads planted in
// the system, so that some are wrong), the checker running the buggy model disagrees with the
// reference running the correct one. If the checker's verdicts did not depend on the model
// step, or the histories never exercised stale reads, this would find no disagreement.
TEST(PlantedModelBug, CrossCheckAgainstBruteForceCatchesIt) {
  int disagreements = 0;
  int histories = 0;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    GeneratorOptions options;
    options.workload = GeneratorOptions::Workload::kCasRegister;
    options.operations = 6;
    options.clients = 2;
    options.values = 3;
    options.seed = seed;
    options.info_rate = 0.1;
    options.stale_read_rate = 0.3;
    const History history = MustParse(GenerateHistory(options));
    const bool reference = testing::BruteForceLinearizable(RegisterModel(true), history);
    const Verdict correct = VerdictOf(RegisterModel(true), history);
    const Verdict buggy = VerdictOf(StaleReadRegisterModel(), history);
    ASSERT_EQ(correct == Verdict::kLinearizable, reference) << "seed " << seed;
    disagreements += (buggy == Verdict::kLinearizable) != reference;
    ++histories;
  }
  EXPECT_GE(disagreements, 10) << "of " << histories;
}

// A simulated system that serves stale reads: the checker rejects its histories, and accepts
// the same workload without the bug (with lost acknowledgements and refused writes).
TEST(PlantedSystemBug, StaleReadsAreCaught) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    for (const auto workload :
         {GeneratorOptions::Workload::kKv, GeneratorOptions::Workload::kCasRegister}) {
      GeneratorOptions options;
      options.workload = workload;
      options.operations = 2000;
      options.clients = 5;
      options.keys = 10;
      options.seed = seed;
      options.info_rate = 0.02;
      options.fail_rate = 0.02;
      const History correct = MustParse(GenerateHistory(options));
      options.stale_read_rate = 0.01;
      const History stale = MustParse(GenerateHistory(options));
      if (workload == GeneratorOptions::Workload::kKv) {
        EXPECT_EQ(VerdictOf(KvModel(), correct), Verdict::kLinearizable) << seed;
        EXPECT_EQ(VerdictOf(KvModel(), stale), Verdict::kNotLinearizable) << seed;
      } else {
        EXPECT_EQ(VerdictOf(RegisterModel(true), correct), Verdict::kLinearizable) << seed;
        EXPECT_EQ(VerdictOf(RegisterModel(true), stale), Verdict::kNotLinearizable) << seed;
        // And a model with the same bug accepts what the buggy system does. (Shorter: a model
        // that accepts two values per read prunes far less, so long histories get slow.)
        options.operations = 300;
        options.stale_read_rate = 0.05;
        const History short_stale = MustParse(GenerateHistory(options));
        EXPECT_EQ(VerdictOf(RegisterModel(true), short_stale), Verdict::kNotLinearizable) << seed;
        EXPECT_EQ(VerdictOf(StaleReadRegisterModel(), short_stale), Verdict::kLinearizable) << seed;
      }
    }
  }
}

}  // namespace
}  // namespace keel::checker
