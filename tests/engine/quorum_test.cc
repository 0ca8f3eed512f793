// Quorum rules (engine/quorum.h): majorities, and joint configurations that decide only when
// both halves do (dissertation §4.3). Exhaustive over small configs against a brute-force
// definition, plus the cases that matter by name.
#include "engine/quorum.h"

#include <vector>

#include "gtest/gtest.h"

namespace keel {
namespace {

TEST(QuorumTest, MajorityArithmetic) {
  EXPECT_EQ(QuorumSize(1), 1u);
  EXPECT_EQ(QuorumSize(2), 2u);
  EXPECT_EQ(QuorumSize(3), 2u);
  EXPECT_EQ(QuorumSize(4), 3u);
  EXPECT_EQ(QuorumSize(5), 3u);
  auto quorum_index = [](std::vector<Index> matches) { return MajorityConfig::QuorumIndexOf(absl::MakeSpan(matches)); };
  EXPECT_EQ(quorum_index({5}), 5u);
  EXPECT_EQ(quorum_index({1, 2, 3}), 2u);
  EXPECT_EQ(quorum_index({9, 1, 5, 7}), 5u) << "4 voters need 3";
  EXPECT_EQ(quorum_index({3, 3, 1, 1, 2}), 2u);
  const MajorityConfig voters({1, 2, 3});
  EXPECT_EQ(voters.Vote({{1, true}}), VoteResult::kPending);
  EXPECT_EQ(voters.Vote({{1, true}, {2, true}}), VoteResult::kWon);
  EXPECT_EQ(voters.Vote({{1, true}, {2, false}}), VoteResult::kPending);
  EXPECT_EQ(voters.Vote({{1, true}, {2, false}, {3, false}}), VoteResult::kLost);
  EXPECT_EQ(voters.Vote({{1, true}, {9, true}}), VoteResult::kPending) << "non-voters do not count";
  EXPECT_EQ(MajorityConfig({1, 2, 3, 4}).Vote({{1, true}, {2, true}, {3, false}}), VoteResult::kPending);
  EXPECT_EQ(MajorityConfig({1, 2, 3, 4}).Vote({{1, true}, {2, false}, {3, false}}), VoteResult::kLost);
  EXPECT_EQ(MajorityConfig().Vote({}), VoteResult::kWon) << "an empty config constrains nothing";
  EXPECT_EQ(MajorityConfig().CommittedIndex([](NodeId) { return Index{0}; }), kNoQuorumLimit);
}

TEST(QuorumTest, JointNeedsBothHalves) {
  // C_old = {1,2,3}, C_new = {3,4,5}: replacing two nodes at once.
  const JointConfig joint(MajorityConfig({3, 4, 5}), MajorityConfig({1, 2, 3}));
  EXPECT_TRUE(joint.joint());
  EXPECT_EQ(joint.Voters(), (std::vector<NodeId>{1, 2, 3, 4, 5}));
  // 3 of 5 voters, but only one of C_new: not won (a single-quorum bug would say won).
  EXPECT_EQ(joint.Vote({{1, true}, {2, true}, {3, true}}), VoteResult::kPending);
  EXPECT_EQ(joint.Vote({{1, true}, {3, true}, {4, true}}), VoteResult::kWon);
  EXPECT_EQ(joint.Vote({{4, false}, {5, false}}), VoteResult::kLost) << "C_new can no longer win";
  // Commit: C_new's majority has 9, C_old's only 4.
  const absl::btree_map<NodeId, Index> match = {{1, 4}, {2, 4}, {3, 9}, {4, 9}, {5, 9}};
  EXPECT_EQ(joint.CommittedIndex([&](NodeId id) { return match.at(id); }), 4u);
  EXPECT_EQ(joint.incoming().CommittedIndex([&](NodeId id) { return match.at(id); }), 9u);
  EXPECT_FALSE(joint.HasQuorum({3, 4, 5}));
  EXPECT_TRUE(joint.HasQuorum({2, 3, 4}));
  const JointConfig simple(MajorityConfig({1, 2, 3}), MajorityConfig());
  EXPECT_FALSE(simple.joint());
  EXPECT_EQ(simple.CommittedIndex([&](NodeId id) { return match.at(id); }), 4u);
}

// Brute force over every subset of voters {1..5} split into two halves: the joint rule equals
// "a majority of each half" for votes, acks and commit indexes.
TEST(QuorumTest, JointMatchesBruteForceOnSmallConfigs) {
  const std::vector<NodeId> all = {1, 2, 3, 4, 5};
  auto subset = [&](unsigned mask) {
    std::vector<NodeId> ids;
    for (size_t i = 0; i < all.size(); ++i) {
      if (mask & (1u << i)) ids.push_back(all[i]);
    }
    return ids;
  };
  auto majority_of = [](const std::vector<NodeId>& ids, const absl::btree_set<NodeId>& yes) {
    size_t n = 0;
    for (NodeId id : ids) n += yes.contains(id) ? 1 : 0;
    return ids.empty() || n > ids.size() / 2;
  };
  for (unsigned in = 1; in < 32; ++in) {
    for (unsigned out = 0; out < 32; out += 3) {
      const JointConfig joint(MajorityConfig(subset(in)), MajorityConfig(subset(out)));
      for (unsigned yes_mask = 0; yes_mask < 32; ++yes_mask) {
        absl::btree_set<NodeId> yes;
        absl::btree_map<NodeId, bool> votes;
        for (NodeId id : subset(yes_mask)) yes.insert(id);
        for (NodeId id : all) votes[id] = yes.contains(id);
        const bool expect = majority_of(subset(in), yes) && majority_of(subset(out), yes);
        ASSERT_EQ(joint.HasQuorum(yes), expect) << in << " " << out << " " << yes_mask;
        // Every voter voted: the result is decided.
        ASSERT_EQ(joint.Vote(votes), expect ? VoteResult::kWon : VoteResult::kLost) << in << " " << out;
      }
      // Commit index: the largest i such that the nodes with match >= i form a joint quorum.
      const absl::btree_map<NodeId, Index> match = {{1, 7}, {2, 3}, {3, 9}, {4, 1}, {5, 5}};
      Index expect = 0;
      for (Index i = 0; i <= 10; ++i) {
        absl::btree_set<NodeId> reached;
        for (const auto& [id, m] : match) {
          if (m >= i) reached.insert(id);
        }
        if (majority_of(subset(in), reached) && majority_of(subset(out), reached)) expect = i;
      }
      ASSERT_EQ(joint.CommittedIndex([&](NodeId id) { return match.at(id); }), expect) << in << " " << out;
    }
  }
}

}  // namespace
}  // namespace keel
