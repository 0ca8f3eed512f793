// Quorum rules (Raft §5, dissertation §4.3 joint consensus), in the style of etcd-io/raft's
// quorum package: a MajorityConfig decides by simple majority of its voters; a JointConfig is
// two of them (the incoming C_new and, while a change is in progress, the outgoing C_old) and
// decides only when both do. Every quorum decision of the core (commit index, election
// results, CheckQuorum, ReadIndex confirmations) goes through a JointConfig, so a cluster in
// a joint configuration can never act on the agreement of one half alone.
#pragma once

#include <algorithm>
#include <limits>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/types/span.h"
#include "engine/types.h"

namespace keel {

enum class VoteResult { kPending, kWon, kLost };

// Votes needed for a majority of n voters.
inline size_t QuorumSize(size_t voters) { return voters / 2 + 1; }

// No constraint: what an empty majority config reports as its committed index, so that
// min(incoming, outgoing) of a non-joint config is the incoming one's.
inline constexpr Index kNoQuorumLimit = std::numeric_limits<Index>::max();

class MajorityConfig {
 public:
  MajorityConfig() = default;
  // Precondition: `voters` sorted, unique, without kNoNode.
  explicit MajorityConfig(std::vector<NodeId> voters);

  const std::vector<NodeId>& ids() const { return voters_; }
  bool empty() const { return voters_.empty(); }
  size_t size() const { return voters_.size(); }
  bool Contains(NodeId id) const { return std::binary_search(voters_.begin(), voters_.end(), id); }

  // The largest index that a majority of voters has reached, `match(id)` being each voter's;
  // kNoQuorumLimit for an empty config.
  template <typename Match>
  Index CommittedIndex(const Match& match) const {
    if (voters_.empty()) return kNoQuorumLimit;
    // Inline for the usual cluster sizes: the leader runs this on every append ack.
    absl::InlinedVector<Index, 8> matches;
    matches.reserve(voters_.size());
    for (NodeId id : voters_) matches.push_back(match(id));
    return QuorumIndexOf(absl::MakeSpan(matches));
  }
  // Won once a majority granted, lost once a majority can no longer be reached; ids not in the
  // config do not count. An empty config has always won (it constrains nothing).
  VoteResult Vote(const absl::btree_map<NodeId, bool>& votes) const;
  // A majority of voters is in `ids`. True for an empty config.
  bool HasQuorum(const absl::btree_set<NodeId>& ids) const;

  // The quorum-th largest of `matches` (one per voter; reordered). Precondition: not empty.
  static Index QuorumIndexOf(absl::Span<Index> matches);

 private:
  std::vector<NodeId> voters_;  // sorted
};

class JointConfig {
 public:
  JointConfig() = default;
  JointConfig(MajorityConfig incoming, MajorityConfig outgoing)
      : incoming_(std::move(incoming)), outgoing_(std::move(outgoing)) {}

  const MajorityConfig& incoming() const { return incoming_; }
  const MajorityConfig& outgoing() const { return outgoing_; }
  bool joint() const { return !outgoing_.empty(); }
  bool IsVoter(NodeId id) const { return incoming_.Contains(id) || outgoing_.Contains(id); }
  // Every voter of either half, sorted, once.
  std::vector<NodeId> Voters() const;

  // min of both halves: an index is committed only once each half's majority has it.
  template <typename Match>
  Index CommittedIndex(const Match& match) const {
    return std::min(incoming_.CommittedIndex(match), outgoing_.CommittedIndex(match));
  }
  // Won when both halves won; lost as soon as either lost.
  VoteResult Vote(const absl::btree_map<NodeId, bool>& votes) const;
  // Both halves have a majority in `ids`.
  bool HasQuorum(const absl::btree_set<NodeId>& ids) const {
    return incoming_.HasQuorum(ids) && outgoing_.HasQuorum(ids);
  }

 private:
  MajorityConfig incoming_;
  MajorityConfig outgoing_;  // empty unless joint
};

}  // namespace keel
