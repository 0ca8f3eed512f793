// register and cas-register: hand-written histories with known verdicts, the semantics of
// :info and :fail, and the model's input errors.
#include "gtest/gtest.h"
#include "sim/checker/models.h"

namespace keel::checker {
namespace {

absl::StatusOr<CheckResult> Check(absl::string_view model, absl::string_view text) {
  absl::StatusOr<History> history = ParseHistory(text);
  if (!history.ok()) return history.status();
  const ModelInfo* info = FindModel(model);
  EXPECT_NE(info, nullptr) << model;
  return info->check(*history, CheckOptions{});
}

Verdict VerdictOf(absl::string_view model, absl::string_view text) {
  absl::StatusOr<CheckResult> result = Check(model, text);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? result->verdict : Verdict::kUnknown;
}

std::string ErrorOf(absl::string_view model, absl::string_view text) {
  absl::StatusOr<CheckResult> result = Check(model, text);
  EXPECT_FALSE(result.ok());
  return result.ok() ? "" : std::string(result.status().message());
}

constexpr Verdict kYes = Verdict::kLinearizable;
constexpr Verdict kNo = Verdict::kNotLinearizable;

TEST(RegisterModel, SequentialReadsSeeTheLastWrite) {
  EXPECT_EQ(VerdictOf("register",
                      "{:process 0, :type :invoke, :f :read, :value nil}\n"
                      "{:process 0, :type :ok, :f :read, :value nil}\n"
                      "{:process 0, :type :invoke, :f :write, :value 1}\n"
                      "{:process 0, :type :ok, :f :write, :value 1}\n"
                      "{:process 1, :type :invoke, :f :read, :value nil}\n"
                      "{:process 1, :type :ok, :f :read, :value 1}\n"),
            kYes);
  EXPECT_EQ(VerdictOf("register",
                      "{:process 0, :type :invoke, :f :write, :value 1}\n"
                      "{:process 0, :type :ok, :f :write, :value 1}\n"
                      "{:process 1, :type :invoke, :f :read, :value nil}\n"
                      "{:process 1, :type :ok, :f :read, :value nil}\n"),
            kNo);
}

TEST(RegisterModel, ConcurrentReadMaySeeEitherValue) {
  const std::string prefix =
      "{:process 0, :type :invoke, :f :write, :value 1}\n"
      "{:process 0, :type :ok, :f :write, :value 1}\n"
      "{:process 0, :type :invoke, :f :write, :value 2}\n"
      "{:process 1, :type :invoke, :f :read, :value nil}\n";
  for (const int seen : {1, 2}) {
    EXPECT_EQ(VerdictOf("register", prefix + "{:process 1, :type :ok, :f :read, :value " +
                                        std::to_string(seen) + "}\n" +
                                        "{:process 0, :type :ok, :f :write, :value 2}\n"),
              kYes)
        << seen;
  }
  EXPECT_EQ(VerdictOf("register", prefix + "{:process 1, :type :ok, :f :read, :value 3}\n"
                                           "{:process 0, :type :ok, :f :write, :value 2}\n"),
            kNo);
}

// Two reads that each overlap the write but not each other: once the first read saw the new
// value, the later read may not see the old one (the classic "new-old inversion").
TEST(RegisterModel, NewOldInversionIsNotLinearizable) {
  EXPECT_EQ(VerdictOf("register",
                      "{:process 0, :type :invoke, :f :write, :value 1}\n"
                      "{:process 1, :type :invoke, :f :read, :value nil}\n"
                      "{:process 1, :type :ok, :f :read, :value 1}\n"
                      "{:process 2, :type :invoke, :f :read, :value nil}\n"
                      "{:process 2, :type :ok, :f :read, :value nil}\n"
                      "{:process 0, :type :ok, :f :write, :value 1}\n"),
            kNo);
}

TEST(RegisterModel, InfoWriteMayTakeEffectLateOrNever) {
  const std::string lost_write =
      "{:process 0, :type :invoke, :f :write, :value 1}\n"
      "{:process 0, :type :info, :f :write, :value 1}\n";
  // Never happened.
  EXPECT_EQ(VerdictOf("register", lost_write + "{:process 1, :type :invoke, :f :read, :value nil}\n"
                                               "{:process 1, :type :ok, :f :read, :value nil}\n"),
            kYes);
  // Happened long after its :info, between two reads.
  EXPECT_EQ(VerdictOf("register", lost_write + "{:process 1, :type :invoke, :f :read, :value nil}\n"
                                               "{:process 1, :type :ok, :f :read, :value nil}\n"
                                               "{:process 1, :type :invoke, :f :read, :value nil}\n"
                                               "{:process 1, :type :ok, :f :read, :value 1}\n"),
            kYes);
  // But once, and not before it was invoked.
  EXPECT_EQ(VerdictOf("register", lost_write + "{:process 1, :type :invoke, :f :read, :value nil}\n"
                                               "{:process 1, :type :ok, :f :read, :value 1}\n"
                                               "{:process 1, :type :invoke, :f :write, :value 2}\n"
                                               "{:process 1, :type :ok, :f :write, :value 2}\n"
                                               "{:process 1, :type :invoke, :f :read, :value nil}\n"
                                               "{:process 1, :type :ok, :f :read, :value 1}\n"),
            kNo);
  EXPECT_EQ(VerdictOf("register",
                      "{:process 1, :type :invoke, :f :read, :value nil}\n"
                      "{:process 1, :type :ok, :f :read, :value 1}\n" +
                          lost_write),
            kNo);
}

TEST(RegisterModel, UncompletedInvocationIsIndeterminate) {
  EXPECT_EQ(VerdictOf("register",
                      "{:process 0, :type :invoke, :f :write, :value 5}\n"
                      "{:process 1, :type :invoke, :f :read, :value nil}\n"
                      "{:process 1, :type :ok, :f :read, :value 5}\n"),
            kYes);
}

TEST(RegisterModel, FailedWriteDidNotHappen) {
  EXPECT_EQ(VerdictOf("register",
                      "{:process 0, :type :invoke, :f :write, :value 1}\n"
                      "{:process 0, :type :fail, :f :write, :value 1}\n"
                      "{:process 1, :type :invoke, :f :read, :value nil}\n"
                      "{:process 1, :type :ok, :f :read, :value 1}\n"),
            kNo);
}

TEST(CasRegisterModel, CasSucceedsOnlyFromTheExpectedValue) {
  const std::string written =
      "{:process 0, :type :invoke, :f :write, :value 3}\n"
      "{:process 0, :type :ok, :f :write, :value 3}\n";
  EXPECT_EQ(
      VerdictOf("cas-register", written + "{:process 1, :type :invoke, :f :cas, :value [3 0]}\n"
                                          "{:process 1, :type :ok, :f :cas, :value [3 0]}\n"
                                          "{:process 2, :type :invoke, :f :read, :value nil}\n"
                                          "{:process 2, :type :ok, :f :read, :value 0}\n"),
      kYes);
  EXPECT_EQ(
      VerdictOf("cas-register", written + "{:process 1, :type :invoke, :f :cas, :value [4 0]}\n"
                                          "{:process 1, :type :ok, :f :cas, :value [4 0]}\n"),
      kNo);
  // A failed cas is dropped: it constrains nothing, even if its old value matched.
  EXPECT_EQ(
      VerdictOf("cas-register", written + "{:process 1, :type :invoke, :f :cas, :value [3 0]}\n"
                                          "{:process 1, :type :fail, :f :cas, :value [3 0]}\n"
                                          "{:process 2, :type :invoke, :f :read, :value nil}\n"
                                          "{:process 2, :type :ok, :f :read, :value 3}\n"),
      kYes);
  // From nil.
  EXPECT_EQ(VerdictOf("cas-register",
                      "{:process 1, :type :invoke, :f :cas, :value [nil 7]}\n"
                      "{:process 1, :type :ok, :f :cas, :value [nil 7]}\n"),
            kYes);
}

TEST(CasRegisterModel, TwoConcurrentCasFromTheSameValueCannotBothSucceed) {
  EXPECT_EQ(VerdictOf("cas-register",
                      "{:process 0, :type :invoke, :f :write, :value 1}\n"
                      "{:process 0, :type :ok, :f :write, :value 1}\n"
                      "{:process 1, :type :invoke, :f :cas, :value [1 2]}\n"
                      "{:process 2, :type :invoke, :f :cas, :value [1 3]}\n"
                      "{:process 1, :type :ok, :f :cas, :value [1 2]}\n"
                      "{:process 2, :type :ok, :f :cas, :value [1 3]}\n"),
            kNo);
}

TEST(CasRegisterModel, InfoCasMayHaveHappened) {
  const std::string text =
      "{:process 0, :type :invoke, :f :write, :value 1}\n"
      "{:process 0, :type :ok, :f :write, :value 1}\n"
      "{:process 1, :type :invoke, :f :cas, :value [1 2]}\n"
      "{:process 1, :type :info, :f :cas, :value [1 2]}\n"
      "{:process 2, :type :invoke, :f :read, :value nil}\n"
      "{:process 2, :type :ok, :f :read, :value ";
  EXPECT_EQ(VerdictOf("cas-register", text + "2}\n"), kYes);
  EXPECT_EQ(VerdictOf("cas-register", text + "1}\n"), kYes);
  EXPECT_EQ(VerdictOf("cas-register", text + "3}\n"), kNo);
}

TEST(RegisterModel, UnseenReadsAreDropped) {
  absl::StatusOr<CheckResult> result = Check("register",
                                             "{:process 0, :type :invoke, :f :read, :value nil}\n"
                                             "{:process 0, :type :info, :f :read, :value nil}\n"
                                             "{:process 1, :type :invoke, :f :read, :value nil}\n");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->verdict, kYes);
  EXPECT_EQ(result->ops_info, 2);
  EXPECT_EQ(result->ops_unseen_reads, 2);
}

TEST(RegisterModel, InputErrorsNameTheLine) {
  EXPECT_EQ(ErrorOf("register",
                    "{:process 0, :type :invoke, :f :write, :value 1}\n"
                    "{:process 0, :type :ok, :f :write, :value 1}\n"
                    "{:process 0, :type :invoke, :f :cas, :value [1 2]}\n"),
            "line 3: model register has no operation :cas (it has :read, :write; :cas needs "
            "--model cas-register)");
  EXPECT_EQ(ErrorOf("cas-register", "{:process 0, :type :invoke, :f :incr, :value 1}\n"),
            "line 1: model cas-register has no operation :incr (it has :read, :write, :cas)");
  EXPECT_EQ(ErrorOf("register", "{:process 0, :type :invoke, :f :write, :value \"x\"}\n"),
            "line 1: :write needs an integer :value, not \"x\"");
  EXPECT_EQ(ErrorOf("register",
                    "{:process 0, :type :invoke, :f :read, :value nil}\n"
                    "\n"
                    "{:process 0, :type :ok, :f :read, :value [1]}\n"),
            "line 3: :read's result: register values are integers or nil, not [1]");
  EXPECT_EQ(ErrorOf("cas-register", "{:process 0, :type :invoke, :f :cas, :value [1]}\n"),
            "line 1: :cas needs :value [old new] with an integer new value (old may be nil), "
            "not [1]");
  EXPECT_EQ(ErrorOf("cas-register", "{:process 0, :type :invoke, :f :cas, :value [:a 1]}\n"),
            "line 1: :cas's old value: register values are integers or nil, not :a");
}

}  // namespace
}  // namespace keel::checker
