// Raft::Step's contract for bad input from peers: malformed messages (addressed elsewhere, from
// a non-member, term 0, inconsistent entries, a snapshot chunk outside its snapshot, ...) are
// rejected with kInvalidArgument and change nothing: no state, no timer, no output.
#include <functional>

#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace keel::testing {
namespace {

struct Case {
  std::string name;
  raftpb::Message message;
};

// A follower of leader 2 in term 2 with log 1/1 2/1 3/2, commit 1, three ticks into its
// election timeout.
std::unique_ptr<TestNode> MakeFollower() {
  NodeOptions options;
  options.entries = EntriesWithTerms({1, 1, 2});
  options.term = 2;
  options.commit = 1;
  auto node = std::make_unique<TestNode>(1, options);
  EXPECT_TRUE(node->Step(MakeAppend(2, 1, 2, 3, 2, 1, {})).ok());
  node->Drain();
  for (int i = 0; i < 3; ++i) (*node)->Tick();
  node->Drain();
  return node;
}

struct Snapshot {
  std::string status;
  int election_elapsed;
  raftpb::HardState hard_state;
  Index storage_last;
};

Snapshot Capture(TestNode& node) {
  return Snapshot{node->Status().ToString(), node->election_elapsed(),
                  node.storage().InitialHardState(), node.storage().LastIndex()};
}

void ExpectRejectedWithoutEffect(TestNode& node, const raftpb::Message& message) {
  ASSERT_FALSE(node->HasReady());
  const Snapshot before = Capture(node);
  const absl::Status status = node.Step(message);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  const Snapshot after = Capture(node);
  EXPECT_EQ(after.status, before.status);
  EXPECT_EQ(after.election_elapsed, before.election_elapsed) << "a rejected message is not a sign of life";
  EXPECT_FALSE(node->HasReady()) << "a rejected message produces no output";
}

void RunCases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::unique_ptr<TestNode> node = MakeFollower();
    ExpectRejectedWithoutEffect(*node, c.message);
  }
}

raftpb::Message ValidAppend() { return MakeAppend(2, 1, 2, 3, 2, 1, {MakeEntry(4, 2, "x")}); }

Case Mutated(std::string name, const std::function<void(raftpb::Message&)>& mutate,
             raftpb::Message base = ValidAppend()) {
  mutate(base);
  return Case{std::move(name), std::move(base)};
}

TEST(InputValidationTest, BaselineValidAppendIsAccepted) {
  // The mutations below start from this message; it must itself be fine.
  std::unique_ptr<TestNode> node = MakeFollower();
  EXPECT_TRUE(node->Step(ValidAppend()).ok());
  EXPECT_EQ((*node)->log().LastIndex(), 4u);
}

TEST(InputValidationTest, MisaddressedOrForeignSenderRejected) {
  RunCases({
      Mutated("addressed to another node", [](raftpb::Message& m) { m.set_to(3); }),
      Mutated("addressed to nobody", [](raftpb::Message& m) { m.set_to(0); }),
      Mutated("from ourselves", [](raftpb::Message& m) { m.set_from(1); }),
      Mutated("from nobody", [](raftpb::Message& m) { m.set_from(0); }),
  });
}

TEST(InputValidationTest, SenderOutsideTheConfigurationIsHeard) {
  // A leader added by a config entry this follower has not received yet must be able to bring
  // it up to date (dissertation §4.1); only removed ids are refused (membership_test).
  std::unique_ptr<TestNode> node = MakeFollower();
  raftpb::Message append = ValidAppend();
  append.set_from(9);
  append.set_term(3);
  EXPECT_TRUE(node->Step(append).ok());
  EXPECT_EQ((*node)->leader(), 9u);
  EXPECT_EQ((*node)->term(), 3u);
}

TEST(InputValidationTest, MalformedHeaderRejected) {
  RunCases({
      Mutated("term 0", [](raftpb::Message& m) { m.set_term(0); }),
      Mutated("unknown type", [](raftpb::Message& m) { m.set_type(raftpb::MSG_UNKNOWN); }),
      Mutated("out-of-range type", [](raftpb::Message& m) { m.set_type(static_cast<raftpb::MessageType>(99)); }),
  });
}

TEST(InputValidationTest, InconsistentAppendRejected) {
  RunCases({
      Mutated("prev log term above message term", [](raftpb::Message& m) { m.set_log_term(3); }),
      Mutated("prev index 0 with a term", [](raftpb::Message& m) {
        m.set_index(0);
        m.set_log_term(1);
        m.mutable_entries(0)->set_index(1);
      }),
      Mutated("prev index without a term", [](raftpb::Message& m) { m.set_log_term(0); }),
      Mutated("entries not contiguous", [](raftpb::Message& m) { *m.add_entries() = ToProto(MakeEntry(6, 2)); }),
      Mutated("first entry does not follow prev", [](raftpb::Message& m) { m.mutable_entries(0)->set_index(5); }),
      Mutated("entry term above message term", [](raftpb::Message& m) { m.mutable_entries(0)->set_term(3); }),
      Mutated("entry term below prev term", [](raftpb::Message& m) { m.mutable_entries(0)->set_term(1); }),
      Mutated("entry terms decreasing", [](raftpb::Message& m) {
        m.set_term(3);
        m.mutable_entries(0)->set_term(3);
        *m.add_entries() = ToProto(MakeEntry(5, 2));
      }),
      Mutated("unknown entry type", [](raftpb::Message& m) {
        m.mutable_entries(0)->set_type(static_cast<raftpb::EntryType>(7));
      }),
      Mutated("index overflow", [](raftpb::Message& m) {
        m.set_index(UINT64_MAX);
        m.mutable_entries(0)->set_index(0);
      }),
  });
}

TEST(InputValidationTest, InconsistentVoteRequestsAndResponsesRejected) {
  RunCases({
      Case{"vote: last log term above term", MakeVote(raftpb::MSG_VOTE, 3, 1, 3, 5, 4)},
      Case{"vote: last index without term", MakeVote(raftpb::MSG_VOTE, 3, 1, 3, 5, 0)},
      Case{"pre-vote: last term without index", MakeVote(raftpb::MSG_PRE_VOTE, 3, 1, 3, 0, 2)},
      Mutated("append reject hint above the rejected index",
              [](raftpb::Message& m) {
                m.set_reject(true);
                m.set_index(2);
                m.set_reject_hint(3);
              },
              MakeMessage(raftpb::MSG_APPEND_RESP, 2, 1, 2)),
  });
}

TEST(InputValidationTest, MalformedSnapshotChunkRejected) {
  const std::string data = "0123456789";
  const raftpb::SnapshotMeta meta = MakeSnapshotMeta(6, 2, {1, 2, 3}, data);
  const raftpb::Message valid = MakeSnapshotChunk(2, 1, 2, meta, 0, "01234");
  {
    std::unique_ptr<TestNode> node = MakeFollower();
    ASSERT_TRUE(node->Step(valid).ok()) << "the baseline chunk is valid";
  }
  RunCases({
      Mutated("snapshot index 0", [](raftpb::Message& m) { m.mutable_snapshot()->set_index(0); }, valid),
      Mutated("snapshot term 0", [](raftpb::Message& m) { m.mutable_snapshot()->set_term(0); }, valid),
      Mutated("snapshot term above message term", [](raftpb::Message& m) { m.mutable_snapshot()->set_term(3); }, valid),
      Mutated("chunk past the snapshot size",
              [](raftpb::Message& m) {
                m.set_snapshot_offset(8);
                m.set_snapshot_data("89ab");
                m.set_snapshot_done(true);
              },
              valid),
      Mutated("offset past the snapshot size",
              [](raftpb::Message& m) {
                m.set_snapshot_offset(11);
                m.set_snapshot_data("");
              },
              valid),
      Mutated("done flag before the end", [](raftpb::Message& m) { m.set_snapshot_done(true); }, valid),
      Mutated("last chunk without done flag",
              [](raftpb::Message& m) {
                m.set_snapshot_offset(5);
                m.set_snapshot_data("56789");
                m.set_snapshot_done(false);
              },
              valid),
      Mutated("empty membership", [](raftpb::Message& m) { m.mutable_snapshot()->clear_conf_state(); }, valid),
      Mutated("unsorted membership",
              [](raftpb::Message& m) {
                auto* voters = m.mutable_snapshot()->mutable_conf_state()->mutable_voters();
                voters->Clear();
                for (uint64_t v : {2, 1, 3}) voters->Add(v);
              },
              valid),
      Mutated("duplicate member",
              [](raftpb::Message& m) {
                auto* voters = m.mutable_snapshot()->mutable_conf_state()->mutable_voters();
                voters->Clear();
                for (uint64_t v : {1, 1, 3}) voters->Add(v);
              },
              valid),
      // Only an append carries entries; anything else with some is malformed, not ignored.
      Mutated("entries outside an append",
              [](raftpb::Message& m) { *m.add_entries() = ToProto(MakeEntry(7, 2, "x")); }, valid),
  });
}

// An invalid chunk must not disturb a transfer in progress either.
TEST(InputValidationTest, InvalidChunkDoesNotDisturbReassembly) {
  std::unique_ptr<TestNode> node = MakeFollower();
  const std::string data = "0123456789";
  const raftpb::SnapshotMeta meta = MakeSnapshotMeta(6, 2, {1, 2, 3}, data);
  ASSERT_TRUE(node->Step(MakeSnapshotChunk(2, 1, 2, meta, 0, "01234")).ok());
  node->Drain();
  raftpb::Message bad = MakeSnapshotChunk(2, 1, 2, meta, 5, "56789");
  bad.set_snapshot_data("56789XYZ");  // runs past the declared size
  bad.set_snapshot_done(true);
  ExpectRejectedWithoutEffect(*node, bad);
  ASSERT_TRUE(node->Step(MakeSnapshotChunk(2, 1, 2, meta, 5, "56789")).ok());
  node->Drain();
  EXPECT_EQ(node->storage().SnapshotMetadata().index(), 6u);
  EXPECT_EQ(node->storage().snapshot_data(), data);
}

// The leader side: an acknowledgement of an index the leader never had is rejected, and must
// not count as a sign of life of that follower (CheckQuorum) or move its progress.
TEST(InputValidationTest, LeaderRejectsAckBeyondItsLogWithoutStateChange) {
  TestNode node(1, NodeOptions{});
  BecomeLeaderByVotes(node);
  raftpb::Message ack = MakeMessage(raftpb::MSG_APPEND_RESP, 2, 1, 1);
  ack.set_index(100);
  ExpectRejectedWithoutEffect(node, ack);
}

}  // namespace
}  // namespace keel::testing
