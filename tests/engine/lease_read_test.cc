// Lease reads (Config::read_only_lease; raft.h "Lease reads"): when the leader may answer a
// read without a heartbeat round, and the followers' promise that makes it safe.
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace keel::testing {
namespace {

NodeOptions LeaseOptions() {
  NodeOptions options;
  options.read_only_lease = true;
  options.max_clock_drift_ticks = 1;  // lease: 10 - 1 - 1 = 8 ticks
  return options;
}

raftpb::Message HeartbeatResponse(NodeId from, Term term, uint64_t lease_tick) {
  raftpb::Message response = MakeMessage(raftpb::MSG_HEARTBEAT_RESP, from, 1, term);
  response.set_lease_tick(lease_tick);
  return response;
}

// Node 1 leads term 1 of {1, 2, 3} with its no-op committed (node 2 acknowledged it).
void LeadWithCommittedNoop(TestNode& node) {
  BecomeLeaderByVotes(node);
  raftpb::Message ack = MakeMessage(raftpb::MSG_APPEND_RESP, 2, 1, node->term());
  ack.set_index(node->log().LastIndex());
  ASSERT_TRUE(node.Step(ack).ok());
  node.Drain();
  ASSERT_EQ(node->log().committed(), node->log().LastIndex());
}

// Ticks the leader `count` times, draining what it sends, and returns the lease_tick of the
// last heartbeat it sent (to node 2).
uint64_t TickLeader(TestNode& node, int count) {
  uint64_t sent = 0;
  for (int i = 0; i < count; ++i) {
    node->Tick();
    for (const raftpb::Message& m : Filter(node.Drain(), raftpb::MSG_HEARTBEAT, 2)) sent = m.lease_tick();
  }
  return sent;
}

bool Says(const absl::Status& status, const std::string& text) {
  return status.message().find(text) != absl::string_view::npos;
}

TEST(LeaseReadConfigTest, InvalidCombinationsAreRefusedWithTheReason) {
  Config config;
  config.id = 1;
  config.read_only_lease = true;
  EXPECT_TRUE(config.Validate().ok());
  config.check_quorum = false;
  EXPECT_TRUE(Says(config.Validate(), "needs check_quorum")) << config.Validate();
  config.check_quorum = true;
  config.max_clock_drift_ticks = -1;
  EXPECT_TRUE(Says(config.Validate(), "max_clock_drift_ticks must be >= 0")) << config.Validate();
  config.election_tick = 5;
  config.max_clock_drift_ticks = 3;  // lease 1 tick: not longer than a heartbeat interval
  EXPECT_TRUE(Says(config.Validate(), "lapses between heartbeats")) << config.Validate();
  config.read_only_lease = false;  // the drift is not used without leases
  EXPECT_TRUE(config.Validate().ok());
}

TEST(LeaseReadTest, HoldsForLeaseTicksAfterTheAcknowledgedHeartbeatWasSent) {
  TestNode node(1, LeaseOptions());
  LeadWithCommittedNoop(node);
  EXPECT_FALSE(node->LeaseHolds()) << "no heartbeat acknowledged yet (appends do not count)";
  const uint64_t sent = TickLeader(node, 1);
  // Acknowledged late (3 ticks on): the lease still counts from when the heartbeat was sent.
  TickLeader(node, 3);
  ASSERT_TRUE(node.Step(HeartbeatResponse(2, 1, sent)).ok());
  EXPECT_TRUE(node->LeaseHolds());
  ASSERT_TRUE(node->ReadIndex("r").ok());
  Ready ready = node.Process();
  ASSERT_EQ(ready.read_states.size(), 1u);
  EXPECT_TRUE(ready.read_states[0].lease);
  EXPECT_EQ(ready.read_states[0].index, node->log().committed());
  EXPECT_TRUE(Filter(ready.messages, raftpb::MSG_HEARTBEAT).empty()) << "no round for a lease read";
  TickLeader(node, 4);  // 7 ticks after sending: the last of the lease's 8
  EXPECT_TRUE(node->LeaseHolds());
  TickLeader(node, 1);
  EXPECT_FALSE(node->LeaseHolds());
  ASSERT_TRUE(node->ReadIndex("r2").ok());
  ready = node.Process();
  EXPECT_TRUE(ready.read_states.empty());
  EXPECT_EQ(Filter(ready.messages, raftpb::MSG_HEARTBEAT).size(), 2u) << "back to a heartbeat round";
}

TEST(LeaseReadTest, NeedsTheTermsCommitAndIgnoresTicksItNeverSent) {
  TestNode node(1, LeaseOptions());
  BecomeLeaderByVotes(node);  // the no-op is not committed
  const uint64_t sent = TickLeader(node, 1);
  ASSERT_TRUE(node.Step(HeartbeatResponse(2, 1, sent)).ok());
  EXPECT_FALSE(node->LeaseHolds()) << "the commit index may miss entries of the previous leader";
  raftpb::Message ack = MakeMessage(raftpb::MSG_APPEND_RESP, 2, 1, node->term());
  ack.set_index(node->log().LastIndex());
  ASSERT_TRUE(node.Step(ack).ok());
  node.Drain();
  EXPECT_TRUE(node->LeaseHolds());
  TickLeader(node, 8);
  EXPECT_FALSE(node->LeaseHolds());
  // A response claiming a heartbeat from the future (a bad peer) renews nothing.
  ASSERT_TRUE(node.Step(HeartbeatResponse(2, 1, 1'000'000)).ok());
  EXPECT_FALSE(node->LeaseHolds());
}

TEST(LeaseReadTest, ATimeoutNowRevokesTheLeaseForTheRestOfTheTerm) {
  TestNode node(1, LeaseOptions());
  LeadWithCommittedNoop(node);
  ASSERT_TRUE(node.Step(HeartbeatResponse(2, 1, TickLeader(node, 1))).ok());
  ASSERT_TRUE(node->LeaseHolds());
  ASSERT_TRUE(node->TransferLeadership(2).ok());  // node 2 is up to date: TimeoutNow at once
  EXPECT_TRUE(Contains(node.Drain(), raftpb::MSG_TIMEOUT_NOW));
  EXPECT_FALSE(node->LeaseHolds());
  TickLeader(node, 10);  // the transfer is abandoned; the TimeoutNow may still be on its way
  ASSERT_EQ(node->role(), Role::kLeader);
  ASSERT_EQ(node->lead_transferee(), kNoNode);
  const uint64_t sent = TickLeader(node, 1);
  ASSERT_TRUE(node.Step(HeartbeatResponse(2, 1, sent)).ok());
  ASSERT_TRUE(node.Step(HeartbeatResponse(3, 1, sent)).ok());
  EXPECT_FALSE(node->LeaseHolds()) << "fresh acknowledgements do not bring it back in this term";
}

TEST(LeaseReadTest, AFollowersReadIndexAlwaysTakesAHeartbeatRound) {
  TestNode node(1, LeaseOptions());
  LeadWithCommittedNoop(node);
  ASSERT_TRUE(node.Step(HeartbeatResponse(2, 1, TickLeader(node, 1))).ok());
  ASSERT_TRUE(node->LeaseHolds());
  raftpb::Message request = MakeMessage(raftpb::MSG_READ_INDEX, 3, 1, 1);
  request.set_context("f");
  ASSERT_TRUE(node.Step(request).ok());
  const std::vector<raftpb::Message> out = node.Drain();
  EXPECT_FALSE(Contains(out, raftpb::MSG_READ_INDEX_RESP)) << "the core cannot tell how stale its ticks are";
  EXPECT_EQ(Filter(out, raftpb::MSG_HEARTBEAT).size(), 2u);
}

// The follower's side: having heard from the leader of term 1, node 2 is moved to term 2 by a
// message that is not a vote (so it knows no leader there); it still refuses a vote in term 2
// until election_tick ticks passed. Without lease reads it would grant it at once.
TEST(LeaseReadTest, AFollowersPromiseSurvivesATermChange) {
  for (const bool lease : {false, true}) {
    NodeOptions options = LeaseOptions();
    options.read_only_lease = lease;
    options.term = 1;
    TestNode node(2, options);
    for (int i = 0; i < 10; ++i) node->Tick();  // past the promise a start makes
    ASSERT_TRUE(node.Step(MakeMessage(raftpb::MSG_HEARTBEAT, 1, 2, 1)).ok());
    node.Drain();
    ASSERT_TRUE(node.Step(MakeMessage(raftpb::MSG_APPEND_RESP, 3, 2, 2)).ok());
    ASSERT_EQ(node->term(), 2u);
    ASSERT_EQ(node->leader(), kNoNode);
    ASSERT_TRUE(node.Step(MakeVote(raftpb::MSG_VOTE, 3, 2, 2, 0, 0)).ok());
    std::vector<raftpb::Message> votes = Filter(node.Drain(), raftpb::MSG_VOTE_RESP);
    ASSERT_EQ(votes.size(), 1u);
    EXPECT_EQ(votes[0].reject(), lease) << "lease=" << lease;
    if (!lease) continue;
    for (int i = 0; i < 10; ++i) node->Tick();
    node.Drain();
    ASSERT_TRUE(node.Step(MakeVote(raftpb::MSG_VOTE, 3, 2, 2, 0, 0)).ok());
    votes = Filter(node.Drain(), raftpb::MSG_VOTE_RESP);
    ASSERT_EQ(votes.size(), 1u);
    EXPECT_FALSE(votes[0].reject()) << "the promise is over";
  }
}

// A node may have promised a leader just before it crashed: after a restart it ignores
// campaigns for an election timeout, except a transfer's.
TEST(LeaseReadTest, ARestartedNodeKeepsThePromiseItMayHaveMade) {
  NodeOptions options = LeaseOptions();
  options.term = 1;
  TestNode node(2, options);
  node.Restart();
  ASSERT_TRUE(node.Step(MakeVote(raftpb::MSG_VOTE, 3, 2, 2, 0, 0)).ok());
  EXPECT_TRUE(node.Drain().empty()) << "ignored, not even answered";
  EXPECT_EQ(node->term(), 1u);
  raftpb::Message transfer = MakeVote(raftpb::MSG_VOTE, 3, 2, 2, 0, 0);
  transfer.set_transfer(true);
  ASSERT_TRUE(node.Step(transfer).ok());
  std::vector<raftpb::Message> votes = Filter(node.Drain(), raftpb::MSG_VOTE_RESP);
  ASSERT_EQ(votes.size(), 1u);
  EXPECT_FALSE(votes[0].reject()) << "a transfer overrides the promise";
}

}  // namespace
}  // namespace keel::testing
