// Linearizable reads via ReadIndex (dissertation §6.4): the leader records its commit index,
// confirms it is still the leader with a round of heartbeats acknowledged by a quorum, and only
// then releases the read, at an index that covers every write committed before the request.
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace keel::testing {
namespace {

TEST(ReadIndexTest, LeaderReadWaitsForQuorumHeartbeatAndCoversPriorWrites) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  absl::StatusOr<LogPosition> write = cluster.Propose(1, "w");
  ASSERT_TRUE(write.ok());
  cluster.Stabilize();
  ASSERT_TRUE(cluster.raft(1).ReadIndex("r1").ok());
  cluster.ProcessReady(1);
  EXPECT_TRUE(cluster.read_states(1).empty()) << "leadership not confirmed yet";
  EXPECT_EQ(CountQueued(cluster, [](const raftpb::Message& m) {
              return m.type() == raftpb::MSG_HEARTBEAT && !m.context().empty();
            }),
            2u);
  cluster.Stabilize();
  ASSERT_EQ(cluster.read_states(1).size(), 1u);
  EXPECT_EQ(cluster.read_states(1)[0].context, "r1");
  EXPECT_GE(cluster.read_states(1)[0].index, write->index);
  EXPECT_EQ(cluster.read_states(1)[0].index, cluster.raft(1).log().committed());
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(ReadIndexTest, FollowerReadIsConfirmedByTheLeader) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  ASSERT_TRUE(cluster.Propose(1, "w").ok());
  cluster.Stabilize();
  ASSERT_TRUE(cluster.raft(2).ReadIndex("f").ok());
  cluster.Stabilize();
  ASSERT_EQ(cluster.read_states(2).size(), 1u);
  EXPECT_EQ(cluster.read_states(2)[0].context, "f");
  EXPECT_EQ(cluster.read_states(2)[0].index, 2u);
  EXPECT_TRUE(cluster.read_states(1).empty()) << "the leader answers the follower, not itself";
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

// A leader cut off from the majority must not serve a read: a new leader may already have
// committed writes it does not know about.
TEST(ReadIndexTest, PartitionedLeaderDoesNotServeStaleReads) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  cluster.Partition({{1}, {2, 3}});
  ASSERT_TRUE(cluster.raft(1).ReadIndex("stale?").ok());
  for (int i = 0; i < 5 * cluster.options().election_tick; ++i) {
    cluster.TickAllAndStabilize();
    const NodeId leader = cluster.Leader();
    if (leader == 2 || leader == 3) {
      if (cluster.raft(leader).log().LastIndex() < 3) {
        ASSERT_TRUE(cluster.Propose(leader, "new").ok());
      }
    }
  }
  EXPECT_TRUE(cluster.read_states(1).empty());
  cluster.Heal();
  for (int i = 0; i < 3; ++i) cluster.TickAllAndStabilize();
  EXPECT_TRUE(cluster.read_states(1).empty()) << "the old request died with the old leadership";
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

// §6.4 step 1: until the new leader commits an entry of its term it does not know the true
// commit index, so a read is held until its no-op commits.
TEST(ReadIndexTest, NewLeaderHoldsReadsUntilItsNoopCommits) {
  NodeOptions options;
  options.entries = EntriesWithTerms({1, 1});
  options.term = 1;
  options.commit = 1;  // entry 2 may be committed elsewhere: we cannot know yet
  TestNode node(1, options);
  BecomeLeaderByVotes(node);
  ASSERT_EQ(node->log().LastIndex(), 3u);
  ASSERT_TRUE(node->ReadIndex("early").ok());
  std::vector<raftpb::Message> out = node.Drain();
  EXPECT_TRUE(Filter(out, raftpb::MSG_HEARTBEAT).empty()) << "no read round before the no-op commits";
  raftpb::Message ack = MakeMessage(raftpb::MSG_APPEND_RESP, 2, 1, 2);
  ack.set_index(3);
  ASSERT_TRUE(node.Step(ack).ok());
  out = node.Drain();
  const std::vector<raftpb::Message> heartbeats = Filter(out, raftpb::MSG_HEARTBEAT, 3);
  ASSERT_EQ(heartbeats.size(), 1u);
  ASSERT_FALSE(heartbeats[0].context().empty());
  raftpb::Message response = MakeMessage(raftpb::MSG_HEARTBEAT_RESP, 3, 1, 2);
  response.set_context(heartbeats[0].context());
  ASSERT_TRUE(node.Step(response).ok());
  Ready ready = node->GetReady();
  ASSERT_EQ(ready.read_states.size(), 1u);
  EXPECT_EQ(ready.read_states[0].context, "early");
  EXPECT_EQ(ready.read_states[0].index, 3u);
  node->Advance(ready);
}

TEST(ReadIndexTest, ReadsAreReleasedInOrderAndOnlyByMatchingAcks) {
  TestNode node(1, NodeOptions{});
  BecomeLeaderByVotes(node);
  raftpb::Message ack = MakeMessage(raftpb::MSG_APPEND_RESP, 2, 1, 1);
  ack.set_index(1);
  ASSERT_TRUE(node.Step(ack).ok());
  node.Drain();
  ASSERT_TRUE(node->ReadIndex("r1").ok());
  const std::string context1 = Filter(node.Drain(), raftpb::MSG_HEARTBEAT, 2).at(0).context();
  ASSERT_TRUE(node->ReadIndex("r2").ok());
  const std::string context2 = Filter(node.Drain(), raftpb::MSG_HEARTBEAT, 2).at(0).context();
  ASSERT_NE(context1, context2);
  // A plain heartbeat ack and one with a foreign context confirm nothing.
  ASSERT_TRUE(node.Step(MakeMessage(raftpb::MSG_HEARTBEAT_RESP, 2, 1, 1)).ok());
  raftpb::Message garbage = MakeMessage(raftpb::MSG_HEARTBEAT_RESP, 2, 1, 1);
  garbage.set_context("bogus");
  ASSERT_TRUE(node.Step(garbage).ok());
  Ready nothing = node->GetReady();
  EXPECT_TRUE(nothing.read_states.empty());
  node->Advance(nothing);
  // Confirming the newer read confirms the older one too, in arrival order.
  raftpb::Message response = MakeMessage(raftpb::MSG_HEARTBEAT_RESP, 3, 1, 1);
  response.set_context(context2);
  ASSERT_TRUE(node.Step(response).ok());
  Ready ready = node->GetReady();
  ASSERT_EQ(ready.read_states.size(), 2u);
  EXPECT_EQ(ready.read_states[0].context, "r1");
  EXPECT_EQ(ready.read_states[1].context, "r2");
  node->Advance(ready);
  response.set_context(context1);
  ASSERT_TRUE(node.Step(response).ok());
  if (node->HasReady()) {
    Ready again = node->GetReady();
    EXPECT_TRUE(again.read_states.empty()) << "released only once";
    node->Advance(again);
  }
}

TEST(ReadIndexTest, ReadWithoutKnownLeaderFails) {
  TestNode node(1, NodeOptions{});
  EXPECT_EQ(node->ReadIndex("x").code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(node->HasReady());
}

TEST(ReadIndexTest, SingleVoterServesReadAtOnce) {
  NodeOptions options;
  options.voters = {1};
  TestNode node(1, options);
  node->Campaign();
  node.Drain();
  ASSERT_TRUE(node->ReadIndex("solo").ok());
  Ready ready = node->GetReady();
  ASSERT_EQ(ready.read_states.size(), 1u);
  EXPECT_EQ(ready.read_states[0].index, 1u);
  EXPECT_EQ(ready.read_states[0].context, "solo");
  node->Advance(ready);
}

}  // namespace
}  // namespace keel::testing
