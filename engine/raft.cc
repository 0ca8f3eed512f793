// Construction, roles, ticks, message dispatch and the Ready/Advance cycle. Elections,
// replication, snapshots and reads live in raft_election.cc, raft_replication.cc,
// raft_snapshot.cc and raft_read.cc.
#include "engine/raft.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/assert.h"
#include "engine/membership.h"
#include "engine/planted_bugs.h"
#include "engine/quorum.h"

namespace keel {

absl::string_view ToString(Role role) {
  switch (role) {
    case Role::kFollower: return "follower";
    case Role::kPreCandidate: return "pre-candidate";
    case Role::kCandidate: return "candidate";
    case Role::kLeader: return "leader";
  }
  return "?";
}

absl::Status Config::Validate() const {
  if (id == kNoNode) return absl::InvalidArgumentError("config: id must be non-zero");
  if (heartbeat_tick <= 0) return absl::InvalidArgumentError("config: heartbeat_tick must be > 0");
  if (election_tick <= heartbeat_tick) {
    return absl::InvalidArgumentError("config: election_tick must be greater than heartbeat_tick");
  }
  if (max_inflight_msgs == 0) return absl::InvalidArgumentError("config: max_inflight_msgs must be > 0");
  if (max_inflight_bytes == 0) return absl::InvalidArgumentError("config: max_inflight_bytes must be > 0");
  if (max_snapshot_chunk_bytes == 0) {
    return absl::InvalidArgumentError("config: max_snapshot_chunk_bytes must be > 0");
  }
  if (max_clock_drift_ticks < 0) return absl::InvalidArgumentError("config: max_clock_drift_ticks must be >= 0");
  if (read_only_lease && !check_quorum) {
    // Without CheckQuorum followers do not honour a lease, so nothing holds a new leader off.
    return absl::InvalidArgumentError("config: read_only_lease needs check_quorum");
  }
  if (read_only_lease && LeaseTicks() <= heartbeat_tick) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config: with read_only_lease, the lease (election_tick - max_clock_drift_ticks - 1 = ", LeaseTicks(),
        " ticks) must be longer than heartbeat_tick (", heartbeat_tick,
        "), or it lapses between heartbeats: raise election_tick or lower max_clock_drift_ticks"));
  }
  if (planted_bugs != 0 && !kPlantedBugsCompiledIn) {
    return absl::InvalidArgumentError("config: planted bugs requested, but this build has none");
  }
  return absl::OkStatus();
}

std::string RaftStatus::ToString() const {
  std::string out = absl::StrCat("id=", id, " term=", term, " vote=", vote,
                                 " role=", keel::ToString(role), " leader=", leader,
                                 " log=[", first_index, ",", last_index, "] commit=", commit,
                                 " applied=", applied);
  if (lead_transferee != kNoNode) absl::StrAppend(&out, " transferee=", lead_transferee);
  for (const PeerStatus& peer : peers) {
    absl::StrAppend(&out, "\n  peer ", peer.id, ": match=", peer.match, " next=", peer.next,
                    " state=", keel::ToString(peer.state), " active=", peer.recent_active ? 1 : 0,
                    " inflight=", peer.inflight_msgs);
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Raft>> Raft::Create(const Config& config, const LogStorage& storage) {
  if (absl::Status status = config.Validate(); !status.ok()) return status;
  std::unique_ptr<Raft> raft(new Raft(config, storage));
  if (absl::Status status = raft->Restore(storage); !status.ok()) return status;
  return raft;
}

Raft::Raft(const Config& config, const LogStorage& storage)
    : config_(config),
      id_(config.id),
      storage_(storage),
      prng_(config.seed),
      log_(storage, std::min(storage.InitialHardState().commit(), storage.LastIndex())) {}

absl::Status Raft::Restore(const LogStorage& storage) {
  const raftpb::HardState hard_state = storage.InitialHardState();
  const raftpb::ConfState conf_state = storage.InitialConfState();
  if (hard_state.commit() > storage.LastIndex()) {
    return absl::DataLossError(absl::StrCat("storage: hard state commit ", hard_state.commit(),
                                            " is past the last log index ", storage.LastIndex()));
  }
  if (storage.FirstIndex() > storage.LastIndex() + 1) {
    return absl::DataLossError("storage: first index is past last index + 1");
  }
  if (absl::Status status = ValidateConfState(conf_state); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("storage: ", status.message()));
  }
  // A node outside the configuration (one about to be added, or one removed) runs as a
  // follower that never campaigns; a removed id, though, is never a member again. Still a
  // voter of C_old in a joint configuration, it must run: C_old's majority needs it until
  // C_new commits (found by MembershipChangesPlainRaftThreeOfFive: the joint config {3,4} /
  // {1,3} waited forever for node 1, which refused to start).
  if (std::binary_search(conf_state.removed().begin(), conf_state.removed().end(), id_) &&
      !IsMember(conf_state, id_)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "node ", id_, " was removed from this cluster (its snapshot records it); ids are never reused: "
        "wipe the data dir and add it under a new id"));
  }
  base_conf_ = conf_state;
  SetConfState(conf_state);
  // The configuration in force is that of the last config entry in the log: find them.
  for (Index lo = storage.FirstIndex(); lo <= storage.LastIndex();) {
    std::vector<Entry> entries;
    if (absl::Status status = storage.Entries(lo, storage.LastIndex() + 1, 4 << 20, &entries); !status.ok()) {
      return status;
    }
    KEEL_ASSERT(!entries.empty() && entries.front().index() == lo);
    lo = entries.back().index() + 1;
    std::erase_if(entries, [](const Entry& e) { return e.type() != raftpb::ENTRY_CONF_CHANGE; });
    if (!entries.empty()) RecordConfEntries(entries.front().index(), entries);
  }
  const std::optional<Term> last_term = log_.TermAt(log_.LastIndex());
  if (!last_term || *last_term > hard_state.term()) {
    return absl::DataLossError("storage: last log term is above the hard state term");
  }
  term_ = hard_state.term();
  vote_ = hard_state.vote();
  persisted_hard_state_ = hard_state;
  persisted_hard_state_.set_commit(log_.committed());
  BecomeFollower(term_, kNoNode);
  return absl::OkStatus();
}

bool Raft::IsVoter(NodeId id) const { return quorum_.IsVoter(id); }

void Raft::HeardFromLeader(NodeId leader) {
  election_elapsed_ = 0;
  lease_promise_elapsed_ = 0;  // renews the promise whatever the leader's message
  leader_ = leader;
}

void Raft::SetConfState(const raftpb::ConfState& conf_state) {
  KEEL_ASSERT(ValidateConfState(conf_state).ok());
  conf_ = conf_state;
  ++conf_generation_;
  quorum_ = QuorumOf(conf_state);
  voters_ = quorum_.Voters();
  if (lead_transferee_ != kNoNode && !IsVoter(lead_transferee_)) AbortLeaderTransfer();
  if (role_ != Role::kLeader) return;
  absl::btree_set<NodeId> members(voters_.begin(), voters_.end());
  members.insert(conf_state.learners().begin(), conf_state.learners().end());
  for (auto it = progress_.begin(); it != progress_.end();) {
    // The leader keeps its own Progress even when leaving: it replicates until C_new commits.
    if (it->first != id_ && !members.contains(it->first)) {
      pending_sends_.Erase(it->first);
      it = progress_.erase(it);
    } else {
      ++it;
    }
  }
  for (NodeId member : members) {
    if (progress_.contains(member)) continue;
    progress_.try_emplace(member, log_.LastIndex() + 1, config_.max_inflight_msgs, config_.max_inflight_bytes);
    pending_sends_.Mark(member, true);
  }
}

raftpb::ConfState Raft::ConfStateAt(Index index) const {
  auto it = conf_history_.upper_bound(index);
  if (it == conf_history_.begin()) return base_conf_;
  return std::prev(it)->second;
}

bool Raft::Promotable() const {
  if (IsVoter(id_)) return true;
  // Removed (or demoted) only by an entry that is not committed yet: that entry may still be
  // truncated, and this node may be the only one whose log can win an election; staying out
  // would deadlock the cluster (found by the membership property test). It campaigns, counting
  // votes by its latest config, commits the change if it wins, then steps down.
  if (pending_conf_index_ <= log_.committed()) return false;
  const raftpb::ConfState committed = ConfStateAt(log_.committed());
  return std::binary_search(committed.voters().begin(), committed.voters().end(), id_) ||
         std::binary_search(committed.voters_outgoing().begin(), committed.voters_outgoing().end(), id_);
}

bool Raft::ConfChangeInFlight() const { return pending_conf_index_ > log_.committed() || IsJoint(conf_); }

void Raft::RecordConfEntries(Index first_changed, const std::vector<Entry>& entries) {
  const bool had_changes = conf_history_.lower_bound(first_changed) != conf_history_.end();
  conf_history_.erase(conf_history_.lower_bound(first_changed), conf_history_.end());
  bool recorded = false;
  for (const Entry& entry : entries) {
    if (entry.index() < first_changed || entry.type() != raftpb::ENTRY_CONF_CHANGE) continue;
    const raftpb::ConfState before = ConfStateAt(entry.index() - 1);
    raftpb::ConfChange change;
    absl::StatusOr<raftpb::ConfState> after = change.ParseFromString(entry.data())
                                                  ? ApplyConfChange(before, change)
                                                  : absl::InvalidArgumentError("not a ConfChange");
    conf_history_[entry.index()] = after.ok() ? *after : before;
    recorded = true;
  }
  if (!had_changes && !recorded) return;
  pending_conf_index_ = conf_history_.empty() ? 0 : conf_history_.rbegin()->first;
  SetConfState(conf_history_.empty() ? base_conf_ : conf_history_.rbegin()->second);
}

void Raft::AfterCommit() {
  // Acted on at the end of the current input: the caller may hold Progress references that
  // a config change (which forgets leavers' Progress) or stepping down would invalidate.
  if (role_ == Role::kLeader && pending_conf_index_ <= log_.committed()) membership_work_pending_ = true;
}

void Raft::MaybeStepDownRemoved() {
  if (!membership_work_pending_) return;
  membership_work_pending_ = false;
  if (role_ != Role::kLeader || pending_conf_index_ > log_.committed()) return;
  if (IsJoint(conf_)) {
    // C_old,new is committed: move on to C_new (dissertation §4.3) without being asked.
    raftpb::ConfChange leave;
    leave.set_leave_joint(true);
    AppendConfEntry(leave);
    BroadcastAppend();
    return;
  }
  // A leader removed by a committed config steps down (§4.2.2); without it the cluster would
  // keep a leader that is not a voter, and its heartbeats would hold off elections forever.
  if (!IsVoter(id_) && !KEEL_PLANTED_BUG(kBugRemovedLeaderStays)) BecomeFollower(term_, kNoNode);
}

// --- roles ---

void Raft::Reset(Term term) {
  if (term_ != term) {
    term_ = term;
    vote_ = kNoNode;
  }
  leader_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  ResetRandomizedElectionTimeout();
  AbortLeaderTransfer();
  votes_.clear();
  progress_.clear();
  pending_sends_.Clear();
  membership_work_pending_ = false;
  read_only_.Clear();
  pending_reads_.clear();
  lease_acks_.clear();
  lease_revoked_ = false;
}

void Raft::ResetRandomizedElectionTimeout() {
  randomized_election_timeout_ =
      config_.election_tick + static_cast<int>(prng_.Uniform(config_.election_tick));
}

void Raft::BecomeFollower(Term term, NodeId leader) {
  Reset(term);
  role_ = Role::kFollower;
  leader_ = leader;
}

void Raft::BecomePreCandidate() {
  KEEL_ASSERT(role_ != Role::kLeader);
  // A pre-candidate changes neither term nor vote: that is the point of PreVote. It forgets the
  // leader so that it stops vouching for it (it no longer honours the lease).
  role_ = Role::kPreCandidate;
  leader_ = kNoNode;
  votes_.clear();
  election_elapsed_ = 0;
  ResetRandomizedElectionTimeout();
}

void Raft::BecomeCandidate() {
  KEEL_ASSERT(role_ != Role::kLeader);
  Reset(term_ + 1);
  vote_ = id_;
  role_ = Role::kCandidate;
}

void Raft::BecomeLeader() {
  KEEL_ASSERT(role_ == Role::kCandidate);
  Reset(term_);
  role_ = Role::kLeader;
  leader_ = id_;
  commit_at_election_ = log_.committed();
  // Only what is durable counts towards our own match; unstable entries are acked in Advance().
  const Index durable_last = log_.unstable_entries().empty()
                                 ? log_.LastIndex()
                                 : log_.unstable_entries().front().index() - 1;
  // One Progress per member (learners too: they receive the log), and for the leader itself.
  absl::btree_set<NodeId> members(voters_.begin(), voters_.end());
  members.insert(conf_.learners().begin(), conf_.learners().end());
  members.insert(id_);
  for (NodeId voter : members) {
    auto [it, inserted] = progress_.try_emplace(
        voter, log_.LastIndex() + 1, config_.max_inflight_msgs, config_.max_inflight_bytes);
    KEEL_ASSERT(inserted);
    if (voter == id_) {
      it->second.MaybeUpdate(durable_last);
      it->second.BecomeReplicate();
      it->second.set_recent_active(true);
    }
  }
  // Raft §8: a no-op of the new term lets the leader learn what is committed (Figure 8: older
  // entries are only committed indirectly, by committing one of the current term).
  Entry noop;
  noop.set_type(raftpb::ENTRY_NOOP);
  AppendEntry(std::move(noop));
  BroadcastAppend();
}

// --- ticks ---

void Raft::Fail(const absl::Status& status) {
  KEEL_ASSERT(!status.ok());
  if (fatal_.ok()) fatal_ = status;
}

void Raft::Tick() {
  if (!fatal_.ok()) return;
  ++ticks_;
  if (lease_promise_elapsed_ < config_.election_tick) ++lease_promise_elapsed_;
  if (role_ == Role::kLeader) {
    TickHeartbeat();
  } else {
    TickElection();
  }
  MaybeStepDownRemoved();
}

void Raft::TickElection() {
  ++election_elapsed_;
  if (Promotable() && PastElectionTimeout()) {
    election_elapsed_ = 0;
    StartElection(config_.pre_vote ? ElectionKind::kPreVote : ElectionKind::kVote);
  }
}

void Raft::TickHeartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= config_.election_tick) {
    election_elapsed_ = 0;
    if (config_.check_quorum && !CheckQuorumActive()) {
      BecomeFollower(term_, kNoNode);
      return;
    }
    // A transfer that did not complete within an election timeout is abandoned.
    AbortLeaderTransfer();
  }
  if (heartbeat_elapsed_ >= config_.heartbeat_tick) {
    heartbeat_elapsed_ = 0;
    BroadcastHeartbeat(std::string());
  }
  TickSnapshotTransfers();
}

void Raft::Campaign() {
  if (!fatal_.ok()) return;
  if (role_ == Role::kLeader || !Promotable()) return;
  StartElection(config_.pre_vote ? ElectionKind::kPreVote : ElectionKind::kVote);
}

// --- messages ---

void Raft::Send(MessageHeader&& message, std::vector<Entry> entries) {
  KEEL_ASSERT(entries.empty() || message.type() == raftpb::MSG_APPEND);
  message.set_from(id_);
  KEEL_ASSERT(message.to() != id_ && message.to() != kNoNode);
  if (message.term() == 0) message.set_term(term_);
  bool immediate = false;
  switch (message.type()) {
    case raftpb::MSG_APPEND:
    case raftpb::MSG_HEARTBEAT:
    case raftpb::MSG_SNAPSHOT:
    case raftpb::MSG_TIMEOUT_NOW:
    case raftpb::MSG_READ_INDEX_RESP:
      // A leader's requests depend only on its term being durable, and on nothing in its own
      // unpersisted log (§10.2.1: the leader writes its log in parallel with replicating it).
      immediate = term_ == persisted_hard_state_.term() && vote_ == persisted_hard_state_.vote();
      break;
    case raftpb::MSG_PRE_VOTE:
    case raftpb::MSG_READ_INDEX:
      immediate = true;  // promise nothing
      break;
    case raftpb::MSG_APPEND_RESP:
      immediate = KEEL_PLANTED_BUG(kBugAckBeforeFsync);
      break;
    default:
      // Votes and acknowledgements promise durable state: they wait for the persist.
      immediate = false;
  }
  std::vector<Message>& queue = immediate ? messages_ : messages_after_persist_;
  // GetReady hands the vector over empty: room for one message per peer at the first push,
  // rather than growing 1, 2, 4 within every Ready.
  if (queue.capacity() == 0) queue.reserve(std::max<size_t>(progress_.size(), 4));
  queue.emplace_back(std::move(message), std::move(entries));
}

absl::Status Raft::ValidateMessage(const Message& message) const {
  const MessageHeader& m = message.header;
  auto invalid = [&m](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("rejected ", raftpb::MessageType_Name(m.type()),
                                                   " from ", m.from(), ": ", why));
  };
  if (!raftpb::MessageType_IsValid(m.type()) || m.type() == raftpb::MSG_UNKNOWN) {
    return invalid("unknown message type");
  }
  if (m.to() != id_) return invalid(absl::StrCat("addressed to ", m.to(), ", not ", id_));
  if (m.from() == kNoNode || m.from() == id_) return invalid("bad sender id");
  // Senders outside our configuration are heard: a leader added by a config entry we have not
  // received yet must be able to bring us up to date. A removed id never is.

  if (m.term() == 0) return invalid("term 0");
  if (m.type() != raftpb::MSG_APPEND && !message.entries.empty()) return invalid("entries outside an append");
  switch (m.type()) {
    case raftpb::MSG_APPEND: {
      if (m.log_term() > m.term()) return invalid("prev log term above message term");
      if ((m.index() == 0) != (m.log_term() == 0)) return invalid("prev index/term inconsistent");
      if (m.index() > UINT64_MAX - static_cast<uint64_t>(message.entries.size()) - 1) {
        return invalid("index overflow");
      }
      Term previous_term = m.log_term();
      for (size_t i = 0; i < message.entries.size(); ++i) {
        const Entry& entry = message.entries[i];
        if (entry.index() != m.index() + 1 + i) return invalid("entries not contiguous");
        if (entry.term() < previous_term || entry.term() > m.term()) {
          return invalid("entry terms not non-decreasing up to the message term");
        }
        if (!raftpb::EntryType_IsValid(entry.type())) return invalid("unknown entry type");
        previous_term = entry.term();
      }
      break;
    }
    case raftpb::MSG_APPEND_RESP:
      if (m.reject() && m.reject_hint() > m.index()) return invalid("reject hint above index");
      break;
    case raftpb::MSG_VOTE:
    case raftpb::MSG_PRE_VOTE:
      if (m.log_term() > m.term()) return invalid("candidate's last log term above its term");
      if ((m.index() == 0) != (m.log_term() == 0)) return invalid("last index/term inconsistent");
      break;
    case raftpb::MSG_SNAPSHOT: {
      const raftpb::SnapshotMeta& meta = m.snapshot();
      if (meta.index() == 0 || meta.term() == 0 || meta.term() > m.term()) {
        return invalid("bad snapshot index/term");
      }
      if (m.snapshot_offset() > meta.size() ||
          m.snapshot_data().size() > meta.size() - m.snapshot_offset()) {
        return invalid("snapshot chunk outside the snapshot");
      }
      if (m.snapshot_done() != (m.snapshot_offset() + m.snapshot_data().size() == meta.size())) {
        return invalid("snapshot done flag does not match the chunk's end");
      }
      if (absl::Status status = ValidateConfState(meta.conf_state()); !status.ok()) {
        return invalid(absl::StrCat("snapshot ", status.message()));
      }
      break;
    }
    default:
      break;
  }
  return absl::OkStatus();
}

absl::Status Raft::Step(const raftpb::Message& message) { return Step(FromProto(message)); }

absl::Status Raft::Step(raftpb::Message&& message) { return Step(FromProto(std::move(message))); }

absl::Status Raft::Step(Message&& message) {
  if (!fatal_.ok()) return fatal_;
  if (absl::Status status = ValidateMessage(message); !status.ok()) return status;
  const MessageHeader& m = message.header;
  // A node removed by a committed configuration is never heard again (its late messages are
  // normal, not invalid): its campaigns cannot disturb the cluster it left. Only a committed
  // removal counts: an uncommitted one may be truncated, and a node deaf to the leader that
  // truncates it would never learn so (found by the membership property test).
  if (std::binary_search(conf_.removed().begin(), conf_.removed().end(), m.from()) && !IsVoter(m.from())) {
    const raftpb::ConfState committed = ConfStateAt(log_.committed());
    if (std::binary_search(committed.removed().begin(), committed.removed().end(), m.from())) {
      return absl::OkStatus();
    }
  }

  if (m.term() > term_) {
    if (m.type() == raftpb::MSG_VOTE || m.type() == raftpb::MSG_PRE_VOTE) {
      // CheckQuorum's lease: while we heard from a live leader within the election timeout,
      // a campaign is ignored outright, without even adopting its term. A transfer-initiated
      // campaign is the leader's own wish and overrides the lease.
      // With lease reads, the promise made to the leader (also kept across a restart) holds
      // campaigns off the same way.
      const bool forced = m.type() == raftpb::MSG_VOTE && m.transfer();
      if (!forced && (InLease() || LeasePromised())) return absl::OkStatus();
    }
    if (m.type() == raftpb::MSG_PRE_VOTE) {
      // A pre-vote never changes our term.
    } else if (m.type() == raftpb::MSG_PRE_VOTE_RESP && !m.reject()) {
      // A granted pre-vote carries the term the pre-candidate will run for; it adopts it only
      // when it wins the pre-vote.
    } else if (m.type() == raftpb::MSG_APPEND || m.type() == raftpb::MSG_HEARTBEAT ||
               m.type() == raftpb::MSG_SNAPSHOT) {
      BecomeFollower(m.term(), m.from());
    } else {
      BecomeFollower(m.term(), kNoNode);
    }
  } else if (m.term() < term_) {
    if (m.type() == raftpb::MSG_APPEND || m.type() == raftpb::MSG_HEARTBEAT || m.type() == raftpb::MSG_SNAPSHOT) {
      // A stale leader. Tell it our term so it steps down (Figure 2: reply with currentTerm).
      // With CheckQuorum/PreVote we might otherwise never disturb it (we ignore its
      // campaigns' terms), and a partitioned node that raised its term could not rejoin
      // (etcd-io/etcd#5451 and friends). Without them too: a node outside its own config
      // never campaigns, so this reply is how a leader learns of its higher term (found by
      // the membership property test).
      MessageHeader reply;
      reply.set_type(raftpb::MSG_APPEND_RESP);
      reply.set_to(m.from());
      Send(std::move(reply));
    } else if (m.type() == raftpb::MSG_PRE_VOTE) {
      // Reject with our term so a pre-candidate with a stale term catches up; otherwise a node
      // whose log is ahead but whose term lags could never win (etcd-io/etcd#8501).
      MessageHeader reply;
      reply.set_type(raftpb::MSG_PRE_VOTE_RESP);
      reply.set_to(m.from());
      reply.set_reject(true);
      Send(std::move(reply));
    }
    return absl::OkStatus();
  }

  switch (m.type()) {
    case raftpb::MSG_VOTE:
    case raftpb::MSG_PRE_VOTE:
      HandleVoteRequest(m);
      return absl::OkStatus();
    default:
      break;
  }
  absl::Status status;
  switch (role_) {
    case Role::kLeader:
      status = StepLeader(m);
      break;
    case Role::kCandidate:
    case Role::kPreCandidate:
      status = StepCandidate(message);
      break;
    case Role::kFollower:
      status = StepFollower(message);
      break;
  }
  MaybeStepDownRemoved();
  return status;
}

absl::Status Raft::StepCandidate(const Message& message) {
  const MessageHeader& m = message.header;
  switch (m.type()) {
    case raftpb::MSG_APPEND:
    case raftpb::MSG_HEARTBEAT:
    case raftpb::MSG_SNAPSHOT:
      // A leader exists in our term (for a pre-candidate: in the term it has not left).
      BecomeFollower(m.term(), m.from());
      return StepFollower(message);
    case raftpb::MSG_VOTE_RESP:
    case raftpb::MSG_PRE_VOTE_RESP:
      HandleVoteResponse(m);
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

absl::Status Raft::StepFollower(const Message& message) {
  const MessageHeader& m = message.header;
  switch (m.type()) {
    case raftpb::MSG_APPEND:
      HeardFromLeader(m.from());
      return HandleAppend(message);
    case raftpb::MSG_HEARTBEAT:
      HeardFromLeader(m.from());
      HandleHeartbeat(m);
      return absl::OkStatus();
    case raftpb::MSG_SNAPSHOT:
      HeardFromLeader(m.from());
      HandleSnapshotChunk(m);
      return absl::OkStatus();
    case raftpb::MSG_TIMEOUT_NOW:
      HandleTimeoutNow(m);
      return absl::OkStatus();
    case raftpb::MSG_READ_INDEX_RESP:
      HandleReadIndexResponse(m);
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

// --- Ready / Advance ---

raftpb::HardState Raft::CurrentHardState() const {
  raftpb::HardState hard_state;
  hard_state.set_term(term_);
  hard_state.set_vote(vote_);
  hard_state.set_commit(log_.committed());
  return hard_state;
}

bool Raft::HasReady() const {
  KEEL_ASSERT(!ready_outstanding_);
  if (!fatal_.ok()) return false;
  const raftpb::HardState hard_state = CurrentHardState();
  return !messages_.empty() || !messages_after_persist_.empty() || !read_states_.empty() ||
         !pending_sends_.empty() || !log_.unstable_entries().empty() ||
         log_.unstable_snapshot().has_value() || log_.HasNextCommittedEntries() ||
         hard_state.term() != persisted_hard_state_.term() ||
         hard_state.vote() != persisted_hard_state_.vote() ||
         hard_state.commit() != persisted_hard_state_.commit() || role_ != reported_role_ ||
         leader_ != reported_leader_;
}

Ready Raft::GetReady() {
  KEEL_ASSERT(!ready_outstanding_);
  FlushPendingSends();
  Ready ready;
  if (role_ != reported_role_ || leader_ != reported_leader_) {
    ready.soft_state_changed = true;
    reported_role_ = role_;
    reported_leader_ = leader_;
  }
  ready.role = role_;
  ready.leader = leader_;
  const raftpb::HardState hard_state = CurrentHardState();
  if (hard_state.term() != persisted_hard_state_.term() ||
      hard_state.vote() != persisted_hard_state_.vote() ||
      hard_state.commit() != persisted_hard_state_.commit()) {
    ready.hard_state = hard_state;
    ready.hard_state_commit_only =
        hard_state.term() == persisted_hard_state_.term() && hard_state.vote() == persisted_hard_state_.vote();
    persisted_hard_state_ = hard_state;
  }
  if (log_.unstable_snapshot()) {
    ready.snapshot = SnapshotToInstall{*log_.unstable_snapshot(), log_.unstable_snapshot_data()};
  }
  // Each vector starts from a recycled one's memory, if the application recycles its Readys.
  ready.entries = std::move(spare_.entries);
  ready.entries.assign(log_.unstable_entries().begin(), log_.unstable_entries().end());
  ready.messages = std::exchange(messages_, std::move(spare_.messages));
  ready.messages_after_persist = std::exchange(messages_after_persist_, std::move(spare_.messages_after_persist));
  ready.committed_entries = std::move(spare_.committed_entries);
  if (absl::Status status = log_.NextCommittedEntries(config_.max_committed_bytes_per_ready, &ready.committed_entries);
      !status.ok()) {
    Fail(status);
  }
  ready.read_states = std::exchange(read_states_, std::move(spare_.read_states));
  spare_ = SpareVectors{};
  KEEL_ASSERT(messages_.empty() && messages_after_persist_.empty() && read_states_.empty());
  ready_outstanding_ = true;
  return ready;
}

void Raft::Advance(const Ready& ready) {
  KEEL_ASSERT(ready_outstanding_);
  ready_outstanding_ = false;
  if (ready.snapshot) log_.StableSnapshotTo(ready.snapshot->meta.index());
  if (!ready.entries.empty()) {
    OnSelfPersisted(ready.entries.back().index(), ready.entries.back().term());
  }
  if (!ready.committed_entries.empty()) {
    log_.AppliedTo(ready.committed_entries.back().index());
  }
  MaybeStepDownRemoved();
}

void Raft::Recycle(Ready&& ready) {
  KEEL_ASSERT(!ready_outstanding_);
  // The larger of the spare and the used vector stays (Readys of one role look alike).
  auto keep = [](auto& spare, auto& used) {
    used.clear();
    if (used.capacity() > spare.capacity()) spare.swap(used);
  };
  keep(spare_.entries, ready.entries);
  keep(spare_.committed_entries, ready.committed_entries);
  keep(spare_.messages, ready.messages);
  keep(spare_.messages_after_persist, ready.messages_after_persist);
  keep(spare_.read_states, ready.read_states);
}

RaftStatus Raft::Status() const {
  RaftStatus status;
  status.id = id_;
  status.term = term_;
  status.vote = vote_;
  status.role = role_;
  status.leader = leader_;
  status.first_index = log_.FirstIndex();
  status.last_index = log_.LastIndex();
  status.commit = log_.committed();
  status.applied = log_.applied();
  status.lead_transferee = lead_transferee_;
  for (const auto& [id, progress] : progress_) {
    status.peers.push_back(PeerStatus{id, progress.match(), progress.next(), progress.state(),
                                      progress.recent_active(), progress.inflights().count()});
  }
  return status;
}

}  // namespace keel
