// Raft §5.2 leader election, dissertation §9.6 PreVote and §6.2 CheckQuorum (with its lease).
#include <set>

#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace keel::testing {
namespace {

// §5.2: election timeouts are drawn from [election_tick, 2 * election_tick) so that split votes
// are rare; a follower that hears nothing campaigns exactly when its timeout fires.
TEST(ElectionTest, RandomizedTimeoutWithinRangeAndVaries) {
  std::set<int> fired_after;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    NodeOptions options;
    options.seed = seed;
    TestNode node(1, options);
    const int timeout = node->randomized_election_timeout();
    EXPECT_GE(timeout, options.election_tick);
    EXPECT_LT(timeout, 2 * options.election_tick);
    int ticks = 0;
    while (node->role() == Role::kFollower && ticks < 100) {
      node->Tick();
      ++ticks;
    }
    EXPECT_EQ(ticks, timeout) << "seed " << seed;
    EXPECT_GE(ticks, options.election_tick);
    EXPECT_LT(ticks, 2 * options.election_tick);
    fired_after.insert(ticks);
  }
  // Not a constant: otherwise every follower would time out together (split votes forever).
  EXPECT_GT(fired_after.size(), 3u);
}

TEST(ElectionTest, CandidateWithMajorityBecomesLeaderAndFollowersLearnIt) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  EXPECT_EQ(cluster.Leader(), 1u);
  for (NodeId id : cluster.ids()) {
    EXPECT_EQ(cluster.raft(id).term(), 1u) << id;
    EXPECT_EQ(cluster.raft(id).vote(), 1u) << id;
    EXPECT_EQ(cluster.raft(id).leader(), 1u) << id;
  }
  EXPECT_EQ(cluster.raft(2).role(), Role::kFollower);
  EXPECT_EQ(cluster.raft(3).role(), Role::kFollower);
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(ElectionTest, HeartbeatsKeepFollowersFromCampaigning) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  for (int i = 0; i < 100; ++i) cluster.TickAllAndStabilize();
  EXPECT_EQ(cluster.Leader(), 1u);
  for (NodeId id : cluster.ids()) EXPECT_EQ(cluster.raft(id).term(), 1u) << id;
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(ElectionTest, FollowersElectNewLeaderAfterLeaderCrash) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  cluster.Crash(1);
  for (int i = 0; i < 4 * cluster.options().election_tick && cluster.Leader() == kNoNode; ++i) {
    cluster.TickAllAndStabilize();
  }
  const NodeId leader = cluster.Leader();
  ASSERT_TRUE(leader == 2 || leader == 3) << cluster.DescribeNodes();
  EXPECT_EQ(cluster.raft(leader).term(), 2u);
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

// Election Safety relies on each server granting at most one vote per term.
TEST(ElectionTest, VoteGrantedAtMostOncePerTerm) {
  NodeOptions options;
  options.pre_vote = false;
  TestNode node(1, options);
  ASSERT_TRUE(node.Step(MakeVote(raftpb::MSG_VOTE, 2, 1, 1, 0, 0)).ok());
  ASSERT_TRUE(node.Step(MakeVote(raftpb::MSG_VOTE, 3, 1, 1, 0, 0)).ok());
  // A retransmission from the candidate we voted for is granted again.
  ASSERT_TRUE(node.Step(MakeVote(raftpb::MSG_VOTE, 2, 1, 1, 0, 0)).ok());
  const std::vector<raftpb::Message> replies = Filter(node.Drain(), raftpb::MSG_VOTE_RESP);
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[0].to(), 2u);
  EXPECT_FALSE(replies[0].reject());
  EXPECT_EQ(replies[1].to(), 3u);
  EXPECT_TRUE(replies[1].reject());
  EXPECT_EQ(replies[2].to(), 2u);
  EXPECT_FALSE(replies[2].reject());
  EXPECT_EQ(node->vote(), 2u);
  EXPECT_EQ(node.storage().InitialHardState().vote(), 2u);
}

TEST(ElectionTest, CandidateLosingMajorityReturnsToFollowerKeepingItsVote) {
  NodeOptions options;
  options.pre_vote = false;
  TestNode node(1, options);
  node->Campaign();
  node.Drain();
  ASSERT_EQ(node->role(), Role::kCandidate);
  ASSERT_EQ(node->term(), 1u);
  raftpb::Message reject = MakeMessage(raftpb::MSG_VOTE_RESP, 2, 1, 1);
  reject.set_reject(true);
  ASSERT_TRUE(node.Step(reject).ok());
  EXPECT_EQ(node->role(), Role::kCandidate);  // 1 granted, 1 rejected, 1 missing: undecided
  reject.set_from(3);
  ASSERT_TRUE(node.Step(reject).ok());
  EXPECT_EQ(node->role(), Role::kFollower);
  EXPECT_EQ(node->term(), 1u);
  EXPECT_EQ(node->vote(), 1u);  // it did vote for itself in term 1; that cannot be undone
}

TEST(ElectionTest, DuplicateVoteResponseIsCountedOnce) {
  NodeOptions options;
  options.voters = {1, 2, 3, 4, 5};
  options.pre_vote = false;
  TestNode node(1, options);
  node->Campaign();
  node.Drain();
  raftpb::Message grant = MakeMessage(raftpb::MSG_VOTE_RESP, 2, 1, 1);
  ASSERT_TRUE(node.Step(grant).ok());
  ASSERT_TRUE(node.Step(grant).ok());  // 1 and 2 only: not a majority of 5
  EXPECT_EQ(node->role(), Role::kCandidate);
  grant.set_from(3);
  ASSERT_TRUE(node.Step(grant).ok());
  EXPECT_EQ(node->role(), Role::kLeader);
}

TEST(ElectionTest, CandidateStepsDownOnAppendFromLeaderOfSameTerm) {
  NodeOptions options;
  options.pre_vote = false;
  TestNode node(1, options);
  node->Campaign();
  node.Drain();
  ASSERT_EQ(node->role(), Role::kCandidate);
  ASSERT_TRUE(node.Step(MakeAppend(2, 1, 1, 0, 0, 0, {MakeEntry(1, 1)})).ok());
  EXPECT_EQ(node->role(), Role::kFollower);
  EXPECT_EQ(node->leader(), 2u);
  EXPECT_EQ(node->term(), 1u);
  EXPECT_EQ(node->log().LastIndex(), 1u);
}

TEST(ElectionTest, LeaderStepsDownOnHeartbeatOfHigherTerm) {
  NodeOptions options;
  options.pre_vote = false;
  TestNode node(1, options);
  BecomeLeaderByVotes(node);
  ASSERT_EQ(node->term(), 1u);
  ASSERT_TRUE(node.Step(MakeMessage(raftpb::MSG_HEARTBEAT, 3, 1, 5)).ok());
  EXPECT_EQ(node->role(), Role::kFollower);
  EXPECT_EQ(node->term(), 5u);
  EXPECT_EQ(node->leader(), 3u);
  EXPECT_EQ(node->vote(), kNoNode);
}

TEST(ElectionTest, SingleVoterElectsItselfAtOnce) {
  NodeOptions options;
  options.voters = {1};
  TestNode node(1, options);
  node->Campaign();
  EXPECT_EQ(node->role(), Role::kLeader);
  EXPECT_EQ(node->term(), 1u);
  node.Drain();
  EXPECT_EQ(node->log().committed(), 1u);  // its no-op, durable on itself = a quorum of one
}

// A stale leader's appends are answered with the newer term so that it steps down.
TEST(ElectionTest, StaleTermAppendIsAnsweredWithCurrentTerm) {
  NodeOptions options;
  options.entries = EntriesWithTerms({1, 1});
  options.term = 5;
  TestNode node(1, options);
  const std::string before = node->Status().ToString();
  ASSERT_TRUE(node.Step(MakeAppend(2, 1, 3, 2, 1, 2, {MakeEntry(3, 3)})).ok());
  EXPECT_EQ(node->Status().ToString(), before);
  const std::vector<raftpb::Message> out = Filter(node.Drain(), raftpb::MSG_APPEND_RESP);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].to(), 2u);
  EXPECT_EQ(out[0].term(), 5u);
  EXPECT_EQ(node->log().LastIndex(), 2u);
}

// --- PreVote (§9.6) ---

TEST(ElectionTest, PreCandidateKeepsTermAndVoteAndAsksForNextTerm) {
  NodeOptions options;
  options.entries = EntriesWithTerms({1, 2});
  options.term = 3;
  options.vote = 2;
  TestNode node(1, options);
  node->Campaign();
  EXPECT_EQ(node->role(), Role::kPreCandidate);
  EXPECT_EQ(node->term(), 3u);
  EXPECT_EQ(node->vote(), 2u);
  Ready ready = node->GetReady();
  EXPECT_FALSE(ready.hard_state.has_value()) << "a pre-vote must not touch durable state";
  EXPECT_TRUE(ready.messages_after_persist.empty());
  ASSERT_EQ(ready.messages.size(), 2u);
  for (const Message& message : ready.messages) {
    const MessageHeader& m = message.header;
    EXPECT_EQ(m.type(), raftpb::MSG_PRE_VOTE);
    EXPECT_EQ(m.term(), 4u);
    EXPECT_EQ(m.index(), 2u);
    EXPECT_EQ(m.log_term(), 2u);
  }
  node->Advance(ready);
}

TEST(ElectionTest, PreVoteGrantDoesNotChangeTermOrRecordVote) {
  TestNode node(1, NodeOptions{});
  ASSERT_TRUE(node.Step(MakeVote(raftpb::MSG_PRE_VOTE, 2, 1, 1, 0, 0)).ok());
  EXPECT_EQ(node->term(), 0u);
  EXPECT_EQ(node->vote(), kNoNode);
  std::vector<raftpb::Message> out = Filter(node.Drain(), raftpb::MSG_PRE_VOTE_RESP);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].reject());
  EXPECT_EQ(out[0].term(), 1u);  // in the candidate's future term, so that it counts there
  // It may still cast its real vote in term 1 for somebody else.
  ASSERT_TRUE(node.Step(MakeVote(raftpb::MSG_VOTE, 3, 1, 1, 0, 0)).ok());
  out = Filter(node.Drain(), raftpb::MSG_VOTE_RESP);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].reject());
  EXPECT_EQ(node->vote(), 3u);
}

TEST(ElectionTest, PreCandidateWinsPreVoteThenCampaignsInNextTerm) {
  NodeOptions options;
  options.term = 4;
  TestNode node(1, options);
  node->Campaign();
  node.Drain();
  ASSERT_EQ(node->role(), Role::kPreCandidate);
  // A stale grant (for another campaign's term) does not count.
  ASSERT_TRUE(node.Step(MakeMessage(raftpb::MSG_PRE_VOTE_RESP, 2, 1, 7)).ok());
  EXPECT_EQ(node->role(), Role::kPreCandidate);
  EXPECT_EQ(node->term(), 4u);
  ASSERT_TRUE(node.Step(MakeMessage(raftpb::MSG_PRE_VOTE_RESP, 2, 1, 5)).ok());
  EXPECT_EQ(node->role(), Role::kCandidate);
  EXPECT_EQ(node->term(), 5u);
  EXPECT_EQ(node->vote(), 1u);
  Ready ready = node->GetReady();
  ASSERT_TRUE(ready.hard_state.has_value());
  EXPECT_EQ(ready.hard_state->term(), 5u);
  EXPECT_EQ(ready.hard_state->vote(), 1u);
  EXPECT_EQ(Filter(ready.messages_after_persist, raftpb::MSG_VOTE).size(), 2u);
  node->Advance(ready);
}

// etcd-io/etcd#8501: a pre-candidate whose term lags learns the cluster's term from a rejection.
TEST(ElectionTest, PreCandidateAdoptsHigherTermFromRejection) {
  TestNode node(1, NodeOptions{});
  node->Campaign();
  node.Drain();
  raftpb::Message reject = MakeMessage(raftpb::MSG_PRE_VOTE_RESP, 2, 1, 6);
  reject.set_reject(true);
  ASSERT_TRUE(node.Step(reject).ok());
  EXPECT_EQ(node->role(), Role::kFollower);
  EXPECT_EQ(node->term(), 6u);
  // The responder's side: a pre-vote of a lower term is answered, with our term, not dropped.
  NodeOptions ahead;
  ahead.term = 6;
  TestNode responder(2, ahead);
  ASSERT_TRUE(responder.Step(MakeVote(raftpb::MSG_PRE_VOTE, 1, 2, 3, 0, 0)).ok());
  const std::vector<raftpb::Message> replies = Filter(responder.Drain(), raftpb::MSG_PRE_VOTE_RESP);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_TRUE(replies[0].reject());
  EXPECT_EQ(replies[0].term(), 6u);
  EXPECT_EQ(responder->term(), 6u);
}

TEST(ElectionTest, IsolatedNodeWithPreVoteDoesNotInflateTermOrDisruptLeader) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  cluster.Isolate(3);
  for (int i = 0; i < 10 * cluster.options().election_tick; ++i) cluster.TickAllAndStabilize();
  EXPECT_EQ(cluster.raft(3).term(), 1u) << "pre-votes must not bump the term";
  EXPECT_NE(cluster.raft(3).role(), Role::kCandidate);
  cluster.Heal();
  for (int i = 0; i < 5; ++i) cluster.TickAllAndStabilize();
  EXPECT_EQ(cluster.Leader(), 1u);
  for (NodeId id : cluster.ids()) EXPECT_EQ(cluster.raft(id).term(), 1u) << id;
  EXPECT_EQ(cluster.raft(3).leader(), 1u);
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

// The contrast: without PreVote and CheckQuorum, the same isolated node keeps bumping its term
// and deposes the healthy leader when it returns (the problem §9.6 solves).
TEST(ElectionTest, WithoutPreVoteIsolatedNodeInflatesTermAndDisruptsOnReturn) {
  ClusterOptions options;
  options.pre_vote = false;
  options.check_quorum = false;
  Cluster cluster(options);
  ElectLeader(cluster, 1);
  cluster.Isolate(3);
  for (int i = 0; i < 5 * options.election_tick; ++i) cluster.TickAllAndStabilize();
  const Term inflated = cluster.raft(3).term();
  EXPECT_GT(inflated, 2u);
  cluster.Heal();
  // Node 3 ignores the old leader's lower-term heartbeats and campaigns again once it times out.
  for (int i = 0; i < 3 * options.election_tick; ++i) cluster.TickAllAndStabilize();
  EXPECT_GT(cluster.raft(1).term(), inflated);
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

// --- CheckQuorum (§6.2) ---

TEST(ElectionTest, CheckQuorumIsolatedLeaderStepsDown) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  const int election_tick = cluster.options().election_tick;
  cluster.Isolate(1);
  int stepped_down_at = -1;
  for (int tick = 1; tick <= 3 * election_tick; ++tick) {
    cluster.Tick(1);
    cluster.Stabilize();
    if (cluster.raft(1).role() != Role::kLeader) {
      stepped_down_at = tick;
      break;
    }
  }
  // The followers were active during the first election timeout, so it survives the first
  // check and must be gone at the second.
  EXPECT_GE(stepped_down_at, election_tick);
  EXPECT_LE(stepped_down_at, 2 * election_tick);
  EXPECT_EQ(cluster.raft(1).role(), Role::kFollower);
  EXPECT_EQ(cluster.raft(1).term(), 1u);
  EXPECT_EQ(cluster.raft(1).leader(), kNoNode);
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(ElectionTest, CheckQuorumLeaderStaysWithOneFollowerDown) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  cluster.Crash(3);
  for (int i = 0; i < 5 * cluster.options().election_tick; ++i) cluster.TickAllAndStabilize();
  EXPECT_EQ(cluster.Leader(), 1u);
  EXPECT_EQ(cluster.raft(1).term(), 1u);
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

// The lease: a follower that heard from a live leader within the election timeout ignores
// vote requests entirely (no term change, no answer), so a node that was partitioned cannot
// depose a healthy leader.
TEST(ElectionTest, LeaseFollowerIgnoresVoteRequests) {
  NodeOptions options;
  options.term = 1;
  options.entries = EntriesWithTerms({1});
  TestNode node(1, options);
  ASSERT_TRUE(node.Step(MakeAppend(2, 1, 1, 1, 1, 1, {})).ok());
  node.Drain();
  ASSERT_EQ(node->leader(), 2u);
  const std::string before = node->Status().ToString();
  // Up-to-date candidates in a higher term: both kinds of request are ignored.
  ASSERT_TRUE(node.Step(MakeVote(raftpb::MSG_VOTE, 3, 1, 2, 5, 1)).ok());
  ASSERT_TRUE(node.Step(MakeVote(raftpb::MSG_PRE_VOTE, 3, 1, 2, 5, 1)).ok());
  EXPECT_EQ(node->Status().ToString(), before);
  EXPECT_EQ(node->term(), 1u);
  EXPECT_EQ(node->vote(), kNoNode);
  EXPECT_FALSE(node->HasReady());
}

TEST(ElectionTest, LeaseExpiresAfterElectionTimeoutWithoutLeader) {
  NodeOptions options;
  options.term = 1;
  options.entries = EntriesWithTerms({1});
  TestNode node(1, options);
  ASSERT_TRUE(node.Step(MakeAppend(2, 1, 1, 1, 1, 1, {})).ok());
  node.Drain();
  for (int i = 0; i < options.election_tick; ++i) node->Tick();
  node.Drain();
  ASSERT_TRUE(node.Step(MakeVote(raftpb::MSG_VOTE, 3, 1, 2, 5, 1)).ok());
  EXPECT_EQ(node->term(), 2u);
  EXPECT_EQ(node->vote(), 3u);
  const std::vector<raftpb::Message> out = Filter(node.Drain(), raftpb::MSG_VOTE_RESP);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].reject());
}

TEST(ElectionTest, WithoutCheckQuorumThereIsNoLease) {
  NodeOptions options;
  options.term = 1;
  options.entries = EntriesWithTerms({1});
  options.check_quorum = false;
  TestNode node(1, options);
  ASSERT_TRUE(node.Step(MakeAppend(2, 1, 1, 1, 1, 1, {})).ok());
  node.Drain();
  ASSERT_TRUE(node.Step(MakeVote(raftpb::MSG_VOTE, 3, 1, 2, 5, 1)).ok());
  EXPECT_EQ(node->term(), 2u);
  EXPECT_EQ(node->vote(), 3u);
}

// A partitioned node that ran up its term (PreVote off on it) cannot win while the others
// hear from the leader: CheckQuorum's lease makes them ignore it.
TEST(ElectionTest, LeaseProtectsHealthyLeaderFromRejoiningCandidate) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  ASSERT_TRUE(cluster.Propose(1, "x").ok());
  cluster.Stabilize();
  // Node 3 campaigns in term 2 with an up-to-date log, bypassing PreVote.
  raftpb::Message vote = MakeVote(raftpb::MSG_VOTE, 3, 2, 2, cluster.raft(3).log().LastIndex(),
                                  cluster.raft(3).log().LastTerm());
  ASSERT_TRUE(cluster.raft(2).Step(vote).ok());
  vote.set_to(1);
  ASSERT_TRUE(cluster.raft(1).Step(vote).ok());
  cluster.Stabilize();
  EXPECT_EQ(cluster.Leader(), 1u);
  EXPECT_EQ(cluster.raft(1).term(), 1u);
  EXPECT_EQ(cluster.raft(2).term(), 1u);
  EXPECT_EQ(cluster.raft(2).vote(), 1u);
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

}  // namespace
}  // namespace keel::testing
