// README "Load balancers": each policy against hand-computed expectations, backend changes,
// and consistent hashing's stability (only the affected share of keys moves).
#include "kvstate/load_balancer.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kvstate/ring_hash.h"
#include "tests/kvstate/kv_test_util.h"

namespace keel::kvstate::testing {
namespace {

class LoadBalancersTest : public ::testing::Test {
 protected:
  void SetUp() override { driver_.Register(); }
  void Create(kvpb::Policy policy, std::vector<std::pair<std::string, uint32_t>> backends, uint32_t vnodes = 0) {
    ASSERT_EQ(driver_.Do(LbCreateCmd("lb", policy, vnodes)).code(), kvpb::CODE_OK);
    for (const auto& [name, weight] : backends) {
      ASSERT_EQ(driver_.Do(SetBackendCmd("lb", name, weight)).code(), kvpb::CODE_OK);
    }
  }
  std::string Pick(absl::string_view key = "") {
    const kvpb::Result result = driver_.Do(PickCmd("lb", key));
    EXPECT_EQ(result.code(), kvpb::CODE_OK) << result.DebugString();
    return result.backend();
  }
  std::string Picks(int n) {
    std::string picked;
    for (int i = 0; i < n; ++i) picked += Pick();
    return picked;
  }
  kvpb::LbStats Stats() {
    const kvpb::Result result = driver_.Apply(LbStatsCmd("lb"));
    EXPECT_EQ(result.code(), kvpb::CODE_OK);
    return result.lb();
  }
  Driver driver_;
};

TEST_F(LoadBalancersTest, RoundRobinCyclesUpBackendsInNameOrder) {
  Create(kvpb::POLICY_ROUND_ROBIN, {{"c", 1}, {"a", 1}, {"b", 1}});
  EXPECT_EQ(Picks(4), "abca");
  ASSERT_EQ(driver_.Do(MarkCmd("lb", "b", false)).code(), kvpb::CODE_OK);
  EXPECT_EQ(Picks(3), "cac");
  ASSERT_EQ(driver_.Do(MarkCmd("lb", "b", true)).code(), kvpb::CODE_OK);
  EXPECT_EQ(Picks(3), "abc");
}

TEST_F(LoadBalancersTest, RoundRobinContinuesAfterRemovedLastPicked) {
  Create(kvpb::POLICY_ROUND_ROBIN, {{"a", 1}, {"b", 1}, {"c", 1}});
  EXPECT_EQ(Picks(2), "ab");
  ASSERT_EQ(driver_.Do(RemoveBackendCmd("lb", "b")).code(), kvpb::CODE_OK);
  EXPECT_EQ(Stats().last_picked(), "b") << "last_picked may name a removed backend";
  EXPECT_EQ(Picks(3), "cac");
}

TEST_F(LoadBalancersTest, SmoothWeightedRoundRobinMatchesNginx) {
  Create(kvpb::POLICY_WEIGHTED_ROUND_ROBIN, {{"a", 5}, {"b", 1}, {"c", 1}});
  EXPECT_EQ(Picks(7), "aabacaa");
  const kvpb::LbStats stats = Stats();
  ASSERT_EQ(stats.backends_size(), 3);
  for (const kvpb::BackendState& backend : stats.backends()) {
    EXPECT_EQ(backend.current_weight(), 0) << "a full cycle returns every running weight to 0";
  }
  EXPECT_EQ(Picks(7), "aabacaa");
}

TEST_F(LoadBalancersTest, SmoothWeightedSkipsDownBackends) {
  Create(kvpb::POLICY_WEIGHTED_ROUND_ROBIN, {{"a", 2}, {"b", 1}, {"c", 1}});
  ASSERT_EQ(driver_.Do(MarkCmd("lb", "a", false)).code(), kvpb::CODE_OK);
  // Up: b(1), c(1), total 2. b: 1 vs 1 -> b (first), b=-1; then b=0, c=2 -> c, c=0.
  EXPECT_EQ(Picks(4), "bcbc");
  const kvpb::LbStats stats = Stats();
  EXPECT_EQ(stats.backends(0).current_weight(), 0) << "a down backend's running weight does not move";
}

TEST_F(LoadBalancersTest, LeastConnectionsPicksFewestActiveThenName) {
  Create(kvpb::POLICY_LEAST_CONNECTIONS, {{"b", 1}, {"a", 1}, {"c", 1}});
  EXPECT_EQ(Picks(4), "abca");
  ASSERT_EQ(driver_.Do(DoneCmd("lb", "c")).code(), kvpb::CODE_OK);  // a=2 b=1 c=0
  EXPECT_EQ(Pick(), "c");
  ASSERT_EQ(driver_.Do(DoneCmd("lb", "a")).code(), kvpb::CODE_OK);  // a=1 b=1 c=1
  EXPECT_EQ(Pick(), "a");
  ASSERT_EQ(driver_.Do(MarkCmd("lb", "b", false)).code(), kvpb::CODE_OK);  // a=2 b=1(down) c=1
  EXPECT_EQ(Pick(), "c");
  const kvpb::LbStats stats = Stats();
  ASSERT_EQ(stats.backends_size(), 3);
  EXPECT_EQ(stats.backends(0).active(), 2u);
  EXPECT_EQ(stats.backends(1).active(), 1u);
  EXPECT_EQ(stats.backends(2).active(), 2u);
}

TEST_F(LoadBalancersTest, DoneNeedsAnActivePick) {
  Create(kvpb::POLICY_LEAST_CONNECTIONS, {{"a", 1}});
  EXPECT_EQ(driver_.Do(DoneCmd("lb", "a")).code(), kvpb::CODE_NOT_HELD);
  Pick();
  EXPECT_EQ(driver_.Do(DoneCmd("lb", "a")).code(), kvpb::CODE_OK);
  EXPECT_EQ(driver_.Do(DoneCmd("lb", "a")).code(), kvpb::CODE_NOT_HELD);
  EXPECT_EQ(driver_.Do(DoneCmd("lb", "zz")).code(), kvpb::CODE_NOT_FOUND);
  EXPECT_EQ(driver_.Do(DoneCmd("nolb", "a")).code(), kvpb::CODE_NOT_FOUND);
}

TEST_F(LoadBalancersTest, EveryPolicyCountsActiveAndLastPicked) {
  for (const kvpb::Policy policy : {kvpb::POLICY_ROUND_ROBIN, kvpb::POLICY_WEIGHTED_ROUND_ROBIN,
                                    kvpb::POLICY_LEAST_CONNECTIONS, kvpb::POLICY_CONSISTENT_HASH}) {
    SCOPED_TRACE(policy);
    const std::string group = "lb" + std::to_string(policy);
    ASSERT_EQ(driver_.Do(LbCreateCmd(group, policy)).code(), kvpb::CODE_OK);
    ASSERT_EQ(driver_.Do(SetBackendCmd(group, "only")).code(), kvpb::CODE_OK);
    EXPECT_EQ(driver_.Do(PickCmd(group, "k")).backend(), "only");
    EXPECT_EQ(driver_.Do(PickCmd(group, "k")).backend(), "only");
    const kvpb::LbStats stats = driver_.Apply(LbStatsCmd(group)).lb();
    EXPECT_EQ(stats.policy(), policy);
    EXPECT_EQ(stats.last_picked(), "only");
    EXPECT_EQ(stats.backends(0).active(), 2u);
    EXPECT_EQ(stats.virtual_nodes(), 64u);
  }
}

TEST_F(LoadBalancersTest, NoBackendWhenNoneIsUp) {
  Create(kvpb::POLICY_ROUND_ROBIN, {});
  EXPECT_EQ(driver_.Do(PickCmd("lb")).code(), kvpb::CODE_NO_BACKEND);
  ASSERT_EQ(driver_.Do(SetBackendCmd("lb", "a")).code(), kvpb::CODE_OK);
  ASSERT_EQ(driver_.Do(MarkCmd("lb", "a", false)).code(), kvpb::CODE_OK);
  EXPECT_EQ(driver_.Do(PickCmd("lb")).code(), kvpb::CODE_NO_BACKEND);
  EXPECT_EQ(driver_.Do(PickCmd("other")).code(), kvpb::CODE_NOT_FOUND);
}

TEST_F(LoadBalancersTest, SetBackendOnExistingChangesOnlyWeight) {
  Create(kvpb::POLICY_LEAST_CONNECTIONS, {{"a", 3}});
  Pick();
  ASSERT_EQ(driver_.Do(MarkCmd("lb", "a", false)).code(), kvpb::CODE_OK);
  ASSERT_EQ(driver_.Do(SetBackendCmd("lb", "a", 0)).code(), kvpb::CODE_OK);  // 0 means 1
  const kvpb::BackendState a = Stats().backends(0);
  EXPECT_EQ(a.weight(), 1u);
  EXPECT_FALSE(a.up()) << "still down";
  EXPECT_EQ(a.active(), 1u);
}

TEST_F(LoadBalancersTest, MissingBackendOrGroupIsNotFound) {
  Create(kvpb::POLICY_ROUND_ROBIN, {{"a", 1}});
  EXPECT_EQ(driver_.Do(RemoveBackendCmd("lb", "b")).code(), kvpb::CODE_NOT_FOUND);
  EXPECT_EQ(driver_.Do(MarkCmd("lb", "b", true)).code(), kvpb::CODE_NOT_FOUND);
  EXPECT_EQ(driver_.Do(SetBackendCmd("nolb", "a")).code(), kvpb::CODE_NOT_FOUND);
  EXPECT_EQ(driver_.Do(RemoveBackendCmd("nolb", "a")).code(), kvpb::CODE_NOT_FOUND);
  EXPECT_EQ(driver_.Apply(LbStatsCmd("nolb")).code(), kvpb::CODE_NOT_FOUND);
  EXPECT_EQ(driver_.Do(LbCreateCmd("lb", kvpb::POLICY_LEAST_CONNECTIONS)).code(), kvpb::CODE_ALREADY_EXISTS);
  EXPECT_EQ(Stats().policy(), kvpb::POLICY_ROUND_ROBIN);
}

TEST_F(LoadBalancersTest, Validation) {
  EXPECT_EQ(driver_.Do(LbCreateCmd("x", kvpb::POLICY_UNSPECIFIED)).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver_.Do(LbCreateCmd("x", static_cast<kvpb::Policy>(5))).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver_.Do(LbCreateCmd("x", kvpb::POLICY_CONSISTENT_HASH, 1025)).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver_.Do(LbCreateCmd("x/y", kvpb::POLICY_ROUND_ROBIN)).code(), kvpb::CODE_INVALID_ARGUMENT);
  ASSERT_EQ(driver_.Do(LbCreateCmd("x", kvpb::POLICY_CONSISTENT_HASH, 1024)).code(), kvpb::CODE_OK);
  EXPECT_EQ(driver_.Apply(LbStatsCmd("x")).lb().virtual_nodes(), 1024u);
  EXPECT_EQ(driver_.Do(SetBackendCmd("x", "a", 1001)).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver_.Do(SetBackendCmd("x", "", 1)).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver_.Do(SetBackendCmd("x", "a", 1000)).code(), kvpb::CODE_OK);
  EXPECT_EQ(driver_.Do(MarkCmd("x", std::string(129, 'b'), true)).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver_.Do(DoneCmd("x", "")).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver_.Do(PickCmd("")).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver_.Apply(LbStatsCmd("")).code(), kvpb::CODE_INVALID_ARGUMENT);
}

// Consistent hash with one virtual node per backend, computed by hand from RingHash: the key
// goes to the first ring point at or after its hash (wrapping), skipping down backends.
TEST_F(LoadBalancersTest, ConsistentHashFollowsTheRing) {
  Create(kvpb::POLICY_CONSISTENT_HASH, {{"a", 1}, {"b", 1}}, 1);
  const uint64_t a = RingHash("a#0");
  const uint64_t b = RingHash("b#0");
  ASSERT_NE(a, b);
  const uint64_t low = std::min(a, b);
  const uint64_t high = std::max(a, b);
  const std::string low_name = low == a ? "a" : "b";
  const std::string high_name = low == a ? "b" : "a";
  // Find client keys whose hash lands in each arc.
  std::string in_low_arc, in_high_arc, past_the_end;  // (-inf, low], (low, high], (high, +inf)
  for (int i = 0; i < 10000 && (in_low_arc.empty() || in_high_arc.empty() || past_the_end.empty()); ++i) {
    const std::string key = "key" + std::to_string(i);
    const uint64_t h = RingHash(key);
    if (h <= low) in_low_arc = key;
    else if (h <= high) in_high_arc = key;
    else past_the_end = key;
  }
  ASSERT_FALSE(in_low_arc.empty() || in_high_arc.empty() || past_the_end.empty());
  EXPECT_EQ(Pick(in_low_arc), low_name);
  EXPECT_EQ(Pick(in_high_arc), high_name);
  EXPECT_EQ(Pick(past_the_end), low_name) << "the ring wraps";
  ASSERT_EQ(driver_.Do(MarkCmd("lb", low_name, false)).code(), kvpb::CODE_OK);
  EXPECT_EQ(Pick(in_low_arc), high_name) << "a down backend's points are skipped";
  EXPECT_EQ(Pick(past_the_end), high_name);
}

// The same hash-ring stability measured over 10,000 keys on the LoadBalancer itself.
std::map<std::string, std::string> Assign(LoadBalancer& lb) {
  std::map<std::string, std::string> owner;
  for (int i = 0; i < 10000; ++i) {
    const std::string key = "client-" + std::to_string(i);
    const std::string* backend = lb.Pick(key);
    EXPECT_NE(backend, nullptr);
    owner[key] = *backend;
  }
  return owner;
}

LoadBalancer FourBackends() {
  LoadBalancer lb(kvpb::POLICY_CONSISTENT_HASH, 64);
  for (const char* name : {"b1", "b2", "b3", "b4"}) lb.SetBackend(name, 1);
  return lb;
}

TEST(ConsistentHashTest, RemovingABackendMovesOnlyItsKeys) {
  LoadBalancer lb = FourBackends();
  const std::map<std::string, std::string> before = Assign(lb);
  std::map<std::string, int> share;
  for (const auto& [key, backend] : before) ++share[backend];
  for (const auto& [backend, count] : share) EXPECT_GT(count, 1000) << backend << " gets a fair share";
  ASSERT_TRUE(lb.RemoveBackend("b2"));
  ASSERT_TRUE(lb.CheckConsistency().ok()) << lb.CheckConsistency();
  const std::map<std::string, std::string> after = Assign(lb);
  for (const auto& [key, backend] : before) {
    if (backend == "b2") {
      EXPECT_NE(after.at(key), "b2");
    } else {
      EXPECT_EQ(after.at(key), backend) << key << " moved although its backend stayed";
    }
  }
}

TEST(ConsistentHashTest, MarkingABackendDownMovesOnlyItsKeysAndUpMovesThemBack) {
  LoadBalancer lb = FourBackends();
  const std::map<std::string, std::string> before = Assign(lb);
  ASSERT_TRUE(lb.Mark("b3", false));
  const std::map<std::string, std::string> down = Assign(lb);
  for (const auto& [key, backend] : before) {
    if (backend == "b3") EXPECT_NE(down.at(key), "b3");
    else EXPECT_EQ(down.at(key), backend);
  }
  ASSERT_TRUE(lb.Mark("b3", true));
  EXPECT_EQ(Assign(lb), before);
}

TEST(ConsistentHashTest, AddingABackendMovesKeysOnlyToIt) {
  LoadBalancer lb = FourBackends();
  const std::map<std::string, std::string> before = Assign(lb);
  lb.SetBackend("b5", 1);
  ASSERT_TRUE(lb.CheckConsistency().ok()) << lb.CheckConsistency();
  const std::map<std::string, std::string> after = Assign(lb);
  int moved = 0;
  for (const auto& [key, backend] : before) {
    if (after.at(key) != backend) {
      EXPECT_EQ(after.at(key), "b5") << key << " moved between old backends";
      ++moved;
    }
  }
  // About a fifth of the keys, with 64 virtual nodes per backend.
  EXPECT_GT(moved, 1000);
  EXPECT_LT(moved, 3500);
}

TEST(ConsistentHashTest, RingDoesNotDependOnInsertionOrder) {
  LoadBalancer forward(kvpb::POLICY_CONSISTENT_HASH, 16);
  LoadBalancer backward(kvpb::POLICY_CONSISTENT_HASH, 16);
  for (const char* name : {"w", "x", "y", "z"}) forward.SetBackend(name, 1);
  for (const char* name : {"z", "y", "x", "w"}) backward.SetBackend(name, 1);
  EXPECT_EQ(Assign(forward), Assign(backward));
}

}  // namespace
}  // namespace keel::kvstate::testing
