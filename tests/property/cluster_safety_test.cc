// RapidCheck: random message schedules (ticks, deliveries in any order, drops, duplicates,
// partitions, crashes including crashes between sending and persisting, restarts, snapshots)
// on 3- and 5-node clusters never violate Election Safety, Log Matching, Leader Completeness
// or State Machine Safety (checked after every step by the harness), and once the faults stop
// the cluster elects a leader and commits a fresh entry on every node.
#include "gtest/gtest.h"
// clang-format off: rapidcheck's gtest glue needs gtest first.
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
// clang-format on
#include "tests/harness/random_schedule.h"

namespace rc {
template <>
struct Arbitrary<keel::testing::Action> {
  static Gen<keel::testing::Action> arbitrary() {
    return gen::build<keel::testing::Action>(
        gen::set(&keel::testing::Action::kind, gen::inRange<uint32_t>(0, 1000)),
        gen::set(&keel::testing::Action::node, gen::inRange<uint32_t>(0, 64)),
        gen::set(&keel::testing::Action::arg, gen::inRange<uint32_t>(0, 1 << 16)));
  }
};
}  // namespace rc

namespace keel::testing {
namespace {

void CheckRandomSchedule(int nodes, bool pre_vote, bool check_quorum, int initial_voters = 0) {
  // Up to ~1,500 actions: long enough for several elections with election_tick = 3.
  const auto actions = *rc::gen::scale(15.0, rc::gen::arbitrary<std::vector<Action>>());
  const auto seed = *rc::gen::inRange<uint64_t>(1, 1000000);
  ClusterOptions options;
  options.nodes = nodes;
  options.election_tick = 5;
  options.heartbeat_tick = 1;
  options.pre_vote = pre_vote;
  options.check_quorum = check_quorum;
  options.seed = seed;
  options.max_inflight_msgs = 4;
  options.max_msg_bytes = 64;
  options.max_snapshot_chunk_bytes = 16;
  options.initial_voters = initial_voters;
  options.membership_changes = initial_voters > 0;
  Cluster cluster(options);
  const absl::Status status = RunSchedule(cluster, actions);
  if (!status.ok()) RC_FAIL(status.ToString());
  RC_TAG(cluster.Leader() != kNoNode);
}

RC_GTEST_PROP(ClusterSafety, ThreeNodesPreVoteCheckQuorum, ()) { CheckRandomSchedule(3, true, true); }
RC_GTEST_PROP(ClusterSafety, FiveNodesPreVoteCheckQuorum, ()) { CheckRandomSchedule(5, true, true); }
RC_GTEST_PROP(ClusterSafety, ThreeNodesPlainRaft, ()) { CheckRandomSchedule(3, false, false); }
RC_GTEST_PROP(ClusterSafety, FiveNodesPreVoteOnly, ()) { CheckRandomSchedule(5, true, false); }
// Membership changes (single-server, joint, learners, removals, a removed leader) among 3-7
// nodes: two spares beyond the initial voters to add.
RC_GTEST_PROP(ClusterSafety, MembershipChangesThreeVotersOfFive, ()) { CheckRandomSchedule(5, true, true, 3); }
RC_GTEST_PROP(ClusterSafety, MembershipChangesFiveVotersOfSeven, ()) { CheckRandomSchedule(7, true, true, 5); }
RC_GTEST_PROP(ClusterSafety, MembershipChangesPlainRaftThreeOfFive, ()) { CheckRandomSchedule(5, false, false, 3); }

}  // namespace
}  // namespace keel::testing
