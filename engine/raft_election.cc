// Leader election (Raft §5.2, dissertation §9.6 PreVote, §6.2 CheckQuorum lease).
#include "engine/assert.h"
#include "engine/planted_bugs.h"
#include "engine/quorum.h"
#include "engine/raft.h"

namespace keel {

bool Raft::InLease() const {
  return config_.check_quorum && leader_ != kNoNode && election_elapsed_ < config_.election_tick;
}

void Raft::StartElection(ElectionKind kind) {
  KEEL_ASSERT(role_ != Role::kLeader);
  KEEL_ASSERT(Promotable());
  const bool pre_vote = kind == ElectionKind::kPreVote;
  const bool transfer = kind == ElectionKind::kTransfer;
  Term campaign_term;
  if (pre_vote) {
    BecomePreCandidate();
    campaign_term = term_ + 1;  // the term we would run for; ours does not change yet
  } else {
    BecomeCandidate();
    campaign_term = term_;
  }
  votes_[id_] = true;
  if (quorum_.Vote(votes_) == VoteResult::kWon) {
    // A single-voter cluster wins on its own vote.
    if (pre_vote) {
      StartElection(ElectionKind::kVote);
      return;
    }
    BecomeLeader();
    return;
  }
  for (NodeId voter : voters_) {
    if (voter == id_) continue;
    MessageHeader request;
    request.set_type(pre_vote ? raftpb::MSG_PRE_VOTE : raftpb::MSG_VOTE);
    request.set_to(voter);
    request.set_term(campaign_term);
    request.set_index(log_.LastIndex());
    request.set_log_term(log_.LastTerm());
    request.set_transfer(transfer);
    Send(std::move(request));
  }
}

void Raft::HandleVoteRequest(const MessageHeader& m) {
  const bool is_pre_vote = m.type() == raftpb::MSG_PRE_VOTE;
  // We can vote for m.from if we already did (a retransmission), or have not voted and know no
  // leader in this term, or it is a pre-vote for a later term (granting it promises nothing).
  const bool can_vote = vote_ == m.from() || (vote_ == kNoNode && leader_ == kNoNode) ||
                        (is_pre_vote && m.term() > term_) ||
                        (!is_pre_vote && KEEL_PLANTED_BUG(kBugDoubleVote));
  // Lease reads: the promise to the last leader holds in any term (a later term's message
  // that is not a vote may have moved us on without a leader); only a transfer overrides it.
  const bool promised = !is_pre_vote && !m.transfer() && vote_ != m.from() && LeasePromised();
  MessageHeader reply;
  reply.set_type(is_pre_vote ? raftpb::MSG_PRE_VOTE_RESP : raftpb::MSG_VOTE_RESP);
  reply.set_to(m.from());
  if (can_vote && !promised && log_.IsUpToDate(m.index(), m.log_term())) {
    // A granted pre-vote answers in the candidate's future term so that it counts there.
    reply.set_term(m.term());
    if (!is_pre_vote) {
      KEEL_ASSERT(m.term() == term_);
      election_elapsed_ = 0;
      vote_ = m.from();
    }
  } else {
    reply.set_term(term_);
    reply.set_reject(true);
  }
  Send(std::move(reply));
}

void Raft::HandleVoteResponse(const MessageHeader& m) {
  const bool is_pre_vote = m.type() == raftpb::MSG_PRE_VOTE_RESP;
  if (is_pre_vote != (role_ == Role::kPreCandidate)) return;  // from an earlier campaign
  if (is_pre_vote && !m.reject() && m.term() != term_ + 1) return;  // for another campaign
  votes_.try_emplace(m.from(), !m.reject());
  switch (quorum_.Vote(votes_)) {
    case VoteResult::kWon:
      if (is_pre_vote) {
        StartElection(ElectionKind::kVote);
      } else {
        BecomeLeader();
      }
      break;
    case VoteResult::kLost:
      // Stay in our term; a real vote loss leaves our own vote in place (Reset keeps it).
      BecomeFollower(term_, kNoNode);
      break;
    case VoteResult::kPending:
      break;
  }
}

}  // namespace keel
