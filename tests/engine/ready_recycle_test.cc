// Raft::Recycle: a Ready handed back after Advance lends its vectors' memory to the next Readys.
// Shown here: what a recycled Ready held never shows up again (each Ready of 40 rounds of
// propose, persist, ack, commit holds exactly that round's entries and messages), and the
// memory is reused (after a batch of 16, one-entry Readys still have room for 16).
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace keel {
namespace {

using keel::testing::BecomeLeaderByVotes;
using keel::testing::MakeMessage;
using keel::testing::NodeOptions;
using keel::testing::TestNode;

// Persists `ready` as the application must, advances, and recycles it.
void CarryOut(TestNode& node, Ready ready) {
  node.storage().Append(ready.entries);
  if (ready.hard_state) node.storage().SetHardState(*ready.hard_state);
  node->Advance(ready);
  node->Recycle(std::move(ready));
}

TEST(ReadyRecycleTest, ARecycledReadyLendsItsMemoryAndNothingElse) {
  TestNode node(1, NodeOptions{});
  BecomeLeaderByVotes(node);
  node.Drain();
  const Term term = node->term();
  // Both followers ack the leader's empty entry: they leave probing, so that every proposal
  // goes out to both at once.
  auto ack_from = [&](NodeId from, Index index) {
    raftpb::Message ack = MakeMessage(raftpb::MSG_APPEND_RESP, from, 1, term);
    ack.set_index(index);
    ASSERT_TRUE(node->Step(ack).ok());
  };
  ack_from(2, node->log().LastIndex());
  ack_from(3, node->log().LastIndex());
  node.Drain();
  // A first batch of 16 proposals: one Ready with 16 entries, then one with 16 committed. Once
  // recycled, their vectors' room for 16 is what every later Ready starts from (a fresh vector
  // for one entry would hold room for one).
  constexpr size_t kBatch = 16;
  for (size_t i = 0; i < kBatch; ++i) ASSERT_TRUE(node->Propose(absl::StrCat("b", i)).ok());
  Ready batch = node->GetReady();
  ASSERT_EQ(batch.entries.size(), kBatch);
  CarryOut(node, std::move(batch));
  ack_from(2, node->log().LastIndex());
  ack_from(3, node->log().LastIndex());
  Ready batch_committed = node->GetReady();
  ASSERT_EQ(batch_committed.committed_entries.size(), kBatch);
  CarryOut(node, std::move(batch_committed));
  for (int round = 0; round < 40; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    const std::string data = absl::StrCat("p", round);
    ASSERT_TRUE(node->Propose(data).ok());
    const Index index = node->log().LastIndex();

    // The proposal's Ready: its one entry, and one append per follower carrying it.
    Ready proposed = node->GetReady();
    ASSERT_EQ(proposed.entries.size(), 1u);
    EXPECT_EQ(proposed.entries[0].index(), index);
    EXPECT_EQ(proposed.entries[0].data(), data);
    ASSERT_EQ(proposed.messages.size(), 2u);
    for (const Message& append : proposed.messages) {
      EXPECT_EQ(append.header.type(), raftpb::MSG_APPEND);
      ASSERT_FALSE(append.entries.empty());
      EXPECT_EQ(append.entries.back().index(), index);
      EXPECT_EQ(append.entries.back().data(), data);
    }
    EXPECT_TRUE(proposed.committed_entries.empty());
    EXPECT_GE(proposed.entries.capacity(), kBatch);  // the batch's recycled vector
    EXPECT_TRUE(proposed.messages_after_persist.empty());
    CarryOut(node, std::move(proposed));

    // The followers ack: the entry commits.
    ack_from(2, index);
    ack_from(3, index);
    Ready committed = node->GetReady();
    EXPECT_TRUE(committed.entries.empty());
    ASSERT_FALSE(committed.committed_entries.empty());
    EXPECT_EQ(committed.committed_entries.back().index(), index);
    EXPECT_EQ(committed.committed_entries.back().data(), data);
    EXPECT_EQ(committed.committed_entries.size(), 1u);  // only this round's
    EXPECT_GE(committed.committed_entries.capacity(), kBatch);
    CarryOut(node, std::move(committed));
  }
}

TEST(ReadyRecycleTest, ReadysWithoutRecycleStillWork) {
  // Recycle is optional: TestNode::Process never calls it.
  TestNode node(1, NodeOptions{});
  BecomeLeaderByVotes(node);
  node.Drain();
  for (int round = 0; round < 5; ++round) {
    ASSERT_TRUE(node->Propose(absl::StrCat("q", round)).ok());
    const Ready ready = node.Process();
    ASSERT_EQ(ready.entries.size(), 1u);
    EXPECT_EQ(ready.entries[0].data(), absl::StrCat("q", round));
  }
}

}  // namespace
}  // namespace keel
