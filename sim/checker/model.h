// The interface between the linearizability checker and a sequential model of an object.
//
// A model is a plain class M with three value types and a handful of const methods:
//
//   M::State   the object's state; copyable, with operator== (the memo compares states).
//   M::Input   what an operation asks for (decoded once from the history's EDN).
//   M::Output  what an operation returned.
//
//   State Init() const
//       The state before any operation.
//   absl::StatusOr<Call<M>> Decode(const Operation& op) const
//       Validates one history operation (outcome kOk or kInfo; kFail operations never reach a
//       model) and turns it into typed input and output. Output is nullopt exactly when the
//       outcome is kInfo: nobody saw the result. Marks read-only operations (see Call). Errors are
//       InvalidArgument starting with "line N: " (use OperationError) and make keel-check exit 2.
//   std::string PartitionKey(const Operation& op) const
//       Called only for operations Decode accepted. Operations with different keys never
//       constrain each other (P-compositionality, Herlihy & Wing §3.3), so the checker checks
//       each key's sub-history on its own. Return "" for every operation when the object does
//       not split (a register). The key is also what reports print, so make it readable.
//   std::optional<State> Step(const State& state, const Input& input,
//                             const std::optional<Output>& output) const
//       nullopt if the operation cannot return `output` when applied to `state`; otherwise the
//       state after it. With output nullopt (indeterminate), Step must accept the operation iff
//       it can take effect in `state` with some result, and return the state it leaves.
//       Step must be a pure function of its arguments.
//   uint64_t Hash(const State& state) const
//       Equal states hash equal. Must not depend on the process (no pointers, no per-process
//       seeds), so that runs repeat exactly.
//   std::string Describe(const State& state) const
//       The state for people, in EDN where it can be: reports print it.
//
// and, optionally (detected by HasAccepts and HasMayReach):
//
//   bool Accepts(const State& state, const Input& input,
//                const std::optional<Output>& output) const
//       Exactly Step(state, input, output).has_value(), without building the next state: the
//       search asks it far more often than it steps.
//
//   bool MayReach(const State& state, const Input& input, const Output& output,
//                 const std::vector<const Input*>& steps) const
//       False only if no sequence of operations with the inputs in `steps` (each any number
//       of times, in any order, with any results) leads from `state` to a state in which
//       Step(·, input, output) accepts. True is always a sound answer. The search asks it to
//       prune a configuration in which a pending operation can never become legal; without
//       it, the search explores a few dozen states by Step, which cannot tell for histories
//       whose states keep growing (many concurrent :append).
//
// Later models (connection pools, load balancers, the kvstate machine) are new classes of this
// shape registered in models.cc; the search itself never changes.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "sim/checker/history.h"

namespace keel::checker {

// One decoded operation, as Step sees it.
template <typename M>
struct Call {
  typename M::Input input;
  std::optional<typename M::Output> output;  // nullopt: indeterminate (:info or no completion)
  // True if Step never changes the state for this input: in every state it either rejects the
  // operation or returns the state unchanged (a read). The search places such an operation as
  // soon as it is legal without trying alternatives, and drops it altogether when it is
  // indeterminate (a read whose result nobody saw constrains nothing). Setting it for an
  // operation that can change the state makes verdicts wrong; the checker asserts it.
  bool read_only = false;
};

template <typename M>
concept SequentialModel = std::copyable<typename M::State> &&
    std::equality_comparable<typename M::State> &&
    requires(const M& model, const Operation& op, const typename M::State& state,
             const typename M::Input& input, const std::optional<typename M::Output>& output) {
  { model.Init() } -> std::same_as<typename M::State>;
  { model.Decode(op) } -> std::same_as<absl::StatusOr<Call<M>>>;
  { model.PartitionKey(op) } -> std::convertible_to<std::string>;
  { model.Step(state, input, output) } -> std::same_as<std::optional<typename M::State>>;
  { model.Hash(state) } -> std::convertible_to<uint64_t>;
  { model.Describe(state) } -> std::convertible_to<std::string>;
};

// Whether M has the optional Accepts (see above).
template <typename M>
concept HasAccepts = requires(const M& model, const typename M::State& state,
                              const typename M::Input& input,
                              const std::optional<typename M::Output>& output) {
  { model.Accepts(state, input, output) } -> std::same_as<bool>;
};

// Whether M has the optional MayReach (see above).
template <typename M>
concept HasMayReach = requires(const M& model, const typename M::State& state,
                               const typename M::Input& input, const typename M::Output& output,
                               const std::vector<const typename M::Input*>& steps) {
  { model.MayReach(state, input, output, steps) } -> std::same_as<bool>;
};

// An input error about `op`, located at its invocation line.
inline absl::Status OperationError(const Operation& op, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat("line ", op.invoke_line, ": ", reason));
}

// An input error about `op`'s result, located at its completion line.
inline absl::Status OutputError(const Operation& op, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(
      "line ", op.complete_line != 0 ? op.complete_line : op.invoke_line, ": ", reason));
}

// Deterministic hashing helpers for models (absl::Hash is seeded per process).
inline uint64_t HashMix(uint64_t h, uint64_t v) {
  // splitmix64's finaliser over the combination: cheap, and every input bit reaches every
  // output bit.
  uint64_t z = h ^ (v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2));
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

inline uint64_t HashBytes(uint64_t h, absl::string_view bytes) {
  uint64_t word = 0;
  int filled = 0;
  for (const char c : bytes) {
    word = (word << 8) | static_cast<unsigned char>(c);
    if (++filled == 8) {
      h = HashMix(h, word);
      word = 0;
      filled = 0;
    }
  }
  return HashMix(h, word ^ (static_cast<uint64_t>(bytes.size()) << 56));
}

}  // namespace keel::checker
