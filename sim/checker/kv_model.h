// Sequential model of a key-value store whose every key starts as "":
//   {:f :get,    :key k}            the :ok :value is the key's string value
//   {:f :put,    :key k, :value v}  sets the key to the string v
//   {:f :append, :key k, :value v}  appends the string v to the key's value
// Keys are strings, integers or keywords; values are strings. Keys never constrain each other,
// so the checker splits the history by :key and checks each key on its own.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "sim/checker/model.h"

namespace keel::checker {

class KvModel {
 public:
  // One key's value, neither "" nor copied: states are copied at every search step, and
  // appends make values grow with the history, so a copy shares the text. The hash is
  // polynomial over the bytes (h = h * kHashBase + byte), so an :append extends it in
  // O(appended bytes) instead of rehashing the value.
  struct Entry {
    std::string key;  // its EDN text ("\"k1\"", "7")
    std::shared_ptr<const std::string> value;
    uint64_t value_hash = 0;
    friend bool operator==(const Entry& a, const Entry& b) {
      return a.value_hash == b.value_hash && a.key == b.key &&
             (a.value == b.value || *a.value == *b.value);
    }
  };
  // Entries sorted by key, holding only keys whose value is not "": one state, one
  // representation, so operator== is equality of stores. One entry inline: a partition of
  // the kv history holds one key.
  struct State {
    absl::InlinedVector<Entry, 1> entries;
    friend bool operator==(const State&, const State&) = default;
  };
  struct Input {
    enum class Kind : uint8_t { kGet, kPut, kAppend };
    Kind kind = Kind::kGet;
    std::string key;
    std::string value;  // :put's and :append's argument
  };
  using Output = std::string;  // what a :get returned; unused by :put and :append

  State Init() const { return {}; }
  absl::StatusOr<Call<KvModel>> Decode(const Operation& op) const;
  std::string PartitionKey(const Operation& op) const;
  std::optional<State> Step(const State& state, const Input& input,
                            const std::optional<Output>& output) const;
  bool Accepts(const State& state, const Input& input,
               const std::optional<Output>& output) const;
  // A :get of v can only follow a state in which its key holds a prefix of v, or a :put of
  // one: :append only extends a value. Exact when `steps` hold no :append to that key.
  bool MayReach(const State& state, const Input& input, const Output& output,
                const std::vector<const Input*>& steps) const;
  uint64_t Hash(const State& state) const;
  std::string Describe(const State& state) const;
};

static_assert(SequentialModel<KvModel>);
static_assert(HasAccepts<KvModel> && HasMayReach<KvModel>);

}  // namespace keel::checker
