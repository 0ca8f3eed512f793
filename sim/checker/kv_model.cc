#include "sim/checker/kv_model.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace keel::checker {
namespace {

constexpr uint64_t kHashBase = 0x100000001B3ULL;  // FNV-1a's 64-bit prime: odd, spreads bytes

uint64_t ExtendHash(uint64_t hash, absl::string_view bytes) {
  for (const char c : bytes) hash = hash * kHashBase + static_cast<unsigned char>(c);
  return hash;
}

// The entry of `key` in a sorted state, or end. The search asks this several times per step,
// mostly of states with one key (a partition's): a scan comparing lengths first beats a
// binary search of string comparisons there.
auto Find(const KvModel::State& state, const std::string& key) {
  constexpr size_t kScanUpTo = 8;
  if (state.entries.size() <= kScanUpTo) {
    return std::find_if(state.entries.begin(), state.entries.end(),
                        [&](const KvModel::Entry& entry) { return entry.key == key; });
  }
  const auto it = std::lower_bound(
      state.entries.begin(), state.entries.end(), key,
      [](const KvModel::Entry& entry, const std::string& k) { return entry.key < k; });
  return it != state.entries.end() && it->key == key ? it : state.entries.end();
}

absl::string_view ValueOf(const KvModel::State& state, const std::string& key) {
  const auto it = Find(state, key);
  return it == state.entries.end() ? absl::string_view() : absl::string_view(*it->value);
}

void Set(KvModel::State& state, const std::string& key, std::string value, uint64_t hash) {
  auto it = std::lower_bound(
      state.entries.begin(), state.entries.end(), key,
      [](const KvModel::Entry& entry, const std::string& k) { return entry.key < k; });
  const bool present = it != state.entries.end() && it->key == key;
  if (value.empty()) {
    if (present) state.entries.erase(it);  // "" is the same as absent: keep one representation
    return;
  }
  auto shared = std::make_shared<const std::string>(std::move(value));
  if (present) {
    it->value = std::move(shared);
    it->value_hash = hash;
  } else {
    state.entries.insert(it, KvModel::Entry{key, std::move(shared), hash});
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
  switch (input.kind) {
    case Input::Kind::kGet:
      if (output.has_value() && *output != ValueOf(state, input.key)) return std::nullopt;
      return state;
    case Input::Kind::kPut: {
      State next = state;
      Set(next, input.key, input.value, ExtendHash(0, input.value));
      return next;
    }
    case Input::Kind::kAppend: {
      if (input.value.empty()) return state;
      const auto it = Find(state, input.key);
      const bool present = it != state.entries.end();
      State next = state;
      Set(next, input.key, absl::StrCat(present ? *it->value : "", input.value),
          ExtendHash(present ? it->value_hash : 0, input.value));
      return next;
    }
  }
  return std::nullopt;
}

bool KvModel::Accepts(const State& state, const Input& input,
                      const std::optional<Output>& output) const {
  return input.kind != Input::Kind::kGet || !output.has_value() ||
         *output == ValueOf(state, input.key);
}

bool KvModel::MayReach(const State& state, const Input& input, const Output& output,
                       const std::vector<const Input*>& steps) const {
  if (input.kind != Input::Kind::kGet) return true;  // :put and :append are always legal
  // The key's value starts as it is now, or as a :put among the steps writes it; after that,
  // only :append, which extends it.
  const bool appends = std::any_of(steps.begin(), steps.end(), [&](const Input* step) {
    return step->kind == Input::Kind::kAppend && step->key == input.key;
  });
  auto starts = [&](absl::string_view start) {
    return appends ? absl::StartsWith(output, start) : output == start;
  };
  if (starts(ValueOf(state, input.key))) return true;
  return std::any_of(steps.begin(), steps.end(), [&](const Input* step) {
    return step->kind == Input::Kind::kPut && step->key == input.key && starts(step->value);
  });
}

uint64_t KvModel::Hash(const State& state) const {
  uint64_t h = state.entries.size();
  for (const Entry& entry : state.entries) {
    h = HashMix(HashBytes(h, entry.key), entry.value_hash ^ entry.value->size());
  }
  return h;
}

std::string KvModel::Describe(const State& state) const {
  std::string out = "{";
  for (const Entry& entry : state.entries) {
    if (out.size() > 1) out += ", ";
    absl::StrAppend(&out, entry.key, " ", edn::ToEdn(edn::Value::String(*entry.value)));
  }
  return out + "}";
}

}  // namespace keel::checker
