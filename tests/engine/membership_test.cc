// Membership changes (dissertation §4): single-server changes, joint consensus entered and left
// automatically, learners (caught up by snapshot, promoted when close), removed ids, a removed
// leader stepping down, one change at a time, configs taking effect when appended, undone when
// truncated, carried by snapshots as of their index and recovered after a restart. The
// harness checks Raft's invariants after every step.
#include "engine/membership.h"

#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace keel::testing {
namespace {

raftpb::ConfChange Change(std::initializer_list<std::pair<raftpb::ConfChangeType, NodeId>> changes) {
  raftpb::ConfChange change;
  for (const auto& [type, node] : changes) {
    raftpb::ConfChangeSingle* single = change.add_changes();
    single->set_type(type);
    single->set_node(node);
  }
  return change;
}

raftpb::ConfState Conf(std::vector<NodeId> voters, std::vector<NodeId> learners = {}) {
  raftpb::ConfState conf;
  for (NodeId id : voters) conf.add_voters(id);
  for (NodeId id : learners) conf.add_learners(id);
  return conf;
}

std::string Describe(const absl::StatusOr<raftpb::ConfState>& conf) {
  return conf.ok() ? DescribeConfState(*conf) : std::string(conf.status().message());
}

TEST(ConfChangeTest, SimpleJointAndInvalidChanges) {
  const raftpb::ConfState three = Conf({1, 2, 3});
  EXPECT_EQ(Describe(ApplyConfChange(three, Change({{raftpb::CONF_ADD_VOTER, 4}}))), "voters=1,2,3,4");
  EXPECT_EQ(Describe(ApplyConfChange(three, Change({{raftpb::CONF_ADD_LEARNER, 4}}))), "voters=1,2,3 learners=4");
  EXPECT_EQ(Describe(ApplyConfChange(three, Change({{raftpb::CONF_REMOVE, 3}}))), "voters=1,2 removed=3");
  // Replacing a node changes two voters: joint.
  EXPECT_EQ(Describe(ApplyConfChange(three, Change({{raftpb::CONF_ADD_VOTER, 4}, {raftpb::CONF_REMOVE, 1}}))),
            "voters=2,3,4 outgoing=1,2,3 removed=1");
  // Promoting a learner changes one voter: simple.
  EXPECT_EQ(Describe(ApplyConfChange(Conf({1, 2, 3}, {4}), Change({{raftpb::CONF_ADD_VOTER, 4}}))), "voters=1,2,3,4");
  raftpb::ConfChange leave;
  leave.set_leave_joint(true);
  absl::StatusOr<raftpb::ConfState> joint =
      ApplyConfChange(three, Change({{raftpb::CONF_ADD_VOTER, 4}, {raftpb::CONF_ADD_VOTER, 5}}));
  ASSERT_TRUE(joint.ok());
  EXPECT_EQ(Describe(ApplyConfChange(*joint, leave)), "voters=1,2,3,4,5");
  EXPECT_EQ(Describe(ApplyConfChange(*joint, Change({{raftpb::CONF_ADD_VOTER, 6}}))),
            "conf change: a joint configuration is still being left; one change at a time");
  EXPECT_EQ(Describe(ApplyConfChange(three, leave)), "conf change: not in a joint configuration");
  absl::StatusOr<raftpb::ConfState> removed = ApplyConfChange(three, Change({{raftpb::CONF_REMOVE, 3}}));
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(Describe(ApplyConfChange(*removed, Change({{raftpb::CONF_ADD_VOTER, 3}}))),
            "conf change: node 3 was removed; ids are never reused, pick a new one");
  EXPECT_EQ(Describe(ApplyConfChange(three, Change({{raftpb::CONF_ADD_LEARNER, 2}}))),
            "conf change: node 2 is a voter (remove it first)");
  EXPECT_EQ(Describe(ApplyConfChange(three, Change({{raftpb::CONF_REMOVE, 9}}))), "conf change: node 9 is not a member");
  EXPECT_EQ(Describe(ApplyConfChange(three, Change({{raftpb::CONF_ADD_VOTER, 4}, {raftpb::CONF_REMOVE, 4}}))),
            "conf change: node 4 named twice");
  EXPECT_EQ(Describe(ApplyConfChange(Conf({1}), Change({{raftpb::CONF_REMOVE, 1}}))),
            "conf change: no voter would remain");
  EXPECT_TRUE(ValidateConfState(*joint).ok());
  raftpb::ConfState bad = Conf({1, 2}, {2});
  EXPECT_FALSE(ValidateConfState(bad).ok()) << "a learner that is also a voter";
}

// Member contexts (addresses for the node layer) follow the members: set by an add, kept by a
// promotion, dropped with the member (after the joint config is left, for an outgoing voter).
TEST(ConfChangeTest, MemberContextsFollowTheMembers) {
  auto with_context = [](raftpb::ConfChange change, NodeId node, const std::string& context) {
    for (raftpb::ConfChangeSingle& single : *change.mutable_changes()) {
      if (single.node() == node) single.set_context(context);
    }
    return change;
  };
  auto contexts = [](const raftpb::ConfState& conf) {
    std::string out;
    for (const auto& [node, context] : MemberContexts(conf)) absl::StrAppend(&out, node, "=", context, ";");
    return out;
  };
  absl::StatusOr<raftpb::ConfState> added =
      ApplyConfChange(Conf({1, 2, 3}), with_context(Change({{raftpb::CONF_ADD_LEARNER, 4}}), 4, "addr4"));
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(contexts(*added), "4=addr4;");
  absl::StatusOr<raftpb::ConfState> promoted = ApplyConfChange(*added, Change({{raftpb::CONF_ADD_VOTER, 4}}));
  ASSERT_TRUE(promoted.ok());
  EXPECT_EQ(contexts(*promoted), "4=addr4;") << "an add without a context keeps the old one";
  absl::StatusOr<raftpb::ConfState> replaced = ApplyConfChange(
      *promoted, with_context(Change({{raftpb::CONF_ADD_VOTER, 5}, {raftpb::CONF_REMOVE, 4}, {raftpb::CONF_REMOVE, 1}}),
                              5, "addr5"));
  ASSERT_TRUE(replaced.ok());
  EXPECT_EQ(contexts(*replaced), "4=addr4;5=addr5;") << "node 4 still votes in C_old";
  EXPECT_TRUE(ValidateConfState(*replaced).ok());
  raftpb::ConfChange leave;
  leave.set_leave_joint(true);
  absl::StatusOr<raftpb::ConfState> left = ApplyConfChange(*replaced, leave);
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(contexts(*left), "5=addr5;");
  EXPECT_EQ(Describe(ApplyConfChange(*left, with_context(Change({{raftpb::CONF_REMOVE, 5}}), 5, "x"))),
            "conf change: a removal carries no context");
  raftpb::ConfState stranger = *left;
  raftpb::MemberContext* extra = stranger.add_contexts();
  extra->set_node(9);
  extra->set_context("addr9");
  EXPECT_FALSE(ValidateConfState(stranger).ok()) << "a context for a non-member";
  raftpb::ConfState unsorted = *promoted;
  unsorted.add_contexts()->set_node(2);
  EXPECT_FALSE(ValidateConfState(unsorted).ok()) << "contexts out of order";
}

// Runs the cluster until quiet, ticking `rounds` times (heartbeats carry commit indexes).
void Settle(Cluster& c, int rounds = 3) {
  c.Stabilize();
  for (int i = 0; i < rounds; ++i) c.TickAllAndStabilize();
}

void ExpectConfEverywhere(Cluster& c, const std::vector<NodeId>& nodes, const std::string& conf) {
  for (NodeId id : nodes) {
    EXPECT_EQ(DescribeConfState(c.raft(id).conf_state()), conf) << "node " << id;
  }
}

TEST(MembershipTest, AddAVoterWithASingleServerChange) {
  Cluster c(ClusterOptions{.nodes = 4, .initial_voters = 3});
  ElectLeader(c, 1);
  EXPECT_EQ(c.raft(4).voters(), (std::vector<NodeId>{1, 2, 3})) << "the spare starts outside";
  absl::StatusOr<LogPosition> added = c.ProposeConfChange(1, Change({{raftpb::CONF_ADD_VOTER, 4}}));
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(DescribeConfState(c.raft(1).conf_state()), "voters=1,2,3,4") << "in force once appended";
  Settle(c);
  ExpectConfEverywhere(c, {1, 2, 3, 4}, "voters=1,2,3,4");
  ASSERT_TRUE(c.Propose(1, "after").ok());
  Settle(c);
  EXPECT_EQ(c.applied(4), std::vector<std::string>{"after"});
  // Now 4 counts: with two of the old three down, 1 and 4 still commit.
  c.Crash(2);
  c.Crash(3);
  const Index before = c.raft(1).log().committed();
  ASSERT_TRUE(c.Propose(1, "with 4").ok());
  Settle(c);
  EXPECT_EQ(c.raft(1).log().committed(), before) << "2 of 4 is not a majority";
  c.Restart(2);
  Settle(c, 12);
  EXPECT_GT(c.raft(1).log().committed(), before);
  EXPECT_TRUE(c.violation().ok()) << c.violation();
}

TEST(MembershipTest, RemoveAFollowerItsIdIsNeverHeardAgain) {
  Cluster c(ClusterOptions{});
  ElectLeader(c, 1);
  ASSERT_TRUE(c.ProposeConfChange(1, Change({{raftpb::CONF_REMOVE, 3}})).ok());
  Settle(c);
  ExpectConfEverywhere(c, {1, 2}, "voters=1,2 removed=3");
  // Node 3 does not know it was removed if it missed the entry; whatever it sends is refused.
  raftpb::Message vote = MakeVote(raftpb::MSG_VOTE, 3, 1, 99, 100, 99);
  EXPECT_TRUE(c.raft(1).Step(vote).ok()) << "ignored, not an error: late messages of a removed node are normal";
  EXPECT_EQ(c.raft(1).term(), 1u);
  EXPECT_EQ(c.raft(1).role(), Role::kLeader);
  EXPECT_EQ(c.ProposeConfChange(1, Change({{raftpb::CONF_ADD_VOTER, 3}})).status().code(),
            absl::StatusCode::kInvalidArgument) << "ids are not reused";
  ASSERT_TRUE(c.Propose(1, "x").ok());
  Settle(c);
  EXPECT_EQ(c.applied(2), std::vector<std::string>{"x"});
  EXPECT_TRUE(c.violation().ok()) << c.violation();
}

TEST(MembershipTest, RemovedLeaderStepsDownOnceTheChangeCommits) {
  Cluster c(ClusterOptions{});
  ElectLeader(c, 1);
  ASSERT_TRUE(c.ProposeConfChange(1, Change({{raftpb::CONF_REMOVE, 1}})).ok());
  EXPECT_EQ(c.raft(1).role(), Role::kLeader) << "it leads until C_new commits (§4.2.2)";
  c.Stabilize();
  EXPECT_NE(c.raft(1).role(), Role::kLeader);
  for (int i = 0; i < 40 && (c.Leader() == kNoNode || c.Leader() == 1); ++i) c.TickAllAndStabilize();
  const NodeId leader = c.Leader();
  EXPECT_TRUE(leader == 2 || leader == 3) << c.DescribeNodes();
  ASSERT_TRUE(c.Propose(leader, "y").ok());
  Settle(c);
  EXPECT_EQ(c.raft(1).role(), Role::kFollower) << "a removed node never campaigns";
  EXPECT_TRUE(c.violation().ok()) << c.violation();
}

TEST(MembershipTest, ReplaceANodeInOneJointChangeLeftAutomatically) {
  Cluster c(ClusterOptions{.nodes = 4, .initial_voters = 3});
  ElectLeader(c, 1);
  ASSERT_TRUE(c.ProposeConfChange(1, Change({{raftpb::CONF_ADD_VOTER, 4}, {raftpb::CONF_REMOVE, 3}})).ok());
  EXPECT_EQ(DescribeConfState(c.raft(1).conf_state()), "voters=1,2,4 outgoing=1,2,3 removed=3");
  EXPECT_EQ(c.ProposeConfChange(1, Change({{raftpb::CONF_ADD_LEARNER, 5}})).status().code(),
            absl::StatusCode::kFailedPrecondition) << "one change at a time";
  Settle(c);
  ExpectConfEverywhere(c, {1, 2, 4}, "voters=1,2,4 removed=3");
  EXPECT_FALSE(c.raft(1).ConfChangeInFlight());
  EXPECT_TRUE(c.violation().ok()) << c.violation();
}

// C_old = {1,2,3} -> C_new = {1,4,5}. With 2 and 3 cut off, the joint entry reaches C_new's
// majority only: it must not commit (C_old has no majority without 2 or 3).
TEST(MembershipTest, JointConfigCommitsOnlyWithBothMajorities) {
  Cluster c(ClusterOptions{.nodes = 5, .initial_voters = 3});
  ElectLeader(c, 1);
  ASSERT_TRUE(c.Propose(1, "a").ok());
  Settle(c);
  c.Cut(1, 2);
  c.Cut(1, 3);
  absl::StatusOr<LogPosition> joint = c.ProposeConfChange(
      1, Change({{raftpb::CONF_ADD_VOTER, 4}, {raftpb::CONF_ADD_VOTER, 5}, {raftpb::CONF_REMOVE, 2},
                 {raftpb::CONF_REMOVE, 3}}));
  ASSERT_TRUE(joint.ok()) << joint.status();
  Settle(c);
  EXPECT_EQ(c.raft(4).log().LastIndex(), joint->index) << "C_new has the entry";
  EXPECT_LT(c.raft(1).log().committed(), joint->index) << "but C_old's majority does not";
  c.Heal();
  Settle(c, 6);
  EXPECT_GE(c.raft(1).log().committed(), joint->index + 1) << "joint entry and leave_joint commit";
  ExpectConfEverywhere(c, {1, 4, 5}, "voters=1,4,5 removed=2,3");
  EXPECT_TRUE(c.violation().ok()) << c.violation();
}

TEST(MembershipTest, LearnerCatchesUpBySnapshotIsNotCountedThenPromoted) {
  Cluster c(ClusterOptions{.nodes = 4, .initial_voters = 3});
  ElectLeader(c, 1);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.Propose(1, absl::StrCat("v", i)).ok());
  Settle(c);
  ASSERT_TRUE(c.Compact(1, c.raft(1).log().applied()));
  ASSERT_TRUE(c.ProposeConfChange(1, Change({{raftpb::CONF_ADD_LEARNER, 4}})).ok());
  Settle(c, 6);
  ExpectConfEverywhere(c, {1, 2, 3, 4}, "voters=1,2,3 learners=4");
  EXPECT_EQ(c.applied(4).size(), 5u) << "the learner got the state by snapshot";
  EXPECT_GT(c.storage(4).SnapshotMetadata().index(), 0u);
  // Not counted: with 2 and 3 down, 1 and learner 4 commit nothing; 4 never campaigns.
  c.Crash(2);
  c.Crash(3);
  const Index before = c.raft(1).log().committed();
  ASSERT_TRUE(c.Propose(1, "needs a voter").ok());
  Settle(c, 30);
  EXPECT_EQ(c.raft(1).log().committed(), before);
  EXPECT_EQ(c.raft(4).role(), Role::kFollower);
  c.Restart(2);
  c.Restart(3);
  Settle(c, 30);
  const NodeId leader = c.Leader();
  ASSERT_NE(leader, kNoNode);
  ASSERT_TRUE(c.ProposeConfChange(leader, Change({{raftpb::CONF_ADD_VOTER, 4}})).ok());
  Settle(c);
  ExpectConfEverywhere(c, {1, 2, 3, 4}, "voters=1,2,3,4");
  EXPECT_TRUE(c.violation().ok()) << c.violation();
}

TEST(MembershipTest, ALaggingLearnerIsNotPromoted) {
  Cluster c(ClusterOptions{.nodes = 4, .initial_voters = 3});
  ElectLeader(c, 1);
  ASSERT_TRUE(c.ProposeConfChange(1, Change({{raftpb::CONF_ADD_LEARNER, 4}})).ok());
  Settle(c);
  c.Isolate(4);
  for (int i = 0; i < 1005; ++i) ASSERT_TRUE(c.Propose(1, "x").ok());
  Settle(c);
  absl::StatusOr<LogPosition> promote = c.ProposeConfChange(1, Change({{raftpb::CONF_ADD_VOTER, 4}}));
  EXPECT_EQ(promote.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(promote.status().message().find("entries behind"), std::string::npos) << promote.status();
  c.Heal();
  Settle(c, 3);
  EXPECT_TRUE(c.ProposeConfChange(1, Change({{raftpb::CONF_ADD_VOTER, 4}})).ok());
  EXPECT_TRUE(c.violation().ok()) << c.violation();
}

TEST(MembershipTest, ConfigSurvivesRestartAndSnapshotsRecordItAsOfTheirIndex) {
  Cluster c(ClusterOptions{.nodes = 4, .initial_voters = 3});
  ElectLeader(c, 1);
  ASSERT_TRUE(c.Propose(1, "before").ok());
  Settle(c);
  const Index snapshot_index = c.raft(2).log().applied();
  ASSERT_TRUE(c.ProposeConfChange(1, Change({{raftpb::CONF_ADD_VOTER, 4}})).ok());
  Settle(c);
  // Node 2 snapshots at an index before the change: the snapshot holds the old config.
  ASSERT_TRUE(c.Compact(2, snapshot_index));
  EXPECT_EQ(DescribeConfState(c.storage(2).SnapshotMetadata().conf_state()), "voters=1,2,3");
  c.Crash(2);
  c.Restart(2);
  EXPECT_EQ(DescribeConfState(c.raft(2).conf_state()), "voters=1,2,3,4") << "recovered from the log after it";
  EXPECT_TRUE(c.violation().ok()) << c.violation();
}

TEST(MembershipTest, ATruncatedConfigEntryIsUndone) {
  Cluster c(ClusterOptions{.nodes = 4, .initial_voters = 3});
  ElectLeader(c, 1);
  ASSERT_TRUE(c.Propose(1, "a").ok());
  Settle(c);
  c.Isolate(1);
  ASSERT_TRUE(c.ProposeConfChange(1, Change({{raftpb::CONF_ADD_VOTER, 4}})).ok());
  c.Stabilize();
  EXPECT_EQ(DescribeConfState(c.raft(1).conf_state()), "voters=1,2,3,4");
  // 2 and 3 elect a leader of a later term and commit something else at that index.
  for (int i = 0; i < 40 && (c.Leader() == 1 || c.Leader() == kNoNode); ++i) {
    c.Tick(2);
    c.Tick(3);
    c.Stabilize();
  }
  const NodeId leader = c.raft(2).role() == Role::kLeader ? 2 : 3;
  ASSERT_EQ(c.raft(leader).role(), Role::kLeader) << c.DescribeNodes();
  ASSERT_TRUE(c.Propose(leader, "b").ok());
  c.Heal();
  Settle(c, 6);
  EXPECT_EQ(DescribeConfState(c.raft(1).conf_state()), "voters=1,2,3") << "the entry that added 4 is gone";
  EXPECT_EQ(c.raft(1).pending_conf_index(), 0u);
  EXPECT_TRUE(c.violation().ok()) << c.violation();
}

}  // namespace
}  // namespace keel::testing
