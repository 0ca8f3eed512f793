// The node driver: everything a keel node decides for its clients, in one place that the
// production event loop (net/) and the simulator's node fiber (sim/) both drive unchanged
// (FoundationDB's rule: simulate the code that ships). It owns a Replica and:
// - validates client requests and stamps writes with the leader's clock before proposing;
// - proposes every queued write and then carries out one Ready (one fsync per batch), and
//   ticks on time however much is queued;
// - serves linearizable reads by ReadIndex without a log entry (one ReadIndex per batch of
//   reads; with lease reads on, the leader's lease may confirm it without a heartbeat round),
//   stale reads from local state only when asked, and fails a read that a leader
//   change dropped with a retryable error instead of leaving it hanging;
// - on a follower, proxies the whole request to the leader over the peer channel and relays
//   the answer (never a bare proposal); with no leader known, waits for one until the
//   request's deadline;
// - leadership transfer, membership changes (proposed on the leader, answered once committed;
//   every peer of the cluster is heard except ids a committed configuration removed) and
//   status.
//
// Event-driven and single-threaded: the owner calls OnEnvelope() / OnRequest() as input
// arrives (they only queue), and Poll() whenever it wakes or NextWakeNanos() is reached.
// Every request is answered exactly once, at the latest at its deadline (plus one tick).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/application.h"
#include "engine/env.h"
#include "engine/node.pb.h"
#include "engine/peer.pb.h"
#include "engine/replica.h"
#include "engine/storage/durable_storage.h"

namespace keel {

// Best-effort, unordered, lossy delivery of envelopes to peers; delivery to this node comes
// back through Node::OnEnvelope. Production: ZeroMQ; simulation: the simulated network.
class PeerChannel {
 public:
  virtual ~PeerChannel() = default;
  // Queues `envelope` for envelope.header.to(). Never blocks; may drop. A raft body (with its
  // entries, sharing their payloads) travels in envelope.raft (engine/message.h).
  virtual void Send(Envelope&& envelope) = 0;
  // The configuration changed (and once when the node opens): every member (voters of either
  // half and learners, this node included if it is one) with the MemberInfo the configuration
  // carries for it (empty for members the operator's flags describe). Production connects to
  // members it did not know and admits their keys; the simulator needs nothing of it.
  virtual void SetMembers(const std::map<NodeId, nodepb::MemberInfo>& members) {}
};

struct NodeOptions {
  ReplicaOptions replica;
  uint64_t cluster_id = 0;           // envelopes of another cluster are dropped
  int64_t default_timeout_nanos = 5'000'000'000;
  int64_t max_timeout_nanos = 60'000'000'000;
  // A proxied request still unanswered after this long is sent again (only requests that are
  // safe to repeat: reads and session-deduplicated commands); 0: one election timeout.
  int64_t proxy_retry_nanos = 0;
  // Above this many open calls (own clients' and proxied ones), new ones are refused
  // UNAVAILABLE instead of queued without bound.
  size_t max_open_calls = 100'000;
  // Leader time stamped into commands (the state machine's clock) is read from this clock if
  // set, else from the node's clock. Production passes the wall clock: steady clocks of
  // different hosts have different epochs, and log time must stay comparable across leaders.
  const Clock* leader_time_clock = nullptr;
};

// Counts for metrics and tests; never reset.
struct NodeCounters {
  uint64_t dropped_wrong_cluster = 0;
  uint64_t dropped_unknown_peer = 0;  // from this node's own id or one a committed config removed
  uint64_t dropped_invalid = 0;      // misaddressed, empty or inconsistent envelopes
  uint64_t requests = 0;             // client requests received (not counting proxied ones)
  uint64_t proxied_out = 0;          // attempts sent to the leader on a client's behalf
  uint64_t proxied_in = 0;           // requests a follower proxied to this node
  uint64_t proxied_in_duplicates = 0;  // copies of a proxied request already seen, dropped
  uint64_t overloaded = 0;           // calls refused because max_open_calls were open
  uint64_t bad_proxy_responses = 0;  // from the wrong node, or without a valid code
  uint64_t proposals = 0;            // commands proposed here
  uint64_t read_index_batches = 0;   // ReadIndex calls (each serves a batch of reads)
  uint64_t membership_proposals = 0; // membership changes proposed here (also in proposals)
  uint64_t refused_storage_stalled = 0;  // calls refused because the disk was full
  uint64_t lease_reads = 0;          // reads the leader's lease confirmed (no heartbeat round)
  std::map<nodepb::Code, uint64_t> answers;  // answers to own clients, by code
  // The same answers by request kind ("status", "transfer_leader", "invalid", or the
  // application's CommandInfo::kind) and code.
  std::map<std::pair<std::string, nodepb::Code>, uint64_t> answers_by_kind;
};

class Node {
 public:
  using Reply = std::function<void(nodepb::Response response)>;

  // Starts a node from `storage` (Replica::Open). Everything passed must outlive the node.
  static absl::StatusOr<std::unique_ptr<Node>> Open(const NodeOptions& options, const Clock& clock,
                                                    PeerChannel& peers, DurableStorage& storage,
                                                    Application& application);
  ~Node();

  // Queues an envelope from a peer. Envelopes of another cluster, from a non-member, or
  // addressed elsewhere are counted and dropped (Poll never sees them).
  void OnEnvelope(Envelope&& envelope);
  // Queues a client request; `reply` runs exactly once, from a later Poll() (or from the
  // destructor, with CODE_UNAVAILABLE or CODE_OUTCOME_UNKNOWN, if the node goes away first).
  void OnRequest(nodepb::Request request, Reply reply);
  // Does everything due: steps queued messages, ticks, routes queued requests, carries out
  // the Ready, serves reads whose index is applied, answers what reached its deadline.
  void Poll();
  // When Poll() must run next even if no input arrives (the next tick).
  int64_t NextWakeNanos() const { return replica_->NextWakeNanos(); }
  // Input is queued that the next Poll() will handle.
  bool HasQueuedInput() const { return !inbox_.empty() || !incoming_.empty(); }

  // Non-OK once storage failed: the node answers nothing but errors from then on.
  const absl::Status& failed() const { return replica_->failed(); }
  // Non-OK (kUnavailable, saying the disk is full) while the replica cannot persist: the node
  // then answers status and stale reads, refuses every other request with CODE_UNAVAILABLE
  // and this error, and resumes by itself once space returns (Replica::storage_stalled).
  const absl::Status& storage_stalled() const { return replica_->storage_stalled(); }
  const Replica& replica() const { return *replica_; }
  Replica& replica() { return *replica_; }
  nodepb::NodeStatus Status() const;
  // When an envelope of each peer was last admitted (clock time), for "last contact" figures.
  const std::map<NodeId, int64_t>& last_heard_nanos() const { return last_heard_nanos_; }
  const NodeCounters& counters() const { return counters_; }
  // Client requests not yet answered (queued, waiting, proposed, reading or proxied).
  size_t open_calls() const { return calls_.size() + incoming_.size(); }

 private:
  struct Call;
  class EnvelopeTransport;
  Node(const NodeOptions& options, const Clock& clock, PeerChannel& peers, Application& application);

  void StepEnvelope(Envelope& envelope);
  // Decides what to do with a call now: answer, propose, read, proxy or wait.
  void Route(const std::shared_ptr<Call>& call);
  void RouteCommand(const std::shared_ptr<Call>& call);
  // This node does not decide `call`: proxy it to the leader, refuse it (if it was proxied
  // here already), or let it wait for a leader.
  void ForwardToLeader(const std::shared_ptr<Call>& call);
  void ProposeWrite(const std::shared_ptr<Call>& call);
  void StartTransfer(const std::shared_ptr<Call>& call);
  // Leader: proposes the call's MemberChange (node_membership.cc).
  void ProposeMemberChange(const std::shared_ptr<Call>& call);
  // Tells the peer channel the members when the configuration differs from the last one told.
  void PublishMembers();
  void RefuseStalled(const std::shared_ptr<Call>& call);
  void Proxy(const std::shared_ptr<Call>& call, NodeId leader);
  void OnProxyResponse(NodeId from, const nodepb::ProxyResponse& response);
  void IssueReadIndex();
  void OnReadState(const ReadState& read_state);
  void ServeReads();
  // Leadership moved or was lost: fail reads it dropped, re-route calls waiting for a leader,
  // settle transfers.
  void AfterReady();
  void ExpireAndRetry();
  void Answer(const std::shared_ptr<Call>& call, nodepb::Response response);
  void AnswerCode(const std::shared_ptr<Call>& call, nodepb::Code code, std::string error);
  // Answers every open call: the node is going away or stopped.
  void AnswerAll(const std::string& why);
  NodeId LeaderHint() const;
  // Late proxy answers are resent, and unconfirmed reads asked again, after this long.
  int64_t ElectionTimeoutNanos() const;

  const NodeOptions options_;
  std::map<NodeId, int64_t> last_heard_nanos_;
  static std::string RequestKind(const Call& call);
  const Clock& clock_;
  PeerChannel& peers_;
  Application& application_;
  std::unique_ptr<EnvelopeTransport> transport_;
  std::unique_ptr<Replica> replica_;
  NodeCounters counters_;

  std::deque<Envelope> inbox_;
  std::deque<std::shared_ptr<Call>> incoming_;
  // Every open call by serial (ordered: expiry and re-routing visit them in arrival order).
  std::map<uint64_t, std::shared_ptr<Call>> calls_;
  uint64_t next_serial_ = 1;
  // Proxy attempts in flight by proxy id. The high 32 bits of an id are drawn per run, so a
  // late answer addressed to an earlier run of this node matches nothing.
  struct ProxyAttempt {
    uint64_t serial = 0;  // the call
    NodeId to = kNoNode;  // only that node's answer counts
  };
  std::map<uint64_t, ProxyAttempt> proxy_attempts_;
  uint64_t next_proxy_id_ = 0;
  // Proxied requests seen lately, (from, proxy id): a duplicated envelope must not become a
  // second proposal. Bounded: the oldest are forgotten first.
  std::set<std::pair<NodeId, uint64_t>> proxied_seen_;
  std::deque<std::pair<NodeId, uint64_t>> proxied_seen_order_;
  // Reads waiting for the next ReadIndex, then by batch context until served.
  std::vector<uint64_t> unbatched_reads_;
  struct ReadBatch {
    Index read_index = 0;  // 0: the leader has not confirmed it yet
    int64_t issued_at = 0;
    std::vector<uint64_t> calls;
  };
  std::map<uint64_t, ReadBatch> read_batches_;
  uint64_t next_read_batch_ = 1;
  std::set<uint64_t> transfers_;  // calls waiting for a leadership transfer to finish
  // Raft::conf_generation() when PeerChannel::SetMembers was last called (none yet: max).
  uint64_t published_generation_ = UINT64_MAX;
  Term last_term_ = 0;
  Role last_role_ = Role::kFollower;
};

}  // namespace keel
