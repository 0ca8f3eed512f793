// keel-check's reports: the verdict, counts and, for a non-linearizable history, where the
// search got stuck, as text for people or as JSON for programs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "sim/checker/check.h"
#include "sim/checker/history.h"

namespace keel::checker {

struct ReportContext {
  std::string model;  // the --model name
  std::string input;  // the file name, "-" for standard input
  // Measured by the caller, if it did (the library reads no clock).
  std::optional<double> parse_seconds;
  std::optional<double> check_seconds;    // verdict and explanation
  std::optional<double> verdict_seconds;  // up to the verdict (CheckOptions::on_verdict)
  // The explanation's step budget (CheckOptions::explain_max_steps; 0: none), printed with
  // the explanation so that a reader knows it was bounded.
  uint64_t explain_max_steps = 0;
};

// A few lines; the failure section lists at most the last 20 linearized operations and the
// first 20 pending ones, saying how many it leaves out. Ends with a newline.
std::string RenderText(const History& history, const CheckResult& result,
                       const ReportContext& context);

// One JSON object (and a newline) with every field of `result`; operations appear as objects
// with their process, f, key, value, type, result and line numbers, EDN values mapped to JSON
// (nil -> null, keywords -> ":name" strings, vectors/lists/sets -> arrays, maps -> objects).
std::string RenderJson(const History& history, const CheckResult& result,
                       const ReportContext& context);

// {"verdict":"input-error","input":...,"error":...} and a newline: what --json prints when the
// history cannot be read (exit 2).
std::string RenderJsonInputError(absl::string_view input, absl::string_view message);

}  // namespace keel::checker
