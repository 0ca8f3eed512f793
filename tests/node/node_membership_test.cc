// Membership changes through the node driver: a MemberChange request on any node is proposed
// by the leader and answered once committed; a fourth node started from the cluster's initial
// voters is admitted as a learner, catches up and is promoted; the peer channel hears of every
// member with the address the change carried; bad and conflicting requests get their codes.
#include "tests/node/node_cluster.h"

namespace keel {
namespace {

using nodetest::Answer;
using nodetest::NodeCluster;
using nodetest::OtherThan;

nodepb::Request MemberRequest(nodepb::MemberChangeType type, NodeId node, const std::string& address = "") {
  nodepb::Request request;
  request.set_timeout_nanos(5'000'000'000);
  nodepb::MemberChange::Change* change = request.mutable_member_change()->add_changes();
  change->set_type(type);
  change->set_node(node);
  if (!address.empty()) change->mutable_info()->set_raft_address(address);
  return request;
}

bool Contains(const google::protobuf::RepeatedField<uint64_t>& ids, NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

TEST(NodeMembershipTest, ALearnerJoinsCatchesUpAndIsPromotedThroughAFollower) {
  NodeCluster c;
  const NodeId leader = c.SettledLeader();
  ASSERT_NE(leader, kNoNode);
  for (int i = 0; i < 20; ++i) c.RunUntil(c.Command(leader, absl::StrCat("w:", i)), 50);
  const NodeId follower = OtherThan(leader);
  auto add = c.Send(follower, MemberRequest(nodepb::MEMBER_ADD_LEARNER, 4, "10.0.0.4:7001"));  // proxied
  c.RunUntil(add, 100);
  ASSERT_TRUE(add->response);
  ASSERT_EQ(add->response->code(), nodepb::CODE_OK) << add->response->error();
  const nodepb::NodeStatus& status = add->response->status();
  EXPECT_TRUE(Contains(status.learners(), 4));
  EXPECT_EQ(status.members().at(4).raft_address(), "10.0.0.4:7001");
  EXPECT_EQ(std::vector<uint64_t>(status.initial_voters().begin(), status.initial_voters().end()),
            (std::vector<uint64_t>{1, 2, 3}));
  // Every member's channel heard of node 4 and its address.
  bool told = false;
  for (const auto& update : c.channel().member_updates) {
    auto it = update.find(4);
    told = told || (it != update.end() && it->second.raft_address() == "10.0.0.4:7001");
  }
  EXPECT_TRUE(told);

  c.Start(4, {1, 2, 3});  // joins from the cluster's initial voters
  for (int i = 0; i < 100 && c.app(4).values.size() < 20; ++i) c.Tick();
  EXPECT_EQ(c.app(4).values.size(), 20u) << "the learner replays the log";
  EXPECT_EQ(c.node(4).replica().raft().role(), Role::kFollower);

  auto promote = c.Send(follower, MemberRequest(nodepb::MEMBER_ADD_VOTER, 4));
  c.RunUntil(promote, 100);
  ASSERT_TRUE(promote->response);
  ASSERT_EQ(promote->response->code(), nodepb::CODE_OK) << promote->response->error();
  EXPECT_TRUE(Contains(promote->response->status().voters(), 4));
  EXPECT_EQ(promote->response->status().members().at(4).raft_address(), "10.0.0.4:7001") << "kept on promotion";
  c.Run(5);
  EXPECT_TRUE(Contains(c.node(4).Status().voters(), 4)) << "node 4 learned it votes";
}

// A joiner starts from voters that may not include today's leader (it joined later): it must
// still hear the leader that adds it.
TEST(NodeMembershipTest, AJoinerHearsALeaderOutsideTheVotersItStartedFrom) {
  NodeCluster c;
  const NodeId leader = c.SettledLeader();
  ASSERT_NE(leader, kNoNode);
  for (int i = 0; i < 5; ++i) c.RunUntil(c.Command(leader, absl::StrCat("w:", i)), 50);
  auto add = c.Send(leader, MemberRequest(nodepb::MEMBER_ADD_LEARNER, 4, "10.0.0.4:7001"));
  c.RunUntil(add, 100);
  ASSERT_TRUE(add->response);
  ASSERT_EQ(add->response->code(), nodepb::CODE_OK) << add->response->error();
  c.Start(4, {OtherThan(leader)});  // a voter set without the leader
  for (int i = 0; i < 100 && c.app(4).values.size() < 5; ++i) c.Tick();
  EXPECT_EQ(c.app(4).values.size(), 5u);
  EXPECT_TRUE(Contains(c.node(4).Status().learners(), 4)) << "it learned it is a learner";
  EXPECT_EQ(c.node(4).counters().dropped_unknown_peer, 0u);
}

// A configuration takes effect when appended, so a deposed leader holding an uncommitted
// entry that removes node B sees B as removed. B, now leader, must still reach it to overwrite
// that entry: a node that admitted only the members of its latest configuration stayed out of
// the cluster forever (found by the simulator's membership operator, seed 60).
TEST(NodeMembershipTest, AnUncommittedRemovalDoesNotShutOutTheLeaderItRemoved) {
  NodeCluster c;
  const NodeId old_leader = c.SettledLeader();
  ASSERT_NE(old_leader, kNoNode);
  c.Isolate(old_leader);
  const NodeId removed = OtherThan(old_leader);
  auto remove = c.Send(old_leader, MemberRequest(nodepb::MEMBER_REMOVE, removed));
  c.Run(2);
  ASSERT_FALSE(Contains(c.node(old_leader).Status().voters(), removed)) << "in effect once appended";
  NodeId leader = c.RunUntilLeader();
  ASSERT_NE(leader, kNoNode);
  if (leader != removed) {
    nodepb::Request transfer;
    transfer.mutable_transfer_leader()->set_target(removed);
    auto moved = c.Send(leader, transfer);
    c.RunUntil(moved, 300);
    ASSERT_TRUE(moved->response);
    ASSERT_EQ(moved->response->code(), nodepb::CODE_OK) << moved->response->error();
    leader = c.Leader();
  }
  ASSERT_EQ(leader, removed);
  auto write = c.Command(leader, "w:after");
  c.RunUntil(write, 100);
  ASSERT_TRUE(write->response);
  ASSERT_EQ(write->response->code(), nodepb::CODE_OK);
  c.Heal();
  c.Run(100);
  EXPECT_TRUE(Contains(c.node(old_leader).Status().voters(), removed)) << "the uncommitted removal was overwritten";
  EXPECT_EQ(c.node(old_leader).replica().raft().leader(), removed);
  ASSERT_FALSE(c.app(old_leader).values.empty());
  EXPECT_EQ(c.app(old_leader).values.back(), "after");
  ASSERT_TRUE(remove->response);
  EXPECT_NE(remove->response->code(), nodepb::CODE_OK);
}

TEST(NodeMembershipTest, RemovingTheLeaderMovesLeadershipAndDropsItsMessages) {
  NodeCluster c;
  const NodeId leader = c.SettledLeader();
  ASSERT_NE(leader, kNoNode);
  auto remove = c.Send(leader, MemberRequest(nodepb::MEMBER_REMOVE, leader));
  c.RunUntil(remove, 100);
  ASSERT_TRUE(remove->response);
  ASSERT_EQ(remove->response->code(), nodepb::CODE_OK) << remove->response->error();
  EXPECT_TRUE(Contains(remove->response->status().removed(), leader));
  c.Run(60);
  const NodeId next = c.Leader();
  ASSERT_NE(next, kNoNode);
  EXPECT_NE(next, leader) << "a removed leader steps down";
  auto write = c.Command(OtherThan(leader), "w:after");
  c.RunUntil(write, 100);
  ASSERT_TRUE(write->response);
  EXPECT_EQ(write->response->code(), nodepb::CODE_OK);
  const uint64_t dropped = c.node(next).counters().dropped_unknown_peer;
  nodepb::Envelope envelope;
  envelope.set_cluster_id(nodetest::kCluster);
  envelope.set_from(leader);
  envelope.set_to(next);
  envelope.mutable_raft()->set_type(raftpb::MSG_HEARTBEAT);
  envelope.mutable_raft()->set_from(leader);
  envelope.mutable_raft()->set_to(next);
  envelope.mutable_raft()->set_term(1000);
  c.node(next).OnEnvelope(FromProto(envelope));
  EXPECT_EQ(c.node(next).counters().dropped_unknown_peer, dropped + 1) << "no longer a member";
}

TEST(NodeMembershipTest, BadAndConflictingChangesGetTheirCodes) {
  NodeCluster c;
  const NodeId leader = c.SettledLeader();
  ASSERT_NE(leader, kNoNode);
  nodepb::Request empty;
  empty.mutable_member_change();
  auto malformed = c.Send(leader, empty);
  auto zero = c.Send(leader, MemberRequest(nodepb::MEMBER_ADD_LEARNER, 0));
  auto voter = c.Send(leader, MemberRequest(nodepb::MEMBER_ADD_LEARNER, OtherThan(leader)));
  c.Run(2);
  for (const auto& answer : {malformed, zero}) {
    ASSERT_TRUE(answer->response);
    EXPECT_EQ(answer->response->code(), nodepb::CODE_INVALID_ARGUMENT) << answer->response->error();
  }
  ASSERT_TRUE(voter->response);
  EXPECT_EQ(voter->response->code(), nodepb::CODE_FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(voter->response->error(), "is a voter")) << voter->response->error();

  // Two changes in the same batch: the second finds the first in flight.
  auto first = c.Send(leader, MemberRequest(nodepb::MEMBER_ADD_LEARNER, 4, "a:1"));
  auto second = c.Send(leader, MemberRequest(nodepb::MEMBER_ADD_LEARNER, 5, "a:2"));
  c.RunUntil(first, 100);
  c.RunUntil(second, 100);
  ASSERT_TRUE(first->response && second->response);
  EXPECT_EQ(first->response->code(), nodepb::CODE_OK) << first->response->error();
  EXPECT_EQ(second->response->code(), nodepb::CODE_FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(second->response->error(), "in flight")) << second->response->error();
  EXPECT_EQ(c.node(leader).counters().answers_by_kind.at({"member_change", nodepb::CODE_OK}), 1u);
}

}  // namespace
}  // namespace keel
