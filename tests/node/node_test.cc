// The node driver (engine/node.h) on three nodes over an in-memory peer channel, a hand-moved
// clock and simulated disks, with a toy application: what each answer code promises, and
// when it is given. The simulator runs the same driver under every fault; these tests pin the
// individual rules down one by one.
#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/node.h"
#include "gtest/gtest.h"
#include "sim/manual_clock.h"
#include "sim/sim_filesystem.h"
#include "tests/node/node_cluster.h"

namespace keel {
namespace {

using nodetest::Answer;
using nodetest::kCluster;
using nodetest::kTick;
using nodetest::NodeCluster;
using nodetest::OtherThan;
using nodetest::ToyApplication;

TEST(NodeTest, AFollowerProxiesTheWholeRequestAndRelaysTheAnswer) {
  NodeCluster c;
  const NodeId leader = c.RunUntilLeader();
  ASSERT_NE(leader, kNoNode);
  const NodeId follower = OtherThan(leader);
  auto write = c.Command(follower, "w:a");
  c.RunUntil(write);
  ASSERT_TRUE(write->response);
  EXPECT_EQ(write->response->code(), nodepb::CODE_OK);
  EXPECT_EQ(write->response->result(), "n=1");
  EXPECT_EQ(write->response->served_by(), leader);
  EXPECT_EQ(c.node(follower).counters().proxied_out, 1u);
  EXPECT_EQ(c.node(leader).counters().proxied_in, 1u);
  // A linearizable read through the follower sees it (ReadIndex on the leader, no entry).
  const Index last = c.node(leader).replica().raft().log().LastIndex();
  auto read = c.Command(follower, "r:");
  c.RunUntil(read);
  ASSERT_TRUE(read->response);
  EXPECT_EQ(read->response->code(), nodepb::CODE_OK);
  EXPECT_EQ(read->response->result(), "a");
  EXPECT_EQ(c.node(leader).replica().raft().log().LastIndex(), last) << "a read must not append an entry";
  EXPECT_EQ(write->count, 1);
  EXPECT_EQ(read->count, 1);
}

TEST(NodeTest, RequestsQueuedTogetherShareOneFsync) {
  NodeCluster c;
  const NodeId leader = c.RunUntilLeader();
  ASSERT_NE(leader, kNoNode);
  c.Run(5);
  const int before = c.syncs(leader);
  std::vector<std::shared_ptr<Answer>> answers;
  for (int i = 0; i < 50; ++i) answers.push_back(c.Command(leader, absl::StrCat("w:", i)));
  c.node(leader).Poll();  // one wake-up: every queued request proposed, one Ready
  EXPECT_EQ(c.syncs(leader) - before, 1) << "50 proposals in one Poll must cost one fsync";
  for (auto& answer : answers) c.RunUntil(answer);
  for (auto& answer : answers) EXPECT_EQ(answer->response->code(), nodepb::CODE_OK);
  EXPECT_EQ(c.app(leader).values.size(), 50u);
}

TEST(NodeTest, AReadWhoseConfirmationWasLostIsAskedAgain) {
  NodeCluster c;
  const NodeId leader = c.SettledLeader();
  ASSERT_NE(leader, kNoNode);
  auto read = c.Command(leader, "r:", 100 * 10 * kTick);
  c.node(leader).Poll();  // ReadIndex: a heartbeat round carrying the read's context...
  c.in_flight().clear();  // ...lost
  c.RunUntil(read, 100);
  ASSERT_TRUE(read->response) << "the read waits for its deadline";
  EXPECT_EQ(read->response->code(), nodepb::CODE_OK);
  EXPECT_GE(c.node(leader).counters().read_index_batches, 2u);
}

TEST(NodeTest, AReadDroppedByALeaderChangeFailsAtOnceNotAtItsDeadline) {
  NodeCluster c;
  const NodeId leader = c.SettledLeader();
  ASSERT_NE(leader, kNoNode);
  c.Isolate(leader);  // it cannot confirm its leadership any more
  const int64_t timeout = 60 * 10 * kTick;
  auto read = c.Command(leader, "r:", timeout);
  const int64_t sent = c.now();
  c.RunUntil(read, 200);
  ASSERT_TRUE(read->response) << "the read hung";
  EXPECT_EQ(read->response->code(), nodepb::CODE_UNAVAILABLE);  // a read never applies anything
  EXPECT_LT(read->at - sent, timeout / 2) << "answered only at its deadline";
  EXPECT_NE(c.node(leader).replica().raft().role(), Role::kLeader);
}

TEST(NodeTest, AWriteWhoseFateIsUnknownIsNeverReportedUnavailable) {
  NodeCluster c;
  const NodeId leader = c.SettledLeader();
  ASSERT_NE(leader, kNoNode);
  c.Isolate(leader);
  // Proposed on a leader that cannot commit: it may still commit later (if the leader is
  // re-elected), so the answer must be DEADLINE_EXCEEDED, not UNAVAILABLE.
  auto write = c.Command(leader, "w:maybe", 5 * kTick);
  c.RunUntil(write, 100);
  ASSERT_TRUE(write->response);
  EXPECT_EQ(write->response->code(), nodepb::CODE_DEADLINE_EXCEEDED);
}

TEST(NodeTest, WithoutALeaderARequestWaitsForItsDeadlineThenIsUnavailable) {
  NodeCluster c;
  const NodeId leader = c.RunUntilLeader();
  ASSERT_NE(leader, kNoNode);
  const NodeId lonely = OtherThan(leader);
  c.Isolate(lonely);
  c.Run(40);  // it forgets the leader when its election timer fires
  ASSERT_EQ(c.node(lonely).replica().raft().leader(), kNoNode);
  auto write = c.Command(lonely, "w:z", 20 * kTick);
  const int64_t sent = c.now();
  c.RunUntil(write, 100);
  ASSERT_TRUE(write->response);
  EXPECT_EQ(write->response->code(), nodepb::CODE_UNAVAILABLE);
  EXPECT_GE(write->at - sent, 20 * kTick);
  EXPECT_LE(write->at - sent, 22 * kTick);
  EXPECT_EQ(write->response->leader_hint(), kNoNode);
}

TEST(NodeTest, ARequestWaitingForALeaderIsProxiedOnceOneIsKnown) {
  NodeCluster c;
  const NodeId leader = c.RunUntilLeader();
  ASSERT_NE(leader, kNoNode);
  const NodeId lonely = OtherThan(leader);
  c.Isolate(lonely);
  c.Run(40);
  auto write = c.Command(lonely, "w:later", 100 * kTick);
  c.Run(5);
  EXPECT_FALSE(write->response);
  c.Heal();
  c.RunUntil(write, 100);
  ASSERT_TRUE(write->response);
  EXPECT_EQ(write->response->code(), nodepb::CODE_OK);
}

TEST(NodeTest, AnAttemptLostInTransitIsResentOnlyWhenSafe) {
  NodeCluster c;
  const NodeId leader = c.RunUntilLeader();
  ASSERT_NE(leader, kNoNode);
  const NodeId follower = OtherThan(leader);
  c.Run(3);
  auto safe = c.Command(follower, "w:safe", 100 * kTick);
  auto unsafe = c.Command(follower, "x:unsafe", 100 * kTick);
  c.node(follower).Poll();  // both proxied...
  c.Isolate(follower);
  c.Tick();  // ...and lost
  c.Heal();
  c.RunUntil(safe, 200);
  c.RunUntil(unsafe, 200);
  ASSERT_TRUE(safe->response && unsafe->response);
  EXPECT_EQ(safe->response->code(), nodepb::CODE_OK) << "resent after one election timeout";
  EXPECT_EQ(unsafe->response->code(), nodepb::CODE_DEADLINE_EXCEEDED) << "must not be resent";
  EXPECT_EQ(c.app(leader).values, std::vector<std::string>{"safe"});
}

TEST(NodeTest, LeadershipTransferIsAnsweredOnceTheTargetLeads) {
  NodeCluster c;
  const NodeId leader = c.SettledLeader();
  ASSERT_NE(leader, kNoNode);
  const NodeId target = OtherThan(leader);
  nodepb::Request request;
  request.mutable_transfer_leader()->set_target(target);
  auto transfer = c.Send(OtherThan(leader, target), request);  // via the third node: proxied
  c.RunUntil(transfer, 300);
  ASSERT_TRUE(transfer->response);
  EXPECT_EQ(transfer->response->code(), nodepb::CODE_OK) << transfer->response->error();
  EXPECT_EQ(c.node(target).replica().raft().role(), Role::kLeader);
}

// An id the node's configuration does not know is heard (a leader added while this node
// lagged, node_membership_test); an envelope claiming the node's own id is not.
TEST(NodeTest, EnvelopesOfAnotherClusterOrFromItselfAreDroppedAndCounted) {
  NodeCluster c;
  nodepb::Envelope envelope;
  envelope.set_cluster_id(kCluster + 1);
  envelope.set_from(2);
  envelope.set_to(1);
  envelope.mutable_raft()->set_type(raftpb::MSG_HEARTBEAT);
  envelope.mutable_raft()->set_from(2);
  envelope.mutable_raft()->set_to(1);
  envelope.mutable_raft()->set_term(100);
  c.node(1).OnEnvelope(FromProto(envelope));
  envelope.set_cluster_id(kCluster);
  envelope.set_from(1);
  c.node(1).OnEnvelope(FromProto(envelope));
  envelope.set_from(2);
  envelope.mutable_raft()->set_from(3);  // inconsistent with the envelope
  c.node(1).OnEnvelope(FromProto(envelope));
  c.node(1).Poll();
  EXPECT_EQ(c.node(1).counters().dropped_wrong_cluster, 1u);
  EXPECT_EQ(c.node(1).counters().dropped_unknown_peer, 1u);
  EXPECT_EQ(c.node(1).counters().dropped_invalid, 1u);
  EXPECT_EQ(c.node(1).replica().raft().term(), 0u);
}

TEST(NodeTest, InvalidCommandsAndWrongClusterRequestsAreRefusedWithTheirCodes) {
  NodeCluster c;
  const NodeId leader = c.RunUntilLeader();
  ASSERT_NE(leader, kNoNode);
  auto invalid = c.Command(OtherThan(leader), "bogus");
  nodepb::Request wrong;
  wrong.set_command("w:a");
  wrong.set_cluster_id(kCluster + 1);
  auto other = c.Send(leader, wrong);
  auto empty = c.Send(leader, nodepb::Request{});
  c.Tick();
  ASSERT_TRUE(invalid->response && other->response && empty->response);
  EXPECT_EQ(invalid->response->code(), nodepb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(other->response->code(), nodepb::CODE_WRONG_CLUSTER);
  EXPECT_EQ(empty->response->code(), nodepb::CODE_INVALID_ARGUMENT);
  EXPECT_TRUE(c.app(leader).values.empty());
}

TEST(NodeTest, ADuplicatedProxiedRequestIsProposedOnce) {
  NodeCluster c;
  const NodeId leader = c.SettledLeader();
  ASSERT_NE(leader, kNoNode);
  const NodeId follower = OtherThan(leader);
  auto write = c.Command(follower, "x:once");  // not safe to repeat
  c.node(follower).Poll();
  std::vector<nodepb::Envelope> copies;
  for (const nodepb::Envelope& envelope : c.in_flight()) {
    if (envelope.has_proxy_request()) copies.push_back(envelope);
  }
  ASSERT_EQ(copies.size(), 1u);
  c.in_flight().push_back(copies[0]);  // the network duplicates it
  c.RunUntil(write);
  ASSERT_TRUE(write->response);
  EXPECT_EQ(write->response->code(), nodepb::CODE_OK);
  c.Run(5);
  EXPECT_EQ(c.app(leader).values, std::vector<std::string>{"once"});
  EXPECT_EQ(c.node(leader).counters().proxied_in_duplicates, 1u);
}

TEST(NodeTest, AnAnswerFromTheWrongNodeOrWithoutACodeIsIgnored) {
  NodeCluster c;
  const NodeId leader = c.SettledLeader();
  ASSERT_NE(leader, kNoNode);
  const NodeId follower = OtherThan(leader);
  const NodeId third = OtherThan(leader, follower);
  auto write = c.Command(follower, "w:real");
  c.node(follower).Poll();
  uint64_t proxy_id = 0;
  for (const nodepb::Envelope& envelope : c.in_flight()) {
    if (envelope.has_proxy_request()) proxy_id = envelope.proxy_request().proxy_id();
  }
  ASSERT_NE(proxy_id, 0u);
  nodepb::Envelope forged;
  forged.set_cluster_id(kCluster);
  forged.set_to(follower);
  forged.mutable_proxy_response()->set_proxy_id(proxy_id);
  forged.set_from(leader);  // right node, but no code (an old or broken peer)
  c.node(follower).OnEnvelope(FromProto(forged));
  forged.set_from(third);   // a valid-looking answer from a node the attempt never went to
  forged.mutable_proxy_response()->mutable_response()->set_code(nodepb::CODE_OK);
  forged.mutable_proxy_response()->mutable_response()->set_result("forged");
  c.node(follower).OnEnvelope(FromProto(forged));
  c.RunUntil(write);
  ASSERT_TRUE(write->response);
  EXPECT_EQ(write->response->code(), nodepb::CODE_OK);
  EXPECT_EQ(write->response->result(), "n=1");
  EXPECT_EQ(c.node(follower).counters().bad_proxy_responses, 2u);
}

TEST(NodeTest, AWriteSentToALeaderIsNeverLaterReportedUnavailable) {
  NodeCluster c;
  const NodeId leader = c.SettledLeader();
  ASSERT_NE(leader, kNoNode);
  const NodeId follower = OtherThan(leader);
  auto write = c.Command(follower, "w:applied", 100 * kTick);
  c.node(follower).Poll();
  std::set<uint64_t> attempts;
  auto note_attempts = [&] {
    for (const nodepb::Envelope& envelope : c.in_flight()) {
      if (envelope.from() == follower && envelope.has_proxy_request()) attempts.insert(envelope.proxy_request().proxy_id());
    }
  };
  note_attempts();
  c.Tick();                // the leader gets it and commits it with the third node...
  c.Isolate(follower);     // ...but its answer never comes back
  for (int i = 0; i < 40; ++i) {
    note_attempts();
    c.Tick();
  }
  ASSERT_FALSE(attempts.empty());
  ASSERT_EQ(c.app(leader).values, std::vector<std::string>{"applied"});
  ASSERT_EQ(c.node(follower).replica().raft().leader(), kNoNode);
  // Every attempt the follower made is now answered "not applied" (as a refused duplicate or
  // a later copy could be). The first one WAS applied: the call must not end UNAVAILABLE.
  nodepb::Envelope refusal;
  refusal.set_cluster_id(kCluster);
  refusal.set_from(leader);
  refusal.set_to(follower);
  refusal.mutable_proxy_response()->mutable_response()->set_code(nodepb::CODE_UNAVAILABLE);
  for (uint64_t id : attempts) {
    refusal.mutable_proxy_response()->set_proxy_id(id);
    c.node(follower).OnEnvelope(FromProto(refusal));
  }
  c.RunUntil(write, 200);
  ASSERT_TRUE(write->response);
  EXPECT_EQ(write->response->code(), nodepb::CODE_DEADLINE_EXCEEDED) << write->response->error();
}

// --- a full disk (issue #12) ---

std::shared_ptr<Answer> StatusOf(NodeCluster& c, NodeId id) {
  nodepb::Request request;
  request.mutable_status();
  return c.Send(id, std::move(request));
}

TEST(NodeTest, AFollowerWithAFullDiskRefusesRequestsUnavailableAndCatchesUpWhenSpaceReturns) {
  NodeCluster c;
  const NodeId leader = c.SettledLeader();
  ASSERT_NE(leader, kNoNode);
  const NodeId full = OtherThan(leader);
  c.fs(full).faults().capacity_bytes = 0;
  for (int i = 0; i < 5; ++i) {
    auto write = c.Command(leader, absl::StrCat("w:", i));
    c.RunUntil(write);
    ASSERT_TRUE(write->response);
    EXPECT_EQ(write->response->code(), nodepb::CODE_OK) << "the other two must keep committing";
  }
  ASSERT_FALSE(c.node(full).storage_stalled().ok());
  EXPECT_TRUE(c.node(full).failed().ok());
  for (const char* command : {"w:x", "r:"}) {
    auto refused = c.Command(full, command);
    c.RunUntil(refused, 5);
    ASSERT_TRUE(refused->response) << command << " was not refused at once";
    EXPECT_EQ(refused->response->code(), nodepb::CODE_UNAVAILABLE) << command;
    EXPECT_TRUE(absl::StrContains(refused->response->error(), "disk full")) << refused->response->error();
  }
  EXPECT_EQ(c.node(full).counters().refused_storage_stalled, 2u);
  auto status = StatusOf(c, full);
  c.RunUntil(status, 5);
  ASSERT_TRUE(status->response);
  EXPECT_TRUE(absl::StrContains(status->response->status().storage_stalled(), "disk full"));
  EXPECT_TRUE(status->response->status().failure().empty());
  EXPECT_NE(c.app(full).values, c.app(leader).values);

  c.fs(full).faults().capacity_bytes = UINT64_MAX;
  c.Run(50);
  EXPECT_TRUE(c.node(full).storage_stalled().ok()) << c.node(full).storage_stalled();
  EXPECT_EQ(c.node(full).replica().raft().log().committed(), c.node(leader).replica().raft().log().committed());
  EXPECT_EQ(c.app(full).values, c.app(leader).values);
  auto write = c.Command(full, "w:after");
  c.RunUntil(write);
  ASSERT_TRUE(write->response);
  EXPECT_EQ(write->response->code(), nodepb::CODE_OK);
  status = StatusOf(c, full);
  c.RunUntil(status, 5);
  EXPECT_TRUE(status->response->status().storage_stalled().empty());
}

TEST(NodeTest, ALeaderWithAFullDiskLosesLeadershipToAHealthyNodeAndLosesNoAcknowledgedWrite) {
  NodeCluster c;
  const NodeId old_leader = c.SettledLeader();
  ASSERT_NE(old_leader, kNoNode);
  std::vector<std::string> acknowledged;
  std::vector<std::shared_ptr<Answer>> writes;
  for (int i = 0; i < 3; ++i) writes.push_back(c.Command(old_leader, absl::StrCat("w:a", i)));
  for (auto& write : writes) c.RunUntil(write);
  c.fs(old_leader).faults().capacity_bytes = 0;
  writes.push_back(c.Command(old_leader, "w:in-flight"));  // proposed as the disk fills
  c.Run(2);
  ASSERT_FALSE(c.node(old_leader).storage_stalled().ok());
  NodeId new_leader = kNoNode;
  for (int i = 0; i < 300 && new_leader == kNoNode; ++i) {
    c.Tick();
    for (NodeId id : {OtherThan(old_leader), OtherThan(old_leader, OtherThan(old_leader))}) {
      if (c.node(id).replica().raft().role() == Role::kLeader) new_leader = id;
    }
  }
  ASSERT_NE(new_leader, kNoNode) << "no healthy node took over";
  for (int i = 0; i < 3; ++i) writes.push_back(c.Command(new_leader, absl::StrCat("w:b", i)));
  auto refused = c.Command(old_leader, "w:refused");
  c.RunUntil(refused, 5);
  ASSERT_TRUE(refused->response);
  EXPECT_EQ(refused->response->code(), nodepb::CODE_UNAVAILABLE);
  c.Run(20);
  c.fs(old_leader).faults().capacity_bytes = UINT64_MAX;
  for (auto& write : writes) c.RunUntil(write);
  c.Run(50);
  EXPECT_TRUE(c.node(old_leader).storage_stalled().ok());
  EXPECT_NE(c.node(old_leader).replica().raft().role(), Role::kLeader);
  for (const auto& write : writes) {
    ASSERT_TRUE(write->response);
    EXPECT_EQ(write->count, 1);
  }
  for (NodeId id = 1; id <= 3; ++id) EXPECT_EQ(c.app(id).values, c.app(new_leader).values) << "node " << id;
  for (size_t i = 0; i < writes.size(); ++i) {
    if (writes[i]->response->code() != nodepb::CODE_OK) continue;
    const std::string value = i < 3 ? absl::StrCat("a", i) : i == 3 ? "in-flight" : absl::StrCat("b", i - 4);
    EXPECT_EQ(std::count(c.app(new_leader).values.begin(), c.app(new_leader).values.end(), value), 1)
        << "acknowledged write " << value << " lost or applied twice";
  }
  EXPECT_EQ(refused->response->code(), nodepb::CODE_UNAVAILABLE);
  EXPECT_EQ(std::count(c.app(new_leader).values.begin(), c.app(new_leader).values.end(), "refused"), 0);
}

}  // namespace
}  // namespace keel
