// RapidCheck generator of small Jepsen-style histories (at most 7 operations, 2-3 processes,
// values from tiny domains) for the brute-force cross-check. It simulates a system: each
// operation takes effect at one moment between its invocation and its completion, except that
// some acknowledgements are lost (:info; the operation then takes effect earlier, later or
// never), some writes are refused (:fail), and some completions are corrupted (a wrong read,
// a cas reported with the wrong outcome, a write that happened reported as :fail), so that
// both verdicts come up. Every choice is a RapidCheck pick, so failures shrink.
//
// The keel workloads (pool, lb, kvstate) draw kv.proto commands on one pool, one load
// balancer group, or two keys of one KV block plus a pool, and the simulated system applies
// them with kvstate/model (KV versions are the order of application).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kvstate/model/models.h"
#include "rapidcheck.h"
#include "sim/checker/edn.h"
#include "sim/checker/kvstate_model.h"
#include "sim/checker/proto_edn.h"

namespace keel::checker::testing {

// kKvAppend: Jepsen's append workload in small, :get and :append only, with more processes
// (up to 5) than the others, so that appends pile up concurrently.
enum class SmallWorkload { kRegister, kCasRegister, kKv, kKvAppend, kPool, kLb, kKvstate };

namespace internal {

struct SmallOp {
  std::string f;
  std::string key;              // kv
  std::string argument;         // kv :put / :append
  int value = 0;                // register :write, :cas new
  std::optional<int> expected;  // register :cas old
  std::string result;           // EDN of the :ok :value
  bool failed = false;          // the :cas found another value
  bool keel = false;            // a kv.proto command (the pool, lb and kvstate workloads)
  kvpb::Command command;
  kvpb::Result applied;         // its result, once applied
};

struct SmallSystem {
  std::optional<int> reg;
  std::map<std::string, std::string> kv;
  kvstate::model::PoolModel pool;
  kvstate::model::LbModel lb;
  kvstate::model::KvModel keel_kv;
  uint64_t index = 0;  // log index of the last keel command applied
};

inline kvpb::Command DrawPoolCommand() {
  kvpb::Command c;
  const std::string pool = "g/p";
  const std::string owner = *rc::gen::elementOf(std::vector<std::string>{"o0", "o1"});
  switch (*rc::gen::inRange(0, 6)) {
    case 0: {
      c.mutable_pool_create()->set_pool(pool);
      c.mutable_pool_create()->set_capacity(*rc::gen::inRange<uint64_t>(1, 3));
      break;
    }
    case 1:
    case 2:
      c.mutable_pool_acquire()->set_pool(pool);
      c.mutable_pool_acquire()->set_owner(owner);
      break;
    case 3:
      c.mutable_pool_release()->set_pool(pool);
      c.mutable_pool_release()->set_slot(*rc::gen::inRange<uint64_t>(0, 2));
      c.mutable_pool_release()->set_owner(owner);
      break;
    case 4:
      c.mutable_pool_resize()->set_pool(pool);
      c.mutable_pool_resize()->set_capacity(*rc::gen::inRange<uint64_t>(0, 3));
      break;
    default:
      c.mutable_pool_stats()->set_pool(pool);
  }
  return c;
}

inline kvpb::Command DrawLbCommand() {
  kvpb::Command c;
  const std::string group = "g";
  const std::string backend = *rc::gen::elementOf(std::vector<std::string>{"a", "b"});
  switch (*rc::gen::inRange(0, 8)) {
    case 0:
      c.mutable_lb_create()->set_group(group);
      c.mutable_lb_create()->set_policy(static_cast<kvpb::Policy>(*rc::gen::inRange(1, 5)));
      c.mutable_lb_create()->set_virtual_nodes(*rc::gen::inRange<uint32_t>(1, 4));
      break;
    case 1:
      c.mutable_lb_set_backend()->set_group(group);
      c.mutable_lb_set_backend()->set_backend(backend);
      c.mutable_lb_set_backend()->set_weight(*rc::gen::inRange<uint32_t>(1, 4));
      break;
    case 2:
      c.mutable_lb_mark()->set_group(group);
      c.mutable_lb_mark()->set_backend(backend);
      c.mutable_lb_mark()->set_up(*rc::gen::arbitrary<bool>());
      break;
    case 3:
    case 4:
      c.mutable_lb_pick()->set_group(group);
      c.mutable_lb_pick()->set_client_key(*rc::gen::elementOf(std::vector<std::string>{"k0", "k1"}));
      break;
    case 5:
      c.mutable_lb_done()->set_group(group);
      c.mutable_lb_done()->set_backend(backend);
      break;
    case 6:
      c.mutable_lb_remove_backend()->set_group(group);
      c.mutable_lb_remove_backend()->set_backend(backend);
      break;
    default:
      c.mutable_lb_stats()->set_group(group);
  }
  return c;
}

inline kvpb::Command DrawKvCommand() {
  kvpb::Command c;
  const std::string key = *rc::gen::elementOf(std::vector<std::string>{"g/b/a", "g/b/b"});
  const std::string value = *rc::gen::elementOf(std::vector<std::string>{"x", "y"});
  switch (*rc::gen::inRange(0, 7)) {
    case 0:
    case 1:
      c.mutable_kv_get()->set_key(key);
      break;
    case 2:
    case 3:
      c.mutable_kv_put()->set_key(key);
      c.mutable_kv_put()->set_value(value);
      break;
    case 4:
      c.mutable_kv_delete()->set_key(key);
      break;
    case 5:
      c.mutable_kv_cas()->set_key(key);
      c.mutable_kv_cas()->set_expected_version(*rc::gen::inRange<uint64_t>(0, 4));
      c.mutable_kv_cas()->set_value(value);
      break;
    default:
      c.mutable_kv_list()->set_prefix("g/b/");
  }
  return c;
}


inline std::string RegisterText(std::optional<int> v) {
  return v ? absl::StrCat(*v) : "nil";
}

inline std::string InvokeValue(const SmallOp& op) {
  if (op.keel) return ProtoToEdnText(CommandBody(op.command));
  if (op.f == "read" || op.f == "get") return "nil";
  if (op.f == "write") return absl::StrCat(op.value);
  if (op.f == "cas") return absl::StrCat("[", RegisterText(op.expected), " ", op.value, "]");
  return edn::ToEdn(edn::Value::String(op.argument));
}

inline SmallOp DrawOp(SmallWorkload workload) {
  SmallOp op;
  if (workload == SmallWorkload::kPool || workload == SmallWorkload::kLb ||
      workload == SmallWorkload::kKvstate) {
    op.keel = true;
    if (workload == SmallWorkload::kPool) {
      op.command = DrawPoolCommand();
    } else if (workload == SmallWorkload::kLb) {
      op.command = DrawLbCommand();
    } else {
      op.command = *rc::gen::inRange(0, 4) == 0 ? DrawPoolCommand() : DrawKvCommand();
    }
    op.f = CommandName(op.command);
    return op;
  }
  if (workload == SmallWorkload::kKvAppend) {
    op.key = *rc::gen::elementOf(std::vector<std::string>{"a", "a", "b"});
    op.f = *rc::gen::elementOf(std::vector<std::string>{"get", "append"});
    op.argument = *rc::gen::elementOf(std::vector<std::string>{"x", "y", "z"});
    return op;
  }
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
  if (op.keel) {
    const kvpb::Command& c = op.command;
    ++system.index;
    if (c.has_pool_create() || c.has_pool_acquire() || c.has_pool_release() || c.has_pool_resize() ||
        c.has_pool_stats()) {
      op.applied = system.pool.Apply(c);
    } else if (c.has_kv_get() || c.has_kv_put() || c.has_kv_delete() || c.has_kv_cas() || c.has_kv_list()) {
      op.applied = system.keel_kv.Apply(c, system.index);
    } else {
      op.applied = system.lb.Apply(c);
    }
    op.result = ProtoToEdnText(op.applied);
    return;
  }
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
  if (op.keel) {
    if (!IsReadCommand(op.command) && *rc::gen::arbitrary<bool>()) return {"fail", InvokeValue(op)};
    kvpb::Result wrong = op.applied;
    switch (*rc::gen::inRange(0, 5)) {
      case 0:
        wrong.set_code(*rc::gen::elementOf(std::vector<kvpb::Code>{
            kvpb::CODE_OK, kvpb::CODE_NOT_FOUND, kvpb::CODE_EXHAUSTED, kvpb::CODE_NOT_HELD,
            kvpb::CODE_VERSION_MISMATCH, kvpb::CODE_NO_BACKEND}));
        break;
      case 1:
        wrong.set_slot(*rc::gen::inRange<uint64_t>(0, 3));
        break;
      case 2:
        wrong.set_backend(*rc::gen::elementOf(std::vector<std::string>{"a", "b"}));
        break;
      case 3:
        wrong.set_value(*rc::gen::elementOf(std::vector<std::string>{"x", "y"}));
        break;
      default:
        wrong.set_version(*rc::gen::inRange<uint64_t>(0, 4));
    }
    return {"ok", ProtoToEdnText(wrong)};
  }
  if (op.f == "read") {
    const int value = *rc::gen::inRange(-1, 3);
    return {"ok", value < 0 ? "nil" : absl::StrCat(value)};
  }
  if (op.f == "get") {
    return {"ok", edn::ToEdn(edn::Value::String(*rc::gen::elementOf(
                      std::vector<std::string>{"", "x", "y", "xy", "yx", "xx", "xyz", "zx"})))};
  }
  if (op.f == "cas") return {op.failed ? "ok" : "fail", op.result};
  return {"fail", op.result};  // it happened, but says it did not
}

}  // namespace internal

// Draws one history; call inside a RapidCheck property. Returns its lines (no newlines).
// With `corrupt` false every completion tells the truth, so the history is linearizable.
inline std::vector<std::string> GenSmallHistory(SmallWorkload workload, bool corrupt = true) {
  using internal::SmallOp;
  enum class Phase { kIdle, kInvoked, kApplied };
  struct Process {
    int id;
    Phase phase;
    SmallOp op;
  };
  const bool appends = workload == SmallWorkload::kKvAppend;
  const int operations = *rc::gen::inRange(1, appends ? 9 : 8);
  const int process_count = *rc::gen::inRange(2, appends ? 6 : 4);
  std::vector<Process> processes;
  for (int p = 0; p < process_count; ++p) processes.push_back({p, Phase::kIdle, {}});
  std::vector<SmallOp> lost;  // indeterminate and not yet applied
  internal::SmallSystem system;
  std::vector<std::string> lines;
  int invoked = 0;
  auto emit = [&](const Process& p, absl::string_view type, absl::string_view value) {
    std::string line = absl::StrCat("{:process ", p.id, ", :type :", type, ", :f :", p.op.f);
    if (workload == SmallWorkload::kKv || workload == SmallWorkload::kKvAppend) {
      absl::StrAppend(&line, ", :key \"", p.op.key, "\"");
    }
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
        const bool reads =
            p.op.f == "read" || p.op.f == "get" || (p.op.keel && IsReadCommand(p.op.command));
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
        if (dice <= 2 && corrupt) {
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
