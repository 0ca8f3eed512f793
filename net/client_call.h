// The decisions of a keel client call, free of I/O, shared by the blocking Client and the
// pipelined client (net/pipeline.h) so both follow one set of rules: which node to ask, what
// an answer means (settled, retry elsewhere, or outcome unknown), which session numbers a
// command carries, and how a node's answer becomes the caller's result.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/types.h"
#include "kvstate/kv.pb.h"
#include "net/client.pb.h"

namespace keel::client {

// Answers the client may not wait past: the attempt's own timeout plus room for the trip back.
inline constexpr int64_t kAnswerSlackNanos = 1'000'000'000;  // a node answers by deadline + a tick
// Pause before a retry, so a cluster between leaders is not flooded.
inline constexpr int64_t kBackoffNanos = 20'000'000;

int64_t SteadyNowNanos();

// The client's knowledge of the leader: node id -> endpoint (learned from status answers),
// the last leader hint, and which endpoints went silent (an attempt got no answer). Pick()
// goes to the leader's endpoint when both are known and it is not silent, else round-robin
// over the endpoints that are not silent (all of them again once every one went silent).
// Why silence counts: after a leader dies, followers keep naming it until they elect another,
// and every other call's timeout used to reset the choice to plain round-robin, so one call
// could spend its whole deadline on the dead node, one attempt timeout at a time.
class LeaderTracker {
 public:
  explicit LeaderTracker(size_t endpoints) : endpoints_(endpoints), silent_(endpoints, false) {}
  // Endpoint `index` answered a status request as node `id`, seeing `leader` (or kNoNode).
  void Learn(NodeId id, size_t index, NodeId leader);
  // A node names `leader` (kNoNode: none). Ignored if that node's endpoint is silent: it
  // answers nobody, whoever still believes it leads.
  void Hint(NodeId leader);
  void Forget() { leader_ = kNoNode; }
  // Endpoint `index` answered (any answer, even a late one): it is not silent.
  void Answered(size_t index);
  // An attempt to endpoint `index` got no answer in time: skip it until it answers again.
  void NoAnswer(size_t index);
  NodeId leader() const { return leader_; }
  bool silent(size_t index) const { return silent_[index]; }
  size_t Pick();

 private:
  bool IsSilentNode(NodeId id) const;

  size_t endpoints_;
  NodeId leader_ = kNoNode;
  size_t next_endpoint_ = 0;
  std::map<NodeId, size_t> endpoint_of_;
  std::vector<bool> silent_;
};

// What one call has seen over its attempts.
struct CallProgress {
  bool maybe_applied = false;          // some attempt's fate is unknown
  std::string last_error = "no attempt made";
};

enum class AttemptVerdict {
  kSettled,  // the answer is final: hand it to the caller
  kRetry,    // not applied, or safely resendable: try again after kBackoffNanos
  kUnknown,  // may have been applied and may not be resent: DeadlineExceeded now
};

// Judges one attempt's outcome at endpoint `index` (`response` an answer, or an error for no
// answer in time), updating what `leader` and `progress` know. `retry_on_unknown`: the request
// may be resent when its outcome is unknown (reads, deduplicated session commands).
AttemptVerdict JudgeAttempt(const absl::StatusOr<Response>& response, size_t index, bool retry_on_unknown,
                            LeaderTracker& leader, CallProgress& progress);

// The status of a call whose deadline passed without a settled answer: DeadlineExceeded if
// some attempt may have applied it, else Unavailable.
absl::Status GiveUpStatus(const CallProgress& progress);
// The status of a kUnknown verdict.
absl::Status UnknownStatus(const CallProgress& progress);

// Commands that need a session: all but reads and the registration itself.
bool IsMutating(const kvpb::Command& command);

// How a command travels: whether it is a read, needs the session, may be resent.
struct CommandPlan {
  bool read = false;
  bool mutating = false;
  bool resendable = false;
};
// Checks `command` (an op; a session for mutating ones) and fills in a mutating command's
// session, `sequence` and `acked_sequence` (every result at or below it was seen).
absl::StatusOr<CommandPlan> PrepareCommand(kvpb::Command& command, uint64_t session, uint64_t sequence,
                                           uint64_t acked_sequence);

// The caller's result of an Execute'd command from the call's outcome (client.h, Execute).
absl::StatusOr<kvpb::Result> ToResult(absl::StatusOr<Response> response, const CommandPlan& plan);

}  // namespace keel::client
