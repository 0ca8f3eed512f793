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
// the last leader hint, and which endpoints went silent (an attempt got no answer) and until
// when. Pick() goes to the leader's endpoint when both are known and it is not silent, else
// round-robin over the endpoints that are not silent (all of them again once every one went
// silent). Why silence counts: after a leader dies, followers keep naming it until they elect
// another, and every other call's timeout used to reset the choice to plain round-robin, so
// one call could spend its whole deadline on the dead node, one attempt timeout at a time.
// Silence lapses after `silence_nanos` (a client that never reads late answers would
// otherwise never go back to a node that recovered). Times are the caller's clock.
class LeaderTracker {
 public:
  LeaderTracker(size_t endpoints, int64_t silence_nanos)
      : endpoints_(endpoints), silence_nanos_(silence_nanos), silent_until_(endpoints, 0) {}
  // Endpoint `index` answered a status request as node `id`, seeing `leader` (or kNoNode).
  void Learn(NodeId id, size_t index, NodeId leader, int64_t now);
  // The outcome of a status probe of endpoint `index` (an answer, Unavailable if it could not
  // be sent, another error for no answer): Learn from an OK answer, NoAnswer for silence.
  void OnProbe(size_t index, const absl::StatusOr<Response>& response, int64_t now);
  // A node names `leader` (kNoNode: none). Ignored if that node's endpoint is silent: it
  // answers nobody, whoever still believes it leads.
  void Hint(NodeId leader, int64_t now);
  // `leader` is known to lead now (a leadership transfer to it succeeded): taken as is.
  void Elected(NodeId leader);
  void Forget() { leader_ = kNoNode; }
  // Endpoint `index` answered (any answer, even a late one): it is not silent.
  void Answered(size_t index);
  // An attempt to endpoint `index` got no answer in time: skip it for silence_nanos.
  void NoAnswer(size_t index, int64_t now);
  NodeId leader() const { return leader_; }
  bool silent(size_t index, int64_t now) const { return now < silent_until_[index]; }
  size_t Pick(int64_t now);

 private:
  bool IsSilentNode(NodeId id, int64_t now) const;

  size_t endpoints_;
  int64_t silence_nanos_;
  NodeId leader_ = kNoNode;
  size_t next_endpoint_ = 0;
  std::map<NodeId, size_t> endpoint_of_;
  std::vector<int64_t> silent_until_;  // per endpoint; silent while now < this
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

// True if this answer is the command's final outcome (kSettled below), whichever attempt of
// the call it answers: every attempt carries the same command (and session and sequence, which
// the node applies at most once), so an earlier attempt's late answer is as good as the last's.
bool SettlesCall(const Response& response);

// Judges one attempt's outcome at endpoint `index` at time `now`: `response` is an answer,
// Unavailable if the request could not even be queued (never sent), or another error for no
// answer in time. Updates what `leader` and `progress` know. `retry_on_unknown`: the request
// may be resent when its outcome is unknown (reads, deduplicated session commands).
AttemptVerdict JudgeAttempt(const absl::StatusOr<Response>& response, size_t index, int64_t now,
                            bool retry_on_unknown, LeaderTracker& leader, CallProgress& progress);

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
