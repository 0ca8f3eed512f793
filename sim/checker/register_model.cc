#include "sim/checker/register_model.h"

#include "absl/strings/str_cat.h"

namespace keel::checker {
namespace {

absl::StatusOr<RegisterModel::Value> DecodeValue(const edn::Value& value) {
  if (value.is_nil()) return RegisterModel::Value();
  if (value.is_integer()) return RegisterModel::Value(value.integer);
  return absl::InvalidArgumentError(
      absl::StrCat("register values are integers or nil, not ", edn::ToEdn(value)));
}

}  // namespace

absl::StatusOr<Call<RegisterModel>> RegisterModel::Decode(const Operation& op) const {
  Call<RegisterModel> call;
  if (op.f == "read") {
    call.input.kind = Input::Kind::kRead;
    call.read_only = true;
    if (op.outcome != Outcome::kOk) return call;
    absl::StatusOr<Value> result = DecodeValue(op.output);
    if (!result.ok())
      return OutputError(op, absl::StrCat(":read's result: ", result.status().message()));
    call.output = *result;
    return call;
  }
  if (op.f == "write") {
    if (!op.input.is_integer()) {
      return OperationError(
          op, absl::StrCat(":write needs an integer :value, not ", edn::ToEdn(op.input)));
    }
    call.input.kind = Input::Kind::kWrite;
    call.input.value = op.input.integer;
  } else if (op.f == "cas" && with_cas_) {
    const edn::Value& pair = op.input;
    if (pair.kind != edn::Kind::kVector || pair.items.size() != 2 || !pair.items[1].is_integer()) {
      return OperationError(op, absl::StrCat(":cas needs :value [old new] with an integer new "
                                             "value (old may be nil), not ",
                                             edn::ToEdn(pair)));
    }
    absl::StatusOr<Value> expected = DecodeValue(pair.items[0]);
    if (!expected.ok())
      return OperationError(op, absl::StrCat(":cas's old value: ", expected.status().message()));
    call.input.kind = Input::Kind::kCas;
    call.input.expected = *expected;
    call.input.value = pair.items[1].integer;
  } else {
    return OperationError(
        op, absl::StrCat("model ", with_cas_ ? "cas-register" : "register",
                         " has no operation :", op.f, " (it has :read, :write",
                         with_cas_ ? ", :cas)" : "; :cas needs --model cas-register)"));
  }
  // Writes and cas return nothing the model checks; only whether they happened matters.
  if (op.outcome == Outcome::kOk) call.output = Output();
  return call;
}

std::optional<RegisterModel::State> RegisterModel::Step(const State& state, const Input& input,
                                                        const std::optional<Output>& output) const {
  switch (input.kind) {
    case Input::Kind::kRead:
      if (output.has_value() && *output != state) return std::nullopt;
      return state;
    case Input::Kind::kWrite:
      return State(input.value);
    case Input::Kind::kCas:
      // An :ok cas succeeded, so the register held the old value. An indeterminate cas that
      // found another value changed nothing, which the search covers by leaving it out.
      if (state != input.expected) return std::nullopt;
      return State(input.value);
  }
  return std::nullopt;
}

uint64_t RegisterModel::Hash(const State& state) const {
  return state.has_value() ? HashMix(1, static_cast<uint64_t>(*state)) : 0;
}

std::string RegisterModel::Describe(const State& state) const {
  return state.has_value() ? absl::StrCat(*state) : "nil";
}

}  // namespace keel::checker
