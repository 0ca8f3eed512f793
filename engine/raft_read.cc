// Linearizable reads via ReadIndex (dissertation §6.4) and leadership transfer (§3.10).
#include "engine/assert.h"
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
    HandleReadIndexRequest(id_, std::move(context));
    return absl::OkStatus();
  }
  if (leader_ == kNoNode) return absl::UnavailableError("no known leader to confirm a read");
  raftpb::Message request;
  request.set_type(raftpb::MSG_READ_INDEX);
  request.set_to(leader_);
  request.set_context(std::move(context));
  Send(std::move(request));
  return absl::OkStatus();
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
    raftpb::Message reply;
    reply.set_type(raftpb::MSG_READ_INDEX_RESP);
    reply.set_to(request.from);
    reply.set_index(request.index);
    reply.set_context(std::move(request.context));
    Send(std::move(reply));
  }
}

void Raft::HandleReadIndexResponse(const raftpb::Message& m) {
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
    pending_sends_[transferee] = true;
  }
  return absl::OkStatus();
}

void Raft::SendTimeoutNow(NodeId to) {
  raftpb::Message message;
  message.set_type(raftpb::MSG_TIMEOUT_NOW);
  message.set_to(to);
  Send(std::move(message));
}

void Raft::HandleTimeoutNow(const raftpb::Message& m) {
  if (!Promotable()) return;
  StartElection(ElectionKind::kTransfer);
}

}  // namespace keel
