// History parsing: pairing invocations with completions, what is skipped, and input errors
// that name the line and the reason.
#include "sim/checker/history.h"
#include "gtest/gtest.h"

namespace keel::checker {
namespace {

std::string ErrorOf(absl::string_view text) {
  absl::StatusOr<History> history = ParseHistory(text);
  EXPECT_FALSE(history.ok());
  return history.ok() ? "" : std::string(history.status().message());
}

TEST(ParseHistory, PairsInvocationsWithCompletions) {
  absl::StatusOr<History> history = ParseHistory(
      "{:process 0, :type :invoke, :f :write, :value 1}\n"
      "{:process 1, :type :invoke, :f :read, :value nil}\n"
      "{:process 0, :type :ok, :f :write, :value 1}\n"
      "{:process 1, :type :ok, :f :read, :value 1}\n"
      "{:process 0, :type :invoke, :f :cas, :value [1 2]}\n"
      "{:process 0, :type :fail, :f :cas, :value [1 2]}\n"
      "{:process 1, :type :invoke, :f :write, :value 3}\n"
      "{:process 1, :type :info, :f :write, :value 3}\n"
      "{:process 2, :type :invoke, :f :write, :value 4}\n");
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->ops.size(), 5u);
  const Operation& write = history->ops[0];
  EXPECT_EQ(write.process, 0);
  EXPECT_EQ(write.f, "write");
  EXPECT_EQ(write.input.integer, 1);
  EXPECT_EQ(write.outcome, Outcome::kOk);
  EXPECT_EQ(write.invoke_line, 1);
  EXPECT_EQ(write.complete_line, 3);
  EXPECT_EQ(write.call, 0);
  EXPECT_EQ(write.ret, 2);
  const Operation& read = history->ops[1];
  EXPECT_TRUE(read.input.is_nil());
  EXPECT_EQ(read.output.integer, 1);
  EXPECT_EQ(read.call, 1);
  EXPECT_EQ(read.ret, 3);
  EXPECT_EQ(history->ops[2].outcome, Outcome::kFail);
  const Operation& info = history->ops[3];
  EXPECT_EQ(info.outcome, Outcome::kInfo);
  EXPECT_EQ(info.ret, kNeverReturns);
  EXPECT_EQ(info.complete_line, 8);
  const Operation& unfinished = history->ops[4];
  EXPECT_EQ(unfinished.outcome, Outcome::kInfo);
  EXPECT_EQ(unfinished.ret, kNeverReturns);
  EXPECT_EQ(unfinished.complete_line, 0);
  EXPECT_EQ(DescribeOperation(write), "process 0 :write 1 -> :ok 1 (lines 1-3)");
  EXPECT_EQ(DescribeOperation(unfinished), "process 2 :write 4 -> (no completion) (line 9)");
  EXPECT_EQ(DescribeOperation(info), "process 1 :write 3 -> :info (lines 7-8)");
}

TEST(ParseHistory, SkipsBlankCommentNemesisAndOtherKeys) {
  absl::StatusOr<History> history = ParseHistory(
      "; a comment\n"
      "\n"
      "   \r\n"
      "{:type :info, :f :start-partition, :process :nemesis, :value nil}\n"
      "{:index 0, :time 12, :process 3, :type :invoke, :f :get, :key \"k\", :value nil, "
      ":extra {:nested [1 2]}}\r\n"
      "{:type :info, :f :stop-partition, :process :nemesis, :value [:isolated {\"n1\" "
      "#{\"n2\"}}]}\n"
      "#jepsen.history.Op{:index 1, :time 13, :process 3, :type :ok, :f :get, :key \"k\", "
      ":value \"v\"}\n");
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->ops.size(), 1u);
  const Operation& get = history->ops[0];
  EXPECT_EQ(get.invoke_line, 5);
  EXPECT_EQ(get.complete_line, 7);
  ASSERT_TRUE(get.key.has_value());
  EXPECT_EQ(get.key->text, "k");
  EXPECT_EQ(get.output.text, "v");
  EXPECT_EQ(get.call, 0);
  EXPECT_EQ(get.ret, 1);  // positions count client events only
}

TEST(ParseHistory, EmptyHistoryIsFine) {
  absl::StatusOr<History> history = ParseHistory("");
  ASSERT_TRUE(history.ok());
  EXPECT_TRUE(history->ops.empty());
}

TEST(ParseHistory, ErrorsNameTheLine) {
  EXPECT_EQ(ErrorOf("{:process 0, :type :invoke, :f :read, :value nil}\n"
                    "{:process 0, :type :ok, :f :read, :value \"unterminated}\n"),
            "line 2: column 42: unterminated string");
  EXPECT_EQ(ErrorOf("\n\n[1 2]\n"),
            "line 3: expected a map such as {:process 0, :type :invoke, :f :read, :value nil}, "
            "found [1 2]");
  EXPECT_EQ(ErrorOf("{:type :invoke, :f :read}"), "line 1: missing :process");
  EXPECT_EQ(ErrorOf("{:process 1, :f :read}"), "line 1: missing :type");
  EXPECT_EQ(ErrorOf("{:process 1, :type :invoke}"), "line 1: missing :f");
  EXPECT_EQ(ErrorOf("{:process 1, :type :started, :f :read}"),
            "line 1: :type must be :invoke, :ok, :fail or :info, not :started");
  EXPECT_EQ(ErrorOf("{:process 1, :type :invoke, :f \"read\"}"),
            "line 1: :f must be a keyword such as :read, not \"read\"");
  EXPECT_EQ(ErrorOf("{:process 1, :type :invoke, :f :read}\n"
                    "{:process 1, :type :invoke, :f :read}\n"),
            "line 2: process 1 invokes an operation while the one it invoked at line 1 has not "
            "completed");
  EXPECT_EQ(ErrorOf("{:process 1, :type :invoke, :f :read}\n"
                    "{:process 1, :type :ok, :f :read}\n"
                    "{:process 1, :type :ok, :f :read}\n"),
            "line 3: completion for process 1, which has no operation in flight");
  EXPECT_EQ(ErrorOf("{:process 4, :type :invoke, :f :read}\n"
                    "{:process 4, :type :ok, :f :write}\n"),
            "line 2: completion has :f :write but the invocation at line 1 has :f :read");
  EXPECT_EQ(ErrorOf("{:process 4, :type :invoke, :f :read, :f :write}\n"),
            "line 1: column 1: map has the key :f twice");
}

}  // namespace
}  // namespace keel::checker
