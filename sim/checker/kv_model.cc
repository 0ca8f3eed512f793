#include "sim/checker/kv_model.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace keel::checker {
namespace {

// The value slot of `key` in a sorted state, or end.
KvModel::State::const_iterator Find(const KvModel::State& state, const std::string& key) {
  const auto it =
      std::lower_bound(state.begin(), state.end(), key,
                       [](const auto& entry, const std::string& k) { return entry.first < k; });
  return it != state.end() && it->first == key ? it : state.end();
}

void Set(KvModel::State& state, const std::string& key, std::string value) {
  auto it =
      std::lower_bound(state.begin(), state.end(), key,
                       [](const auto& entry, const std::string& k) { return entry.first < k; });
  const bool present = it != state.end() && it->first == key;
  if (value.empty()) {
    if (present) state.erase(it);  // "" is the same as absent: keep one representation
  } else if (present) {
    it->second = std::move(value);
  } else {
    state.emplace(it, key, std::move(value));
  }
}

}  // namespace

absl::StatusOr<Call<KvModel>> KvModel::Decode(const Operation& op) const {
  Call<KvModel> call;
  if (op.f == "get") {
    call.input.kind = Input::Kind::kGet;
  } else if (op.f == "put") {
    call.input.kind = Input::Kind::kPut;
  } else if (op.f == "append") {
    call.input.kind = Input::Kind::kAppend;
  } else {
    return OperationError(
        op, absl::StrCat("model kv has no operation :", op.f, " (it has :get, :put, :append)"));
  }
  if (!op.key.has_value()) return OperationError(op, absl::StrCat("kv :", op.f, " needs a :key"));
  if (!op.key->is_string() && !op.key->is_integer() && !op.key->is_keyword()) {
    return OperationError(op, absl::StrCat("kv :key must be a string, integer or keyword, not ",
                                           edn::ToEdn(*op.key)));
  }
  call.input.key = edn::ToEdn(*op.key);
  if (call.input.kind == Input::Kind::kGet) {
    call.read_only = true;
    if (op.outcome != Outcome::kOk) return call;
    if (!op.output.is_string()) {
      return OutputError(op, absl::StrCat("kv :get's :ok :value must be a string (every key "
                                          "starts as \"\"), not ",
                                          edn::ToEdn(op.output)));
    }
    call.output = op.output.text;
    return call;
  }
  if (!op.input.is_string()) {
    return OperationError(
        op, absl::StrCat("kv :", op.f, " needs a string :value, not ", edn::ToEdn(op.input)));
  }
  call.input.value = op.input.text;
  if (op.outcome == Outcome::kOk) call.output = Output();
  return call;
}

std::string KvModel::PartitionKey(const Operation& op) const {
  return edn::ToEdn(*op.key);
}

std::optional<KvModel::State> KvModel::Step(const State& state, const Input& input,
                                            const std::optional<Output>& output) const {
  const auto it = Find(state, input.key);
  switch (input.kind) {
    case Input::Kind::kGet: {
      const absl::string_view current = it == state.end() ? absl::string_view() : it->second;
      if (output.has_value() && *output != current) return std::nullopt;
      return state;
    }
    case Input::Kind::kPut: {
      State next = state;
      Set(next, input.key, input.value);
      return next;
    }
    case Input::Kind::kAppend: {
      State next = state;
      Set(next, input.key, absl::StrCat(it == state.end() ? "" : it->second, input.value));
      return next;
    }
  }
  return std::nullopt;
}

bool KvModel::MayReach(const State& state, const Input& input, const Output& output,
                       const std::vector<const Input*>& steps) const {
  if (input.kind != Input::Kind::kGet) return true;  // :put and :append are always legal
  // Values the key can start from before the last :put among the steps: now, or what a :put
  // writes. After that only :append, which extends the value.
  bool appends = false;
  auto starts = [&](absl::string_view start) {
    return appends ? absl::StartsWith(output, start) : output == start;
  };
  for (const Input* step : steps) appends |= step->key == input.key && step->kind == Input::Kind::kAppend;
  const auto it = Find(state, input.key);
  if (starts(it == state.end() ? absl::string_view() : absl::string_view(it->second))) return true;
  for (const Input* step : steps) {
    if (step->key == input.key && step->kind == Input::Kind::kPut && starts(step->value)) {
      return true;
    }
  }
  return false;
}

uint64_t KvModel::Hash(const State& state) const {
  uint64_t h = state.size();
  for (const auto& [key, value] : state) h = HashBytes(HashBytes(h, key), value);
  return h;
}

std::string KvModel::Describe(const State& state) const {
  std::string out = "{";
  for (const auto& [key, value] : state) {
    if (out.size() > 1) out += ", ";
    absl::StrAppend(&out, key, " ", edn::ToEdn(edn::Value::String(value)));
  }
  return out + "}";
}

}  // namespace keel::checker
