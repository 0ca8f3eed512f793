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

}  // namespace
}  // namespace keel
