// Every hand-written history in tests/checker/histories/ against the verdict its header states:
//   ; model: NAME
//   ; expect: linearizable | not-linearizable | input-error
//   ; prefix-end-line: N     (not-linearizable: where the report says the history breaks)
//   ; error: MESSAGE          (input-error: the exact message, with its line)
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "sim/checker/models.h"

namespace keel::checker {
namespace {

// The test data sits beside this suite; KEEL_SCENARIO_DIR is tests/scenarios.
const std::filesystem::path kHistoryDir =
    std::filesystem::path(KEEL_SCENARIO_DIR) / ".." / "checker" / "histories";

struct Expectation {
  std::string model, expect, error;
  int prefix_end_line = 0;
};

Expectation ReadHeader(const std::string& text) {
  Expectation expectation;
  for (const absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, "; ")) continue;
    const std::pair<std::string, std::string> field =
        absl::StrSplit(line.substr(2), absl::MaxSplits(": ", 1));
    if (field.first == "model") expectation.model = field.second;
    if (field.first == "expect") expectation.expect = field.second;
    if (field.first == "error") expectation.error = field.second;
    if (field.first == "prefix-end-line") {
      EXPECT_TRUE(absl::SimpleAtoi(field.second, &expectation.prefix_end_line));
    }
  }
  return expectation;
}

TEST(HistoryFiles, EveryFileHasTheVerdictItStates) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(kHistoryDir)) {
    if (entry.path().extension() == ".edn") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 10u) << kHistoryDir;
  int per_verdict[3] = {0, 0, 0};
  for (const auto& file : files) {
    SCOPED_TRACE(file.filename().string());
    std::ifstream in(file);
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();
    const Expectation expected = ReadHeader(text);
    const ModelInfo* model = FindModel(expected.model);
    ASSERT_NE(model, nullptr) << "unknown model '" << expected.model << "'";

    absl::StatusOr<History> history = ParseHistory(text);
    absl::StatusOr<CheckResult> result =
        history.ok() ? model->check(*history, CheckOptions{}) : history.status();
    if (expected.expect == "input-error") {
      ++per_verdict[2];
      ASSERT_FALSE(result.ok());
      EXPECT_EQ(result.status().message(), expected.error);
      continue;
    }
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(VerdictName(result->verdict), expected.expect);
    if (expected.expect == "linearizable") {
      ++per_verdict[0];
    } else {
      ++per_verdict[1];
      ASSERT_TRUE(result->failure.has_value());
      EXPECT_EQ(result->failure->prefix_end_line, expected.prefix_end_line);
    }
  }
  EXPECT_GE(per_verdict[0], 3);
  EXPECT_GE(per_verdict[1], 3);
  EXPECT_GE(per_verdict[2], 2);
}

}  // namespace
}  // namespace keel::checker
