// Majority arithmetic over a voting membership.
#pragma once

#include <vector>

#include "absl/container/btree_map.h"
#include "engine/types.h"

namespace keel {

enum class VoteResult { kPending, kWon, kLost };

// Votes needed for a majority of n voters.
inline size_t QuorumSize(size_t voters) { return voters / 2 + 1; }

// The largest index that a majority of `match_indexes` (one per voter) have reached.
// Precondition: !match_indexes.empty().
Index QuorumIndex(std::vector<Index> match_indexes);

// Tallies the votes recorded for `voters`: won once a majority granted, lost once a majority
// can no longer be reached.
VoteResult TallyVotes(const std::vector<NodeId>& voters, const absl::btree_map<NodeId, bool>& votes);

}  // namespace keel
