#include "sim/checker/history.h"

#include <utility>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace keel::checker {
namespace {

absl::Status LineError(int line, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", reason));
}

bool IsBlankOrComment(absl::string_view line) {
  for (const char c : line) {
    if (c == ' ' || c == '\t' || c == '\r' || c == ',') continue;
    return c == ';';
  }
  return true;
}

// Reads one line into an event. Returns nullopt for events that are not client operations
// (a non-integer :process, e.g. Jepsen's :nemesis).
absl::StatusOr<std::optional<Event>> ParseEvent(absl::string_view text, int line) {
  absl::StatusOr<edn::Value> parsed = edn::Parse(text);
  if (!parsed.ok()) return LineError(line, parsed.status().message());
  edn::Value& map = *parsed;
  if (map.kind != edn::Kind::kMap) {
    return LineError(line, absl::StrCat("expected a map such as {:process 0, :type :invoke, "
                                        ":f :read, :value nil}, found ",
                                        edn::ToEdn(map)));
  }
  const edn::Value* process = map.Find("process");
  if (process == nullptr) return LineError(line, "missing :process");
  if (!process->is_integer()) return std::optional<Event>();

  Event event;
  event.process = process->integer;
  const edn::Value* type = map.Find("type");
  if (type == nullptr) return LineError(line, "missing :type");
  if (type->is_keyword("invoke")) {
    event.type = EventType::kInvoke;
  } else if (type->is_keyword("ok")) {
    event.type = EventType::kOk;
  } else if (type->is_keyword("fail")) {
    event.type = EventType::kFail;
  } else if (type->is_keyword("info")) {
    event.type = EventType::kInfo;
  } else {
    return LineError(
        line, absl::StrCat(":type must be :invoke, :ok, :fail or :info, not ", edn::ToEdn(*type)));
  }
  const edn::Value* f = map.Find("f");
  if (f == nullptr) return LineError(line, "missing :f");
  if (!f->is_keyword()) {
    return LineError(line,
                     absl::StrCat(":f must be a keyword such as :read, not ", edn::ToEdn(*f)));
  }
  event.f = f->text;
  if (const edn::Value* key = map.Find("key"); key != nullptr) event.key = *key;
  if (const edn::Value* value = map.Find("value"); value != nullptr) event.value = *value;
  return std::optional<Event>(std::move(event));
}

}  // namespace

absl::StatusOr<size_t> HistoryBuilder::Add(Event event, int line) {
  const auto in_flight = pending_.find(event.process);
  if (event.type == EventType::kInvoke) {
    if (in_flight != pending_.end()) {
      return LineError(line, absl::StrCat("process ", event.process,
                                          " invokes an operation while the one it invoked at line ",
                                          history_.ops[in_flight->second].invoke_line, " has not completed"));
    }
    Operation op;
    op.process = event.process;
    op.f = std::move(event.f);
    op.key = std::move(event.key);
    op.input = std::move(event.value);
    op.invoke_line = line;
    op.call = position_++;
    pending_.emplace(op.process, history_.ops.size());
    history_.ops.push_back(std::move(op));
    return history_.ops.size() - 1;
  }
  if (in_flight == pending_.end()) {
    return LineError(line, absl::StrCat("completion for process ", event.process, ", which has no operation in flight"));
  }
  const size_t index = in_flight->second;
  Operation& op = history_.ops[index];
  if (event.f != op.f) {
    return LineError(line, absl::StrCat("completion has :f :", event.f, " but the invocation at line ",
                                        op.invoke_line, " has :f :", op.f));
  }
  pending_.erase(in_flight);
  op.complete_line = line;
  op.output = std::move(event.value);
  const int64_t completed_at = position_++;
  switch (event.type) {
    case EventType::kOk:
      op.outcome = Outcome::kOk;
      op.ret = completed_at;
      break;
    case EventType::kFail:
      op.outcome = Outcome::kFail;
      op.ret = completed_at;
      break;
    case EventType::kInfo:
      // Indeterminate: the operation may still take effect later, so it never "returns".
      op.outcome = Outcome::kInfo;
      op.output = edn::Value::Nil();
      break;
    case EventType::kInvoke:
      break;  // handled above
  }
  return index;
}

absl::StatusOr<History> ParseHistory(absl::string_view text) {
  HistoryBuilder builder;
  int line = 0;
  for (const absl::string_view line_text : absl::StrSplit(text, '\n')) {
    ++line;
    if (IsBlankOrComment(line_text)) continue;
    absl::StatusOr<std::optional<Event>> parsed = ParseEvent(line_text, line);
    if (!parsed.ok()) return parsed.status();
    if (!parsed->has_value()) continue;
    if (absl::StatusOr<size_t> added = builder.Add(**std::move(parsed), line); !added.ok()) return added.status();
  }
  // Operations still in flight stay kInfo with ret = kNeverReturns: the history ended before
  // anyone learned whether they happened.
  return std::move(builder).Finish();
}

absl::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kFail:
      return "fail";
    case Outcome::kInfo:
      return "info";
  }
  return "?";
}

absl::string_view EventTypeName(EventType type) {
  switch (type) {
    case EventType::kInvoke:
      return "invoke";
    case EventType::kOk:
      return "ok";
    case EventType::kFail:
      return "fail";
    case EventType::kInfo:
      return "info";
  }
  return "?";
}

std::string DescribeOperation(const Operation& op) {
  std::string out = absl::StrCat("process ", op.process, " :", op.f);
  if (op.key.has_value()) absl::StrAppend(&out, " ", edn::ToEdn(*op.key));
  absl::StrAppend(&out, " ", edn::ToEdn(op.input), " -> ");
  if (op.complete_line == 0) {
    absl::StrAppend(&out, "(no completion) (line ", op.invoke_line, ")");
    return out;
  }
  absl::StrAppend(&out, ":", OutcomeName(op.outcome));
  if (op.outcome == Outcome::kOk) absl::StrAppend(&out, " ", edn::ToEdn(op.output));
  absl::StrAppend(&out, " (lines ", op.invoke_line, "-", op.complete_line, ")");
  return out;
}

}  // namespace keel::checker
