// Leadership transfer (dissertation §3.10): the leader brings the transferee's log up to date,
// then sends MSG_TIMEOUT_NOW; the transferee campaigns at once, skipping PreVote, and its vote
// requests override the CheckQuorum lease. Proposals are refused meanwhile; the transfer is
// abandoned after an election timeout.
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace keel::testing {
namespace {

TEST(TransferTest, TransferToUpToDateFollowerOverridesTheLease) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  ASSERT_TRUE(cluster.Propose(1, "a").ok());
  cluster.Stabilize();
  cluster.TickAllAndStabilize();
  // Node 3 just heard from the leader: it would ignore an ordinary campaign.
  ASSERT_EQ(cluster.raft(3).leader(), 1u);
  ASSERT_LT(cluster.raft(3).election_elapsed(), cluster.options().election_tick);
  ASSERT_TRUE(cluster.raft(1).TransferLeadership(2).ok());
  cluster.Stabilize();
  ASSERT_EQ(cluster.Leader(), 2u) << cluster.DescribeNodes();
  EXPECT_EQ(cluster.raft(2).term(), 2u);
  EXPECT_EQ(cluster.raft(1).role(), Role::kFollower);
  EXPECT_EQ(cluster.raft(1).leader(), 2u);
  ASSERT_TRUE(cluster.Propose(2, "b").ok());
  cluster.Stabilize();
  for (NodeId id : cluster.ids()) {
    EXPECT_EQ(cluster.applied(id), (std::vector<std::string>{"a", "b"})) << id;
  }
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(TransferTest, LaggingTransfereeIsCaughtUpBeforeTimeoutNow) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  cluster.Isolate(3);
  ASSERT_TRUE(cluster.Propose(1, "a").ok());
  ASSERT_TRUE(cluster.Propose(1, "b").ok());
  cluster.Stabilize();
  cluster.Heal();
  ASSERT_LT(cluster.raft(3).log().LastIndex(), cluster.raft(1).log().LastIndex());
  ASSERT_TRUE(cluster.raft(1).TransferLeadership(3).ok());
  bool timeout_now_sent = false;
  StabilizeWhere(cluster, [&](const raftpb::Message& m) {
    if (m.type() == raftpb::MSG_TIMEOUT_NOW) {
      timeout_now_sent = true;
      // Otherwise node 3 would campaign with a stale log and lose (or never be electable).
      EXPECT_EQ(cluster.raft(3).log().LastIndex(), cluster.raft(1).log().LastIndex());
      EXPECT_EQ(cluster.raft(3).log().LastTerm(), cluster.raft(1).log().LastTerm());
    }
    return true;
  });
  EXPECT_TRUE(timeout_now_sent);
  ASSERT_EQ(cluster.Leader(), 3u) << cluster.DescribeNodes();
  EXPECT_EQ(cluster.applied(3), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(TransferTest, ProposalsRefusedDuringTransferAndAcceptedAfterItIsAbandoned) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  cluster.Isolate(3);
  ASSERT_TRUE(cluster.raft(1).TransferLeadership(3).ok());
  EXPECT_EQ(cluster.raft(1).Status().lead_transferee, 3u);
  EXPECT_EQ(cluster.Propose(1, "during").status().code(), absl::StatusCode::kFailedPrecondition);
  for (int i = 0; i < cluster.options().election_tick; ++i) cluster.TickAllAndStabilize();
  EXPECT_EQ(cluster.raft(1).Status().lead_transferee, kNoNode) << "abandoned after an election timeout";
  EXPECT_EQ(cluster.Leader(), 1u);
  EXPECT_EQ(cluster.raft(1).term(), 1u);
  ASSERT_TRUE(cluster.Propose(1, "after").ok());
  cluster.Stabilize();
  EXPECT_EQ(cluster.applied(2), std::vector<std::string>{"after"});
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(TransferTest, InvalidTransferRequestsAreRefused) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  EXPECT_EQ(cluster.raft(2).TransferLeadership(3).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(cluster.raft(1).TransferLeadership(1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cluster.raft(1).TransferLeadership(9).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cluster.raft(1).Status().lead_transferee, kNoNode);
  EXPECT_TRUE(cluster.Propose(1, "still fine").ok());
  cluster.Stabilize();
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(TransferTest, TimeoutNowStartsARealElectionAtOnceSkippingPreVote) {
  NodeOptions options;
  options.entries = EntriesWithTerms({1});
  options.term = 1;
  TestNode node(1, options);
  ASSERT_TRUE(node.Step(MakeAppend(2, 1, 1, 1, 1, 1, {})).ok());
  node.Drain();
  ASSERT_TRUE(node.Step(MakeMessage(raftpb::MSG_TIMEOUT_NOW, 2, 1, 1)).ok());
  EXPECT_EQ(node->role(), Role::kCandidate);
  EXPECT_EQ(node->term(), 2u);
  EXPECT_EQ(node->vote(), 1u);
  Ready ready = node->GetReady();
  const std::vector<raftpb::Message> votes = Filter(ready.messages_after_persist, raftpb::MSG_VOTE);
  ASSERT_EQ(votes.size(), 2u);
  for (const raftpb::Message& vote : votes) {
    EXPECT_TRUE(vote.transfer());
    EXPECT_EQ(vote.term(), 2u);
  }
  EXPECT_TRUE(Filter(ready.messages, raftpb::MSG_PRE_VOTE).empty());
  node->Advance(ready);
}

// A transfer campaign skips the lease but not the election restriction.
TEST(TransferTest, TransferVoteOverridesLeaseButNotTheLogCheck) {
  for (const bool up_to_date : {false, true}) {
    NodeOptions options;
    options.entries = EntriesWithTerms({1, 1, 1});
    options.term = 1;
    TestNode node(1, options);
    ASSERT_TRUE(node.Step(MakeAppend(2, 1, 1, 3, 1, 3, {})).ok());
    node.Drain();
    raftpb::Message vote = MakeVote(raftpb::MSG_VOTE, 3, 1, 2, up_to_date ? 3 : 2, 1);
    vote.set_transfer(true);
    ASSERT_TRUE(node.Step(vote).ok());
    EXPECT_EQ(node->term(), 2u) << "not ignored despite the lease";
    const std::vector<raftpb::Message> replies = Filter(node.Drain(), raftpb::MSG_VOTE_RESP);
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].reject(), !up_to_date);
    EXPECT_EQ(node->vote(), up_to_date ? 3u : kNoNode);
  }
}

}  // namespace
}  // namespace keel::testing
