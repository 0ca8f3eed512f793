// Log replication and commitment (Raft §5.3, §5.4; dissertation §3.5 flow control).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "engine/membership.h"
#include "engine/planted_bugs.h"
#include "engine/quorum.h"
#include "engine/raft.h"

namespace keel {

absl::StatusOr<LogPosition> Raft::Propose(std::string data) {
  if (!fatal_.ok()) return fatal_;
  if (role_ != Role::kLeader) {
    return absl::FailedPreconditionError(
        absl::StrCat("not the leader (leader is ", leader_, ")"));
  }
  if (lead_transferee_ != kNoNode) {
    return absl::FailedPreconditionError(
        absl::StrCat("leadership is being transferred to ", lead_transferee_));
  }
  const Index index = AppendEntry(Entry(0, 0, raftpb::ENTRY_NORMAL, std::move(data)));
  BroadcastAppend();
  return LogPosition{index, term_};
}

absl::StatusOr<LogPosition> Raft::ProposeConfChange(const raftpb::ConfChange& change) {
  if (!fatal_.ok()) return fatal_;
  if (role_ != Role::kLeader) {
    return absl::FailedPreconditionError(absl::StrCat("not the leader (leader is ", leader_, ")"));
  }
  if (lead_transferee_ != kNoNode) {
    return absl::FailedPreconditionError(absl::StrCat("leadership is being transferred to ", lead_transferee_));
  }
  // A new leader may hold an uncommitted change of its predecessor that it does not know is
  // in flight; committing an entry of its own term first settles that (Ongaro, raft-dev 2015).
  if (!CommittedInCurrentTerm()) {
    return absl::FailedPreconditionError("the new leader has not committed an entry of its term yet; retry");
  }
  if (ConfChangeInFlight()) {
    return absl::FailedPreconditionError(
        absl::StrCat("a configuration change is in flight (entry ", pending_conf_index_, ", config ",
                     DescribeConfState(conf_), "); one at a time"));
  }
  if (absl::StatusOr<raftpb::ConfState> next = ApplyConfChange(conf_, change); !next.ok()) return next.status();
  for (const raftpb::ConfChangeSingle& single : change.changes()) {
    if (single.type() != raftpb::CONF_ADD_VOTER ||
        !std::binary_search(conf_.learners().begin(), conf_.learners().end(), single.node())) {
      continue;
    }
    const Index match = progress_.at(single.node()).match();
    if (match + config_.max_promote_lag < log_.LastIndex()) {
      return absl::FailedPreconditionError(absl::StrCat("learner ", single.node(), " is ", log_.LastIndex() - match,
                                                        " entries behind (at most ", config_.max_promote_lag,
                                                        " to be promoted); retry once it caught up"));
    }
  }
  const Index index = AppendConfEntry(change);
  BroadcastAppend();
  return LogPosition{index, term_};
}

Index Raft::AppendConfEntry(const raftpb::ConfChange& change) {
  const Entry entry(term_, log_.LastIndex() + 1, raftpb::ENTRY_CONF_CHANGE, change.SerializeAsString());
  const Index index = AppendEntry(entry);
  KEEL_ASSERT(index == entry.index());
  RecordConfEntries(index, {entry});
  return index;
}

Index Raft::AppendEntry(Entry entry) {
  KEEL_ASSERT(role_ == Role::kLeader);
  entry.set_term(term_);
  entry.set_index(log_.LastIndex() + 1);
  return log_.Append(std::move(entry));
}

void Raft::OnSelfPersisted(Index index, Term term) {
  const bool still_ours = log_.MatchTerm(index, term);
  log_.StableTo(index, term);
  if (role_ != Role::kLeader || !still_ours) return;
  // The leader's own durable log counts towards the quorum only now (§10.2.1).
  if (progress_.at(id_).MaybeUpdate(index) && MaybeCommit()) BroadcastAppend();
}

void Raft::BroadcastAppend() {
  for (const auto& [id, progress] : progress_) {
    if (id != id_) pending_sends_.Mark(id, true);
  }
}

void Raft::FlushPendingSends() {
  if (role_ != Role::kLeader) {
    pending_sends_.Clear();
    return;
  }
  // Deferring sends to Ready time batches every proposal made since the previous Ready into as
  // few MSG_APPENDs as the size and in-flight limits allow.
  for (const auto& [to, send_if_empty] : pending_sends_) {
    if (!progress_.contains(to)) continue;  // left the configuration since
    if (!MaybeSendAppend(to, send_if_empty)) continue;
    while (MaybeSendAppend(to, /*send_if_empty=*/false)) {
    }
  }
  pending_sends_.Clear();
}

bool Raft::MaybeSendAppend(NodeId to, bool send_if_empty) {
  Progress& progress = progress_.at(to);
  if (progress.IsPaused()) return false;
  const Index prev_index = progress.next() - 1;
  const std::optional<Term> prev_term = log_.TermAt(prev_index);
  if (!prev_term) {
    StartSnapshotTransfer(to);
    return false;
  }
  MessageHeader message;
  message.set_type(raftpb::MSG_APPEND);
  message.set_to(to);
  message.set_index(prev_index);
  message.set_log_term(*prev_term);
  message.set_commit(log_.committed());
  uint64_t bytes = 0;
  std::vector<Entry> entries;
  if (progress.next() <= log_.LastIndex()) {
    const absl::Status status =
        log_.Slice(progress.next(), log_.LastIndex() + 1, config_.max_msg_bytes, &entries);
    if (IsCompacted(status)) {
      StartSnapshotTransfer(to);
      return false;
    }
    if (!status.ok()) {
      Fail(status);
      return false;
    }
    for (const Entry& entry : entries) bytes += EntryBytes(entry);
  }
  if (entries.empty() && !send_if_empty) return false;
  const Index last_sent = entries.empty() ? prev_index : entries.back().index();
  progress.SentEntries(last_sent, bytes);
  // The entries share their payloads with the log: one reference count each per follower.
  Send(std::move(message), std::move(entries));
  return true;
}

absl::Status Raft::HandleAppend(const Message& message) {
  const MessageHeader& m = message.header;
  MessageHeader reply;
  reply.set_type(raftpb::MSG_APPEND_RESP);
  reply.set_to(m.from());
  if (m.index() < log_.committed()) {
    // Everything up to our commit index matches the leader's log (Leader Completeness).
    reply.set_index(log_.committed());
    Send(std::move(reply));
    return absl::OkStatus();
  }
  // Safety net against a faulty peer: never let it overwrite committed entries.
  const std::vector<Entry>& entries = message.entries;
  for (const Entry& entry : entries) {
    if (entry.index() > log_.committed()) break;
    if (!log_.MatchTerm(entry.index(), entry.term())) {
      return absl::DataLossError(absl::StrCat("MSG_APPEND from ", m.from(), " conflicts with committed entry ",
                                              entry.index()));
    }
  }
  if (KEEL_PLANTED_BUG(kBugSkipLogMatching) && !log_.MatchTerm(m.index(), m.log_term()) &&
      m.index() <= log_.LastIndex() && m.index() > log_.committed()) {
    // Wrong: accept the entries without checking that our log matches the leader's at
    // m.index(); the entries before it keep whatever (possibly divergent) terms they had.
    if (!entries.empty()) {
      log_.Append(entries);
      RecordConfEntries(entries.front().index(), entries);
    }
    const Index last_new = m.index() + entries.size();
    log_.CommitTo(std::min(m.commit(), last_new));
    reply.set_index(last_new);
    Send(std::move(reply));
    return absl::OkStatus();
  }
  // The first entry that will change our log (a conflict or past our end): configs recorded
  // from there on are rewritten.
  Index first_changed = 0;
  for (const Entry& entry : entries) {
    if (!log_.MatchTerm(entry.index(), entry.term())) {
      first_changed = entry.index();
      break;
    }
  }
  if (std::optional<Index> last_new = log_.MaybeAppend(m.index(), m.log_term(), m.commit(), entries)) {
    if (first_changed != 0) RecordConfEntries(first_changed, entries);
    reply.set_index(*last_new);
  } else {
    // Fast backtracking: tell the leader the last index whose term is <= the term it probed
    // with, so it skips a whole divergent term per round trip instead of one entry.
    const auto [hint_index, hint_term] = log_.FindConflictByTerm(m.index(), m.log_term());
    reply.set_reject(true);
    reply.set_index(m.index());
    reply.set_reject_hint(hint_index);
    reply.set_log_term(hint_term);
  }
  Send(std::move(reply));
  return absl::OkStatus();
}

absl::Status Raft::StepLeader(const MessageHeader& m) {
  // A node we track no Progress for (not a member, or one just removed) has nothing to tell.
  if (!progress_.contains(m.from())) return absl::OkStatus();
  switch (m.type()) {
    case raftpb::MSG_APPEND_RESP:
      return HandleAppendResponse(m);
    case raftpb::MSG_HEARTBEAT_RESP:
      HandleHeartbeatResponse(m);
      return absl::OkStatus();
    case raftpb::MSG_SNAPSHOT_RESP:
      HandleSnapshotResponse(m);
      return absl::OkStatus();
    case raftpb::MSG_READ_INDEX:
      HandleReadIndexRequest(m.from(), m.context());
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

absl::Status Raft::HandleAppendResponse(const MessageHeader& m) {
  // Validate before touching any state: an invalid ack must not even count as a sign of life.
  if (!m.reject() && m.index() > log_.LastIndex()) {
    return absl::InvalidArgumentError(absl::StrCat("MSG_APPEND_RESP from ", m.from(), " acks index ",
                                                   m.index(), " beyond our last index ",
                                                   log_.LastIndex()));
  }
  Progress& progress = progress_.at(m.from());
  progress.set_recent_active(true);
  if (m.reject()) {
    Index next_probe = m.reject_hint();
    if (m.log_term() > 0) {
      // Skip our entries of terms the follower does not have at that point.
      next_probe = log_.FindConflictByTerm(m.reject_hint(), m.log_term()).first;
    }
    if (progress.MaybeDecreaseTo(m.index(), next_probe)) {
      if (progress.state() == ProgressState::kReplicate) progress.BecomeProbe();
      pending_sends_.Mark(m.from(), true);
    }
    return absl::OkStatus();
  }
  if (progress.MaybeUpdate(m.index())) {
    switch (progress.state()) {
      case ProgressState::kProbe:
        progress.BecomeReplicate();
        break;
      case ProgressState::kSnapshot:
        if (progress.match() >= progress.snapshot().meta.index()) {
          progress.BecomeProbe();
          progress.BecomeReplicate();
        }
        break;
      case ProgressState::kReplicate:
        break;
    }
    // Acked messages leave the window (a no-op outside replicate).
    progress.FreeInflightsUpTo(m.index());
    if (MaybeCommit()) BroadcastAppend();
    // The ack may have opened the window (or ended a probe): send what is pending.
    pending_sends_.Mark(m.from(), false);
    if (m.from() == lead_transferee_ && progress.match() == log_.LastIndex()) {
      SendTimeoutNow(m.from());
    }
  }
  return absl::OkStatus();
}

bool Raft::MaybeCommit() {
  auto match = [this](NodeId id) {
    auto it = progress_.find(id);
    return it == progress_.end() ? Index{0} : it->second.match();
  };
  // The planted bug counts only C_new's majority while joint: C_old's majority may not have
  // the entry, and a C_old leader elected meanwhile could overwrite it.
  const Index quorum_index = KEEL_PLANTED_BUG(kBugJointSingleQuorum) ? quorum_.incoming().CommittedIndex(match)
                                                                      : quorum_.CommittedIndex(match);
  KEEL_ASSERT(quorum_index != kNoQuorumLimit);
  if (KEEL_PLANTED_BUG(kBugCommitOldTerm) && quorum_index > log_.committed()) {
    log_.CommitTo(quorum_index);  // wrong: ignores the term of the entry (Figure 8)
  }
  // Figure 8: only an entry of the current term is committed by counting replicas.
  if (!log_.MaybeCommit(quorum_index, term_)) return false;
  if (!pending_reads_.empty() && CommittedInCurrentTerm()) {
    auto pending = std::move(pending_reads_);
    pending_reads_.clear();
    for (auto& [from, context] : pending) HandleReadIndexRequest(from, std::move(context));
  }
  AfterCommit();
  return true;
}

void Raft::BroadcastHeartbeat(const std::string& context) {
  for (const auto& [id, progress] : progress_) {
    if (id != id_) SendHeartbeat(id, context);
  }
}

void Raft::SendHeartbeat(NodeId to, const std::string& context) {
  // Never tell a follower to commit beyond what we know it holds: its log past match may
  // still diverge from ours.
  MessageHeader message;
  message.set_type(raftpb::MSG_HEARTBEAT);
  message.set_to(to);
  message.set_commit(std::min(progress_.at(to).match(), log_.committed()));
  message.set_context(context);
  if (config_.read_only_lease) message.set_lease_tick(ticks_);
  Send(std::move(message));
}

void Raft::HandleHeartbeat(const MessageHeader& m) {
  if (m.commit() <= log_.LastIndex()) log_.CommitTo(m.commit());
  MessageHeader reply;
  reply.set_type(raftpb::MSG_HEARTBEAT_RESP);
  reply.set_to(m.from());
  reply.set_context(m.context());
  reply.set_lease_tick(m.lease_tick());
  Send(std::move(reply));
}

void Raft::HandleHeartbeatResponse(const MessageHeader& m) {
  Progress& progress = progress_.at(m.from());
  progress.set_recent_active(true);
  progress.OnHeartbeatResponse();
  RecordLeaseAck(m.from(), m.lease_tick());
  if (progress.match() < log_.LastIndex() || progress.state() == ProgressState::kProbe) {
    pending_sends_.Mark(m.from(), true);
  }
  if (!m.context().empty()) {
    ReleaseReadyReads(read_only_.Ack(m.from(), m.context(),
                                     [this](const absl::btree_set<NodeId>& acks) { return quorum_.HasQuorum(acks); }));
  }
}

bool Raft::CheckQuorumActive() {
  absl::btree_set<NodeId> active;
  for (auto& [id, progress] : progress_) {
    if (id == id_ || progress.recent_active()) active.insert(id);
    if (id != id_) progress.set_recent_active(false);
  }
  return quorum_.HasQuorum(active);
}

}  // namespace keel
