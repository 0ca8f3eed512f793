// Linearizable reads via ReadIndex (dissertation §6.4) and leadership transfer (§3.10).
#include <algorithm>

#include "engine/assert.h"
#include "engine/planted_bugs.h"
#include "engine/quorum.h"
#include "engine/raft.h"

namespace keel {

bool Raft::CommittedInCurrentTerm() const {
  const std::optional<Term> term = log_.TermAt(log_.committed());
  return term.has_value() && *term == term_;
}

absl::Status Raft::ReadIndex(std::string context) {
  if (!fatal_.ok()) return fatal_;
  if (role_ == Role::kLeader) {
    if (LeaseHolds()) {
      read_states_.push_back(ReadState{log_.committed(), std::move(context), /*lease=*/true});
      return absl::OkStatus();
    }
    HandleReadIndexRequest(id_, std::move(context));
    return absl::OkStatus();
  }
  if (leader_ == kNoNode) return absl::UnavailableError("no known leader to confirm a read");
  MessageHeader request;
  request.set_type(raftpb::MSG_READ_INDEX);
  request.set_to(leader_);
  request.set_context(std::move(context));
  Send(std::move(request));
  return absl::OkStatus();
}

bool Raft::LeaseHolds(uint64_t ticks_ahead) const {
  if (!config_.read_only_lease || role_ != Role::kLeader) return false;
  // Without an entry of its term committed, the leader's commit index may miss entries its
  // predecessor committed; a transfer or a TimeoutNow of this term lets a campaign past the
  // followers' promise; a membership change in flight leaves two quorums to reason about.
  if (!CommittedInCurrentTerm() || lead_transferee_ != kNoNode || lease_revoked_ || ConfChangeInFlight()) {
    return false;
  }
  // The planted bug trusts followers for a whole election timeout: no margin for their clocks
  // running faster than ours, nor for ticks that do not line up with the heartbeat.
  const uint64_t lease_ticks = static_cast<uint64_t>(
      KEEL_PLANTED_BUG(kBugLeaseIgnoresDrift) ? config_.election_tick : config_.LeaseTicks());
  const uint64_t now = ticks_ + ticks_ahead;
  absl::btree_set<NodeId> fresh = {id_};
  for (const auto& [id, sent_tick] : lease_acks_) {
    KEEL_ASSERT(sent_tick <= ticks_);
    if (now - sent_tick < lease_ticks) fresh.insert(id);
  }
  return quorum_.HasQuorum(fresh);
}

void Raft::RecordLeaseAck(NodeId from, uint64_t sent_tick) {
  KEEL_ASSERT(role_ == Role::kLeader);
  if (!config_.read_only_lease || sent_tick > ticks_) return;  // a tick we never sent: garbage
  uint64_t& newest = lease_acks_[from];
  newest = std::max(newest, sent_tick);
}

void Raft::HandleReadIndexRequest(NodeId from, std::string context) {
  KEEL_ASSERT(role_ == Role::kLeader);
  if (!CommittedInCurrentTerm()) {
    // Until our no-op commits we do not know the true commit index (§6.4 step 1).
    pending_reads_.emplace_back(from, std::move(context));
    return;
  }
  const std::string heartbeat_context =
      read_only_.Add(from, std::move(context), log_.committed(), id_);
  if (quorum_.HasQuorum({id_})) {  // the leader alone is a quorum
    ReleaseReadyReads(read_only_.ReleaseAll());
    return;
  }
  BroadcastHeartbeat(heartbeat_context);
}

void Raft::ReleaseReadyReads(std::vector<ReadOnly::Request> released) {
  for (ReadOnly::Request& request : released) {
    if (request.from == id_) {
      read_states_.push_back(ReadState{request.index, std::move(request.context)});
      continue;
    }
    MessageHeader reply;
    reply.set_type(raftpb::MSG_READ_INDEX_RESP);
    reply.set_to(request.from);
    reply.set_index(request.index);
    reply.set_context(std::move(request.context));
    Send(std::move(reply));
  }
}

void Raft::HandleReadIndexResponse(const MessageHeader& m) {
  if (m.from() != leader_) return;
  read_states_.push_back(ReadState{m.index(), m.context()});
}

absl::Status Raft::TransferLeadership(NodeId transferee) {
  if (!fatal_.ok()) return fatal_;
  if (role_ != Role::kLeader) return absl::FailedPreconditionError("not the leader");
  if (transferee == id_) return absl::InvalidArgumentError("already the leader");
  if (!IsVoter(transferee)) {
    return absl::InvalidArgumentError(absl::StrCat("node ", transferee, " is not a voter"));
  }
  lead_transferee_ = transferee;
  // The transfer must finish within an election timeout or it is abandoned (TickHeartbeat).
  election_elapsed_ = 0;
  if (progress_.at(transferee).match() == log_.LastIndex()) {
    SendTimeoutNow(transferee);
  } else {
    pending_sends_.Mark(transferee, true);
  }
  return absl::OkStatus();
}

void Raft::SendTimeoutNow(NodeId to) {
  // The transferee's campaign overrides the followers' promise, and this message may arrive
  // long after the transfer was abandoned: no lease for the rest of this term.
  lease_revoked_ = true;
  MessageHeader message;
  message.set_type(raftpb::MSG_TIMEOUT_NOW);
  message.set_to(to);
  Send(std::move(message));
}

void Raft::HandleTimeoutNow(const MessageHeader& m) {
  if (!Promotable()) return;
  StartElection(ElectionKind::kTransfer);
}

}  // namespace keel
