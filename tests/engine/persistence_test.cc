// The Ready contract (engine/ready.h, Raft §3.8 / Figure 2 "persistent state"): anything that
// promises durable state (votes, append acks) waits for the persist; a leader's appends do not
// (dissertation §10.2.1). Crashing before the persist loses nothing that was acknowledged, and a
// restart from storage restores term, vote, log and commit.
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace keel::testing {
namespace {

TEST(PersistenceTest, FollowerAppendAckWaitsForThePersist) {
  NodeOptions options;
  options.term = 1;
  TestNode node(1, options);
  ASSERT_TRUE(node.Step(MakeAppend(2, 1, 1, 0, 0, 0, {MakeEntry(1, 1, "a")})).ok());
  Ready ready = node->GetReady();
  EXPECT_TRUE(ready.MustSync());
  ASSERT_EQ(ready.entries.size(), 1u);
  EXPECT_FALSE(Contains(ready.messages, raftpb::MSG_APPEND_RESP))
      << "an ack sent before the fsync can lose an entry the leader counts as replicated";
  EXPECT_TRUE(Contains(ready.messages_after_persist, raftpb::MSG_APPEND_RESP));
  node->Advance(ready);
}

TEST(PersistenceTest, VoteGrantWaitsForThePersistOfTheVote) {
  TestNode node(1, NodeOptions{});
  ASSERT_TRUE(node.Step(MakeVote(raftpb::MSG_VOTE, 2, 1, 1, 0, 0)).ok());
  Ready ready = node->GetReady();
  ASSERT_TRUE(ready.hard_state.has_value());
  EXPECT_EQ(ready.hard_state->term(), 1u);
  EXPECT_EQ(ready.hard_state->vote(), 2u);
  EXPECT_FALSE(Contains(ready.messages, raftpb::MSG_VOTE_RESP));
  EXPECT_TRUE(Contains(ready.messages_after_persist, raftpb::MSG_VOTE_RESP));
  node->Advance(ready);
}

TEST(PersistenceTest, CandidateVoteRequestsWaitForItsNewTerm) {
  NodeOptions options;
  options.pre_vote = false;
  TestNode node(1, options);
  node->Campaign();
  Ready ready = node->GetReady();
  ASSERT_TRUE(ready.hard_state.has_value());
  EXPECT_EQ(ready.hard_state->term(), 1u);
  EXPECT_EQ(ready.hard_state->vote(), 1u);
  EXPECT_FALSE(Contains(ready.messages, raftpb::MSG_VOTE));
  EXPECT_EQ(Filter(ready.messages_after_persist, raftpb::MSG_VOTE).size(), 2u);
  node->Advance(ready);
}

TEST(PersistenceTest, LeaderAppendsAreSentInParallelWithItsOwnWrite) {
  TestNode node(1, NodeOptions{});
  BecomeLeaderByVotes(node);
  raftpb::Message ack = MakeMessage(raftpb::MSG_APPEND_RESP, 2, 1, 1);
  ack.set_index(1);
  ASSERT_TRUE(node.Step(ack).ok());
  node.Drain();
  ASSERT_TRUE(node->Propose("x").ok());
  Ready ready = node->GetReady();
  ASSERT_EQ(ready.entries.size(), 1u);
  EXPECT_EQ(ready.entries[0].data(), "x");
  const std::vector<raftpb::Message> appends = Filter(ready.messages, raftpb::MSG_APPEND, 2);
  ASSERT_EQ(appends.size(), 1u) << "the leader's append must not wait for its own fsync";
  ASSERT_EQ(appends[0].entries_size(), 1);
  EXPECT_EQ(appends[0].entries(0).data(), "x");
  EXPECT_FALSE(Contains(ready.messages_after_persist, raftpb::MSG_APPEND));
  node->Advance(ready);
}

// The leader's own log counts toward the quorum only once durable: a single-voter cluster
// commits an entry only after the Ready that persists it.
TEST(PersistenceTest, LeaderCountsItselfOnlyAfterItsWriteIsDurable) {
  NodeOptions options;
  options.voters = {1};
  TestNode node(1, options);
  node->Campaign();
  node.Drain();
  ASSERT_EQ(node->log().committed(), 1u);
  ASSERT_TRUE(node->Propose("x").ok());
  Ready first = node->GetReady();
  ASSERT_EQ(first.entries.size(), 1u);
  EXPECT_TRUE(first.committed_entries.empty()) << "not durable anywhere yet";
  EXPECT_EQ(node->log().committed(), 1u);
  node.storage().Append(first.entries);
  node->Advance(first);
  EXPECT_EQ(node->log().committed(), 2u);
  Ready second = node->GetReady();
  ASSERT_EQ(second.committed_entries.size(), 1u);
  EXPECT_EQ(second.committed_entries[0].data(), "x");
  node->Advance(second);
}

// A Ready whose hard state moved only its commit index has nothing that must be fsynced
// (the commit index is volatile in Raft); a new term or vote must be.
TEST(PersistenceTest, ACommitOnlyHardStateNeedsNoSyncButATermOrVoteDoes) {
  NodeOptions options;
  options.voters = {1};
  TestNode node(1, options);
  node->Campaign();
  Ready campaign = node->GetReady();
  ASSERT_TRUE(campaign.hard_state.has_value());
  EXPECT_FALSE(campaign.hard_state_commit_only) << "a new term and a vote for itself";
  EXPECT_TRUE(campaign.MustSync());
  node.storage().Append(campaign.entries);
  node.storage().SetHardState(*campaign.hard_state);
  node->Advance(campaign);
  node.Drain();
  ASSERT_TRUE(node->Propose("x").ok());
  Ready write = node->GetReady();
  ASSERT_EQ(write.entries.size(), 1u);
  EXPECT_TRUE(write.MustSync()) << "entries are always synced";
  node.storage().Append(write.entries);
  node->Advance(write);
  Ready commit = node->GetReady();
  ASSERT_TRUE(commit.hard_state.has_value());
  EXPECT_EQ(commit.hard_state->commit(), 2u);
  EXPECT_TRUE(commit.hard_state_commit_only);
  EXPECT_TRUE(commit.entries.empty());
  EXPECT_FALSE(commit.MustSync());
  ASSERT_EQ(commit.committed_entries.size(), 1u);
  node->Advance(commit);
}

// ...and it may commit on a quorum of followers before its own write finishes.
TEST(PersistenceTest, LeaderCommitsOnQuorumThatExcludesItself) {
  TestNode node(1, NodeOptions{});
  BecomeLeaderByVotes(node);
  for (NodeId from : {2, 3}) {
    raftpb::Message ack = MakeMessage(raftpb::MSG_APPEND_RESP, from, 1, 1);
    ack.set_index(1);
    ASSERT_TRUE(node.Step(ack).ok());
  }
  node.Drain();
  ASSERT_TRUE(node->Propose("x").ok());
  Ready ready = node->GetReady();  // the leader's fsync of entry 2 is still running
  for (NodeId from : {2, 3}) {
    raftpb::Message ack = MakeMessage(raftpb::MSG_APPEND_RESP, from, 1, 1);
    ack.set_index(2);
    ASSERT_TRUE(node.Step(ack).ok());
  }
  EXPECT_EQ(node->log().committed(), 2u);
  node.storage().Append(ready.entries);
  if (ready.hard_state) node.storage().SetHardState(*ready.hard_state);
  node->Advance(ready);
  const Ready next = node.Process();
  ASSERT_EQ(next.committed_entries.size(), 1u);
  EXPECT_EQ(next.committed_entries[0].data(), "x");
}

TEST(PersistenceTest, FollowerCrashingBeforePersistDoesNotAcknowledge) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  ASSERT_TRUE(cluster.Propose(1, "a").ok());
  cluster.ProcessReady(1);
  DropWhere(cluster, [](const raftpb::Message& m) { return m.to() == 3; });
  while (!cluster.queue().empty()) cluster.DeliverOne();  // the append reaches node 2
  ASSERT_EQ(cluster.raft(2).log().LastIndex(), 2u);
  cluster.ProcessReadyThenCrashBeforePersist(2);
  EXPECT_EQ(CountQueued(cluster, [](const raftpb::Message& m) {
              return m.type() == raftpb::MSG_APPEND_RESP && m.from() == 2;
            }),
            0u);
  cluster.Stabilize();
  EXPECT_EQ(cluster.raft(1).log().committed(), 1u) << "nobody but the leader holds entry 2 durably";
  cluster.Restart(2);
  EXPECT_EQ(cluster.raft(2).log().LastIndex(), 1u) << "the unsynced entry is gone after the crash";
  for (int i = 0; i < 3; ++i) cluster.TickAllAndStabilize();
  for (NodeId id : cluster.ids()) EXPECT_EQ(cluster.applied(id), std::vector<std::string>{"a"}) << id;
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

// The leader sends its appends, then crashes before its own write: the followers still made
// the entry durable on a majority, so the next leader commits it.
TEST(PersistenceTest, LeaderCrashingBeforeItsOwnPersistLosesNothingReplicated) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  ASSERT_TRUE(cluster.Propose(1, "a").ok());
  cluster.ProcessReadyThenCrashBeforePersist(1);
  cluster.Stabilize();  // followers persist the entry; their acks go nowhere
  EXPECT_EQ(cluster.raft(2).log().LastIndex(), 2u);
  EXPECT_EQ(cluster.raft(3).log().LastIndex(), 2u);
  for (int i = 0; i < 10 * cluster.options().election_tick && cluster.Leader() == kNoNode; ++i) {
    cluster.TickAllAndStabilize();
  }
  ASSERT_NE(cluster.Leader(), kNoNode);
  cluster.Restart(1);
  EXPECT_EQ(cluster.raft(1).log().LastIndex(), 1u) << "its own copy was never written";
  for (int i = 0; i < 3; ++i) cluster.TickAllAndStabilize();
  for (NodeId id : cluster.ids()) EXPECT_EQ(cluster.applied(id), std::vector<std::string>{"a"}) << id;
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(PersistenceTest, CommittedEntriesSurviveCrashOfEveryNode) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  ASSERT_TRUE(cluster.Propose(1, "a").ok());
  ASSERT_TRUE(cluster.Propose(1, "b").ok());
  cluster.Stabilize();
  for (NodeId id : cluster.ids()) cluster.Crash(id);
  for (NodeId id : cluster.ids()) cluster.Restart(id);
  for (int i = 0; i < 10 * cluster.options().election_tick && cluster.Leader() == kNoNode; ++i) {
    cluster.TickAllAndStabilize();
  }
  ASSERT_TRUE(cluster.Propose(cluster.Leader(), "c").ok());
  cluster.Stabilize();
  const std::vector<std::string> expected = {"a", "b", "c"};
  for (NodeId id : cluster.ids()) EXPECT_EQ(cluster.applied(id), expected) << id;
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(PersistenceTest, RestartRestoresTermVoteLogAndCommit) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  ASSERT_TRUE(cluster.Propose(1, "a").ok());
  cluster.Stabilize();
  cluster.TickAllAndStabilize();  // the heartbeat carries the final commit index to followers
  const Raft& before = cluster.raft(2);
  const Term term = before.term();
  const NodeId vote = before.vote();
  const Index last = before.log().LastIndex();
  const Index commit = before.log().committed();
  const std::vector<std::string> applied = cluster.applied(2);
  ASSERT_EQ(commit, 2u);
  cluster.Crash(2);
  cluster.Restart(2);
  const Raft& after = cluster.raft(2);
  EXPECT_EQ(after.term(), term);
  EXPECT_EQ(after.vote(), vote);
  EXPECT_EQ(after.log().LastIndex(), last);
  EXPECT_EQ(after.log().TermAt(last), 1u);
  EXPECT_EQ(after.log().committed(), commit);
  EXPECT_EQ(after.role(), Role::kFollower);
  // The commit index is durable, so the node re-applies without waiting for a leader.
  cluster.ProcessReady(2);
  EXPECT_EQ(cluster.applied(2), applied);
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(PersistenceTest, VoteSurvivesRestartSoNoSecondVoteInTheTerm) {
  TestNode node(1, NodeOptions{});
  ASSERT_TRUE(node.Step(MakeVote(raftpb::MSG_VOTE, 2, 1, 5, 0, 0)).ok());
  node.Drain();
  node.Restart();
  EXPECT_EQ(node->term(), 5u);
  EXPECT_EQ(node->vote(), 2u);
  ASSERT_TRUE(node.Step(MakeVote(raftpb::MSG_VOTE, 3, 1, 5, 0, 0)).ok());
  const std::vector<raftpb::Message> replies = Filter(node.Drain(), raftpb::MSG_VOTE_RESP);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_TRUE(replies[0].reject());
  EXPECT_EQ(node->vote(), 2u);
}

TEST(PersistenceTest, UnpersistedTermIsLostButNothingWasPromisedForIt) {
  NodeOptions options;
  options.pre_vote = false;
  TestNode node(1, options);
  node->Campaign();
  Ready ready = node->GetReady();  // crash before persisting: the vote requests never left
  ASSERT_FALSE(ready.messages_after_persist.empty());
  EXPECT_TRUE(Filter(ready.messages, raftpb::MSG_VOTE).empty());
  node.Restart();
  EXPECT_EQ(node->term(), 0u);
  EXPECT_EQ(node->vote(), kNoNode);
}

}  // namespace
}  // namespace keel::testing
