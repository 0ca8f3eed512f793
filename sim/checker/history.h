// Jepsen-style histories: one EDN map per line, paired into operations.
//
// A line is an event of one client process:
//   {:process 0, :type :invoke, :f :read, :value nil}
//   {:process 0, :type :ok,     :f :read, :value 3}
// :type is :invoke, then one of :ok (happened, with this result), :fail (did not happen) or
// :info (indeterminate: may take effect at any time after the invocation, or never). An
// invocation with no completion by the end of the history is indeterminate too. Events whose
// :process is not an integer (Jepsen's :nemesis) are not client operations and are skipped.
// Keys other than :process, :type, :f, :value and :key (:time, :index, :error, ...) are
// ignored. Blank lines and lines starting with ';' are skipped.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sim/checker/edn.h"

namespace keel::checker {

enum class Outcome : uint8_t {
  kOk,    // completed with :ok: took effect once, between invocation and completion
  kFail,  // completed with :fail: did not take effect
  kInfo,  // :info, or no completion at all: took effect once at some time after the
          // invocation, or never
};

// Event positions order the history: position i is the i-th client event. An indeterminate
// operation returns at kNeverReturns, after every other event.
inline constexpr int64_t kNeverReturns = std::numeric_limits<int64_t>::max();

// One client operation: an invocation paired with its completion.
struct Operation {
  int64_t process = 0;
  std::string f;                  // the :f keyword's name, e.g. "read"
  std::optional<edn::Value> key;  // the invocation's :key, if it has one
  edn::Value input;               // the invocation's :value
  edn::Value output;              // the completion's :value (nil for :info or no completion)
  Outcome outcome = Outcome::kInfo;
  int invoke_line = 0;          // 1-based line numbers in the input
  int complete_line = 0;        // 0 if the history ends before the operation completes
  int64_t call = 0;             // event position of the invocation
  int64_t ret = kNeverReturns;  // event position of the completion; kNeverReturns if kInfo
};

struct History {
  std::vector<Operation> ops;  // in invocation order
};

// One client event, as a history line holds it.
enum class EventType : uint8_t { kInvoke, kOk, kFail, kInfo };
struct Event {
  int64_t process = 0;
  EventType type = EventType::kInvoke;
  std::string f;
  std::optional<edn::Value> key;
  edn::Value value;
};

// Pairs client events into operations. ParseHistory feeds it the events it reads; a writer that
// has the events already (the simulator's workload) feeds it the same events and needs no
// parse, and gets the same History as parsing what it wrote.
class HistoryBuilder {
 public:
  // Adds the event of 1-based line `line` (lines must increase). Returns the index into
  // history().ops of the operation the event belongs to. Errors are ParseHistory's (a second
  // invocation on a process with one pending, a completion with none pending or with a
  // different :f); the history is then unchanged.
  absl::StatusOr<size_t> Add(Event event, int line);
  const History& history() const { return history_; }
  History Finish() && { return std::move(history_); }

 private:
  History history_;
  // Each process has at most one operation in flight (Jepsen's contract with its clients).
  absl::btree_map<int64_t, size_t> pending_;  // process -> index into history_.ops
  int64_t position_ = 0;
};

// Parses a whole history (the contents of a file). Errors are InvalidArgument and start with
// "line N: " (1-based) followed by the reason: malformed EDN, a line that is not a map, a
// missing or ill-typed :process/:type/:f, an invocation on a process that already has one
// pending, a completion with no pending invocation or with a different :f.
absl::StatusOr<History> ParseHistory(absl::string_view text);

// "process 1 :read nil -> :ok 3 (lines 5-9)": one line that names an operation for people.
std::string DescribeOperation(const Operation& op);

// "ok", "fail" or "info".
absl::string_view OutcomeName(Outcome outcome);

// The :type keyword's name: "invoke", "ok", "fail" or "info".
absl::string_view EventTypeName(EventType type);

}  // namespace keel::checker
