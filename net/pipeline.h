// The pipelined client of keel: many commands in flight on one session over one socket per
// node, answered out of order, driven by one thread calling Poll(). The same rules as the
// blocking Client (net/client_call.h: routing to the leader, retries that reuse a command's
// session and sequence, what an answer means), without a thread or a round trip per command.
// A proxy serving many connections from one event loop, or a load generator, uses this one.
//
// Not thread-safe: one thread submits and polls; callbacks run inside Poll on that thread and
// may Submit again. Every call ends (its callback runs) by its call timeout plus the answer
// slack (kAnswerSlackNanos), unless the Pipeline is destroyed first: then open calls'
// callbacks never run. An answer that arrives after its attempt timed out still ends the call
// if it is final (SettlesCall) and the call is still open (retrying); other late answers, and
// any answer after the call ended, are not used.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "net/client.h"
#include "net/client_call.h"

namespace keel::client {

class DealerSet;

class Pipeline {
 public:
  using Done = absl::AnyInvocable<void(absl::StatusOr<kvpb::Result>)>;

  // At most this many calls may be open at once (a session caches at most
  // kvstate::kMaxCachedResults results above its watermark).
  static constexpr size_t kMaxOpenCalls = 4096;
  // A mutating command is refused while the oldest open one is this many sequences back: a
  // session keeps at most kvstate::kMaxCachedResults results above its watermark (equal;
  // pipeline_test checks it), and the node would drop the oldest's to make room.
  static constexpr uint64_t kMaxSessionWindow = 4096;

  // As Client::Create (validates the options; connects lazily).
  static absl::StatusOr<std::unique_ptr<Pipeline>> Create(const ClientOptions& options);
  ~Pipeline();

  // Learns which endpoint is which node (a status request to each, up to 500 ms), then
  // registers a session, polling until it is answered. Blocking; call before Submit of a
  // mutating command.
  absl::Status OpenSession();
  // Closes the session (its pool slots are released), polling until answered. Best effort.
  // Precondition: no open call.
  absl::Status CloseSession();
  uint64_t session() const { return session_; }

  // Queues `command`; it is sent at the next Poll, and `done` runs inside a later Poll with
  // what Client::Execute would have returned. Mutating commands get the session, the next
  // sequence and the watermark below every open call's sequence. A malformed command, a
  // mutating one without a session, one past kMaxOpenCalls or kMaxSessionWindow fails
  // (ResourceExhausted for the limits) through `done` as well.
  void Submit(kvpb::Command command, Done done, nodepb::ReadMode read_mode = nodepb::READ_LINEARIZABLE);

  // Sends what is queued and retries that are due, waits up to `wait_nanos` for answers (less
  // if a timeout or a retry falls due sooner, not at all if a call is already settled), then
  // settles what was answered or timed out and runs those callbacks. Returns how many ran.
  size_t Poll(int64_t wait_nanos);

  size_t open_calls() const { return calls_.size(); }
  // Requests sent in all (retries and status probes included).
  uint64_t attempts() const { return attempts_; }

 private:
  struct Call {
    Request request;  // as sent, but for the attempt's id and timeout
    CommandPlan plan;
    Done done;
    int64_t deadline = 0;  // the call gives up after this
    CallProgress progress;
    uint64_t attempt = 0;  // the request id of the attempt in flight, 0 if none
    size_t endpoint = 0;   // where that attempt went
    int64_t probe_endpoint = -1;  // a status probe: that endpoint only, never retried
    std::vector<uint64_t> timed_out;  // ids of its attempts that timed out (in late_attempts_)
  };
  struct Settled {
    Done done;
    absl::StatusOr<kvpb::Result> result;
  };

  explicit Pipeline(const ClientOptions& options);
  uint64_t Open(Request request, CommandPlan plan, Done done);
  void Send(uint64_t key, int64_t now);
  // Ends call `key` with `outcome` (a node's answer or the status it ended on).
  void Finish(uint64_t key, absl::StatusOr<Response> outcome);
  void OnOutcome(uint64_t key, absl::StatusOr<Response> outcome, int64_t now);
  // An answer to a timed-out attempt of call `key`, which is still open (retrying).
  void OnLateAnswer(uint64_t key, Response response, int64_t now);
  void Receive(int64_t now);
  void ExpireAttempts(int64_t now);
  void SendDue(int64_t now);
  void KeepAliveIfDue(int64_t now);
  uint64_t AckedSequence() const;
  // Opens a call for `request` and polls until it ends (every call does, by its deadline).
  absl::StatusOr<kvpb::Result> CallAndWait(Request request, CommandPlan plan);

  ClientOptions options_;
  std::unique_ptr<DealerSet> dealers_;
  LeaderTracker leader_;
  uint64_t session_ = 0;
  uint64_t sequence_ = 0;
  int64_t last_activity_nanos_ = 0;
  bool keep_alive_open_ = false;
  uint64_t next_key_ = 1;
  uint64_t next_id_ = 1;
  uint64_t attempts_ = 0;
  std::map<uint64_t, Call> calls_;                         // by key, in submission order
  absl::flat_hash_map<uint64_t, uint64_t> by_attempt_;     // request id -> call key (lookup only)
  absl::flat_hash_map<uint64_t, uint64_t> late_attempts_;  // timed-out id -> key of an open call
  std::set<uint64_t> open_sequences_;                      // of open mutating calls
  std::vector<uint64_t> to_send_;                          // keys, sent at the next Poll
  std::multimap<int64_t, uint64_t> retry_at_;              // time -> key, after a backoff
  // (attempt deadline, request id), earliest first; stale entries are skipped.
  std::priority_queue<std::pair<int64_t, uint64_t>, std::vector<std::pair<int64_t, uint64_t>>,
                      std::greater<>>
      attempt_deadlines_;
  std::deque<Settled> settled_;
};

}  // namespace keel::client
