#include "engine/quorum.h"

#include <algorithm>
#include <functional>

#include "engine/assert.h"

namespace keel {

MajorityConfig::MajorityConfig(std::vector<NodeId> voters) : voters_(std::move(voters)) {
  KEEL_ASSERT(std::is_sorted(voters_.begin(), voters_.end()));
  KEEL_ASSERT(std::adjacent_find(voters_.begin(), voters_.end()) == voters_.end());
  KEEL_ASSERT(voters_.empty() || voters_.front() != kNoNode);
}

Index MajorityConfig::QuorumIndexOf(absl::Span<Index> matches) {
  KEEL_ASSERT(!matches.empty());
  // Sorted descending, the quorum-th value is reached by at least a quorum.
  const size_t pos = QuorumSize(matches.size()) - 1;
  std::nth_element(matches.begin(), matches.begin() + static_cast<std::ptrdiff_t>(pos), matches.end(),
                   std::greater<Index>());
  return matches[pos];
}

VoteResult MajorityConfig::Vote(const absl::btree_map<NodeId, bool>& votes) const {
  if (voters_.empty()) return VoteResult::kWon;
  size_t granted = 0;
  size_t rejected = 0;
  for (NodeId id : voters_) {
    auto it = votes.find(id);
    if (it == votes.end()) continue;
    (it->second ? granted : rejected)++;
  }
  const size_t quorum = QuorumSize(voters_.size());
  if (granted >= quorum) return VoteResult::kWon;
  if (voters_.size() - rejected < quorum) return VoteResult::kLost;
  return VoteResult::kPending;
}

bool MajorityConfig::HasQuorum(const absl::btree_set<NodeId>& ids) const {
  if (voters_.empty()) return true;
  size_t present = 0;
  for (NodeId id : voters_) present += ids.contains(id) ? 1 : 0;
  return present >= QuorumSize(voters_.size());
}

std::vector<NodeId> JointConfig::Voters() const {
  std::vector<NodeId> all;
  std::set_union(incoming_.ids().begin(), incoming_.ids().end(), outgoing_.ids().begin(), outgoing_.ids().end(),
                 std::back_inserter(all));
  return all;
}

VoteResult JointConfig::Vote(const absl::btree_map<NodeId, bool>& votes) const {
  const VoteResult in = incoming_.Vote(votes);
  const VoteResult out = outgoing_.Vote(votes);
  if (in == VoteResult::kLost || out == VoteResult::kLost) return VoteResult::kLost;
  if (in == VoteResult::kWon && out == VoteResult::kWon) return VoteResult::kWon;
  return VoteResult::kPending;
}

}  // namespace keel
