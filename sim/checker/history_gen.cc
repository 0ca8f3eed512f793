#include "sim/checker/history_gen.h"

#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "engine/prng.h"
#include "sim/checker/edn.h"

namespace keel::checker {
namespace {

using Workload = GeneratorOptions::Workload;

struct PendingOp {
  std::string f;
  int key = 0;                      // kv
  std::string argument;             // kv :put / :append
  int64_t value = 0;                // register :write, :cas new
  std::optional<int64_t> expected;  // register :cas old
  std::string result;               // EDN text of the :ok :value, once applied
  bool failed = false;              // a :cas that found another value, or a refused write
  int64_t id = 0;                   // the invocation's :index
  bool planted = false;             // the planted anomaly: result fixed at invocation
};

// The true state of the simulated system, and what a stale read would see instead.
struct SystemState {
  std::vector<std::string> values, previous;  // kv, by key
  // kv, by key: the :index of the write that produced the current value, and whether it has
  // been acknowledged (for GeneratorOptions::plant_anomaly).
  std::vector<int64_t> writer;
  std::vector<bool> writer_acked;
  std::optional<int64_t> reg, reg_previous;   // register
};

class Generator {
 public:
  explicit Generator(const GeneratorOptions& options) : options_(options), prng_(options.seed) {
    KEEL_ASSERT(options.operations >= 0 && options.clients >= 1 && options.keys >= 1 &&
                options.values >= 0);
    state_.values.assign(static_cast<size_t>(options.keys), "");
    state_.previous = state_.values;
    state_.writer.assign(static_cast<size_t>(options.keys), -1);
    state_.writer_acked.assign(static_cast<size_t>(options.keys), false);
    for (int c = 0; c < options.clients; ++c) clients_.push_back(Client{c, Phase::kIdle, {}});
  }

  std::string Run() {
    while (invoked_ < options_.operations || Busy()) {
      // One slot per client, plus one for the operations whose acknowledgement was lost.
      const uint64_t slots = clients_.size() + (lost_.empty() ? 0 : 1);
      const uint64_t slot = prng_.Uniform(slots);
      ++time_;
      if (slot == clients_.size()) {
        ApplyLost();
      } else {
        StepClient(clients_[slot]);
      }
    }
    if (planted_index_ >= 0) {
      absl::StrAppend(&out_, "; planted anomaly: the :get invoked at :index ", planted_index_,
                      " returns the value from before a write acknowledged before it\n");
    }
    return std::move(out_);
  }

 private:
  enum class Phase : uint8_t { kIdle, kInvoked, kApplied };
  struct Client {
    int64_t process;
    Phase phase;
    PendingOp op;
  };

  bool Busy() const {
    for (const Client& client : clients_) {
      if (client.phase != Phase::kIdle) return true;
    }
    return false;
  }

  bool Chance(double p) { return p > 0 && prng_.NextDouble() < p; }

  int64_t NewValue() {
    if (options_.values > 0)
      return static_cast<int64_t>(prng_.Uniform(static_cast<uint64_t>(options_.values)));
    return next_value_++;
  }

  PendingOp NewOperation() {
    PendingOp op;
    const uint64_t dice = prng_.Uniform(4);
    if (options_.workload == Workload::kKv) {
      op.key = static_cast<int>(prng_.Uniform(static_cast<uint64_t>(options_.keys)));
      if (dice < 2) {
        op.f = "get";
      } else if (dice == 2 && !options_.appends_only) {
        op.f = "put";
        op.argument = absl::StrCat("v", next_value_++);
      } else {
        op.f = "append";
        op.argument = absl::StrCat(",", next_value_++);
      }
      return op;
    }
    if (dice < 2) {
      op.f = "read";
    } else if (dice == 2 || options_.workload == Workload::kRegister) {
      op.f = "write";
      op.value = NewValue();
    } else {
      op.f = "cas";
      // Half the time the expected value is the current one, so that many cas succeed.
      op.expected = prng_.Uniform(2) == 0 ? state_.reg : std::optional<int64_t>(NewValue());
      op.value = NewValue();
    }
    return op;
  }

  std::string InvokeValue(const PendingOp& op) const {
    if (op.f == "get" || op.f == "read") return "nil";
    if (op.f == "put" || op.f == "append") return edn::ToEdn(edn::Value::String(op.argument));
    if (op.f == "write") return absl::StrCat(op.value);
    return absl::StrCat("[", op.expected.has_value() ? absl::StrCat(*op.expected) : "nil", " ",
                        op.value, "]");
  }

  void Emit(const Client& client, absl::string_view type, absl::string_view value) {
    absl::StrAppend(&out_, "{:index ", index_++, ", :time ", time_ * 1000, ", :process ",
                    client.process, ", :type :", type, ", :f :", client.op.f);
    if (options_.workload == Workload::kKv)
      absl::StrAppend(&out_, ", :key \"k", client.op.key, "\"");
    absl::StrAppend(&out_, ", :value ", value, "}\n");
  }

  // Makes `op` take effect on the true state and records its result.
  void Apply(PendingOp& op) {
    if (options_.workload == Workload::kKv) {
      std::string& value = state_.values[static_cast<size_t>(op.key)];
      std::string& previous = state_.previous[static_cast<size_t>(op.key)];
      if (op.f == "get") {
        if (op.planted) return;  // its result was fixed at invocation
        const std::string& seen = Chance(options_.stale_read_rate) ? previous : value;
        op.result = edn::ToEdn(edn::Value::String(seen));
        return;
      }
      previous = value;
      value = op.f == "put" ? op.argument : absl::StrCat(value, op.argument);
      state_.writer[static_cast<size_t>(op.key)] = op.id;
      state_.writer_acked[static_cast<size_t>(op.key)] = false;
      op.result = InvokeValue(op);
      return;
    }
    auto text = [](const std::optional<int64_t>& v) { return v ? absl::StrCat(*v) : "nil"; };
    if (op.f == "read") {
      op.result = text(Chance(options_.stale_read_rate) ? state_.reg_previous : state_.reg);
      return;
    }
    if (op.f == "cas" && state_.reg != op.expected) {
      op.failed = true;
      op.result = InvokeValue(op);
      return;
    }
    state_.reg_previous = state_.reg;
    state_.reg = op.value;
    op.result = InvokeValue(op);
  }

  void StepClient(Client& client) {
    switch (client.phase) {
      case Phase::kIdle:
        if (invoked_ == options_.operations) return;
        ++invoked_;
        client.op = NewOperation();
        client.op.id = index_;
        MaybePlant(client.op);
        Emit(client, "invoke", InvokeValue(client.op));
        client.phase = Phase::kInvoked;
        return;
      case Phase::kInvoked:
        if (client.op.f != "get" && client.op.f != "read" && Chance(options_.fail_rate)) {
          Emit(client, "fail", InvokeValue(client.op));
          client.phase = Phase::kIdle;
          return;
        }
        if (!client.op.planted && Chance(options_.info_rate / 2)) {
          // Lost before it took effect: it may still, later, or never.
          Emit(client, "info", InvokeValue(client.op));
          if (prng_.Uniform(2) == 0) lost_.push_back(client.op);
          Crash(client);
          return;
        }
        Apply(client.op);
        client.phase = Phase::kApplied;
        return;
      case Phase::kApplied:
        if (!client.op.planted && Chance(options_.info_rate / 2)) {
          Emit(client, "info", InvokeValue(client.op));  // took effect; the ack was lost
          Crash(client);
          return;
        }
        Emit(client, client.op.failed ? "fail" : "ok", client.op.result);
        Acknowledged(client.op);
        client.phase = Phase::kIdle;
        return;
    }
  }

  // If `op` is to be the planted anomaly (GeneratorOptions::plant_anomaly), fixes its result:
  // the value before its key's latest write, which was acknowledged before this invocation,
  // so every linearization must place that write before this read.
  void MaybePlant(PendingOp& op) {
    if (!options_.plant_anomaly || planted_index_ >= 0 || options_.workload != Workload::kKv ||
        op.f != "get" || invoked_ <= options_.operations / 2 ||
        !state_.writer_acked[static_cast<size_t>(op.key)]) {
      return;
    }
    op.planted = true;
    op.result = edn::ToEdn(edn::Value::String(state_.previous[static_cast<size_t>(op.key)]));
    planted_index_ = op.id;
  }

  // `op` was acknowledged :ok.
  void Acknowledged(const PendingOp& op) {
    if (options_.workload != Workload::kKv || op.f == "get") return;
    if (state_.writer[static_cast<size_t>(op.key)] == op.id) {
      state_.writer_acked[static_cast<size_t>(op.key)] = true;
    }
  }

  // Jepsen gives a client whose operation went indeterminate a fresh process number.
  void Crash(Client& client) {
    client.process += options_.clients;
    client.phase = Phase::kIdle;
  }

  void ApplyLost() {
    const size_t i = prng_.Uniform(lost_.size());
    Apply(lost_[i]);
    lost_.erase(lost_.begin() + static_cast<std::ptrdiff_t>(i));
  }

  const GeneratorOptions& options_;
  Prng prng_;
  SystemState state_;
  std::vector<Client> clients_;
  std::vector<PendingOp> lost_;
  int invoked_ = 0;
  int64_t next_value_ = 1;
  int64_t time_ = 0;
  int64_t index_ = 0;
  int64_t planted_index_ = -1;  // the planted anomaly's invocation :index, once planted
  std::string out_;
};

}  // namespace

std::string GenerateHistory(const GeneratorOptions& options) {
  return Generator(options).Run();
}

}  // namespace keel::checker
