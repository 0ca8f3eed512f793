// The Raft consensus core: a deterministic, sans-IO state machine (etcd-io/raft's design).
//
// It never reads a clock, touches a file or socket, starts a thread or draws randomness from
// anywhere but a PRNG seeded through Config. Inputs are Tick(), Step() (a message from a peer),
// Propose(), ReadIndex(), TransferLeadership() and Advance() (the previous Ready was carried
// out). Outputs are Ready batches: see engine/ready.h for what the application must do with
// them and in which order (the persistence contract).
//
// Implemented: leader election with randomised timeouts, PreVote and CheckQuorum (both on by
// default), log replication with batching, pipelining bounded by in-flight messages and bytes,
// probe/replicate/snapshot progress states and fast backtracking; commit by counting only
// entries of the current term with a no-op on election; leader persistence in parallel with
// replication; chunked, resumable InstallSnapshot; ReadIndex; leadership transfer.
// Membership changes (dissertation §4): single-server changes, joint consensus for more (left
// automatically once the joint entry commits), learners; a configuration takes effect when its
// entry is appended, is undone if that entry is truncated, and is recovered from the log.
//
// Lease reads (Config::read_only_lease, off by default; dissertation §6.4.1). The leader
// serves its own ReadIndex at its commit index without a heartbeat round while it holds a
// lease: a quorum of its config (learners never count) acknowledged a heartbeat that it sent
// fewer than Config::LeaseTicks() of its own ticks ago, it committed an entry of its term, no
// leadership transfer or membership change is under way, and it sent no MSG_TIMEOUT_NOW in
// this term (the transferee's campaign overrides the followers' promise, and a late
// TimeoutNow may arrive after the transfer was abandoned). Each follower that acknowledged
// promised to vote for nobody else for election_tick of its ticks, a restarted node too (it
// may have promised before the crash), and the followers' randomised timeouts are at least
// election_tick: so no other leader can exist before the lease ends, if the clocks behave.
// Reads forwarded by followers (MSG_READ_INDEX) always take the heartbeat round: the core
// cannot tell how stale its tick count is when a message arrives. Unsafe when:
// - clocks drift apart by more than Config::max_clock_drift_ticks per election timeout (a
//   slow leader clock or a fast follower clock: the follower's promise ends first);
// - the owner's tick count lags real time when it calls ReadIndex (Replica catches the ticks
//   up first), or the process stalls between reading the clock and the lease check (a GC or
//   VM pause at exactly that point: the lease is judged for a time long gone);
// - nodes disagree on election_tick or some node runs without read_only_lease;
// - a follower's tick clock jumps forward (a steady clock never does; a suspended VM's may
//   seem to), which ends its promise early.
// ReadIndex with a heartbeat round has none of these assumptions; it is the default.
//
// Not thread-safe: one owner drives it.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/config.h"
#include "engine/prng.h"
#include "engine/progress.h"
#include "engine/quorum.h"
#include "engine/raft_log.h"
#include "engine/ready.h"
#include "engine/read_only.h"
#include "engine/snapshot_receiver.h"

namespace keel {

struct PeerStatus {
  NodeId id = kNoNode;
  Index match = 0;
  Index next = 0;
  ProgressState state = ProgressState::kProbe;
  bool recent_active = false;
  size_t inflight_msgs = 0;
};

struct RaftStatus {
  NodeId id = kNoNode;
  Term term = 0;
  NodeId vote = kNoNode;
  Role role = Role::kFollower;
  NodeId leader = kNoNode;
  Index first_index = 0;
  Index last_index = 0;
  Index commit = 0;
  Index applied = 0;
  NodeId lead_transferee = kNoNode;
  std::vector<PeerStatus> peers;  // leader only, sorted by id, including itself
  std::string ToString() const;
};

class Raft {
 public:
  // Creates a core that resumes from `storage` (hard state, snapshot, log). The storage must
  // outlive the core. Fails if the config is invalid or the storage's state is inconsistent
  // (e.g. commit beyond the log); kFailedPrecondition if the snapshot records that this node
  // was removed (it must not come back under that id).
  static absl::StatusOr<std::unique_ptr<Raft>> Create(const Config& config, const LogStorage& storage);

  // Advances logical time by one tick: election timeouts, heartbeats, CheckQuorum, snapshot
  // resends and leadership-transfer timeouts are all counted in ticks.
  void Tick();

  // Handles a message from a peer. Invalid messages (malformed, from a non-member, addressed
  // elsewhere, inconsistent entries) are rejected with kInvalidArgument and change nothing.
  // The engine's own form (engine/message.h) shares the entries' payloads; the protobuf forms
  // convert first (the rvalue one moves the payloads, the const one copies them: tests and
  // fuzzers keep their messages).
  absl::Status Step(Message&& message);
  absl::Status Step(raftpb::Message&& message);
  absl::Status Step(const raftpb::Message& message);

  // Appends `data` to the log if this node is the leader. Returns where it landed; the entry is
  // committed iff an entry with that index and term is later applied. Fails with
  // kFailedPrecondition when not leader or while a leadership transfer is in progress.
  absl::StatusOr<LogPosition> Propose(std::string data);

  // Proposes a membership change (membership.h ApplyConfChange says which are valid). Fails
  // with kFailedPrecondition when not leader, while transferring leadership, before the
  // leader committed an entry of its own term (a new leader may not know of a change its
  // predecessor started), or while another change is in flight (appended, not committed, or
  // a joint config not yet left); kInvalidArgument for an invalid change. The new config
  // takes effect at once (when appended), on every node as its entry arrives.
  absl::StatusOr<LogPosition> ProposeConfChange(const raftpb::ConfChange& change);

  // Starts an election now (as if the election timeout fired), honouring PreVote.
  // Used to bootstrap deterministic tests; a no-op on the leader.
  void Campaign();

  // Requests a linearizable read (dissertation §6.4). The resulting ReadState, carrying
  // `context`, appears in a later Ready once the leader confirmed its leadership with a quorum,
  // or in the next Ready if this is the leader and it holds a lease (lease reads, above; the
  // caller must have ticked the core up to the present first). Fails if no leader is known.
  absl::Status ReadIndex(std::string context);

  // Asks the leader to hand leadership to `transferee` (dissertation §3.10): it brings the
  // transferee's log up to date, then tells it to campaign immediately. Proposals are refused
  // meanwhile; the transfer is abandoned after an election timeout.
  absl::Status TransferLeadership(NodeId transferee);

  // Whether a Ready has anything in it. Precondition for Ready(): no Ready is outstanding.
  bool HasReady() const;
  // Takes the pending outputs. Precondition: no Ready is outstanding (Advance was called).
  Ready GetReady();
  // The application carried out `ready` completely (ready.h). Precondition: `ready` is the
  // outstanding Ready.
  void Advance(const Ready& ready);
  // Optional, after Advance: hands back a Ready the application is done with, so that the next
  // Readys reuse its vectors' memory instead of allocating (a Ready per round made a handful
  // of allocations per entry at batch 1). Whatever the vectors still hold is dropped.
  void Recycle(Ready&& ready);

  RaftStatus Status() const;

  // A storage read failed (e.g. a corrupt record): the core stopped and every input is refused
  // with this error. The application must stop the node; it must not serve from this log.
  const absl::Status& fatal_error() const { return fatal_; }

  // Read access for the invariants checker and tests.
  NodeId id() const { return id_; }
  Term term() const { return term_; }
  NodeId vote() const { return vote_; }
  Role role() const { return role_; }
  NodeId leader() const { return leader_; }
  // Leader only: the node leadership is being handed to, or kNoNode.
  NodeId lead_transferee() const { return lead_transferee_; }
  const RaftLog& log() const { return log_; }
  // Every voter (both halves while joint), sorted.
  const std::vector<NodeId>& voters() const { return voters_; }
  // The quorum rules in force (the configuration of the last config entry in the log).
  const JointConfig& quorum() const { return quorum_; }
  // The configuration in force, and the one as of `index` (>= the first index - 1: what a
  // snapshot taken at `index` must record).
  const raftpb::ConfState& conf_state() const { return conf_; }
  // Bumped whenever conf_state() is set (an append, a truncation, a snapshot): an unchanged
  // value means an unchanged configuration, so an owner can skip comparing it.
  uint64_t conf_generation() const { return conf_generation_; }
  raftpb::ConfState ConfStateAt(Index index) const;
  // Index of the last configuration entry in the log (0: none since the snapshot).
  Index pending_conf_index() const { return pending_conf_index_; }
  // A change may be proposed: no config entry past the commit index, not joint.
  bool ConfChangeInFlight() const;
  const absl::btree_map<NodeId, Progress>& progress() const { return progress_; }
  const Config& config() const { return config_; }
  int election_elapsed() const { return election_elapsed_; }
  int randomized_election_timeout() const { return randomized_election_timeout_; }
  bool ready_outstanding() const { return ready_outstanding_; }
  // Leader only: the commit index when this node became leader. Past it, the leader commits
  // only by counting replicas of entries of its own term (Figure 8).
  Index commit_at_election() const { return commit_at_election_; }
  // Leader with lease reads on: the lease holds now, so ReadIndex answers without a round.
  // `ticks_ahead`: judge it as if that many more ticks had passed (a caller whose clock says
  // ticks are due that the core has not been given yet; checkers).
  bool LeaseHolds(uint64_t ticks_ahead = 0) const;
  // Lease reads on: this node promised a leader (or, after a start, may have) not to vote for
  // another candidate for now.
  bool LeasePromised() const {
    return config_.read_only_lease && lease_promise_elapsed_ < config_.election_tick;
  }

 private:
  Raft(const Config& config, const LogStorage& storage);
  absl::Status Restore(const LogStorage& storage);

  // --- roles (raft.cc) ---
  void BecomeFollower(Term term, NodeId leader);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();
  void Reset(Term term);
  void ResetRandomizedElectionTimeout();
  bool PastElectionTimeout() const { return election_elapsed_ >= randomized_election_timeout_; }
  bool IsVoter(NodeId id) const;
  // A message of the leader of our term (append, heartbeat, snapshot) arrived.
  void HeardFromLeader(NodeId leader);
  // May campaign: a voter of its latest config, or of the committed one while an entry that
  // removes it is not committed yet.
  bool Promotable() const;
  // Adopts `conf_state` as the configuration in force: quorum rules and, on the leader, one
  // Progress per member (new members probed from the end of the log, leavers forgotten).
  // Precondition: valid.
  void SetConfState(const raftpb::ConfState& conf_state);
  // Entries from `first_changed` on were (re)written: forgets the configs recorded at or
  // after it and records those of the config entries in `entries` (index >= first_changed).
  // An invalid change (only a faulty leader writes one) is recorded as no change, the same
  // on every node.
  void RecordConfEntries(Index first_changed, const std::vector<Entry>& entries);
  // Leader: leaves a committed joint config; a leader that is no longer a voter of a
  // committed config steps down (deferred: callers may hold Progress references).
  void AfterCommit();
  void MaybeStepDownRemoved();
  void TickElection();
  void TickHeartbeat();
  // Queues `header` (with `entries`, for an append) for the next Ready.
  void Send(MessageHeader&& header, std::vector<Entry> entries = {});
  absl::Status ValidateMessage(const Message& message) const;
  absl::Status StepLeader(const MessageHeader& message);
  absl::Status StepCandidate(const Message& message);
  absl::Status StepFollower(const Message& message);
  raftpb::HardState CurrentHardState() const;

  // --- elections (raft_election.cc) ---
  enum class ElectionKind {
    kPreVote,   // ask first, without changing term (§9.6)
    kVote,      // bump the term and ask for votes
    kTransfer,  // like kVote, and receivers ignore their lease (MSG_TIMEOUT_NOW)
  };
  void StartElection(ElectionKind kind);
  void HandleVoteRequest(const MessageHeader& message);
  void HandleVoteResponse(const MessageHeader& message);
  bool InLease() const;

  // --- replication (raft_replication.cc) ---
  absl::Status HandleAppend(const Message& message);
  absl::Status HandleAppendResponse(const MessageHeader& message);
  void HandleHeartbeat(const MessageHeader& message);
  void HandleHeartbeatResponse(const MessageHeader& message);
  bool MaybeSendAppend(NodeId to, bool send_if_empty);
  // Marks every follower for an append at the next Ready (batched in FlushPendingSends).
  void BroadcastAppend();
  void FlushPendingSends();
  void BroadcastHeartbeat(const std::string& context);
  void SendHeartbeat(NodeId to, const std::string& context);
  bool MaybeCommit();
  Index AppendEntry(Entry entry);
  // Leader: appends `change` as a config entry (in force at once) and returns its index.
  Index AppendConfEntry(const raftpb::ConfChange& change);
  void OnSelfPersisted(Index index, Term term);
  bool CheckQuorumActive();

  // --- snapshots (raft_snapshot.cc) ---
  void StartSnapshotTransfer(NodeId to);
  void SendSnapshotChunk(NodeId to);
  void HandleSnapshotChunk(const MessageHeader& message);
  void HandleSnapshotResponse(const MessageHeader& message);
  void InstallReceivedSnapshot(const raftpb::SnapshotMeta& meta, std::string data);
  void TickSnapshotTransfers();

  // --- reads and leadership transfer (raft_read.cc) ---
  bool CommittedInCurrentTerm() const;
  void HandleReadIndexRequest(NodeId from, std::string context);
  void HandleReadIndexResponse(const MessageHeader& message);
  void ReleaseReadyReads(std::vector<ReadOnly::Request> released);
  void HandleTimeoutNow(const MessageHeader& message);
  void SendTimeoutNow(NodeId to);
  // Leader: `from` acknowledged a heartbeat sent at our tick `sent_tick`.
  void RecordLeaseAck(NodeId from, uint64_t sent_tick);
  void AbortLeaderTransfer() { lead_transferee_ = kNoNode; }
  // Records a storage failure and stops the core (see fatal_error()).
  void Fail(const absl::Status& status);

  const Config config_;
  const NodeId id_;
  const LogStorage& storage_;
  Prng prng_;
  RaftLog log_;

  Term term_ = 0;
  NodeId vote_ = kNoNode;
  Role role_ = Role::kFollower;
  NodeId leader_ = kNoNode;
  JointConfig quorum_;
  std::vector<NodeId> voters_;  // quorum_.Voters(), kept in step with it
  raftpb::ConfState conf_;       // in force: that of the last config entry, or base_conf_
  uint64_t conf_generation_ = 0;  // bumped by every SetConfState
  raftpb::ConfState base_conf_;  // as of the snapshot (or bootstrap)
  std::map<Index, raftpb::ConfState> conf_history_;  // config after each config entry in the log
  Index pending_conf_index_ = 0;
  bool membership_work_pending_ = false;  // AfterCommit -> MaybeStepDownRemoved

  // Leader: one Progress per voter, including itself (whose match is its durable last index).
  absl::btree_map<NodeId, Progress> progress_;
  // Candidate / pre-candidate: votes received.
  absl::btree_map<NodeId, bool> votes_;

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;
  // Ticks since this core was created: the leader's lease clock.
  uint64_t ticks_ = 0;
  // Ticks since the leader was last heard from (or since the start), up to election_tick: the
  // follower's promise. Unlike election_elapsed_, nothing but a leader's message resets it.
  int lease_promise_elapsed_ = 0;
  // Leader, lease reads on: per member, the send tick of the newest heartbeat it acknowledged
  // in this term; and whether this term's lease is revoked (a MSG_TIMEOUT_NOW went out).
  absl::btree_map<NodeId, uint64_t> lease_acks_;
  bool lease_revoked_ = false;

  Index commit_at_election_ = 0;
  NodeId lead_transferee_ = kNoNode;
  ReadOnly read_only_;
  // ReadIndex requests that arrived before the leader committed an entry of its term.
  std::vector<std::pair<NodeId, std::string>> pending_reads_;
  SnapshotReceiver snapshot_receiver_;
  // Followers to send appends to at the next Ready.
  PendingSends pending_sends_;

  // Outputs accumulated for the next Ready.
  std::vector<Message> messages_;
  std::vector<Message> messages_after_persist_;
  std::vector<ReadState> read_states_;
  // Emptied vectors of recycled Readys, for the next GetReady (see Recycle).
  struct SpareVectors {
    std::vector<Entry> entries;
    std::vector<Entry> committed_entries;
    std::vector<Message> messages;
    std::vector<Message> messages_after_persist;
    std::vector<ReadState> read_states;
  };
  SpareVectors spare_;
  raftpb::HardState persisted_hard_state_;  // last hard state handed out in a Ready
  Role reported_role_ = Role::kFollower;
  NodeId reported_leader_ = kNoNode;
  bool ready_outstanding_ = false;
  absl::Status fatal_;
};

}  // namespace keel
