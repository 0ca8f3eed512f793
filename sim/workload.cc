#include "sim/workload.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "sim/checker/kvstate_model.h"
#include "sim/checker/proto_edn.h"
#include "sim/checker/typed_check.h"

namespace keel::sim {
namespace {

// Load balancers: one per policy, four backends each.
struct LbSpec {
  const char* group;
  kvpb::Policy policy;
};
constexpr LbSpec kLbs[] = {
    {"rr", kvpb::POLICY_ROUND_ROBIN},
    {"wrr", kvpb::POLICY_WEIGHTED_ROUND_ROBIN},
    {"lc", kvpb::POLICY_LEAST_CONNECTIONS},
    {"ch", kvpb::POLICY_CONSISTENT_HASH},
};
constexpr int kBackends = 4;
constexpr int64_t kSessionTimeoutNanos = 3600LL * 1'000'000'000;  // outlives any run

std::string PoolName(int i) { return absl::StrCat("app/pool", i); }
std::string Backend(int i) { return absl::StrCat("b", i); }
std::string Key(int block, int key) { return absl::StrCat("cfg/blk", block, "/k", key); }

}  // namespace

struct Workload::Client {
  int id = 0;  // 0: the final reader
  int64_t process = 0;
  uint64_t session = 0;
  uint64_t sequence = 0;  // last sequence used
  std::vector<std::pair<std::string, uint64_t>> held;    // (pool, slot) acquired and not released
  std::vector<std::pair<std::string, std::string>> picked;  // (group, backend) not yet done
  std::map<std::string, uint64_t> versions;              // last version seen per key
  NodeId last_answered = kNoNode;                        // the node of the last applied attempt
};

std::string WorkloadShape::Describe() const {
  return absl::StrCat("workload_pools=", pools, "\nworkload_pool_capacity=", pool_capacity,
                      "\nworkload_kv_blocks=", kv_blocks, "\nworkload_keys_per_block=", keys_per_block,
                      "\nworkload_attempts=", attempts, "\n");
}

WorkloadShape DrawWorkloadShape(Prng& prng) {
  WorkloadShape shape;
  shape.pools = 1 + static_cast<int>(prng.Uniform(3));
  shape.pool_capacity = 1 + prng.Uniform(4);
  shape.kv_blocks = 1 + static_cast<int>(prng.Uniform(2));
  shape.keys_per_block = 1 + static_cast<int>(prng.Uniform(4));
  shape.attempts = 2 + static_cast<int>(prng.Uniform(3));
  return shape;
}

Workload::Workload(WorkloadEnv env, WorkloadShape shape, int clients, Prng prng)
    : env_(std::move(env)), shape_(shape), clients_(clients), prng_(prng) {
  KEEL_ASSERT(env_.scheduler != nullptr && !env_.nodes.empty() && clients_ >= 1);
}

void Workload::Record(int64_t process, checker::EventType type, const kvpb::Command& command,
                      const kvpb::Result* result) {
  KEEL_ASSERT((result != nullptr) == (type == checker::EventType::kOk));
  // The operations are paired without values (CheckOperations reads the protos); the pairing
  // errors are those of the text's parse, so a workload bug shows the same either way.
  checker::Event event{process, type, checker::CommandName(command), std::nullopt, edn::Value::Nil()};
  absl::StatusOr<size_t> op = operations_.Add(std::move(event), static_cast<int>(events_.size()) + 1);
  KEEL_ASSERT_MSG(op.ok(), "the workload pairs its own events");
  if (type == checker::EventType::kInvoke) {
    KEEL_ASSERT(*op == typed_.size());
    TypedOperation& typed = typed_.emplace_back();
    typed.command = command;
    // As the EDN holds it: the op alone.
    typed.command.clear_session();
    typed.command.clear_sequence();
    typed.command.clear_acked_sequence();
    typed.command.clear_leader_time_nanos();
  } else if (result != nullptr) {
    typed_[*op].result = *result;
  }
  // What EDN cannot hold fails here, at the event, in every mode (the text is written only
  // on demand).
  if (type == checker::EventType::kInvoke) {
    KEEL_ASSERT_MSG(checker::FitsEdn(checker::CommandBody(command)).ok(), "values above INT64_MAX do not fit EDN");
  } else if (result != nullptr) {
    KEEL_ASSERT_MSG(checker::FitsEdn(*result).ok(), "values above INT64_MAX do not fit EDN");
  }
  events_.push_back(RecordedEvent{process, env_.scheduler->now(), *op, type});
  const RecordedEvent& recorded = events_.back();
  auto render = [&]() { return absl::StrCat("history ", EventLine(recorded)); };
  if (!env_.trace_deferred) {
    if (env_.trace) env_.trace(render());
    return;
  }
  // What the line says, in bytes that cost no EDN: the event's fields and its value's proto.
  digest_.clear();
  absl::StrAppend(&digest_, "history ", process, " ", checker::EventTypeName(type), " ",
                  operations_.history().ops[*op].f, " ");
  if (type == checker::EventType::kInvoke) {
    typed_[*op].command.AppendToString(&digest_);
  } else if (result != nullptr) {
    result->AppendToString(&digest_);
  }
  env_.trace_deferred(digest_, render);
}

edn::Value Workload::EventValue(const RecordedEvent& event) const {
  const TypedOperation& typed = typed_[event.op];
  if (event.type != checker::EventType::kInvoke && event.type != checker::EventType::kOk) return edn::Value::Nil();
  absl::StatusOr<edn::Value> converted =
      checker::ProtoToEdn(event.type == checker::EventType::kOk ? *typed.result : checker::CommandBody(typed.command));
  KEEL_ASSERT_MSG(converted.ok(), "values above INT64_MAX do not fit EDN");
  return *std::move(converted);
}

std::string Workload::EventLine(const RecordedEvent& event) const {
  return absl::StrCat("{:process ", event.process, ", :type :", checker::EventTypeName(event.type), ", :f :",
                      operations_.history().ops[event.op].f, ", :value ", edn::ToEdn(EventValue(event)),
                      ", :time ", event.time, "}");
}

std::string Workload::history() const {
  std::string text;
  for (const RecordedEvent& event : events_) absl::StrAppend(&text, EventLine(event), "\n");
  return text;
}

checker::History Workload::operations_with_values() const {
  checker::HistoryBuilder builder;
  for (size_t i = 0; i < events_.size(); ++i) {
    const RecordedEvent& event = events_[i];
    checker::Event full{event.process, event.type, operations_.history().ops[event.op].f, std::nullopt,
                        EventValue(event)};
    absl::StatusOr<size_t> op = builder.Add(std::move(full), static_cast<int>(i) + 1);
    KEEL_ASSERT(op.ok() && *op == event.op);
  }
  return std::move(builder).Finish();
}

absl::StatusOr<checker::CheckResult> Workload::CheckOperations(const checker::CheckOptions& options) const {
  using Model = checker::KvstateModel;
  const Model model(Model::Objects::kAll);
  auto check = [&](const checker::History& history) {
    KEEL_ASSERT(typed_.size() == history.ops.size());
    return checker::CheckHistoryWith(
        model, history, options, [&](size_t i) -> absl::StatusOr<std::pair<checker::Call<Model>, std::string>> {
          absl::StatusOr<checker::Call<Model>> call = model.Decoded(history.ops[i], typed_[i].command, typed_[i].result);
          if (!call.ok()) return call.status();
          std::string key = checker::ObjectOf(call->input);
          return std::pair<checker::Call<Model>, std::string>(*std::move(call), std::move(key));
        });
  };
  // The search, the failure and its explanation read no values (only calls, returns and
  // lines, and the typed protos); only Decoded's error messages quote them.
  absl::StatusOr<checker::CheckResult> result = check(operations());
  if (result.ok()) return result;
  return check(operations_with_values());
}

Attempt Workload::Perform(Client& client, const kvpb::Command& command, int attempts, bool* maybe_applied) {
  const std::string bytes = command.SerializeAsString();
  NodeId target = env_.leader_hint();
  if (shape_.sticky_clients && client.last_answered != kNoNode && prng_.Uniform(2) == 0) target = client.last_answered;
  auto stop = [&]() { return env_.stopped() || (client.id != 0 && clients_stopped_); };
  auto any_node = [&]() {
    const std::vector<NodeId> nodes = env_.members ? env_.members() : env_.nodes;
    return nodes[prng_.Uniform(nodes.size())];
  };
  for (int attempt = 0; (attempts == 0 || attempt < attempts) && !stop(); ++attempt) {
    if (target == kNoNode) target = any_node();
    const Attempt result = env_.submit(target, bytes, env_.scheduler->now() + env_.attempt_timeout_nanos);
    if (result.outcome == Attempt::Outcome::kApplied) {
      client.last_answered = target;
      return result;
    }
    if (result.outcome == Attempt::Outcome::kUnknown) *maybe_applied = true;
    // Another node next: the hint if it names a different one, else any.
    const NodeId hint = env_.leader_hint();
    target = hint != kNoNode && hint != target ? hint : any_node();
    env_.scheduler->Sleep(1 + static_cast<int64_t>(prng_.Uniform(static_cast<uint64_t>(env_.think_nanos) + 1)));
  }
  return Attempt{*maybe_applied ? Attempt::Outcome::kUnknown : Attempt::Outcome::kNotApplied, ""};
}

void Workload::RunOperation(Client& client, kvpb::Command command, bool mutating) {
  if (mutating) {
    command.set_session(client.session);
    command.set_sequence(++client.sequence);
    command.set_acked_sequence(client.sequence - 1);  // one operation at a time
  }
  Record(client.process, checker::EventType::kInvoke, command, nullptr);
  // A mutating command is retried until it is answered: its session makes every retry safe,
  // and an answer settles whether it happened. (Giving up would leave it indeterminate
  // forever, and every such operation multiplies the checker's search.) Reads carry no
  // session and give up after shape_.attempts.
  bool maybe_applied = false;
  const Attempt attempt = Perform(client, command, mutating ? 0 : shape_.attempts, &maybe_applied);
  kvpb::Result result;
  if (attempt.outcome == Attempt::Outcome::kApplied && result.ParseFromString(attempt.result) &&
      result.code() != kvpb::CODE_SESSION_UNKNOWN) {
    result.clear_error();
    Record(client.process, checker::EventType::kOk, command, &result);
    ++outcomes_["ok"];
    // Remember what the client now holds, for its later releases, dones and cas.
    if (command.has_pool_acquire() && result.code() == kvpb::CODE_OK) {
      client.held.emplace_back(command.pool_acquire().pool(), result.slot());
    } else if (command.has_lb_pick() && result.code() == kvpb::CODE_OK) {
      client.picked.emplace_back(command.lb_pick().group(), result.backend());
    } else if (result.has_version()) {
      const std::string& key = command.has_kv_get() ? command.kv_get().key()
                               : command.has_kv_put() ? command.kv_put().key()
                               : command.has_kv_cas() ? command.kv_cas().key()
                                                      : command.kv_delete().key();
      client.versions[key] = command.has_kv_delete() ? 0 : result.version();
    }
    return;
  }
  // Here the last attempt was not applied, or was answered SESSION_UNKNOWN (it did nothing);
  // earlier attempts may have been applied.
  KEEL_ASSERT_MSG(attempt.outcome != Attempt::Outcome::kApplied || result.code() == kvpb::CODE_SESSION_UNKNOWN,
                  "the state machine always answers with a Result");
  if (maybe_applied || attempt.outcome == Attempt::Outcome::kUnknown) {
    Record(client.process, checker::EventType::kInfo, command, nullptr);
    ++outcomes_["info"];
    client.process += clients_ + 1;  // the old process still has this operation in flight
  } else {
    Record(client.process, checker::EventType::kFail, command, nullptr);
    ++outcomes_["fail"];
  }
}

kvpb::Command Workload::DrawCommand(Client& client) {
  kvpb::Command c;
  const uint64_t family = prng_.Uniform(100);
  if (family < 35) {
    const std::string pool = PoolName(static_cast<int>(prng_.Uniform(static_cast<uint64_t>(shape_.pools))));
    const uint64_t kind = prng_.Uniform(100);
    if (kind < 30 && !client.held.empty()) {
      const size_t i = prng_.Uniform(client.held.size());
      c.mutable_pool_release()->set_pool(client.held[i].first);
      c.mutable_pool_release()->set_slot(client.held[i].second);
      c.mutable_pool_release()->set_owner(absl::StrCat("c", client.id));
      client.held.erase(client.held.begin() + static_cast<std::ptrdiff_t>(i));
    } else if (kind < 70) {
      c.mutable_pool_acquire()->set_pool(pool);
      c.mutable_pool_acquire()->set_owner(absl::StrCat("c", client.id));
    } else if (kind < 90) {
      c.mutable_pool_stats()->set_pool(pool);
    } else {
      c.mutable_pool_resize()->set_pool(pool);
      c.mutable_pool_resize()->set_capacity(1 + prng_.Uniform(shape_.pool_capacity + 1));
    }
  } else if (family < 70) {
    const LbSpec& lb = kLbs[prng_.Uniform(std::size(kLbs))];
    const uint64_t kind = prng_.Uniform(100);
    if (kind < 15 && !client.picked.empty()) {
      const size_t i = prng_.Uniform(client.picked.size());
      c.mutable_lb_done()->set_group(client.picked[i].first);
      c.mutable_lb_done()->set_backend(client.picked[i].second);
      client.picked.erase(client.picked.begin() + static_cast<std::ptrdiff_t>(i));
    } else if (kind < 65) {
      c.mutable_lb_pick()->set_group(lb.group);
      c.mutable_lb_pick()->set_client_key(absl::StrCat("user", prng_.Uniform(8)));
    } else if (kind < 80) {
      c.mutable_lb_mark()->set_group(lb.group);
      c.mutable_lb_mark()->set_backend(Backend(static_cast<int>(prng_.Uniform(kBackends))));
      c.mutable_lb_mark()->set_up(prng_.Uniform(5) < 3);
    } else if (kind < 90) {
      c.mutable_lb_stats()->set_group(lb.group);
    } else {
      c.mutable_lb_set_backend()->set_group(lb.group);
      c.mutable_lb_set_backend()->set_backend(Backend(static_cast<int>(prng_.Uniform(kBackends))));
      c.mutable_lb_set_backend()->set_weight(1 + static_cast<uint32_t>(prng_.Uniform(5)));
    }
  } else {
    const int block = static_cast<int>(prng_.Uniform(static_cast<uint64_t>(shape_.kv_blocks)));
    const std::string key = Key(block, static_cast<int>(prng_.Uniform(static_cast<uint64_t>(shape_.keys_per_block))));
    const std::string value = absl::StrCat("c", client.id, "-", client.sequence + 1);  // unique per write
    const uint64_t kind = prng_.Uniform(100);
    if (kind < 30) {
      c.mutable_kv_get()->set_key(key);
    } else if (kind < 60) {
      c.mutable_kv_put()->set_key(key);
      c.mutable_kv_put()->set_value(value);
    } else if (kind < 75) {
      c.mutable_kv_cas()->set_key(key);
      const auto seen = client.versions.find(key);
      c.mutable_kv_cas()->set_expected_version(seen == client.versions.end() ? 0 : seen->second);
      c.mutable_kv_cas()->set_value(value);
    } else if (kind < 85) {
      c.mutable_kv_delete()->set_key(key);
    } else {
      c.mutable_kv_list()->set_prefix(absl::StrCat("cfg/blk", block, "/"));
    }
  }
  return c;
}

void Workload::ClientMain(int client_id) {
  Client client;
  client.id = client_id;
  client.process = client_id;
  // A session first; registering is not an operation of the history (nothing to check), and
  // a retry simply registers another one.
  auto stop = [&]() { return env_.stopped() || clients_stopped_; };
  while (client.session == 0 && !stop()) {
    kvpb::Command c;
    c.mutable_register_session()->set_timeout_nanos(kSessionTimeoutNanos);
    bool maybe_applied = false;
    const Attempt attempt = Perform(client, c, 1, &maybe_applied);
    kvpb::Result result;
    if (attempt.outcome == Attempt::Outcome::kApplied && result.ParseFromString(attempt.result) &&
        result.code() == kvpb::CODE_OK) {
      client.session = result.session();
      env_.trace(absl::StrCat("client ", client_id, " session ", client.session));
    }
  }
  // Client 1 sets up the objects; the others may see them missing at first (NOT_FOUND is an
  // answer the model checks too).
  if (client_id == 1) {
    for (int i = 0; i < shape_.pools && !stop(); ++i) {
      kvpb::Command c;
      c.mutable_pool_create()->set_pool(PoolName(i));
      c.mutable_pool_create()->set_capacity(shape_.pool_capacity);
      RunOperation(client, c, true);
    }
    for (const LbSpec& lb : kLbs) {
      if (stop()) break;
      kvpb::Command c;
      c.mutable_lb_create()->set_group(lb.group);
      c.mutable_lb_create()->set_policy(lb.policy);
      c.mutable_lb_create()->set_virtual_nodes(16);
      RunOperation(client, c, true);
      for (int b = 0; b < kBackends && !stop(); ++b) {
        kvpb::Command add;
        add.mutable_lb_set_backend()->set_group(lb.group);
        add.mutable_lb_set_backend()->set_backend(Backend(b));
        add.mutable_lb_set_backend()->set_weight(1 + static_cast<uint32_t>(b));
        RunOperation(client, add, true);
      }
    }
  }
  while (!stop()) {
    kvpb::Command c = DrawCommand(client);
    const bool read = checker::IsReadCommand(c);
    RunOperation(client, std::move(c), !read);
    env_.scheduler->Sleep(1 + static_cast<int64_t>(prng_.Uniform(static_cast<uint64_t>(env_.think_nanos) + 1)));
  }
}

void Workload::FinalReads() {
  Client reader;
  reader.id = 0;
  reader.process = 0;
  auto read = [&](kvpb::Command c) { RunOperation(reader, std::move(c), false); };
  for (int i = 0; i < shape_.pools; ++i) {
    kvpb::Command c;
    c.mutable_pool_stats()->set_pool(PoolName(i));
    read(c);
  }
  for (const LbSpec& lb : kLbs) {
    kvpb::Command c;
    c.mutable_lb_stats()->set_group(lb.group);
    read(c);
  }
  for (int block = 0; block < shape_.kv_blocks; ++block) {
    kvpb::Command c;
    c.mutable_kv_list()->set_prefix(absl::StrCat("cfg/blk", block, "/"));
    read(c);
  }
  final_reads_done_ = true;
}

}  // namespace keel::sim
