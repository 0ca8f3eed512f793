// A checker that cannot fail proves nothing: with each planted bug switched on, random
// schedules must hit an invariant violation within a bounded number of seeds. Also checks the
// converse: the same seeds pass with no bug planted.
#include <cstdio>

#include "engine/planted_bugs.h"
#include "gtest/gtest.h"
#include "tests/harness/random_schedule.h"

namespace keel::testing {
namespace {

constexpr int kMaxSeeds = 400;
constexpr size_t kActions = 1000;

ClusterOptions OptionsForSeed(uint64_t seed, uint32_t bugs) {
  ClusterOptions options;
  options.nodes = seed % 2 == 0 ? 3 : 5;
  if ((bugs & (kBugJointSingleQuorum | kBugRemovedLeaderStays)) != 0) {
    // Membership bugs need membership changes: 3 voters and 2 spares.
    options.nodes = 5;
    options.initial_voters = 3;
    options.membership_changes = true;
  }
  options.election_tick = 5;
  options.seed = seed;
  options.max_inflight_msgs = 4;
  options.max_msg_bytes = 64;
  options.planted_bugs = bugs;
  return options;
}

// Returns the first seed in [1, kMaxSeeds] whose schedule fails, or 0.
uint64_t FirstFailingSeed(uint32_t bugs, std::string* failure) {
  for (uint64_t seed = 1; seed <= kMaxSeeds; ++seed) {
    Prng prng(seed);
    Cluster cluster(OptionsForSeed(seed, bugs));
    const absl::Status status = RunSchedule(cluster, RandomActions(prng, kActions));
    if (!status.ok()) {
      *failure = status.ToString();
      return seed;
    }
  }
  return 0;
}

class PlantedBugTest : public ::testing::TestWithParam<PlantedBugInfo> {};

TEST_P(PlantedBugTest, IsCaughtBySomeSeed) {
  std::string failure;
  const uint64_t seed = FirstFailingSeed(GetParam().bug, &failure);
  ASSERT_NE(seed, 0u) << "planted bug '" << GetParam().name << "' survived " << kMaxSeeds << " seeds";
  std::printf("planted bug %s caught at seed %llu: %s\n", std::string(GetParam().name).c_str(),
              static_cast<unsigned long long>(seed), failure.substr(0, 200).c_str());
}

std::string BugTestName(const ::testing::TestParamInfo<PlantedBugInfo>& info) {
  std::string name(info.param.name);
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(MembershipBugs, PlantedBugTest,
                         ::testing::ValuesIn(PlantedBugsIn(BugLayer::kMembership)),
                         BugTestName);
INSTANTIATE_TEST_SUITE_P(EngineBugs, PlantedBugTest, ::testing::ValuesIn(PlantedBugsIn(BugLayer::kEngine)),
                         BugTestName);

// The schedules must exercise the cluster, not idle: most seeds elect leaders and commit
// entries during the faulty phase (before the liveness check heals everything).
TEST(PlantedBugControl, SchedulesElectAndCommit) {
  int seeds_with_commits = 0;
  uint64_t total_committed = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    Prng prng(seed);
    Cluster cluster(OptionsForSeed(seed, 0));
    uint64_t proposals = 0;
    for (const Action& action : RandomActions(prng, kActions)) ApplyAction(cluster, action, &proposals);
    ASSERT_TRUE(cluster.violation().ok()) << cluster.violation();
    Index max_commit = 0;
    for (NodeId id : cluster.ids()) {
      if (cluster.IsUp(id)) max_commit = std::max(max_commit, cluster.raft(id).log().committed());
    }
    total_committed += max_commit;
    if (max_commit > 1) ++seeds_with_commits;
  }
  std::printf("40 seeds: %d committed entries beyond the first no-op, %llu committed in all\n",
              seeds_with_commits, static_cast<unsigned long long>(total_committed));
  EXPECT_GE(seeds_with_commits, 30);
}

TEST(PlantedBugControl, SameSeedsPassWithoutBugs) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    Prng prng(seed);
    Cluster cluster(OptionsForSeed(seed, 0));
    const absl::Status status = RunSchedule(cluster, RandomActions(prng, kActions));
    ASSERT_TRUE(status.ok()) << "seed " << seed << ": " << status;
  }
}

}  // namespace
}  // namespace keel::testing
