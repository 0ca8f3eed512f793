#include "sim/checker/report.h"

#include "sim/checker/edn.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace keel::checker {
namespace {

constexpr size_t kTextListLimit = 20;

std::string PartitionName(const std::string& partition) {
  return partition.empty() ? "the whole history" : absl::StrCat("partition ", partition);
}

std::string Counts(const CheckResult& result) {
  std::string out =
      absl::StrCat(result.ops_ok + result.ops_fail + result.ops_info, " operations (",
                   result.ops_ok, " ok, ", result.ops_fail, " fail, ", result.ops_info, " info");
  if (result.ops_unseen_reads > 0) {
    absl::StrAppend(&out, "; ", result.ops_unseen_reads, " unseen reads dropped");
  }
  absl::StrAppend(&out, "), ", result.partitions,
                  result.partitions == 1 ? " partition" : " partitions");
  return out;
}

std::string Footer(const CheckResult& result, const ReportContext& context) {
  std::string out = absl::StrCat(result.steps, " search steps");
  if (context.parse_seconds.has_value()) {
    absl::StrAppend(&out, absl::StrFormat(", parsed in %.3f s", *context.parse_seconds));
  }
  if (context.verdict_seconds.has_value()) {
    absl::StrAppend(&out, absl::StrFormat(", verdict in %.3f s", *context.verdict_seconds));
  } else if (context.check_seconds.has_value()) {
    absl::StrAppend(&out, absl::StrFormat(", checked in %.3f s", *context.check_seconds));
  }
  return out;
}

// The cost of the explanation, apart from the verdict's: it is built after the verdict, with a
// step budget of its own, so that it never delays or changes the verdict.
std::string ExplanationCost(const CheckResult& result, const ReportContext& context) {
  std::string out = absl::StrCat("Explanation (built after the verdict): ", result.explain_steps,
                                 " search steps");
  if (context.check_seconds.has_value() && context.verdict_seconds.has_value()) {
    absl::StrAppend(&out, absl::StrFormat(" in %.3f s",
                                          *context.check_seconds - *context.verdict_seconds));
  }
  if (context.explain_max_steps != 0) {
    const bool ran_out = result.explain_steps >= context.explain_max_steps;
    absl::StrAppend(&out, " (budget ", context.explain_max_steps, " steps, ",
                    ran_out ? "ran out" : "not reached", ")");
  } else {
    out += " (no budget)";
  }
  return out + ".\n";
}

void AppendJsonString(std::string& out, absl::string_view s) { edn::AppendQuotedString(out, s); }

std::string JsonString(absl::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

void AppendJsonValue(std::string& out, const edn::Value& value) {
  switch (value.kind) {
    case edn::Kind::kNil:
      out += "null";
      return;
    case edn::Kind::kBool:
    case edn::Kind::kInteger:
    case edn::Kind::kFloat:
      out += edn::ToEdn(value);
      return;
    case edn::Kind::kString:
    case edn::Kind::kSymbol:
      AppendJsonString(out, value.text);
      return;
    case edn::Kind::kKeyword:
      AppendJsonString(out, absl::StrCat(":", value.text));
      return;
    case edn::Kind::kVector:
    case edn::Kind::kList:
    case edn::Kind::kSet:
      out.push_back('[');
      for (size_t i = 0; i < value.items.size(); ++i) {
        if (i > 0) out.push_back(',');
        AppendJsonValue(out, value.items[i]);
      }
      out.push_back(']');
      return;
    case edn::Kind::kMap:
      out.push_back('{');
      for (size_t i = 0; i + 1 < value.items.size(); i += 2) {
        if (i > 0) out.push_back(',');
        const edn::Value& key = value.items[i];
        AppendJsonString(out, key.is_string()    ? key.text
                              : key.is_keyword() ? absl::StrCat(":", key.text)
                                                 : edn::ToEdn(key));
        out.push_back(':');
        AppendJsonValue(out, value.items[i + 1]);
      }
      out.push_back('}');
      return;
  }
}

std::string JsonOperation(const Operation& op, absl::string_view reason = {}) {
  std::string out = absl::StrCat("{\"process\":", op.process, ",\"f\":", JsonString(op.f));
  if (op.key.has_value()) {
    out += ",\"key\":";
    AppendJsonValue(out, *op.key);
  }
  out += ",\"value\":";
  AppendJsonValue(out, op.input);
  absl::StrAppend(
      &out, ",\"type\":", JsonString(op.complete_line == 0 ? "none" : OutcomeName(op.outcome)));
  if (op.outcome == Outcome::kOk) {
    out += ",\"result\":";
    AppendJsonValue(out, op.output);
  }
  absl::StrAppend(&out, ",\"invoke_line\":", op.invoke_line);
  if (op.complete_line != 0) absl::StrAppend(&out, ",\"complete_line\":", op.complete_line);
  if (!reason.empty()) absl::StrAppend(&out, ",\"reason\":", JsonString(reason));
  out.push_back('}');
  return out;
}

void AppendFailureText(std::string& out, const History& history, const Failure& failure) {
  const Operation& blocked = history.ops[static_cast<size_t>(failure.blocked_op)];
  absl::StrAppend(&out, "In ", PartitionName(failure.partition), " (", failure.partition_ops,
                  " operations), no linearization places this operation before it completes:\n  ",
                  DescribeOperation(blocked), "\n");
  if (failure.prefix_is_shortest) {
    absl::StrAppend(&out, "So no linearization gets past line ", failure.prefix_end_line,
                    ": the history up to it is not linearizable, up to any earlier line this "
                    "partition is (operations that :fail later count as never happening).\n");
  } else {
    absl::StrAppend(&out, "So no linearization gets past line ", failure.prefix_end_line,
                    " (the explanation's step budget or the time limit stopped the look for an "
                    "earlier line).\n");
  }

  const size_t shown = std::min(failure.linearized.size(), kTextListLimit);
  absl::StrAppend(&out, "Before it, this linearization places ", failure.linearized.size(),
                  " operations");
  if (shown < failure.linearized.size()) {
    absl::StrAppend(&out, "; the last ", shown, " are");
  }
  out += failure.linearized.empty() ? ".\n" : ":\n";
  for (size_t i = failure.linearized.size() - shown; i < failure.linearized.size(); ++i) {
    absl::StrAppend(&out, "  ",
                    DescribeOperation(history.ops[static_cast<size_t>(failure.linearized[i])]),
                    "\n");
  }
  absl::StrAppend(&out, "Model state after it: ", failure.state, "\n");
  absl::StrAppend(&out, "Operations invoked before line ", failure.prefix_end_line,
                  " that it leaves out (", failure.pending.size(), "):\n");
  for (size_t i = 0; i < failure.pending.size() && i < kTextListLimit; ++i) {
    const PendingOp& pending = failure.pending[i];
    absl::StrAppend(&out, "  ", DescribeOperation(history.ops[static_cast<size_t>(pending.op)]),
                    "\n      ", pending.reason, "\n");
  }
  if (failure.pending.size() > kTextListLimit) {
    absl::StrAppend(&out, "  ... and ", failure.pending.size() - kTextListLimit, " more\n");
  }
}

}  // namespace

std::string RenderText(const History& history, const CheckResult& result,
                       const ReportContext& context) {
  std::string out;
  switch (result.verdict) {
    case Verdict::kLinearizable:
      absl::StrAppend(&out, "LINEARIZABLE (model ", context.model, "): ", Counts(result), "; ",
                      Footer(result, context), "\n");
      return out;
    case Verdict::kUnknown: {
      absl::StrAppend(&out, "UNKNOWN (model ", context.model, "): ", Counts(result), "; ",
                      Footer(result, context), "\n");
      absl::StrAppend(&out, "The search limit stopped ", result.partitions_unknown.size(),
                      " partition(s) before a verdict; the ", result.partitions_checked,
                      " checked are linearizable.\n");
      const bool named =
          result.partitions_unknown.size() > 1 || !result.partitions_unknown[0].empty();
      if (named) {
        const size_t shown = std::min(result.partitions_unknown.size(), kTextListLimit);
        absl::StrAppend(
            &out, "Unchecked: ",
            absl::StrJoin(result.partitions_unknown.begin(),
                          result.partitions_unknown.begin() + static_cast<std::ptrdiff_t>(shown),
                          " "),
            shown < result.partitions_unknown.size() ? " ..." : "", "\n");
      }
      return out;
    }
    case Verdict::kNotLinearizable:
      absl::StrAppend(&out, "NOT LINEARIZABLE (model ", context.model, "): ", Counts(result), "; ",
                      Footer(result, context), "\n");
      AppendFailureText(out, history, *result.failure);
      out += ExplanationCost(result, context);
      return out;
  }
  return out;
}

std::string RenderJson(const History& history, const CheckResult& result,
                       const ReportContext& context) {
  std::string out = absl::StrCat("{\"verdict\":", JsonString(VerdictName(result.verdict)),
                                 ",\"model\":", JsonString(context.model),
                                 ",\"input\":", JsonString(context.input));
  absl::StrAppend(&out, ",\"operations\":{\"ok\":", result.ops_ok, ",\"fail\":", result.ops_fail,
                  ",\"info\":", result.ops_info,
                  ",\"unseen_reads_dropped\":", result.ops_unseen_reads, "}");
  absl::StrAppend(&out, ",\"partitions\":{\"total\":", result.partitions,
                  ",\"checked\":", result.partitions_checked, ",\"unknown\":[");
  for (size_t i = 0; i < result.partitions_unknown.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(out, result.partitions_unknown[i]);
  }
  absl::StrAppend(&out, "]},\"steps\":", result.steps);
  if (result.failure.has_value()) {
    absl::StrAppend(&out, ",\"explain_steps\":", result.explain_steps,
                    ",\"explain_max_steps\":", context.explain_max_steps);
  }
  if (context.parse_seconds.has_value()) {
    absl::StrAppend(&out, absl::StrFormat(",\"parse_seconds\":%.6f", *context.parse_seconds));
  }
  if (context.check_seconds.has_value()) {
    absl::StrAppend(&out, absl::StrFormat(",\"check_seconds\":%.6f", *context.check_seconds));
  }
  if (context.verdict_seconds.has_value()) {
    absl::StrAppend(&out,
                    absl::StrFormat(",\"verdict_seconds\":%.6f", *context.verdict_seconds));
  }
  if (result.failure.has_value()) {
    const Failure& failure = *result.failure;
    absl::StrAppend(
        &out, ",\"failure\":{\"partition\":", JsonString(failure.partition),
        ",\"partition_operations\":", failure.partition_ops,
        ",\"prefix_end_line\":", failure.prefix_end_line,
        ",\"prefix_is_shortest\":", failure.prefix_is_shortest ? "true" : "false",
        ",\"blocked\":", JsonOperation(history.ops[static_cast<size_t>(failure.blocked_op)]),
        ",\"linearized\":[");
    for (size_t i = 0; i < failure.linearized.size(); ++i) {
      if (i > 0) out.push_back(',');
      out += JsonOperation(history.ops[static_cast<size_t>(failure.linearized[i])]);
    }
    absl::StrAppend(&out, "],\"state\":", JsonString(failure.state), ",\"pending\":[");
    for (size_t i = 0; i < failure.pending.size(); ++i) {
      if (i > 0) out.push_back(',');
      out += JsonOperation(history.ops[static_cast<size_t>(failure.pending[i].op)],
                           failure.pending[i].reason);
    }
    out += "]}";
  }
  out += "}\n";
  return out;
}

std::string RenderJsonInputError(absl::string_view input, absl::string_view message) {
  return absl::StrCat("{\"verdict\":\"input-error\",\"input\":", JsonString(input),
                      ",\"error\":", JsonString(message), "}\n");
}

}  // namespace keel::checker
