// Sequential models of a single register, as in Jepsen/Knossos:
//   "register":     :read (result in the :ok :value; nil before the first write), :write v.
//   "cas-register": the same plus :cas [old new], which sets new iff the register holds old.
//                   An :ok cas succeeded; a cas whose old value did not match completes :fail
//                   and, like every :fail, is dropped before the search.
// Values are integers; nil is the initial value (and may be a cas's old value).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "sim/checker/model.h"

namespace keel::checker {

class RegisterModel {
 public:
  using Value = std::optional<int64_t>;  // nullopt: nil, the value before any write
  using State = Value;
  struct Input {
    enum class Kind : uint8_t { kRead, kWrite, kCas };
    Kind kind = Kind::kRead;
    int64_t value = 0;  // :write's value; :cas's new value
    Value expected;     // :cas's old value
  };
  using Output = Value;  // what a :read returned; unused by :write and :cas

  // with_cas: accept :cas operations ("cas-register") or reject them ("register").
  explicit RegisterModel(bool with_cas) : with_cas_(with_cas) {}

  State Init() const { return std::nullopt; }
  absl::StatusOr<Call<RegisterModel>> Decode(const Operation& op) const;
  std::string PartitionKey(const Operation&) const { return ""; }
  std::optional<State> Step(const State& state, const Input& input,
                            const std::optional<Output>& output) const;
  uint64_t Hash(const State& state) const;
  std::string Describe(const State& state) const;

 private:
  bool with_cas_;
};

static_assert(SequentialModel<RegisterModel>);

}  // namespace keel::checker
