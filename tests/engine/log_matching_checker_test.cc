// The cluster checker's Log Matching check (sim/invariants.h) on logs built to violate it:
// two nodes that agree on the term at an index but differ below it. Shown to catch the
// violation near the end of the logs (every step's check), further back (the thorough check
// only), and to accept logs that merely diverge at their ends.
#include <vector>

#include "gtest/gtest.h"
#include "sim/invariants.h"
#include "tests/engine/test_util.h"

namespace keel {
namespace {

using keel::testing::NodeOptions;
using keel::testing::TestNode;

// A log of `length` entries of term 1, with the entries from `bump` on in term 2 (0: none)
// and the entries from `bump2` on in term 3 (0: none).
std::vector<Entry> Log(Index length, Index bump, Index bump2 = 0) {
  std::vector<Entry> entries;
  for (Index i = 1; i <= length; ++i) {
    Entry entry;
    entry.set_index(i);
    entry.set_term(bump2 != 0 && i >= bump2 ? 3 : bump != 0 && i >= bump ? 2 : 1);
    entry.set_data("x");
    entries.push_back(entry);
  }
  return entries;
}

TestNode Node(NodeId id, std::vector<Entry> entries) {
  NodeOptions options;
  options.entries = std::move(entries);
  options.term = 3;
  return TestNode(id, options);
}

TEST(LogMatchingCheckerTest, LogsThatAgreeAtTheEndButDifferBelowAreCaught) {
  // Node 2 moved to term 2 one entry earlier than node 1: both say term 2 at index 300.
  TestNode a = Node(1, Log(300, 281));
  TestNode b = Node(2, Log(300, 280));
  ClusterSafetyChecker checker;
  const absl::Status status = checker.Observe({&a.raft(), &b.raft()});
  EXPECT_NE(status.message().find("Log Matching violated"), std::string::npos) << status;
  EXPECT_NE(status.message().find("differ at index 280"), std::string::npos) << status;
}

TEST(LogMatchingCheckerTest, ADifferenceFurtherBackIsCaughtByTheThoroughCheck) {
  TestNode a = Node(1, Log(300, 101));
  TestNode b = Node(2, Log(300, 100));
  EXPECT_TRUE(ClusterSafetyChecker().Observe({&a.raft(), &b.raft()}).ok());  // past the 64-entry window
  const absl::Status status = ClusterSafetyChecker().Observe({&a.raft(), &b.raft()}, /*thorough=*/true);
  EXPECT_NE(status.message().find("differ at index 100"), std::string::npos) << status;
}

TEST(LogMatchingCheckerTest, LogsOfDifferentLengthsAreComparedOverTheShorter) {
  // Node 3's log is 150 entries longer: the check reaches beyond its 128 most recent terms.
  TestNode a = Node(1, Log(200, 181));
  TestNode c = Node(3, Log(350, 180));
  const absl::Status status = ClusterSafetyChecker().Observe({&a.raft(), &c.raft()});
  EXPECT_NE(status.message().find("differ at index 180"), std::string::npos) << status;
}

TEST(LogMatchingCheckerTest, LogsThatOnlyDivergeAtTheirEndsPass) {
  TestNode a = Node(1, Log(300, 200, 290));  // term 3 from 290
  TestNode b = Node(2, Log(300, 200));       // still term 2 there: they agree up to 289
  TestNode c = Node(3, Log(250, 200));
  ClusterSafetyChecker checker;
  EXPECT_TRUE(checker.Observe({&a.raft(), &b.raft(), &c.raft()}).ok());
  EXPECT_TRUE(checker.Observe({&a.raft(), &b.raft(), &c.raft()}, /*thorough=*/true).ok());
}

// An append from a leader of term 3 with the entries after `prev` (of term 1): those up to
// `last_term1` in term 1, the rest up to `last` in term 2.
raftpb::Message AppendFromLeader(NodeId to, Index prev, Index last_term1, Index last) {
  raftpb::Message append;
  append.set_type(raftpb::MSG_APPEND);
  append.set_from(9);
  append.set_to(to);
  append.set_term(3);
  append.set_index(prev);
  append.set_log_term(1);
  for (Index i = prev + 1; i <= last; ++i) {
    raftpb::Entry* entry = append.add_entries();
    entry->set_index(i);
    entry->set_term(i <= last_term1 ? 1 : 2);
    entry->set_data("y");
  }
  return append;
}

TEST(LogMatchingCheckerTest, ADivergenceAppendedAfterTheFirstLookIsCaught) {
  // The checker keeps each node's recent terms from one look to the next and re-reads only
  // what changed: entries appended since must be compared all the same.
  TestNode a = Node(1, Log(200, 0));
  TestNode b = Node(2, Log(200, 0));
  ClusterSafetyChecker checker;
  ASSERT_TRUE(checker.Observe({&a.raft(), &b.raft()}).ok());
  ASSERT_TRUE(a.Step(AppendFromLeader(1, 200, 200, 220)).ok());  // 201..220 in term 2
  ASSERT_TRUE(b.Step(AppendFromLeader(2, 200, 205, 220)).ok());  // 201..205 in term 1
  const absl::Status status = checker.Observe({&a.raft(), &b.raft()});
  EXPECT_NE(status.message().find("differ at index 201"), std::string::npos) << status;
}

TEST(LogMatchingCheckerTest, ATruncatedSuffixIsReadAgain) {
  // Node 2 first holds what node 1 holds, then a leader replaces its suffix from 211: the
  // logs now only diverge at their ends (no violation), and the mirror of node 2 must hold the
  // new terms, or a later divergence below them would go unseen.
  TestNode a = Node(1, Log(200, 0));
  TestNode b = Node(2, Log(200, 0));
  ClusterSafetyChecker checker;
  ASSERT_TRUE(a.Step(AppendFromLeader(1, 200, 200, 220)).ok());
  ASSERT_TRUE(b.Step(AppendFromLeader(2, 200, 200, 220)).ok());
  ASSERT_TRUE(checker.Observe({&a.raft(), &b.raft()}).ok());
  raftpb::Message replace = AppendFromLeader(2, 210, 210, 215);
  replace.set_log_term(2);
  for (raftpb::Entry& entry : *replace.mutable_entries()) entry.set_term(3);
  ASSERT_TRUE(b.Step(replace).ok());
  ASSERT_EQ(b->log().LastIndex(), 215u);
  ASSERT_EQ(b->log().TermAt(211), 3u);
  EXPECT_TRUE(checker.Observe({&a.raft(), &b.raft()}).ok());
  // Node 1 now takes node 2's new entries but with a different term below them.
  raftpb::Message diverge = AppendFromLeader(1, 205, 205, 215);
  diverge.set_log_term(2);
  for (raftpb::Entry& entry : *diverge.mutable_entries()) entry.set_term(entry.index() <= 207 ? 2 : 3);
  ASSERT_TRUE(a.Step(diverge).ok());
  // Node 1: 201..207 in term 2, 208..215 in term 3; node 2: 201..210 in term 2, 211..215 in 3.
  const absl::Status status = checker.Observe({&a.raft(), &b.raft()});
  EXPECT_NE(status.message().find("differ at index 208"), std::string::npos) << status;
}

}  // namespace
}  // namespace keel
