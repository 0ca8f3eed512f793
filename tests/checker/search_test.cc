// The search machinery: the linearized set's canonical form, the step budget ("unknown"),
// determinism, and the cost on the benchmark shapes, measured in search steps so that the
// assertions do not depend on the machine.
#include <algorithm>
#include <set>

#include "gtest/gtest.h"
// clang-format off: rapidcheck's gtest glue needs gtest first.
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
// clang-format on
#include "sim/checker/history_gen.h"
#include "sim/checker/kv_model.h"
#include "sim/checker/linearized_set.h"
#include "sim/checker/register_model.h"
#include "sim/checker/report.h"
#include "sim/checker/typed_check.h"

namespace keel::checker {
namespace {

// Random inserts and erases: two sets have equal canonical parts (and hashes) iff they hold
// the same operations, whatever the path that built them, and IsSubset is inclusion.
RC_GTEST_PROP(LinearizedSet, PartsAreCanonical, ()) {
  const int size = *rc::gen::inRange(1, 300);
  const int determinate = *rc::gen::inRange(0, size + 1);
  LinearizedSet a(size, determinate), b(size, determinate);
  std::set<int> model_a, model_b;
  const int steps = *rc::gen::inRange(0, 400);
  for (int i = 0; i < steps; ++i) {
    const bool on_a = *rc::gen::arbitrary<bool>();
    // Mostly low indices, as in a search that fills the set from the front.
    const int op = std::min(size - 1, *rc::gen::inRange(0, size) / *rc::gen::inRange(1, 4));
    LinearizedSet& set = on_a ? a : b;
    std::set<int>& model = on_a ? model_a : model_b;
    if (model.count(op) != 0) {
      set.Erase(op);
      model.erase(op);
    } else {
      set.Insert(op);
      model.insert(op);
    }
    RC_ASSERT(set.Contains(op) == (model.count(op) != 0));
    std::set<int> det_a, det_b, ind_a, ind_b;
    for (const int x : model_a) (x < determinate ? det_a : ind_a).insert(x);
    for (const int x : model_b) (x < determinate ? det_b : ind_b).insert(x);
    RC_ASSERT((a.DeterminatePart() == b.DeterminatePart()) == (det_a == det_b));
    if (det_a == det_b) RC_ASSERT(a.determinate_hash() == b.determinate_hash());
    RC_ASSERT((a.IndeterminatePart() == b.IndeterminatePart()) == (ind_a == ind_b));
    const bool a_in_b = std::includes(ind_b.begin(), ind_b.end(), ind_a.begin(), ind_a.end());
    RC_ASSERT(LinearizedSet::IsSubset(a.IndeterminatePart(), b.IndeterminatePart()) == a_in_b);
  }
  // Fill both completely: the determinate parts shrink to a count of full words.
  for (int op = 0; op < size; ++op) {
    if (!a.Contains(op)) a.Insert(op);
    if (!b.Contains(op)) b.Insert(op);
  }
  RC_ASSERT(a.DeterminatePart() == b.DeterminatePart());
  RC_ASSERT(a.DeterminatePart().tail.empty());
}

TEST(LinearizedSet, DeterminatePartIsSmallBehindTheFrontier) {
  LinearizedSet set(100000, 100000);
  for (int op = 0; op < 64000; ++op) set.Insert(op);
  set.Insert(64100);
  const LinearizedSet::Determinate part = set.DeterminatePart();
  EXPECT_EQ(part.full_words, 1000u);
  EXPECT_EQ(part.tail.size(), 2u);
}

History MustParse(const std::string& text) {
  absl::StatusOr<History> history = ParseHistory(text);
  KEEL_ASSERT(history.ok());
  return *history;
}

History Generated(GeneratorOptions::Workload workload, int operations, int clients, int keys,
                  uint64_t seed, double info_rate = 0) {
  GeneratorOptions options;
  options.workload = workload;
  options.operations = operations;
  options.clients = clients;
  options.keys = keys;
  options.seed = seed;
  options.info_rate = info_rate;
  return MustParse(GenerateHistory(options));
}

TEST(StepBudget, MaxStepsAnswersUnknown) {
  const History history = Generated(GeneratorOptions::Workload::kKv, 2000, 5, 20, 3);
  CheckOptions options;
  options.max_steps = 500;
  absl::StatusOr<CheckResult> result = CheckHistory(KvModel(), history, options);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->verdict, Verdict::kUnknown);
  EXPECT_EQ(result->steps, 500u);
  EXPECT_GT(result->partitions_checked, 0);
  EXPECT_EQ(result->partitions_checked + static_cast<int>(result->partitions_unknown.size()),
            result->partitions);
  EXPECT_FALSE(result->failure.has_value());
}

TEST(StepBudget, DeadlineCallbackAnswersUnknown) {
  const History history = Generated(GeneratorOptions::Workload::kRegister, 20000, 10, 1, 4);
  int polls = 0;
  CheckOptions options;
  options.should_stop = [&polls] { return ++polls >= 2; };
  absl::StatusOr<CheckResult> result = CheckHistory(RegisterModel(false), history, options);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->verdict, Verdict::kUnknown);
  EXPECT_EQ(polls, 2);
  EXPECT_EQ(result->partitions_unknown, std::vector<std::string>{""});
}

TEST(StepBudget, IsSharedByAllPartitions) {
  // Key "a" needs 100 steps, key "b" fails in its first.
  std::string text;
  for (int i = 0; i < 50; ++i) {
    text +=
        "{:process 0, :type :invoke, :f :append, :key \"a\", :value \"x\"}\n"
        "{:process 0, :type :ok, :f :append, :key \"a\", :value \"x\"}\n";
  }
  text +=
      "{:process 1, :type :invoke, :f :get, :key \"b\", :value nil}\n"
      "{:process 1, :type :ok, :f :get, :key \"b\", :value \"zz\"}\n";
  CheckOptions options;
  options.max_steps = 10;
  absl::StatusOr<CheckResult> result = CheckHistory(KvModel(), MustParse(text), options);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->verdict, Verdict::kUnknown);  // "a" spent it all: "b" got no step
  EXPECT_EQ(result->partitions_unknown, (std::vector<std::string>{"\"a\"", "\"b\""}));
  options.max_steps = 0;
  result = CheckHistory(KvModel(), MustParse(text), options);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(result->failure->partition, "\"b\"");
}

TEST(Determinism, SameHistorySameReport) {
  GeneratorOptions options;
  options.workload = GeneratorOptions::Workload::kKv;
  options.operations = 3000;
  options.clients = 6;
  options.keys = 30;
  options.seed = 11;
  options.info_rate = 0.05;
  options.stale_read_rate = 0.01;
  const std::string text = GenerateHistory(options);
  EXPECT_EQ(text, GenerateHistory(options));
  const History history = MustParse(text);
  ReportContext context;
  context.model = "kv";
  context.input = "h.edn";
  absl::StatusOr<CheckResult> first = CheckHistory(KvModel(), history, CheckOptions{});
  absl::StatusOr<CheckResult> second = CheckHistory(KvModel(), history, CheckOptions{});
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(RenderJson(history, *first, context), RenderJson(history, *second, context));
  EXPECT_EQ(RenderText(history, *first, context), RenderText(history, *second, context));
}

// The benchmark shapes, in steps: a correct history needs about one step per operation plus a
// little backtracking; far more would mean the memo or the search order regressed.
TEST(SearchCost, KvHistoryIsNearlyLinear) {
  const History history = Generated(GeneratorOptions::Workload::kKv, 20000, 10, 200, 5, 0.01);
  absl::StatusOr<CheckResult> result = CheckHistory(KvModel(), history, CheckOptions{});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->verdict, Verdict::kLinearizable);
  EXPECT_EQ(result->partitions, 200);
  EXPECT_LT(result->steps, 3u * 20000u);
}

TEST(SearchCost, ConcurrentRegisterIsCheap) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const History history =
        Generated(GeneratorOptions::Workload::kCasRegister, 200, 20, 1, seed, 0.05);
    absl::StatusOr<CheckResult> result = CheckHistory(RegisterModel(true), history, CheckOptions{});
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result->verdict, Verdict::kLinearizable) << seed;
    EXPECT_LT(result->steps, 50000u) << seed;
  }
}

}  // namespace
}  // namespace keel::checker
