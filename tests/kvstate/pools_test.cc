// README "Pools": lowest free slot, EXHAUSTED, NOT_HELD, resize and BELOW_BUSY, stats; and the
// Pool slot allocator on its own (free ranges merge and split correctly).
#include "kvstate/pools.h"

#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/kvstate/kv_test_util.h"

namespace keel::kvstate::testing {
namespace {

class PoolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    driver_.Register();
    ASSERT_EQ(driver_.Do(PoolCreateCmd("g/p", 3)).code(), kvpb::CODE_OK);
  }
  uint64_t AcquireOk(absl::string_view owner) {
    const kvpb::Result result = driver_.Do(AcquireCmd("g/p", owner));
    EXPECT_EQ(result.code(), kvpb::CODE_OK);
    return result.slot();
  }
  kvpb::PoolStats Stats() {
    const kvpb::Result result = driver_.Apply(PoolStatsCmd("g/p"));
    EXPECT_EQ(result.code(), kvpb::CODE_OK);
    return result.pool();
  }
  Driver driver_;
};

TEST_F(PoolsTest, CreateTwiceIsAlreadyExists) {
  EXPECT_EQ(driver_.Do(PoolCreateCmd("g/p", 10)).code(), kvpb::CODE_ALREADY_EXISTS);
  EXPECT_EQ(Stats().capacity(), 3u) << "the failed create did not change the capacity";
}

TEST_F(PoolsTest, AcquireTakesLowestFreeSlot) {
  EXPECT_EQ(AcquireOk("a"), 0u);
  EXPECT_EQ(AcquireOk("b"), 1u);
  EXPECT_EQ(AcquireOk("a"), 2u);
  ASSERT_EQ(driver_.Do(ReleaseCmd("g/p", 1, "b")).code(), kvpb::CODE_OK);
  EXPECT_EQ(AcquireOk("c"), 1u) << "the hole is filled before anything above it";
}

// README: slot has explicit presence: slot 0 is an answer, and only acquire names a slot.
TEST_F(PoolsTest, SlotPresence) {
  const kvpb::Result first = driver_.Do(AcquireCmd("g/p", "a"));
  EXPECT_TRUE(first.has_slot());
  EXPECT_EQ(first.slot(), 0u);
  EXPECT_FALSE(driver_.Do(AcquireCmd("g/none", "a")).has_slot());
  EXPECT_FALSE(driver_.Do(ReleaseCmd("g/p", 0, "a")).has_slot());
  EXPECT_FALSE(driver_.Apply(PoolStatsCmd("g/p")).has_slot());
}

TEST_F(PoolsTest, ExhaustedWhenBusyEqualsCapacity) {
  AcquireOk("a");
  AcquireOk("a");
  AcquireOk("a");
  EXPECT_EQ(driver_.Do(AcquireCmd("g/p", "b")).code(), kvpb::CODE_EXHAUSTED);
  EXPECT_EQ(Stats().busy(), 3u);
}

TEST_F(PoolsTest, ZeroCapacityPoolIsAlwaysExhausted) {
  ASSERT_EQ(driver_.Do(PoolCreateCmd("g/zero", 0)).code(), kvpb::CODE_OK);
  EXPECT_EQ(driver_.Do(AcquireCmd("g/zero", "a")).code(), kvpb::CODE_EXHAUSTED);
}

TEST_F(PoolsTest, ReleaseNeedsTheHoldingOwner) {
  const uint64_t slot = AcquireOk("a");
  EXPECT_EQ(driver_.Do(ReleaseCmd("g/p", slot, "b")).code(), kvpb::CODE_NOT_HELD);
  EXPECT_EQ(driver_.Do(ReleaseCmd("g/p", slot + 1, "a")).code(), kvpb::CODE_NOT_HELD) << "not held by anyone";
  EXPECT_EQ(driver_.Do(ReleaseCmd("g/p", uint64_t{1} << 40, "a")).code(), kvpb::CODE_NOT_HELD);
  EXPECT_EQ(Stats().busy(), 1u);
  EXPECT_EQ(driver_.Do(ReleaseCmd("g/p", slot, "a")).code(), kvpb::CODE_OK);
  EXPECT_EQ(Stats().busy(), 0u);
  EXPECT_EQ(driver_.Do(ReleaseCmd("g/p", slot, "a")).code(), kvpb::CODE_NOT_HELD) << "released twice";
}

TEST_F(PoolsTest, ReleaseFromAnotherSessionWorksByOwner) {
  const uint64_t slot = AcquireOk("a");
  driver_.Register();  // a second client session releases the first one's slot by owner name
  EXPECT_EQ(driver_.Do(ReleaseCmd("g/p", slot, "a")).code(), kvpb::CODE_OK);
}

TEST_F(PoolsTest, MissingPoolIsNotFound) {
  EXPECT_EQ(driver_.Do(AcquireCmd("g/none", "a")).code(), kvpb::CODE_NOT_FOUND);
  EXPECT_EQ(driver_.Do(ReleaseCmd("g/none", 0, "a")).code(), kvpb::CODE_NOT_FOUND);
  EXPECT_EQ(driver_.Do(ResizeCmd("g/none", 1)).code(), kvpb::CODE_NOT_FOUND);
  EXPECT_EQ(driver_.Apply(PoolStatsCmd("g/none")).code(), kvpb::CODE_NOT_FOUND);
}

TEST_F(PoolsTest, ResizeBelowBusyIsRefusedWithStats) {
  AcquireOk("a");
  AcquireOk("b");
  const kvpb::Result below = driver_.Do(ResizeCmd("g/p", 1));
  ASSERT_EQ(below.code(), kvpb::CODE_BELOW_BUSY);
  EXPECT_EQ(below.pool().capacity(), 3u);
  EXPECT_EQ(below.pool().busy(), 2u);
  EXPECT_EQ(below.pool().available(), 1u);
  EXPECT_EQ(below.pool().owners_size(), 2);
  EXPECT_EQ(Stats().capacity(), 3u);

  EXPECT_EQ(driver_.Do(ResizeCmd("g/p", 2)).code(), kvpb::CODE_OK) << "resizing to exactly busy is fine";
  EXPECT_EQ(Stats().capacity(), 2u);
  EXPECT_EQ(driver_.Do(AcquireCmd("g/p", "c")).code(), kvpb::CODE_EXHAUSTED);
  EXPECT_EQ(driver_.Do(ResizeCmd("g/p", 5)).code(), kvpb::CODE_OK);
  EXPECT_EQ(AcquireOk("c"), 2u);
}

TEST_F(PoolsTest, ShrinkBelowAHeldSlotIdStillHandsOutLowIds) {
  ASSERT_EQ(driver_.Do(ResizeCmd("g/p", 10)).code(), kvpb::CODE_OK);
  for (int i = 0; i < 5; ++i) AcquireOk("a");
  for (uint64_t slot = 0; slot < 4; ++slot) ASSERT_EQ(driver_.Do(ReleaseCmd("g/p", slot, "a")).code(), kvpb::CODE_OK);
  ASSERT_EQ(driver_.Do(ResizeCmd("g/p", 2)).code(), kvpb::CODE_OK);  // slot 4 is held, busy 1
  EXPECT_EQ(AcquireOk("b"), 0u);
  EXPECT_EQ(driver_.Do(AcquireCmd("g/p", "b")).code(), kvpb::CODE_EXHAUSTED);
}

TEST_F(PoolsTest, StatsListsOwnersByNameWithAscendingSlots) {
  ASSERT_EQ(driver_.Do(ResizeCmd("g/p", 6)).code(), kvpb::CODE_OK);
  AcquireOk("zed");  // 0
  AcquireOk("amy");  // 1
  AcquireOk("zed");  // 2
  AcquireOk("amy");  // 3
  AcquireOk("bob");  // 4
  const kvpb::PoolStats stats = Stats();
  EXPECT_EQ(stats.capacity(), 6u);
  EXPECT_EQ(stats.busy(), 5u);
  EXPECT_EQ(stats.available(), 1u);
  ASSERT_EQ(stats.owners_size(), 3);
  EXPECT_EQ(stats.owners(0).owner(), "amy");
  EXPECT_EQ(std::vector<uint64_t>(stats.owners(0).slots().begin(), stats.owners(0).slots().end()),
            (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(stats.owners(1).owner(), "bob");
  EXPECT_EQ(stats.owners(2).owner(), "zed");
  EXPECT_EQ(std::vector<uint64_t>(stats.owners(2).slots().begin(), stats.owners(2).slots().end()),
            (std::vector<uint64_t>{0, 2}));
}

TEST_F(PoolsTest, Validation) {
  EXPECT_EQ(driver_.Do(PoolCreateCmd("g/q", 1'000'001)).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver_.Do(PoolCreateCmd("g/q", 1'000'000)).code(), kvpb::CODE_OK);
  EXPECT_EQ(driver_.Do(ResizeCmd("g/q", 1'000'001)).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver_.Do(PoolCreateCmd("g", 1)).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver_.Do(AcquireCmd("g/p", "")).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver_.Do(AcquireCmd("g/p", std::string(129, 'o'))).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver_.Do(AcquireCmd("g/p", std::string(128, 'o'))).code(), kvpb::CODE_OK);
  EXPECT_EQ(driver_.Do(ReleaseCmd("g/p", 0, "")).code(), kvpb::CODE_INVALID_ARGUMENT);
  // Validation comes before the lookup: a bad owner on a missing pool is not NOT_FOUND.
  EXPECT_EQ(driver_.Do(AcquireCmd("g/none", "")).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver_.Apply(PoolStatsCmd("g/p/x")).code(), kvpb::CODE_INVALID_ARGUMENT);
}

// The allocator alone, against a brute-force lowest-free search, over many acquire/free mixes.
TEST(PoolAllocatorTest, MatchesBruteForce) {
  Pool pool(64);
  std::set<uint64_t> held;
  uint64_t lcg = 12345;
  for (int step = 0; step < 20000; ++step) {
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    const bool acquire = held.empty() || ((lcg >> 33) % 3 != 0 && held.size() < 64);
    if (acquire) {
      uint64_t expected = 0;
      while (held.contains(expected)) ++expected;
      ASSERT_EQ(pool.AcquireLowest(Pool::Holder{"o", 1}), expected);
      held.insert(expected);
    } else {
      auto it = held.begin();
      std::advance(it, (lcg >> 40) % held.size());
      pool.Free(*it);
      held.erase(it);
    }
    ASSERT_EQ(pool.busy(), held.size());
    ASSERT_TRUE(pool.CheckConsistency().ok()) << pool.CheckConsistency();
  }
}

TEST(PoolAllocatorTest, HoldSplitsFreeRanges) {
  Pool pool(10);
  pool.Hold(5, Pool::Holder{"o", 1});
  pool.Hold(0, Pool::Holder{"o", 1});
  ASSERT_TRUE(pool.CheckConsistency().ok()) << pool.CheckConsistency();
  EXPECT_EQ(pool.AcquireLowest(Pool::Holder{"o", 1}), 1u);
  pool.Free(5);
  pool.Free(0);
  ASSERT_TRUE(pool.CheckConsistency().ok()) << pool.CheckConsistency();
  EXPECT_EQ(pool.AcquireLowest(Pool::Holder{"o", 1}), 0u);
  EXPECT_EQ(pool.AcquireLowest(Pool::Holder{"o", 1}), 2u);
}

}  // namespace
}  // namespace keel::kvstate::testing
