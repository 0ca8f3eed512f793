// The simulator's client workload over keel's replicated state (kvstate/): proxies that
// acquire and release pool slots, pick backends from load balancers and read and write the KV
// store, each through its own client session, with timeouts and retries; and the history they
// leave, in the EDN form keel-check reads (sim/checker/kvstate_model.h).
//
// A retry resends the same (session, sequence), so the cluster applies the command at most
// once; the history holds one operation per command, whatever the number of attempts.
// Mutating commands are retried until answered (so they end :ok unless the run stops first);
// reads give up after a few attempts. An operation is :ok when some attempt returned a
// result, :fail when no attempt can have been applied (every one was refused before it was
// proposed or lost its log slot), and :info otherwise; after an :info the client continues as a new process (Jepsen's convention: the
// old one still has an operation in flight). Client c's processes are c, c + (clients + 1),
// c + 2 (clients + 1), ...; the final reader's are 0, clients + 1, ...
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "engine/prng.h"
#include "engine/types.h"
#include "kvstate/kv.pb.h"
#include "sim/checker/check.h"
#include "sim/checker/history.h"
#include "sim/scheduler.h"

namespace keel::sim {

// What one attempt to have a command applied came to.
struct Attempt {
  enum class Outcome : uint8_t {
    kApplied,     // `result` is the serialized kvpb::Result
    kNotApplied,  // refused before proposing, or its entry lost its log slot: never applied
    kUnknown,     // timed out, or the node went away: may be applied, now or later
  };
  Outcome outcome = Outcome::kUnknown;
  std::string result;
};

struct WorkloadEnv {
  Scheduler* scheduler = nullptr;
  std::vector<NodeId> nodes;
  // If set, the nodes clients pick from now (membership changes add and remove nodes);
  // otherwise `nodes`.
  std::function<std::vector<NodeId>()> members;
  // The node a client should try first (the leader as far as anybody knows), or kNoNode.
  std::function<NodeId()> leader_hint;
  // Sends `command` (a serialized kvpb::Command) to `node` and blocks the calling fiber until
  // the outcome is known or the virtual clock reaches `deadline` (then kUnknown).
  std::function<Attempt(NodeId node, const std::string& command, int64_t deadline)> submit;
  std::function<void(const std::string& line)> trace;
  // Traces a line that is costly to write (a history event): `digest` stands for it in the
  // trace hash, and `render` writes it only if somebody reads the trace. Unset: trace(render()).
  std::function<void(absl::string_view digest, absl::FunctionRef<std::string()> render)> trace_deferred;
  // True once everything must stop (the run failed).
  std::function<bool()> stopped;
  int64_t attempt_timeout_nanos = 0;
  int64_t think_nanos = 0;  // mean pause between a client's operations
};

// Swarm-drawn shape of the workload; every client sees the same objects.
struct WorkloadShape {
  int pools = 2;
  uint64_t pool_capacity = 2;  // small, so that exhaustion and the apply-twice bug show
  int kv_blocks = 2;
  int keys_per_block = 3;
  int attempts = 3;  // per read
  // Clients go back to the node that last answered them half of the time, as a real client
  // with a connection does, instead of asking the oracle for the leader: that is how reads
  // reach a deposed leader that does not know it yet. Drawn apart from the shape (last, with
  // the read settings), so Describe() leaves it out.
  bool sticky_clients = false;
  std::string Describe() const;
};

WorkloadShape DrawWorkloadShape(Prng& prng);

class Workload {
 public:
  Workload(WorkloadEnv env, WorkloadShape shape, int clients, Prng prng);

  // The body of client `client` (1-based): registers a session, then issues operations until
  // env.stopped(). Run it in its own fiber.
  void ClientMain(int client);
  // Clients finish the operation they are in (ending the safety phase leaves it open in the
  // history) and issue no more.
  void StopClients() { clients_stopped_ = true; }
  // Reads every object once (pool and load-balancer stats, a list of every KV block), as
  // process 0, so that the history ends with the final state; then returns. Run it in a fiber
  // once the cluster is healthy.
  void FinalReads();

  // The history so far, one EDN map per line (each ends with '\n'), written now from the
  // recorded events (the workload keeps them as protos: writing EDN for every event was 14%
  // of a production-timed simulation's time).
  std::string history() const;
  // The same history paired into operations: what checker::ParseHistory(history()) returns,
  // without the parse, except that every operation's input and output are nil (the check
  // reads them from typed_operations()). operations_with_values() fills them: exactly
  // ParseHistory(history()), for explaining a failure.
  const checker::History& operations() const { return operations_.history(); }
  checker::History operations_with_values() const;
  // Per operation (same index): what its EDN values say, as protos, for a check that decodes
  // nothing (checker::KvstateModel::Decoded). `command` holds only the op (as the EDN does, no
  // session fields); `result` is set exactly for :ok operations.
  struct TypedOperation {
    kvpb::Command command;
    std::optional<kvpb::Result> result;
  };
  const std::vector<TypedOperation>& typed_operations() const { return typed_; }
  // checker::CheckHistory(KvstateModel(kAll), operations_with_values(), options), decoding the
  // commands and results from typed_operations() instead of from EDN: same verdict, same
  // search. Searches operations() (no values: the result holds indices into the operations,
  // so render it with operations_with_values()); an error is computed again over
  // operations_with_values(), so that its message quotes the values.
  absl::StatusOr<checker::CheckResult> CheckOperations(const checker::CheckOptions& options) const;
  // Completed operations by outcome ("ok", "fail", "info").
  const std::map<std::string, uint64_t>& outcomes() const { return outcomes_; }
  bool final_reads_done() const { return final_reads_done_; }

 private:
  struct Client;
  kvpb::Command DrawCommand(Client& client);
  // Runs one operation to its history completion. `mutating` commands carry the session.
  void RunOperation(Client& client, kvpb::Command command, bool mutating);
  // Submits until an attempt is applied or `attempts` are used up.
  Attempt Perform(Client& client, const kvpb::Command& command, int attempts, bool* maybe_applied);
  // Appends one event to the history (events, operations, trace). `result`: an :ok's.
  void Record(int64_t process, checker::EventType type, const kvpb::Command& command, const kvpb::Result* result);
  // One recorded client event: what its history line says, the values in typed_[op].
  struct RecordedEvent {
    int64_t process;
    int64_t time;
    size_t op;
    checker::EventType type;
  };
  // The event's :value, as its history line holds it (nil for :fail and :info).
  edn::Value EventValue(const RecordedEvent& event) const;
  // The event's history line, without the newline.
  std::string EventLine(const RecordedEvent& event) const;

  WorkloadEnv env_;
  WorkloadShape shape_;
  int clients_;
  Prng prng_;
  std::vector<RecordedEvent> events_;
  checker::HistoryBuilder operations_;
  std::vector<TypedOperation> typed_;
  std::string digest_;  // Record's scratch: the trace digest of one event
  std::map<std::string, uint64_t> outcomes_;
  bool final_reads_done_ = false;
  bool clients_stopped_ = false;
};

}  // namespace keel::sim
