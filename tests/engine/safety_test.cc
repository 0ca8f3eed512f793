// Raft §5.4 safety: the election restriction (a vote only for an at-least-as-up-to-date log),
// Figure 8 (an old-term entry is committed only by committing one of the current term) and
// Leader Completeness, plus Election Safety under competing campaigns.
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace keel::testing {
namespace {

// Whether a voter whose log has `voter_terms` grants a vote to a candidate whose last entry is
// (last_index, last_term), in a term above every term involved.
bool GrantsVote(const std::vector<Term>& voter_terms, Index last_index, Term last_term) {
  NodeOptions options;
  options.entries = EntriesWithTerms(voter_terms);
  options.term = voter_terms.empty() ? 0 : voter_terms.back();
  TestNode node(1, options);
  EXPECT_TRUE(node.Step(MakeVote(raftpb::MSG_VOTE, 2, 1, 9, last_index, last_term)).ok());
  const std::vector<raftpb::Message> replies = Filter(node.Drain(), raftpb::MSG_VOTE_RESP);
  EXPECT_EQ(replies.size(), 1u);
  EXPECT_EQ(node->term(), 9u) << "a vote request of a higher term is adopted either way";
  const bool granted = !replies.empty() && !replies[0].reject();
  EXPECT_EQ(node->vote(), granted ? 2u : kNoNode);
  return granted;
}

// §5.4.1: compare the last entries' terms first; only with equal last terms does length decide.
TEST(SafetyTest, ElectionRestrictionComparesLastTermThenLength) {
  EXPECT_FALSE(GrantsVote({1, 2}, 5, 1)) << "older last term, even though longer";
  EXPECT_FALSE(GrantsVote({1, 2, 2}, 2, 2)) << "same last term, shorter";
  EXPECT_TRUE(GrantsVote({1, 2, 2, 2}, 2, 3)) << "newer last term, even though shorter";
  EXPECT_TRUE(GrantsVote({1, 2, 2}, 3, 2)) << "same last term, same length";
  EXPECT_TRUE(GrantsVote({1, 2, 2}, 4, 2)) << "same last term, longer";
  EXPECT_TRUE(GrantsVote({}, 0, 0)) << "two empty logs";
}

// The same restriction applies to pre-votes: otherwise a stale node could win the pre-vote
// and disrupt the cluster with a term bump it can never win.
TEST(SafetyTest, PreVoteAlsoAppliesTheElectionRestriction) {
  NodeOptions options;
  options.entries = EntriesWithTerms({1, 2, 2});
  options.term = 2;
  TestNode node(1, options);
  ASSERT_TRUE(node.Step(MakeVote(raftpb::MSG_PRE_VOTE, 2, 1, 3, 2, 2)).ok());
  ASSERT_TRUE(node.Step(MakeVote(raftpb::MSG_PRE_VOTE, 3, 1, 3, 3, 2)).ok());
  const std::vector<raftpb::Message> replies = Filter(node.Drain(), raftpb::MSG_PRE_VOTE_RESP);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_TRUE(replies[0].reject());
  EXPECT_FALSE(replies[1].reject());
}

// Figure 8, directly: the leader of term 4 holds an entry of term 2 at index 2. Even once every
// follower has it, it is not committed until an entry of term 4 is replicated on a majority.
TEST(SafetyTest, Figure8OldTermEntryNotCommittedByCountingReplicas) {
  NodeOptions options;
  options.entries = EntriesWithTerms({1, 2});
  options.term = 3;
  options.commit = 1;
  options.max_msg_bytes = 1;  // one entry per append, so index 2 travels alone
  TestNode node(1, options);
  const std::vector<raftpb::Message> initial = BecomeLeaderByVotes(node);
  ASSERT_EQ(node->term(), 4u);
  ASSERT_EQ(node->log().LastIndex(), 3u);  // the no-op
  for (NodeId follower : {2, 3}) {
    // The follower only has entry 1: it rejects the probe at index 2 ...
    raftpb::Message reject = MakeMessage(raftpb::MSG_APPEND_RESP, follower, 1, 4);
    reject.set_reject(true);
    reject.set_index(2);
    reject.set_reject_hint(1);
    reject.set_log_term(1);
    ASSERT_TRUE(node.Step(reject).ok());
    const std::vector<raftpb::Message> resend =
        Filter(node.Drain(), raftpb::MSG_APPEND, static_cast<NodeId>(follower));
    ASSERT_EQ(resend.size(), 1u);
    ASSERT_EQ(resend[0].entries_size(), 1);
    ASSERT_EQ(resend[0].entries(0).index(), 2u);
    ASSERT_EQ(resend[0].entries(0).term(), 2u);
    // ... and acknowledges the term-2 entry.
    raftpb::Message ack = MakeMessage(raftpb::MSG_APPEND_RESP, follower, 1, 4);
    ack.set_index(2);
    ASSERT_TRUE(node.Step(ack).ok());
    EXPECT_EQ(node->log().committed(), 1u)
        << "index 2 (term 2) is on " << (follower == 2 ? "a majority" : "every node")
        << " but must not be committed by counting";
  }
  const Ready not_yet = node.Process();
  for (const Entry& entry : not_yet.committed_entries) EXPECT_LT(entry.index(), 2u);
  // One replica of the term-4 no-op besides the leader's own commits both.
  raftpb::Message ack = MakeMessage(raftpb::MSG_APPEND_RESP, 2, 1, 4);
  ack.set_index(3);
  ASSERT_TRUE(node.Step(ack).ok());
  EXPECT_EQ(node->log().committed(), 3u);
  const Ready ready = node.Process();
  ASSERT_EQ(ready.committed_entries.size(), 2u);
  EXPECT_EQ(ready.committed_entries[0].index(), 2u);
  EXPECT_EQ(ready.committed_entries[1].index(), 3u);
}

// Figure 8, end to end (5 nodes): S1 (term 4) gets its term-2 entry onto S2 and S3, a majority,
// then crashes before its no-op spreads. S5, whose index 2 has term 3, is then elected and
// overwrites index 2 everywhere. That is only safe because S1 never counted index 2 as
// committed; the cluster's State Machine Safety checker fails the run otherwise.
TEST(SafetyTest, Figure8EntryOnMajorityIsOverwrittenWithoutViolatingSafety) {
  ClusterOptions options;
  options.nodes = 5;
  options.max_msg_bytes = 1;
  options.check_quorum = false;  // no lease: S5 must be electable right after S1 crashes
  Cluster cluster(options);
  SetDurableStates(cluster, {
                               {1, EntriesWithTerms({1, 2}), 3, kNoNode, 1},
                               {2, EntriesWithTerms({1}), 3, kNoNode, 1},
                               {3, EntriesWithTerms({1}), 3, kNoNode, 1},
                               {4, EntriesWithTerms({1}), 3, kNoNode, 1},
                               {5, {MakeEntry(1, 1, "e1"), MakeEntry(2, 3, "s5")}, 3, kNoNode, 1},
                           });

  cluster.raft(1).Campaign();
  // Deliver everything except: appends to S4/S5, and appends that S2/S3 would accept while
  // they carry S1's term-4 no-op.
  StabilizeWhere(cluster, [&cluster](const raftpb::Message& m) {
    if (m.type() != raftpb::MSG_APPEND) return true;
    if (m.to() != 2 && m.to() != 3) return false;
    if (!cluster.raft(m.to()).log().MatchTerm(m.index(), m.log_term())) return true;
    for (const raftpb::Entry& entry : m.entries()) {
      if (entry.term() == 4) return false;
    }
    return true;
  });
  ASSERT_EQ(cluster.Leader(), 1u) << cluster.DescribeNodes();
  ASSERT_EQ(cluster.raft(1).term(), 4u);
  for (NodeId id : {2, 3}) {
    ASSERT_EQ(cluster.raft(id).log().LastIndex(), 2u) << id;
    ASSERT_EQ(cluster.raft(id).log().TermAt(2), 2u) << id;
  }
  EXPECT_EQ(cluster.raft(1).log().committed(), 1u)
      << "index 2 of term 2 is on S1, S2, S3 (a majority) yet must not be committed";

  cluster.Crash(1);
  DropWhere(cluster, [](const raftpb::Message&) { return true; });
  cluster.raft(5).Campaign();
  cluster.Stabilize();
  ASSERT_EQ(cluster.Leader(), 5u) << cluster.DescribeNodes();
  cluster.Restart(1);
  for (int i = 0; i < 3; ++i) cluster.TickAllAndStabilize();
  for (NodeId id : cluster.ids()) {
    EXPECT_EQ(cluster.raft(id).log().TermAt(2), 3u) << id;
    EXPECT_GE(cluster.raft(id).log().committed(), 3u) << id;
  }
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

// Leader Completeness: a node that lacks committed entries can never be elected.
TEST(SafetyTest, NodeMissingCommittedEntriesCannotBecomeLeader) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  cluster.Isolate(3);
  ASSERT_TRUE(cluster.Propose(1, "a").ok());
  ASSERT_TRUE(cluster.Propose(1, "b").ok());
  cluster.Stabilize();
  ASSERT_EQ(cluster.raft(1).log().committed(), 3u);
  ASSERT_EQ(cluster.raft(3).log().LastIndex(), 1u);
  cluster.Crash(1);
  cluster.Heal();
  for (int i = 0; i < 10 * cluster.options().election_tick; ++i) {
    if (cluster.raft(3).role() == Role::kFollower) cluster.raft(3).Campaign();
    cluster.TickAllAndStabilize();
    ASSERT_NE(cluster.Leader(), 3u) << "node 3 lacks committed entries 2 and 3";
    if (cluster.Leader() == 2u) break;
  }
  ASSERT_EQ(cluster.Leader(), 2u) << cluster.DescribeNodes();
  cluster.Stabilize();
  const std::vector<std::string> expected = {"a", "b"};
  EXPECT_EQ(cluster.applied(3), expected);
  EXPECT_EQ(cluster.applied(2), expected);
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(SafetyTest, CommittedEntriesSurviveRepeatedLeaderCrashes) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  std::vector<std::string> expected;
  for (int round = 0; round < 4; ++round) {
    const NodeId leader = cluster.Leader();
    ASSERT_NE(leader, kNoNode) << cluster.DescribeNodes();
    const std::string command = "r" + std::to_string(round);
    ASSERT_TRUE(cluster.Propose(leader, command).ok());
    cluster.Stabilize();
    expected.push_back(command);
    cluster.Crash(leader);
    for (int i = 0; i < 10 * cluster.options().election_tick && cluster.Leader() == kNoNode; ++i) {
      cluster.TickAllAndStabilize();
    }
    ASSERT_NE(cluster.Leader(), kNoNode) << cluster.DescribeNodes();
    ASSERT_NE(cluster.Leader(), leader);
    cluster.Restart(leader);
    cluster.Stabilize();
  }
  for (int i = 0; i < 3; ++i) cluster.TickAllAndStabilize();
  for (NodeId id : cluster.ids()) EXPECT_EQ(cluster.applied(id), expected) << id;
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

// A leader cut off in a minority keeps accepting proposals; they never commit and are
// replaced by the majority's log when it rejoins (the LogPosition contract: a different term
// at that index means the proposal was lost).
TEST(SafetyTest, MinorityLeaderProposalsAreDiscardedAfterHeal) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  ASSERT_TRUE(cluster.Propose(1, "a").ok());
  cluster.Stabilize();
  cluster.Partition({{1}, {2, 3}});
  absl::StatusOr<LogPosition> lost = cluster.Propose(1, "lost");
  ASSERT_TRUE(lost.ok());
  cluster.Stabilize();
  for (int i = 0; i < 10 * cluster.options().election_tick; ++i) {
    cluster.TickAllAndStabilize();
    const NodeId leader = cluster.Leader();
    if (leader == 2 || leader == 3) break;
  }
  const NodeId leader = cluster.Leader();
  ASSERT_TRUE(leader == 2 || leader == 3) << cluster.DescribeNodes();
  ASSERT_TRUE(cluster.Propose(leader, "b").ok());
  for (int i = 0; i < 2 * cluster.options().election_tick; ++i) cluster.TickAllAndStabilize();
  EXPECT_NE(cluster.raft(1).role(), Role::kLeader) << "CheckQuorum: the minority leader steps down";
  EXPECT_EQ(cluster.raft(1).log().committed(), 2u) << "its proposal never committed";
  cluster.Stabilize();
  cluster.Heal();
  for (int i = 0; i < 5; ++i) cluster.TickAllAndStabilize();
  const std::vector<std::string> expected = {"a", "b"};
  for (NodeId id : cluster.ids()) EXPECT_EQ(cluster.applied(id), expected) << id;
  EXPECT_NE(cluster.raft(1).log().TermAt(lost->index), lost->term);
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

// A follower never lets a (faulty or confused) leader rewrite an entry it knows is committed.
TEST(SafetyTest, FollowerNeverOverwritesCommittedEntries) {
  NodeOptions options;
  options.entries = EntriesWithTerms({1, 1, 1});
  options.term = 1;
  options.commit = 3;
  TestNode node(1, options);
  // Whether it is answered or refused as invalid, the committed prefix must stay intact.
  (void)node.Step(MakeAppend(2, 1, 5, 1, 1, 0, {MakeEntry(2, 5, "evil")}));
  EXPECT_EQ(node->log().TermAt(2), 1u);
  EXPECT_EQ(node->log().LastIndex(), 3u);
  EXPECT_EQ(node->log().committed(), 3u);
}

// Election Safety: two simultaneous candidates in a 5-node cluster never both win a term,
// whatever the delivery order.
TEST(SafetyTest, CompetingCandidatesNeverBothWinATerm) {
  for (int order = 0; order < 3; ++order) {
    ClusterOptions options;
    options.nodes = 5;
    options.pre_vote = false;
    Cluster cluster(options);
    cluster.raft(1).Campaign();
    cluster.raft(2).Campaign();
    cluster.ProcessReady(1);
    cluster.ProcessReady(2);
    // Interleave the two candidates' requests differently each time.
    while (!cluster.queue().empty()) {
      const size_t position = order == 0 ? 0 : order == 1 ? cluster.queue().size() - 1 : cluster.queue().size() / 2;
      cluster.DeliverAt(position);
    }
    cluster.Stabilize();
    int leaders_of_term_1 = 0;
    for (NodeId id : cluster.ids()) {
      if (cluster.raft(id).role() == Role::kLeader && cluster.raft(id).term() == 1) ++leaders_of_term_1;
    }
    EXPECT_LE(leaders_of_term_1, 1) << "order " << order;
    EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
  }
}

}  // namespace
}  // namespace keel::testing
