// kv: hand-written histories with known verdicts, splitting by key, the failure report, and
// the model's input errors.
#include "sim/checker/kv_model.h"
#include "gtest/gtest.h"
#include "sim/checker/typed_check.h"

namespace keel::checker {
namespace {

absl::StatusOr<CheckResult> Check(absl::string_view text) {
  absl::StatusOr<History> history = ParseHistory(text);
  if (!history.ok()) return history.status();
  return CheckHistory(KvModel(), *history, CheckOptions{});
}

Verdict VerdictOf(absl::string_view text) {
  absl::StatusOr<CheckResult> result = Check(text);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? result->verdict : Verdict::kUnknown;
}

std::string ErrorOf(absl::string_view text) {
  absl::StatusOr<CheckResult> result = Check(text);
  EXPECT_FALSE(result.ok());
  return result.ok() ? "" : std::string(result.status().message());
}

constexpr Verdict kYes = Verdict::kLinearizable;
constexpr Verdict kNo = Verdict::kNotLinearizable;

TEST(KvModel, KeysStartEmptyAndAppendConcatenates) {
  EXPECT_EQ(VerdictOf("{:process 0, :type :invoke, :f :get, :key \"k\", :value nil}\n"
                      "{:process 0, :type :ok, :f :get, :key \"k\", :value \"\"}\n"
                      "{:process 0, :type :invoke, :f :append, :key \"k\", :value \"a\"}\n"
                      "{:process 0, :type :ok, :f :append, :key \"k\", :value \"a\"}\n"
                      "{:process 1, :type :invoke, :f :append, :key \"k\", :value \"b\"}\n"
                      "{:process 1, :type :ok, :f :append, :key \"k\", :value \"b\"}\n"
                      "{:process 0, :type :invoke, :f :get, :key \"k\", :value nil}\n"
                      "{:process 0, :type :ok, :f :get, :key \"k\", :value \"ab\"}\n"
                      "{:process 0, :type :invoke, :f :put, :key \"k\", :value \"\"}\n"
                      "{:process 0, :type :ok, :f :put, :key \"k\", :value \"\"}\n"
                      "{:process 0, :type :invoke, :f :get, :key \"k\", :value nil}\n"
                      "{:process 0, :type :ok, :f :get, :key \"k\", :value \"\"}\n"),
            kYes);
}

TEST(KvModel, ConcurrentAppendsInEitherOrderButNotBoth) {
  const std::string appends =
      "{:process 0, :type :invoke, :f :append, :key 1, :value \"a\"}\n"
      "{:process 1, :type :invoke, :f :append, :key 1, :value \"b\"}\n"
      "{:process 0, :type :ok, :f :append, :key 1, :value \"a\"}\n"
      "{:process 1, :type :ok, :f :append, :key 1, :value \"b\"}\n";
  auto then_get = [](absl::string_view seen, int process) {
    return "{:process " + std::to_string(process) + ", :type :invoke, :f :get, :key 1}\n" +
           "{:process " + std::to_string(process) + ", :type :ok, :f :get, :key 1, :value \"" +
           std::string(seen) + "\"}\n";
  };
  EXPECT_EQ(VerdictOf(appends + then_get("ab", 2)), kYes);
  EXPECT_EQ(VerdictOf(appends + then_get("ba", 2)), kYes);
  EXPECT_EQ(VerdictOf(appends + then_get("ab", 2) + then_get("ba", 3)), kNo);
  EXPECT_EQ(VerdictOf(appends + then_get("a", 2)), kNo);
}

TEST(KvModel, KeysAreIndependent) {
  // A put to "x" says nothing about "y" (and the integer key 1 is not the string "1").
  EXPECT_EQ(VerdictOf("{:process 0, :type :invoke, :f :put, :key \"x\", :value \"v\"}\n"
                      "{:process 0, :type :ok, :f :put, :key \"x\", :value \"v\"}\n"
                      "{:process 0, :type :invoke, :f :put, :key 1, :value \"w\"}\n"
                      "{:process 0, :type :ok, :f :put, :key 1, :value \"w\"}\n"
                      "{:process 1, :type :invoke, :f :get, :key \"y\", :value nil}\n"
                      "{:process 1, :type :ok, :f :get, :key \"y\", :value \"\"}\n"
                      "{:process 1, :type :invoke, :f :get, :key \"1\", :value nil}\n"
                      "{:process 1, :type :ok, :f :get, :key \"1\", :value \"\"}\n"),
            kYes);
}

TEST(KvModel, ReportNamesTheKeyAndStopsAtTheFirstFailingKey) {
  absl::StatusOr<CheckResult> result = Check(
      // Key "b" fails at line 4 ...
      "{:process 0, :type :invoke, :f :put, :key \"b\", :value \"1\"}\n"
      "{:process 0, :type :ok, :f :put, :key \"b\", :value \"1\"}\n"
      "{:process 1, :type :invoke, :f :get, :key \"b\", :value nil}\n"
      "{:process 1, :type :ok, :f :get, :key \"b\", :value \"\"}\n"
      // ... key "a" later, at line 8; keys are searched in order, so "a" is reported.
      "{:process 0, :type :invoke, :f :append, :key \"a\", :value \"x\"}\n"
      "{:process 0, :type :ok, :f :append, :key \"a\", :value \"x\"}\n"
      "{:process 1, :type :invoke, :f :get, :key \"a\", :value nil}\n"
      "{:process 1, :type :ok, :f :get, :key \"a\", :value \"xx\"}\n"
      "{:process 2, :type :invoke, :f :get, :key \"c\", :value nil}\n"
      "{:process 2, :type :ok, :f :get, :key \"c\", :value \"\"}\n");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->verdict, kNo);
  EXPECT_EQ(result->partitions, 3);
  EXPECT_EQ(result->partitions_checked, 1);
  ASSERT_TRUE(result->failure.has_value());
  const Failure& failure = *result->failure;
  EXPECT_EQ(failure.partition, "\"a\"");
  EXPECT_EQ(failure.partition_ops, 2);
  EXPECT_EQ(failure.blocked_op, 3);
  EXPECT_EQ(failure.prefix_end_line, 8);
  EXPECT_EQ(failure.linearized, std::vector<int>{2});
  EXPECT_EQ(failure.state, "{\"a\" \"x\"}");
  ASSERT_EQ(failure.pending.size(), 1u);
  EXPECT_EQ(failure.pending[0].op, 3);
  EXPECT_EQ(failure.pending[0].reason,
            "completes before any linearization can place it; the model rejects it in this state");
}

TEST(KvModel, LostAppendMayLandLate) {
  const std::string lost =
      "{:process 0, :type :invoke, :f :append, :key \"k\", :value \"a\"}\n"
      "{:process 0, :type :info, :f :append, :key \"k\", :value \"a\"}\n"
      "{:process 2, :type :invoke, :f :append, :key \"k\", :value \"b\"}\n"
      "{:process 2, :type :ok, :f :append, :key \"k\", :value \"b\"}\n"
      "{:process 1, :type :invoke, :f :get, :key \"k\", :value nil}\n";
  EXPECT_EQ(VerdictOf(lost + "{:process 1, :type :ok, :f :get, :key \"k\", :value \"ab\"}\n"),
            kYes);
  EXPECT_EQ(VerdictOf(lost + "{:process 1, :type :ok, :f :get, :key \"k\", :value \"ba\"}\n"),
            kYes);
  EXPECT_EQ(VerdictOf(lost + "{:process 1, :type :ok, :f :get, :key \"k\", :value \"b\"}\n"), kYes);
  EXPECT_EQ(VerdictOf(lost + "{:process 1, :type :ok, :f :get, :key \"k\", :value \"aba\"}\n"),
            kNo);
}

TEST(KvModel, InputErrorsNameTheLine) {
  EXPECT_EQ(ErrorOf("{:process 0, :type :invoke, :f :get, :value nil}\n"),
            "line 1: kv :get needs a :key");
  EXPECT_EQ(ErrorOf("{:process 0, :type :invoke, :f :put, :key [1], :value \"v\"}\n"),
            "line 1: kv :key must be a string, integer or keyword, not [1]");
  EXPECT_EQ(ErrorOf("{:process 0, :type :invoke, :f :put, :key \"k\", :value 3}\n"),
            "line 1: kv :put needs a string :value, not 3");
  EXPECT_EQ(ErrorOf("{:process 0, :type :invoke, :f :get, :key \"k\", :value nil}\n"
                    "{:process 0, :type :ok, :f :get, :key \"k\", :value nil}\n"),
            "line 2: kv :get's :ok :value must be a string (every key starts as \"\"), not nil");
  EXPECT_EQ(ErrorOf("{:process 0, :type :invoke, :f :read, :key \"k\", :value nil}\n"),
            "line 1: model kv has no operation :read (it has :get, :put, :append)");
}

TEST(KvModel, StatesAreCanonical) {
  const KvModel model;
  KvModel::State a = model.Init();
  a = *model.Step(a, {KvModel::Input::Kind::kPut, "\"k\"", "v"}, std::string());
  a = *model.Step(a, {KvModel::Input::Kind::kPut, "\"k\"", ""}, std::string());
  EXPECT_EQ(a, model.Init());  // "" and absent are one state
  EXPECT_EQ(model.Hash(a), model.Hash(model.Init()));
  KvModel::State b =
      *model.Step(model.Init(), {KvModel::Input::Kind::kAppend, "\"y\"", "1"}, std::string());
  b = *model.Step(b, {KvModel::Input::Kind::kAppend, "\"x\"", "2"}, std::string());
  KvModel::State c =
      *model.Step(model.Init(), {KvModel::Input::Kind::kPut, "\"x\"", "2"}, std::string());
  c = *model.Step(c, {KvModel::Input::Kind::kPut, "\"y\"", "1"}, std::string());
  EXPECT_EQ(b, c);
  EXPECT_EQ(model.Hash(b), model.Hash(c));
  EXPECT_EQ(model.Describe(b), "{\"x\" \"2\", \"y\" \"1\"}");
}

}  // namespace
}  // namespace keel::checker
