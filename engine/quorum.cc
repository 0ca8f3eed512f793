#include "engine/quorum.h"

#include <algorithm>

#include "engine/assert.h"

namespace keel {

Index QuorumIndex(std::vector<Index> match_indexes) {
  KEEL_ASSERT(!match_indexes.empty());
  // Sorted descending, the quorum-th value is reached by at least a quorum.
  const size_t pos = QuorumSize(match_indexes.size()) - 1;
  std::nth_element(match_indexes.begin(), match_indexes.begin() + pos, match_indexes.end(),
                   std::greater<Index>());
  return match_indexes[pos];
}

VoteResult TallyVotes(const std::vector<NodeId>& voters, const absl::btree_map<NodeId, bool>& votes) {
  size_t granted = 0;
  size_t rejected = 0;
  for (NodeId id : voters) {
    auto it = votes.find(id);
    if (it == votes.end()) continue;
    (it->second ? granted : rejected)++;
  }
  const size_t quorum = QuorumSize(voters.size());
  if (granted >= quorum) return VoteResult::kWon;
  if (voters.size() - rejected < quorum) return VoteResult::kLost;
  return VoteResult::kPending;
}

}  // namespace keel
