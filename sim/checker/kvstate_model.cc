#include "sim/checker/kvstate_model.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/assert.h"
#include "kvstate/command_kind.h"
#include "sim/checker/proto_edn.h"

namespace keel::checker {
namespace {

using google::protobuf::FieldDescriptor;
using kvstate::model::IsKey;

constexpr size_t kMaxValue = 64 * 1024;

// `result` serialized without its error text (which is for people, and may differ).
std::string WithoutError(const kvpb::Result& result) {
  if (result.error().empty()) return result.SerializeAsString();
  kvpb::Result copy = result;
  copy.clear_error();
  return copy.SerializeAsString();
}

// Equal but for the error text. Compared as serialized bytes rather than with
// MessageDifferencer (whose reflection was 5% of a simulated run's time, in the history
// check): kvpb.Result has no map or floating-point fields, so within one process two results
// serialize to the same bytes exactly when they are equal.
bool SameResult(const kvpb::Result& expected, const kvpb::Result& observed) {
  return WithoutError(expected) == WithoutError(observed);
}

// "group/block" of "group/block/key" (or of a list prefix "group/block/..."), or "".
std::string BlockOf(const std::string& key) {
  const size_t first = key.find('/');
  if (first == std::string::npos) return "";
  const size_t second = key.find('/', first + 1);
  if (second == std::string::npos) return "";
  return key.substr(0, second);
}

bool IsPoolCommand(const kvpb::Command& c) {
  return c.has_pool_create() || c.has_pool_acquire() || c.has_pool_release() || c.has_pool_resize() ||
         c.has_pool_stats();
}

bool IsLbCommand(const kvpb::Command& c) {
  return c.has_lb_create() || c.has_lb_set_backend() || c.has_lb_remove_backend() || c.has_lb_mark() ||
         c.has_lb_pick() || c.has_lb_done() || c.has_lb_stats();
}

bool IsKvCommand(const kvpb::Command& c) {
  return c.has_kv_get() || c.has_kv_put() || c.has_kv_delete() || c.has_kv_cas() || c.has_kv_list();
}

// Decodes the command half of `op` (shared by Decode and PartitionKey).
absl::StatusOr<kvpb::Command> DecodeCommand(const Operation& op) {
  kvpb::Command command;
  const FieldDescriptor* field = kvpb::Command::descriptor()->FindFieldByName(KeywordToField(op.f));
  if (field == nullptr || field->containing_oneof() == nullptr ||
      field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
    return OperationError(op, absl::StrCat(":", op.f, " is not a kvstate command (kv.proto's Command.op "
                                           "fields with '-' for '_', e.g. :pool-acquire)"));
  }
  google::protobuf::Message* body = command.GetReflection()->MutableMessage(&command, field);
  if (absl::Status status = ProtoFromEdn(op.input, *body); !status.ok()) {
    return OperationError(op, absl::StrCat(":", op.f, " :value: ", status.message()));
  }
  return command;
}

}  // namespace

std::string CommandName(const kvpb::Command& command) {
  if (command.op_case() == kvpb::Command::OP_NOT_SET) return "";
  // Built once: the simulator names every operation it records (a descriptor lookup and a
  // keyword conversion per event were ~1% of a sweep).
  static const std::vector<std::string> names = [] {
    const google::protobuf::OneofDescriptor* op = kvpb::Command::descriptor()->FindOneofByName("op");
    KEEL_ASSERT(op != nullptr);
    std::vector<std::string> by_number;
    for (int i = 0; i < op->field_count(); ++i) {
      const FieldDescriptor* field = op->field(i);
      const size_t number = static_cast<size_t>(field->number());
      if (by_number.size() <= number) by_number.resize(number + 1);
      by_number[number] = FieldToKeyword(field->name());
    }
    return by_number;
  }();
  const size_t number = static_cast<size_t>(command.op_case());
  KEEL_ASSERT(number < names.size() && !names[number].empty());
  return names[number];
}

const google::protobuf::Message& CommandBody(const kvpb::Command& command) {
  KEEL_ASSERT(command.op_case() != kvpb::Command::OP_NOT_SET);
  const FieldDescriptor* field = kvpb::Command::descriptor()->FindFieldByNumber(command.op_case());
  return command.GetReflection()->GetMessage(command, field);
}

bool IsReadCommand(const kvpb::Command& c) { return kvstate::IsReadCommand(c); }

std::string ProtoToEdnText(const google::protobuf::Message& message) {
  absl::StatusOr<edn::Value> value = ProtoToEdn(message);
  KEEL_ASSERT_MSG(value.ok(), "values above INT64_MAX do not fit EDN");
  return edn::ToEdn(*value);
}

std::string ObjectOf(const kvpb::Command& c) {
  switch (c.op_case()) {
    case kvpb::Command::kPoolCreate: return absl::StrCat("pool ", c.pool_create().pool());
    case kvpb::Command::kPoolAcquire: return absl::StrCat("pool ", c.pool_acquire().pool());
    case kvpb::Command::kPoolRelease: return absl::StrCat("pool ", c.pool_release().pool());
    case kvpb::Command::kPoolResize: return absl::StrCat("pool ", c.pool_resize().pool());
    case kvpb::Command::kPoolStats: return absl::StrCat("pool ", c.pool_stats().pool());
    case kvpb::Command::kLbCreate: return absl::StrCat("lb ", c.lb_create().group());
    case kvpb::Command::kLbSetBackend: return absl::StrCat("lb ", c.lb_set_backend().group());
    case kvpb::Command::kLbRemoveBackend: return absl::StrCat("lb ", c.lb_remove_backend().group());
    case kvpb::Command::kLbMark: return absl::StrCat("lb ", c.lb_mark().group());
    case kvpb::Command::kLbPick: return absl::StrCat("lb ", c.lb_pick().group());
    case kvpb::Command::kLbDone: return absl::StrCat("lb ", c.lb_done().group());
    case kvpb::Command::kLbStats: return absl::StrCat("lb ", c.lb_stats().group());
    case kvpb::Command::kKvGet: return absl::StrCat("kv ", BlockOf(c.kv_get().key()));
    case kvpb::Command::kKvPut: return absl::StrCat("kv ", BlockOf(c.kv_put().key()));
    case kvpb::Command::kKvDelete: return absl::StrCat("kv ", BlockOf(c.kv_delete().key()));
    case kvpb::Command::kKvCas: return absl::StrCat("kv ", BlockOf(c.kv_cas().key()));
    case kvpb::Command::kKvList: {
      const std::string block = BlockOf(c.kv_list().prefix());
      return block.empty() ? "" : absl::StrCat("kv ", block);
    }
    default:
      return "";
  }
}

absl::StatusOr<Call<KvstateModel>> KvstateModel::Decode(const Operation& op) const {
  absl::StatusOr<kvpb::Command> command = DecodeCommand(op);
  if (!command.ok()) return command.status();
  std::optional<kvpb::Result> result;
  if (op.outcome == Outcome::kOk) {
    result.emplace();
    if (absl::Status status = ProtoFromEdn(op.output, *result); !status.ok()) {
      return OutputError(op, absl::StrCat(":", op.f, " result: ", status.message()));
    }
  }
  return Decoded(op, *std::move(command), std::move(result));
}

absl::StatusOr<Call<KvstateModel>> KvstateModel::Decoded(const Operation& op, kvpb::Command command,
                                                         std::optional<kvpb::Result> result) const {
  KEEL_ASSERT(result.has_value() == (op.outcome == Outcome::kOk));
  const bool allowed = IsPoolCommand(command) ? objects_ != Objects::kLoadBalancers
                       : IsLbCommand(command) ? objects_ != Objects::kPools
                       : IsKvCommand(command) ? objects_ == Objects::kAll
                                              : false;
  if (!allowed) {
    return OperationError(op, absl::StrCat(":", op.f, " is not an operation of this model (",
                                           objects_ == Objects::kPools ? "pool: :pool-*"
                                           : objects_ == Objects::kLoadBalancers ? "lb: :lb-*"
                                                                                 : "kvstate: :kv-*, :pool-*, :lb-*",
                                           "; session commands are not checked)"));
  }
  if (ObjectOf(command).empty()) {
    return OperationError(op, absl::StrCat(":kv-list's :prefix must name a block (\"group/block/...\"), not ",
                                           edn::ToEdn(op.input)));
  }
  Call<KvstateModel> call;
  call.read_only = IsReadCommand(command);
  call.input = std::move(command);
  if (result.has_value()) {
    if (result->code() == kvpb::CODE_UNSPECIFIED) {
      return OutputError(op, absl::StrCat(":", op.f, " result has no :code: ", edn::ToEdn(op.output)));
    }
    result->clear_error();
    call.output = *std::move(result);
  }
  return call;
}

std::string KvstateModel::PartitionKey(const Operation& op) const {
  absl::StatusOr<kvpb::Command> command = DecodeCommand(op);
  return command.ok() ? ObjectOf(*command) : "";
}

std::optional<KvstateModel::State> KvstateModel::Step(const State& state, const Input& input,
                                                      const std::optional<Output>& output) const {
  if (IsKvCommand(input)) return StepKv(state, input, output);
  State next = state;
  const kvpb::Result result = IsPoolCommand(input) ? next.pool.Apply(input) : next.lb.Apply(input);
  if (output.has_value() && !SameResult(result, *output)) return std::nullopt;
  return next;
}

std::optional<KvstateModel::State> KvstateModel::StepKv(const State& state, const Input& input,
                                                        const std::optional<Output>& output) const {
  auto code_is = [&](kvpb::Code code) { return !output.has_value() || output->code() == code; };
  State next = state;
  if (input.has_kv_list()) {
    // Read-only. Exact unless some key of the block is unknown; then every known key must be
    // reported as it is and no key known to be absent may be.
    if (!output.has_value()) return next;
    const kvpb::KvList& list = input.kv_list();
    if (list.prefix().size() > 512) return code_is(kvpb::CODE_INVALID_ARGUMENT) ? std::optional(next) : std::nullopt;
    if (output->code() != kvpb::CODE_OK) return std::nullopt;
    uint32_t limit = list.limit() == 0 ? 100 : std::min<uint32_t>(list.limit(), 1000);
    bool exact = true;
    kvpb::Result expected;
    expected.set_code(kvpb::CODE_OK);
    for (const auto& [key, item] : state.kv) {
      if (key.compare(0, list.prefix().size(), list.prefix()) != 0) continue;
      if (item.wildcard || item.version == 0) exact = false;
      if (static_cast<uint32_t>(expected.entries_size()) == limit) {
        expected.set_truncated(true);
        break;
      }
      kvpb::KeyValue* entry = expected.add_entries();
      entry->set_key(key);
      entry->set_value(item.value);
      entry->set_version(item.version);
    }
    if (exact) return SameResult(expected, *output) ? std::optional(next) : std::nullopt;
    std::string previous;
    for (const kvpb::KeyValue& entry : output->entries()) {
      if (entry.key() <= previous && !previous.empty()) return std::nullopt;  // keys in order
      previous = entry.key();
      if (entry.key().compare(0, list.prefix().size(), list.prefix()) != 0) return std::nullopt;
      const auto it = state.kv.find(entry.key());
      if (it == state.kv.end()) return std::nullopt;  // known to be absent
      if (it->second.wildcard) continue;
      if (entry.value() != it->second.value) return std::nullopt;
      if (it->second.version != 0 && entry.version() != it->second.version) return std::nullopt;
    }
    if (output->truncated()) return next;  // cannot tell which known keys fell past the limit
    for (const auto& [key, item] : state.kv) {
      if (item.wildcard || key.compare(0, list.prefix().size(), list.prefix()) != 0) continue;
      bool listed = false;
      for (const kvpb::KeyValue& entry : output->entries()) listed = listed || entry.key() == key;
      if (!listed) return std::nullopt;
    }
    return next;
  }

  const std::string& key = input.has_kv_get()      ? input.kv_get().key()
                           : input.has_kv_put()    ? input.kv_put().key()
                           : input.has_kv_delete() ? input.kv_delete().key()
                                                   : input.kv_cas().key();
  const std::string& value = input.has_kv_put() ? input.kv_put().value() : input.kv_cas().value();
  if (!IsKey(key) || ((input.has_kv_put() || input.has_kv_cas()) && value.size() > kMaxValue)) {
    return code_is(kvpb::CODE_INVALID_ARGUMENT) ? std::optional(next) : std::nullopt;
  }
  const auto it = state.kv.find(key);
  const bool absent = it == state.kv.end();
  const bool wildcard = !absent && it->second.wildcard;
  const uint64_t version = absent ? 0 : it->second.version;  // 0 if absent or unknown

  if (input.has_kv_get()) {
    if (!output.has_value() || wildcard) return next;
    if (absent) return output->code() == kvpb::CODE_NOT_FOUND ? std::optional(next) : std::nullopt;
    if (output->code() != kvpb::CODE_OK || output->value() != it->second.value) return std::nullopt;
    if (version != 0 && output->version() != version) return std::nullopt;
    return next;
  }
  if (input.has_kv_put()) {
    if (!code_is(kvpb::CODE_OK)) return std::nullopt;
    next.kv[key] = Key{false, value, output.has_value() ? output->version() : 0};
    return next;
  }
  if (input.has_kv_delete()) {
    if (output.has_value()) {
      if (absent && output->code() != kvpb::CODE_NOT_FOUND) return std::nullopt;
      if (!absent && !wildcard && output->code() != kvpb::CODE_OK) return std::nullopt;
      if (wildcard && output->code() != kvpb::CODE_OK && output->code() != kvpb::CODE_NOT_FOUND) return std::nullopt;
      if (version != 0 && output->version() != version) return std::nullopt;
    }
    next.kv.erase(key);  // absent afterwards, whatever happened
    return next;
  }
  // kv_cas
  const uint64_t expected = input.kv_cas().expected_version();
  const bool version_known = absent || (!wildcard && version != 0);
  if (version_known) {
    const uint64_t current = version;
    if (current == expected) {
      if (!code_is(kvpb::CODE_OK)) return std::nullopt;
      next.kv[key] = Key{false, value, output.has_value() ? output->version() : 0};
    } else if (output.has_value() &&
               (output->code() != kvpb::CODE_VERSION_MISMATCH || output->version() != current)) {
      return std::nullopt;
    }
    return next;
  }
  // The current version is unknown (present with an unseen version, or a wildcard key).
  if (!output.has_value()) {
    // Success or mismatch cannot be told apart: the key may now hold either value. A present
    // key with an unseen version cannot match expected 0, though.
    if (!wildcard && expected == 0) return next;
    next.kv[key] = Key{true, "", 0};
    return next;
  }
  if (output->code() == kvpb::CODE_OK) {
    if (expected == 0 && !wildcard) return std::nullopt;  // the key is present
    next.kv[key] = Key{false, value, output->version()};
    return next;
  }
  if (output->code() != kvpb::CODE_VERSION_MISMATCH || output->version() == expected) return std::nullopt;
  if (wildcard) {
    if (output->version() == 0) next.kv.erase(key);  // now known to be absent
    return next;
  }
  if (output->version() == 0) return std::nullopt;  // the key is present
  next.kv[key].version = output->version();          // now seen
  return next;
}

uint64_t KvstateModel::Hash(const State& state) const {
  uint64_t h = HashMix(state.pool.exists, state.pool.capacity);
  for (const auto& [slot, holder] : state.pool.held) h = HashBytes(HashMix(h, slot), holder.owner);
  h = HashMix(h, (state.lb.exists ? 1 : 0) | (static_cast<uint64_t>(state.lb.policy) << 1));
  h = HashBytes(HashMix(h, state.lb.virtual_nodes), state.lb.last_picked);
  for (const auto& [name, backend] : state.lb.backends) {
    h = HashBytes(h, name);
    h = HashMix(h, (static_cast<uint64_t>(backend.weight) << 1) | (backend.up ? 1 : 0));
    h = HashMix(HashMix(h, backend.active), static_cast<uint64_t>(backend.current_weight));
  }
  for (const auto& [key, item] : state.kv) {
    h = HashBytes(HashBytes(h, key), item.value);
    h = HashMix(h, item.version * 2 + (item.wildcard ? 1 : 0));
  }
  return h;
}

std::string KvstateModel::Describe(const State& state) const {
  std::vector<std::string> parts;
  if (state.pool.exists) {
    std::vector<std::string> held;
    for (const auto& [slot, holder] : state.pool.held) {
      held.push_back(absl::StrCat(slot, " ", edn::ToEdn(edn::Value::String(holder.owner))));
    }
    parts.push_back(absl::StrCat(":pool {:capacity ", state.pool.capacity, ", :held {", absl::StrJoin(held, ", "), "}}"));
  }
  if (state.lb.exists) {
    absl::StatusOr<edn::Value> stats = ProtoToEdn(state.lb.Stats());
    parts.push_back(absl::StrCat(":lb ", stats.ok() ? edn::ToEdn(*stats) : "?"));
  }
  if (!state.kv.empty()) {
    std::vector<std::string> keys;
    for (const auto& [key, item] : state.kv) {
      keys.push_back(absl::StrCat(edn::ToEdn(edn::Value::String(key)), " ",
                                  item.wildcard ? ":unknown"
                                                : absl::StrCat("{:value ", edn::ToEdn(edn::Value::String(item.value)),
                                                               ", :version ", item.version == 0 ? "?" : absl::StrCat(item.version), "}")));
    }
    parts.push_back(absl::StrCat(":kv {", absl::StrJoin(keys, ", "), "}"));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
}

}  // namespace keel::checker
