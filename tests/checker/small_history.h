// RapidCheck generator of small Jepsen-style histories (at most 7 operations, 2-3 processes,
// values from tiny domains) for the brute-force cross-check. It simulates a system: each
// operation takes effect at one moment between its invocation and its completion, except that
// some acknowledgements are lost (:info; the operation then takes effect earlier, later or
// never), some writes are refused (:fail), and some completions are corrupted (a wrong read,
// a cas reported with the wrong outcome, a write that happened reported as :fail), so that
// both verdicts come up. Every choice is a RapidCheck pick, so failures shrink.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rapidcheck.h"
#include "sim/checker/edn.h"

namespace keel::checker::testing {

enum class SmallWorkload { kRegister, kCasRegister, kKv };

namespace internal {

struct SmallOp {
  std::string f;
  std::string key;              // kv
  std::string argument;         // kv :put / :append
  int value = 0;                // register :write, :cas new
  std::optional<int> expected;  // register :cas old
  std::string result;           // EDN of the :ok :value
  bool failed = false;          // the :cas found another value
};

struct SmallSystem {
  std::optional<int> reg;
  std::map<std::string, std::string> kv;
};

inline std::string RegisterText(std::optional<int> v) {
  return v ? absl::StrCat(*v) : "nil";
}

inline std::string InvokeValue(const SmallOp& op) {
  if (op.f == "read" || op.f == "get") return "nil";
  if (op.f == "write") return absl::StrCat(op.value);
  if (op.f == "cas") return absl::StrCat("[", RegisterText(op.expected), " ", op.value, "]");
  return edn::ToEdn(edn::Value::String(op.argument));
}

inline SmallOp DrawOp(SmallWorkload workload) {
  SmallOp op;
  if (workload == SmallWorkload::kKv) {
    op.key = *rc::gen::elementOf(std::vector<std::string>{"a", "b"});
    op.f = *rc::gen::elementOf(std::vector<std::string>{"get", "put", "append"});
    op.argument = *rc::gen::elementOf(std::vector<std::string>{"x", "y"});
    return op;
  }
  const int kinds = workload == SmallWorkload::kCasRegister ? 3 : 2;
  const int kind = *rc::gen::inRange(0, kinds);
  op.f = kind == 0 ? "read" : kind == 1 ? "write" : "cas";
  op.value = *rc::gen::inRange(0, 3);
  if (kind == 2) {
    const int old = *rc::gen::inRange(-1, 3);
    if (old >= 0) op.expected = old;
  }
  return op;
}

inline void Apply(SmallSystem& system, SmallOp& op) {
  if (op.f == "read") {
    op.result = RegisterText(system.reg);
  } else if (op.f == "write") {
    system.reg = op.value;
    op.result = InvokeValue(op);
  } else if (op.f == "cas") {
    op.failed = system.reg != op.expected;
    if (!op.failed) system.reg = op.value;
    op.result = InvokeValue(op);
  } else if (op.f == "get") {
    op.result = edn::ToEdn(edn::Value::String(system.kv[op.key]));
  } else if (op.f == "put") {
    system.kv[op.key] = op.argument;
    op.result = InvokeValue(op);
  } else {
    system.kv[op.key] += op.argument;
    op.result = InvokeValue(op);
  }
}

// A wrong completion: the kind of bug a checker exists to find.
inline std::pair<std::string, std::string> Corrupt(const SmallOp& op) {
  if (op.f == "read") {
    const int value = *rc::gen::inRange(-1, 3);
    return {"ok", value < 0 ? "nil" : absl::StrCat(value)};
  }
  if (op.f == "get") {
    return {"ok", edn::ToEdn(edn::Value::String(*rc::gen::elementOf(
                      std::vector<std::string>{"", "x", "y", "xy", "yx", "xx"})))};
  }
  if (op.f == "cas") return {op.failed ? "ok" : "fail", op.result};
  return {"fail", op.result};  // it happened, but says it did not
}

}  // namespace internal

// Draws one history; call inside a RapidCheck property. Returns its lines (no newlines).
inline std::vector<std::string> GenSmallHistory(SmallWorkload workload) {
  using internal::SmallOp;
  enum class Phase { kIdle, kInvoked, kApplied };
  struct Process {
    int id;
    Phase phase;
    SmallOp op;
  };
  const int operations = *rc::gen::inRange(1, 8);
  const int process_count = *rc::gen::inRange(2, 4);
  std::vector<Process> processes;
  for (int p = 0; p < process_count; ++p) processes.push_back({p, Phase::kIdle, {}});
  std::vector<SmallOp> lost;  // indeterminate and not yet applied
  internal::SmallSystem system;
  std::vector<std::string> lines;
  int invoked = 0;
  auto emit = [&](const Process& p, absl::string_view type, absl::string_view value) {
    std::string line = absl::StrCat("{:process ", p.id, ", :type :", type, ", :f :", p.op.f);
    if (workload == SmallWorkload::kKv) absl::StrAppend(&line, ", :key \"", p.op.key, "\"");
    lines.push_back(absl::StrCat(line, ", :value ", value, "}"));
  };
  auto crash = [&](Process& p) {  // Jepsen's clients continue under a new process id
    p.id += process_count;
    p.phase = Phase::kIdle;
  };
  while (true) {
    std::vector<int> actions;  // a process index, or -1 for a lost operation
    for (int p = 0; p < process_count; ++p) {
      if (processes[static_cast<size_t>(p)].phase != Phase::kIdle || invoked < operations) {
        actions.push_back(p);
      }
    }
    if (!lost.empty()) actions.push_back(-1);
    if (actions.empty()) break;
    const int action = *rc::gen::elementOf(actions);
    if (action == -1) {
      const size_t i =
          static_cast<size_t>(*rc::gen::inRange<int>(0, static_cast<int>(lost.size())));
      if (*rc::gen::arbitrary<bool>()) internal::Apply(system, lost[i]);
      lost.erase(lost.begin() + static_cast<std::ptrdiff_t>(i));
      continue;
    }
    Process& p = processes[static_cast<size_t>(action)];
    switch (p.phase) {
      case Phase::kIdle:
        ++invoked;
        p.op = internal::DrawOp(workload);
        emit(p, "invoke", internal::InvokeValue(p.op));
        p.phase = Phase::kInvoked;
        break;
      case Phase::kInvoked: {
        const int dice = *rc::gen::inRange(0, 10);
        const bool reads = p.op.f == "read" || p.op.f == "get";
        if (dice == 0) {  // lost before taking effect: later or never
          emit(p, "info", internal::InvokeValue(p.op));
          lost.push_back(p.op);
          crash(p);
        } else if (dice == 1 && !reads) {  // refused
          emit(p, "fail", internal::InvokeValue(p.op));
          p.phase = Phase::kIdle;
        } else {
          internal::Apply(system, p.op);
          p.phase = Phase::kApplied;
        }
        break;
      }
      case Phase::kApplied: {
        const int dice = *rc::gen::inRange(0, 10);
        if (dice == 0) {  // took effect, acknowledgement lost
          emit(p, "info", internal::InvokeValue(p.op));
          crash(p);
          break;
        }
        if (dice <= 2) {
          const auto [type, value] = internal::Corrupt(p.op);
          emit(p, type, value);
        } else {
          emit(p, p.op.failed ? "fail" : "ok", p.op.result);
        }
        p.phase = Phase::kIdle;
        break;
      }
    }
  }
  return lines;
}

}  // namespace keel::checker::testing
