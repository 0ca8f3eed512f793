// Raft §5.3 log replication: the AppendEntries consistency check, truncation of conflicting
// suffixes, batching, pipelining bounded by max_inflight_msgs, probe vs replicate progress
// states and fast backtracking with the follower's reject hint.
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace keel::testing {
namespace {

std::vector<Term> LogTerms(const Raft& raft) {
  std::vector<Term> terms;
  for (Index i = raft.log().FirstIndex(); i <= raft.log().LastIndex(); ++i) {
    terms.push_back(raft.log().TermAt(i).value_or(0));
  }
  return terms;
}

const PeerStatus& Peer(const RaftStatus& status, NodeId id) {
  for (const PeerStatus& peer : status.peers) {
    if (peer.id == id) return peer;
  }
  static const PeerStatus kNone;
  ADD_FAILURE() << "no peer " << id;
  return kNone;
}

TEST(ReplicationTest, NewLeaderCommitsNoopOfItsTermEverywhere) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  for (NodeId id : cluster.ids()) {
    EXPECT_EQ(cluster.raft(id).log().LastIndex(), 1u) << id;
    EXPECT_EQ(cluster.raft(id).log().TermAt(1), 1u) << id;
    EXPECT_EQ(cluster.raft(id).log().committed(), 1u) << id;
    EXPECT_EQ(cluster.raft(id).log().applied(), 1u) << id;
    EXPECT_TRUE(cluster.applied(id).empty()) << "the no-op is not an application command";
  }
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(ReplicationTest, ProposalsAreAppliedInOrderOnEveryNode) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  for (const char* command : {"a", "b", "c"}) {
    absl::StatusOr<LogPosition> position = cluster.Propose(1, command);
    ASSERT_TRUE(position.ok()) << position.status();
    EXPECT_EQ(position->term, 1u);
  }
  cluster.Stabilize();
  const std::vector<std::string> expected = {"a", "b", "c"};
  for (NodeId id : cluster.ids()) {
    EXPECT_EQ(cluster.applied(id), expected) << id;
    EXPECT_EQ(cluster.raft(id).log().committed(), 4u) << id;
  }
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(ReplicationTest, ProposeOnFollowerFails) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  absl::StatusOr<LogPosition> position = cluster.Propose(2, "x");
  EXPECT_EQ(position.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(cluster.raft(2).log().LastIndex(), 1u);
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(ReplicationTest, CommitNeedsAMajority) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  cluster.Crash(2);
  cluster.Crash(3);
  ASSERT_TRUE(cluster.Propose(1, "x").ok());
  cluster.Stabilize();
  EXPECT_EQ(cluster.raft(1).log().LastIndex(), 2u);
  EXPECT_EQ(cluster.raft(1).log().committed(), 1u);
  EXPECT_TRUE(cluster.applied(1).empty());
  cluster.Restart(2);
  for (int i = 0; i < 3; ++i) cluster.TickAllAndStabilize();
  EXPECT_EQ(cluster.raft(1).log().committed(), 2u);
  EXPECT_EQ(cluster.applied(1), std::vector<std::string>{"x"});
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

// --- AppendEntries receiver (Figure 2) ---

TEST(ReplicationTest, FollowerRejectsAppendWhosePreviousEntryDoesNotMatch) {
  NodeOptions options;
  options.entries = EntriesWithTerms({1, 1});
  options.term = 2;
  TestNode node(1, options);
  // Term mismatch at prev_index 2.
  ASSERT_TRUE(node.Step(MakeAppend(2, 1, 2, 2, 2, 0, {MakeEntry(3, 2)})).ok());
  // prev_index past our log.
  ASSERT_TRUE(node.Step(MakeAppend(2, 1, 2, 5, 2, 0, {MakeEntry(6, 2)})).ok());
  EXPECT_EQ(node->log().LastIndex(), 2u);
  Ready ready = node->GetReady();
  EXPECT_TRUE(ready.entries.empty());
  EXPECT_TRUE(Filter(ready.messages, raftpb::MSG_APPEND_RESP).empty());
  const std::vector<raftpb::Message> replies =
      Filter(ready.messages_after_persist, raftpb::MSG_APPEND_RESP);
  node->Advance(ready);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_TRUE(replies[0].reject());
  EXPECT_EQ(replies[0].index(), 2u);
  EXPECT_EQ(replies[0].reject_hint(), 2u);
  EXPECT_EQ(replies[0].log_term(), 1u);
  EXPECT_TRUE(replies[1].reject());
  EXPECT_EQ(replies[1].index(), 5u);
  EXPECT_EQ(replies[1].reject_hint(), 2u) << "the hint never points past our log";
  EXPECT_EQ(replies[1].log_term(), 1u);
}

TEST(ReplicationTest, FollowerTruncatesConflictingSuffix) {
  NodeOptions options;
  options.entries = EntriesWithTerms({1, 1, 2, 2});
  options.term = 2;
  options.commit = 2;
  TestNode node(1, options);
  ASSERT_TRUE(node.Step(MakeAppend(2, 1, 3, 2, 1, 2, {MakeEntry(3, 3, "new")})).ok());
  EXPECT_EQ(node->log().LastIndex(), 3u);
  EXPECT_EQ(LogTerms(node.raft()), (std::vector<Term>{1, 1, 3}));
  const Ready ready = node.Process();
  ASSERT_EQ(ready.entries.size(), 1u);
  EXPECT_EQ(ready.entries[0].index(), 3u);
  EXPECT_EQ(node.storage().LastIndex(), 3u) << "the stale entry 4 must be gone from storage too";
  EXPECT_EQ(*node.storage().TermAt(3), 3u);
  const std::vector<raftpb::Message> acks = Filter(ready.messages_after_persist, raftpb::MSG_APPEND_RESP);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_FALSE(acks[0].reject());
  EXPECT_EQ(acks[0].index(), 3u);
}

// A delayed, duplicated append must not cut off entries that came after it (they may be
// acknowledged already).
TEST(ReplicationTest, StaleAppendDoesNotTruncateMatchingSuffix) {
  NodeOptions options;
  options.entries = EntriesWithTerms({1, 1, 1, 1});
  options.term = 1;
  TestNode node(1, options);
  ASSERT_TRUE(node.Step(MakeAppend(2, 1, 1, 1, 1, 0, {MakeEntry(2, 1, "e2")})).ok());
  EXPECT_EQ(node->log().LastIndex(), 4u);
  const Ready ready = node.Process();
  EXPECT_TRUE(ready.entries.empty());
  const std::vector<raftpb::Message> acks = Filter(ready.messages_after_persist, raftpb::MSG_APPEND_RESP);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_FALSE(acks[0].reject());
  EXPECT_EQ(acks[0].index(), 2u) << "only what this message proves may be acknowledged";
}

// Figure 2 rule 5: commitIndex = min(leaderCommit, index of last new entry). Entries past the
// ones this message vouches for may still be from a deposed leader.
TEST(ReplicationTest, FollowerCommitIsBoundedByLastEntryOfTheMessage) {
  NodeOptions options;
  options.entries = EntriesWithTerms({1, 1, 2, 2});
  options.term = 3;
  TestNode node(1, options);
  ASSERT_TRUE(node.Step(MakeAppend(2, 1, 3, 1, 1, 5, {MakeEntry(2, 1, "e2")})).ok());
  EXPECT_EQ(node->log().committed(), 2u);
  EXPECT_EQ(node->log().LastIndex(), 4u);
  // A heartbeat claiming a commit past our log is not applied blindly either.
  raftpb::Message heartbeat = MakeMessage(raftpb::MSG_HEARTBEAT, 2, 1, 3);
  heartbeat.set_commit(9);
  ASSERT_TRUE(node.Step(heartbeat).ok());
  EXPECT_EQ(node->log().committed(), 2u);
}

// --- Leader side: batching, probe/replicate, pipelining ---

TEST(ReplicationTest, ProposalsBetweenReadysAreBatchedIntoOneAppend) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(cluster.Propose(1, "p" + std::to_string(i)).ok());
  ASSERT_TRUE(cluster.queue().empty());
  cluster.ProcessReady(1);
  for (NodeId to : {2, 3}) {
    size_t appends = 0;
    for (const raftpb::Message& m : cluster.queue()) {
      if (m.type() != raftpb::MSG_APPEND || m.to() != static_cast<NodeId>(to)) continue;
      ++appends;
      EXPECT_EQ(m.entries_size(), 5);
      EXPECT_EQ(m.index(), 1u);
    }
    EXPECT_EQ(appends, 1u) << "to " << to;
  }
  cluster.Stabilize();
  EXPECT_EQ(cluster.applied(3).size(), 5u);
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(ReplicationTest, MaxMsgBytesSplitsBatchButSendsAtLeastOneEntry) {
  ClusterOptions options;
  options.max_msg_bytes = 2 * (24 + 8);  // two 8-byte commands per message
  Cluster cluster(options);
  ElectLeader(cluster, 1);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(cluster.Propose(1, "cmd-000" + std::to_string(i)).ok());
  ASSERT_TRUE(cluster.Propose(1, std::string(1000, 'z')).ok());  // larger than the limit alone
  cluster.ProcessReady(1);
  std::vector<int> sizes;
  for (const raftpb::Message& m : cluster.queue()) {
    if (m.type() == raftpb::MSG_APPEND && m.to() == 2) sizes.push_back(m.entries_size());
  }
  EXPECT_EQ(sizes, (std::vector<int>{2, 2, 1, 1}));
  cluster.Stabilize();
  EXPECT_EQ(cluster.applied(2).size(), 6u);
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(ReplicationTest, PipelineIsBoundedByMaxInflightMsgs) {
  ClusterOptions options;
  options.max_msg_bytes = 1;  // one entry per MSG_APPEND
  options.max_inflight_msgs = 2;
  Cluster cluster(options);
  ElectLeader(cluster, 1);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(cluster.Propose(1, "p" + std::to_string(i)).ok());
  cluster.ProcessReady(1);
  auto appends_to = [&](NodeId to) {
    return CountQueued(cluster, [to](const raftpb::Message& m) {
      return m.type() == raftpb::MSG_APPEND && m.to() == to && m.entries_size() > 0;
    });
  };
  EXPECT_EQ(appends_to(2), 2u);
  EXPECT_EQ(appends_to(3), 2u);
  const RaftStatus status = cluster.raft(1).Status();
  EXPECT_EQ(Peer(status, 2).state, ProgressState::kReplicate);
  EXPECT_EQ(Peer(status, 2).inflight_msgs, 2u);
  // Nothing more goes out until an acknowledgement frees the window.
  cluster.Tick(1);
  cluster.ProcessReady(1);
  EXPECT_EQ(appends_to(2), 2u);
  // Deliver only the first append to 2 and its ack: exactly one more may go out.
  for (size_t i = 0; i < cluster.queue().size(); ++i) {
    const raftpb::Message& m = cluster.queue()[i];
    if (m.type() == raftpb::MSG_APPEND && m.to() == 2) {
      cluster.DeliverAt(i);
      break;
    }
  }
  cluster.ProcessReady(2);
  for (size_t i = 0; i < cluster.queue().size(); ++i) {
    if (cluster.queue()[i].type() == raftpb::MSG_APPEND_RESP && cluster.queue()[i].from() == 2) {
      cluster.DeliverAt(i);
      break;
    }
  }
  cluster.ProcessReady(1);
  EXPECT_EQ(appends_to(2), 2u);
  EXPECT_EQ(Peer(cluster.raft(1).Status(), 2).inflight_msgs, 2u);
  cluster.Stabilize();
  for (NodeId id : cluster.ids()) EXPECT_EQ(cluster.applied(id).size(), 6u) << id;
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(ReplicationTest, ProbeSendsOneAppendUntilAnsweredThenReplicateStreams) {
  TestNode node(1, NodeOptions{});
  const std::vector<raftpb::Message> initial = BecomeLeaderByVotes(node);
  EXPECT_EQ(Filter(initial, raftpb::MSG_APPEND, 2).size(), 1u);
  EXPECT_EQ(Filter(initial, raftpb::MSG_APPEND, 3).size(), 1u);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(node->Propose("x").ok());
  EXPECT_TRUE(Filter(node.Drain(), raftpb::MSG_APPEND).empty()) << "probing followers are paused";
  raftpb::Message ack = MakeMessage(raftpb::MSG_APPEND_RESP, 2, 1, 1);
  ack.set_index(1);
  ASSERT_TRUE(node.Step(ack).ok());
  const std::vector<raftpb::Message> out = node.Drain();
  const std::vector<raftpb::Message> to2 = Filter(out, raftpb::MSG_APPEND, 2);
  ASSERT_EQ(to2.size(), 1u);
  EXPECT_EQ(to2[0].index(), 1u);
  EXPECT_EQ(to2[0].entries_size(), 3);
  EXPECT_TRUE(Filter(out, raftpb::MSG_APPEND, 3).empty());
  const RaftStatus status = node->Status();
  EXPECT_EQ(Peer(status, 2).state, ProgressState::kReplicate);
  EXPECT_EQ(Peer(status, 2).next, 5u);
  EXPECT_EQ(Peer(status, 3).state, ProgressState::kProbe);
  // In replicate, further proposals are streamed without waiting for acks.
  ASSERT_TRUE(node->Propose("y").ok());
  const std::vector<raftpb::Message> more = Filter(node.Drain(), raftpb::MSG_APPEND, 2);
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].index(), 4u);
}

TEST(ReplicationTest, RejectionInReplicateFallsBackToProbeFromMatch) {
  TestNode node(1, NodeOptions{});
  BecomeLeaderByVotes(node);
  raftpb::Message ack = MakeMessage(raftpb::MSG_APPEND_RESP, 2, 1, 1);
  ack.set_index(1);
  ASSERT_TRUE(node.Step(ack).ok());
  node.Drain();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(node->Propose("x").ok());
  node.Drain();  // MSG_APPEND prev=1 entries 2..4 (assume lost)
  ASSERT_TRUE(node->Propose("y").ok());
  node.Drain();  // MSG_APPEND prev=4 entry 5
  raftpb::Message reject = MakeMessage(raftpb::MSG_APPEND_RESP, 2, 1, 1);
  reject.set_reject(true);
  reject.set_index(4);
  reject.set_reject_hint(1);
  reject.set_log_term(1);
  ASSERT_TRUE(node.Step(reject).ok());
  const RaftStatus status = node->Status();
  EXPECT_EQ(Peer(status, 2).state, ProgressState::kProbe);
  EXPECT_EQ(Peer(status, 2).match, 1u);
  EXPECT_EQ(Peer(status, 2).next, 2u);
  const std::vector<raftpb::Message> resend = Filter(node.Drain(), raftpb::MSG_APPEND, 2);
  ASSERT_EQ(resend.size(), 1u);
  EXPECT_EQ(resend[0].index(), 1u);
  EXPECT_EQ(resend[0].entries_size(), 4);
  // A stale rejection (of an append at or below match) changes nothing.
  ack.set_index(5);
  ASSERT_TRUE(node.Step(ack).ok());
  reject.set_index(3);
  reject.set_reject_hint(3);
  ASSERT_TRUE(node.Step(reject).ok());
  EXPECT_EQ(Peer(node->Status(), 2).match, 5u);
  EXPECT_EQ(Peer(node->Status(), 2).state, ProgressState::kReplicate);
}

// Fast backtracking, follower side: the hint skips the follower's whole divergent term.
TEST(ReplicationTest, RejectHintPointsBelowTheConflictingTerm) {
  NodeOptions options;
  options.entries = EntriesWithTerms({1, 1, 2, 2, 2, 2, 2, 2, 2, 2});
  options.term = 2;
  TestNode node(1, options);
  ASSERT_TRUE(node.Step(MakeAppend(2, 1, 4, 7, 3, 0, {MakeEntry(8, 4)})).ok());
  ASSERT_TRUE(node.Step(MakeAppend(2, 1, 4, 12, 3, 0, {})).ok());
  const std::vector<raftpb::Message> replies = Filter(node.Drain(), raftpb::MSG_APPEND_RESP);
  ASSERT_EQ(replies.size(), 2u);
  // Our entry 7 has term 2 <= 3: the leader should look for its last entry of term <= 2.
  EXPECT_TRUE(replies[0].reject());
  EXPECT_EQ(replies[0].reject_hint(), 7u);
  EXPECT_EQ(replies[0].log_term(), 2u);
  EXPECT_TRUE(replies[1].reject());
  EXPECT_EQ(replies[1].reject_hint(), 10u);
  EXPECT_EQ(replies[1].log_term(), 2u);
  // A probe with a lower term than ours at that index walks back over our term-2 entries.
  ASSERT_TRUE(node.Step(MakeAppend(2, 1, 4, 9, 1, 0, {})).ok());
  const std::vector<raftpb::Message> third = Filter(node.Drain(), raftpb::MSG_APPEND_RESP);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].reject_hint(), 2u);
  EXPECT_EQ(third[0].log_term(), 1u);
}

// Fast backtracking, leader side: one rejection skips all the leader's term-3 entries too.
TEST(ReplicationTest, LeaderUsesRejectHintToSkipWholeTerms) {
  NodeOptions options;
  options.entries = EntriesWithTerms({1, 1, 3, 3, 3, 3, 3});
  options.term = 3;
  TestNode node(1, options);
  const std::vector<raftpb::Message> initial = BecomeLeaderByVotes(node);
  ASSERT_EQ(node->term(), 4u);
  const std::vector<raftpb::Message> probe = Filter(initial, raftpb::MSG_APPEND, 2);
  ASSERT_EQ(probe.size(), 1u);
  EXPECT_EQ(probe[0].index(), 7u);
  raftpb::Message reject = MakeMessage(raftpb::MSG_APPEND_RESP, 2, 1, 4);
  reject.set_reject(true);
  reject.set_index(7);
  reject.set_reject_hint(7);
  reject.set_log_term(2);
  ASSERT_TRUE(node.Step(reject).ok());
  const std::vector<raftpb::Message> next = Filter(node.Drain(), raftpb::MSG_APPEND, 2);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].index(), 2u) << "the leader's last entry of term <= 2 is index 2";
  EXPECT_EQ(next[0].log_term(), 1u);
  EXPECT_EQ(next[0].entries_size(), 6);
}

TEST(ReplicationTest, FastBacktrackingConvergesInOneRejection) {
  Cluster cluster(ClusterOptions{});
  SetDurableStates(cluster, {
                               {1, EntriesWithTerms({1, 1, 3, 3, 3, 3, 3}), 3, kNoNode, 2},
                               {2, EntriesWithTerms({1, 1, 3, 3, 3, 3, 3}), 3, kNoNode, 2},
                               {3, EntriesWithTerms({1, 1, 2, 2, 2, 2, 2, 2, 2, 2}), 3, kNoNode, 2},
                           });
  cluster.raft(1).Campaign();
  size_t rejections_from_3 = 0;
  StabilizeWhere(cluster, [&](const raftpb::Message& m) {
    if (m.type() == raftpb::MSG_APPEND_RESP && m.from() == 3 && m.reject()) ++rejections_from_3;
    return true;
  });
  ASSERT_EQ(cluster.Leader(), 1u);
  EXPECT_EQ(rejections_from_3, 1u);
  EXPECT_EQ(LogTerms(cluster.raft(3)), LogTerms(cluster.raft(1)));
  EXPECT_EQ(cluster.raft(3).log().committed(), 8u);
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

// A heartbeat never tells a follower to commit past what the leader knows it holds: its log
// beyond match may still diverge.
TEST(ReplicationTest, HeartbeatCommitIsBoundedByFollowerMatch) {
  TestNode node(1, NodeOptions{});
  BecomeLeaderByVotes(node);
  raftpb::Message ack = MakeMessage(raftpb::MSG_APPEND_RESP, 2, 1, 1);
  ack.set_index(1);
  ASSERT_TRUE(node.Step(ack).ok());
  node.Drain();
  ASSERT_EQ(node->log().committed(), 1u);
  node->Tick();
  const std::vector<raftpb::Message> out = node.Drain();
  const std::vector<raftpb::Message> to2 = Filter(out, raftpb::MSG_HEARTBEAT, 2);
  const std::vector<raftpb::Message> to3 = Filter(out, raftpb::MSG_HEARTBEAT, 3);
  ASSERT_EQ(to2.size(), 1u);
  ASSERT_EQ(to3.size(), 1u);
  EXPECT_EQ(to2[0].commit(), 1u);
  EXPECT_EQ(to3[0].commit(), 0u);
}

TEST(ReplicationTest, LostAppendIsResentAfterHeartbeatResponse) {
  Cluster cluster(ClusterOptions{});
  ElectLeader(cluster, 1);
  ASSERT_TRUE(cluster.Propose(1, "a").ok());
  cluster.ProcessReady(1);
  EXPECT_EQ(DropWhere(cluster, [](const raftpb::Message& m) { return m.type() == raftpb::MSG_APPEND; }),
            2u);
  cluster.Stabilize();
  EXPECT_EQ(cluster.raft(1).log().committed(), 1u);
  for (int i = 0; i < 3; ++i) cluster.TickAllAndStabilize();
  for (NodeId id : cluster.ids()) EXPECT_EQ(cluster.applied(id), std::vector<std::string>{"a"}) << id;
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(ReplicationTest, ReorderedAppendsStillConverge) {
  ClusterOptions options;
  options.max_msg_bytes = 1;
  Cluster cluster(options);
  ElectLeader(cluster, 1);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(cluster.Propose(1, "p" + std::to_string(i)).ok());
  cluster.ProcessReady(1);
  // Deliver the appends newest first.
  while (!cluster.queue().empty()) cluster.DeliverAt(cluster.queue().size() - 1);
  for (int i = 0; i < 3; ++i) cluster.TickAllAndStabilize();
  for (NodeId id : cluster.ids()) EXPECT_EQ(cluster.applied(id).size(), 4u) << id;
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

}  // namespace
}  // namespace keel::testing
