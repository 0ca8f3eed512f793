// README steps 2, 3, 5 and 6: sessions, log time, deduplication, acknowledgements, expiry.
#include <string>

#include "engine/planted_bugs.h"
#include "gtest/gtest.h"
#include "tests/kvstate/kv_test_util.h"

namespace keel::kvstate::testing {
namespace {

TEST(SessionsTest, RegisterUsesTheEntryIndexAsId) {
  Driver driver;
  driver.Apply(PutCmd("g/b/k", "v"));  // index 1: refused (no session), still an entry
  const Index index = driver.next_index();
  EXPECT_EQ(driver.Register(), index);
  // Session and sequence fields on a register are ignored.
  kvpb::Command command = RegisterCmd();
  command.set_session(999);
  command.set_sequence(7);
  command.set_acked_sequence(100);
  const Index second = driver.next_index();
  const kvpb::Result result = driver.Apply(command);
  EXPECT_EQ(result.code(), kvpb::CODE_OK);
  EXPECT_EQ(result.session(), second);
}

TEST(SessionsTest, TimeoutDefaultsAndClamps) {
  Driver driver;
  driver.Register(0);
  driver.Register(5 * kSecond);
  driver.Register(1);                 // below 1 s
  driver.Register(-kSecond);          // negative: clamped up
  driver.Register(7200 * kSecond);    // above 1 h
  const kvpb::StateSnapshot snapshot = driver.DecodedSnapshot();
  ASSERT_EQ(snapshot.sessions_size(), 5);
  EXPECT_EQ(snapshot.sessions(0).timeout_nanos(), 30 * kSecond);
  EXPECT_EQ(snapshot.sessions(1).timeout_nanos(), 5 * kSecond);
  EXPECT_EQ(snapshot.sessions(2).timeout_nanos(), kSecond);
  EXPECT_EQ(snapshot.sessions(3).timeout_nanos(), kSecond);
  EXPECT_EQ(snapshot.sessions(4).timeout_nanos(), 3600 * kSecond);
}

TEST(SessionsTest, MutationsNeedSessionSequenceAndAckBelowSequence) {
  Driver driver;
  const uint64_t session = driver.Register();
  const std::string before = driver.DecodedSnapshot().SerializeAsString();
  EXPECT_EQ(driver.Send(PutCmd("g/b/k", "v"), 0, 1, 0).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver.Send(PutCmd("g/b/k", "v"), session, 0, 0).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver.Send(PutCmd("g/b/k", "v"), session, 3, 3).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver.Send(PutCmd("g/b/k", "v"), session, 3, 4).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver.Send(PutCmd("g/b/k", "v"), session + 1000, 1, 0).code(), kvpb::CODE_SESSION_UNKNOWN);
  const kvpb::StateSnapshot after = driver.DecodedSnapshot();
  kvpb::StateSnapshot expected;
  ASSERT_TRUE(expected.ParseFromString(before));
  expected.set_applied_index(after.applied_index());
  EXPECT_EQ(after.SerializeAsString(), expected.SerializeAsString()) << "refused commands change nothing";
  // None of them was cached: sequence 3 is still free to use.
  EXPECT_EQ(driver.Send(PutCmd("g/b/k", "v"), session, 3, 0).code(), kvpb::CODE_OK);
}

TEST(SessionsTest, RetryReturnsCachedResultWithoutApplyingAgain) {
  Driver driver;
  const uint64_t session = driver.Register();
  const Index put_index = driver.next_index();
  const kvpb::Result first = driver.Send(PutCmd("g/b/k", "v1"), session, 1, 0);
  ASSERT_EQ(first.code(), kvpb::CODE_OK);
  driver.Send(PutCmd("g/b/k", "v2"), session, 2, 0);  // someone else's later write, in effect
  const kvpb::Result retry = driver.Send(PutCmd("g/b/k", "v1"), session, 1, 0);
  EXPECT_EQ(retry.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(retry.version(), put_index);
  EXPECT_EQ(driver.Apply(GetCmd("g/b/k")).value(), "v2") << "the retry was not applied again";

  // The cached answer wins even if the retried command's body differs (it is the same request).
  const kvpb::Result odd_retry = driver.Send(DeleteCmd("g/b/k"), session, 1, 0);
  EXPECT_EQ(odd_retry.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(driver.Apply(GetCmd("g/b/k")).code(), kvpb::CODE_OK);
}

TEST(SessionsTest, RetriedAcquireTakesOneSlot) {
  Driver driver;
  const uint64_t session = driver.Register();
  driver.Send(PoolCreateCmd("g/p", 5), session, 1, 0);
  const kvpb::Result first = driver.Send(AcquireCmd("g/p", "o"), session, 2, 1);
  const kvpb::Result retry = driver.Send(AcquireCmd("g/p", "o"), session, 2, 1);
  EXPECT_EQ(first.slot(), retry.slot());
  EXPECT_EQ(driver.Apply(PoolStatsCmd("g/p")).pool().busy(), 1u);
}

TEST(SessionsTest, FailedResultsAreCachedToo) {
  Driver driver;
  const uint64_t session = driver.Register();
  const kvpb::Result first = driver.Send(AcquireCmd("g/p", "o"), session, 1, 0);
  ASSERT_EQ(first.code(), kvpb::CODE_NOT_FOUND);
  driver.Send(PoolCreateCmd("g/p", 5), session, 2, 0);
  const kvpb::Result retry = driver.Send(AcquireCmd("g/p", "o"), session, 1, 0);
  EXPECT_EQ(retry.code(), kvpb::CODE_NOT_FOUND) << "the answer already given, not a fresh one";
  EXPECT_EQ(driver.Apply(PoolStatsCmd("g/p")).pool().busy(), 0u);
}

TEST(SessionsTest, AcknowledgedRetryIsStale) {
  Driver driver;
  const uint64_t session = driver.Register();
  driver.Send(PutCmd("g/b/k", "v1"), session, 1, 0);
  driver.Send(PutCmd("g/b/k", "v2"), session, 2, 1);  // acknowledges 1
  EXPECT_EQ(driver.Send(PutCmd("g/b/k", "v1"), session, 1, 0).code(), kvpb::CODE_STALE_SEQUENCE);
  EXPECT_EQ(driver.Apply(GetCmd("g/b/k")).value(), "v2");
  EXPECT_EQ(driver.DecodedSnapshot().sessions(0).results_size(), 1) << "only sequence 2 is cached";
}

TEST(SessionsTest, KeepAliveRaisesWatermark) {
  Driver driver;
  const uint64_t session = driver.Register();
  driver.Send(PutCmd("g/b/k", "v1"), session, 1, 0);
  driver.Send(PutCmd("g/b/k", "v2"), session, 2, 0);
  kvpb::Command keep_alive = KeepAliveCmd();
  keep_alive.set_session(session);
  keep_alive.set_acked_sequence(2);
  EXPECT_EQ(driver.Apply(keep_alive).code(), kvpb::CODE_OK);
  EXPECT_EQ(driver.DecodedSnapshot().sessions(0).results_size(), 0);
  EXPECT_EQ(driver.Send(PutCmd("g/b/k", "v2"), session, 2, 0).code(), kvpb::CODE_STALE_SEQUENCE);
  // A retried keep-alive is harmless (keep-alives are not cached or deduplicated).
  EXPECT_EQ(driver.Apply(keep_alive).code(), kvpb::CODE_OK);
}

TEST(SessionsTest, KeepAliveAndCloseNeedASession) {
  Driver driver;
  kvpb::Command keep_alive = KeepAliveCmd();
  keep_alive.set_session(12345);
  EXPECT_EQ(driver.Apply(keep_alive).code(), kvpb::CODE_SESSION_UNKNOWN);
  EXPECT_EQ(driver.Apply(KeepAliveCmd()).code(), kvpb::CODE_SESSION_UNKNOWN) << "session 0";
  kvpb::Command close = CloseCmd();
  close.set_session(12345);
  EXPECT_EQ(driver.Apply(close).code(), kvpb::CODE_SESSION_UNKNOWN);
}

TEST(SessionsTest, CloseReleasesSlotsAndForgetsTheSession) {
  Driver driver;
  const uint64_t owner_session = driver.Register();
  driver.Do(PoolCreateCmd("g/p", 5));
  driver.Do(AcquireCmd("g/p", "a"));
  driver.Do(AcquireCmd("g/p", "b"));
  const uint64_t other = driver.Register();
  driver.Do(AcquireCmd("g/p", "c"));  // slot 2, through the other session
  kvpb::Command close = CloseCmd();
  close.set_session(owner_session);
  EXPECT_EQ(driver.Apply(close).code(), kvpb::CODE_OK);
  const kvpb::PoolStats stats = driver.Apply(PoolStatsCmd("g/p")).pool();
  EXPECT_EQ(stats.busy(), 1u);
  ASSERT_EQ(stats.owners_size(), 1);
  EXPECT_EQ(stats.owners(0).owner(), "c");
  EXPECT_EQ(driver.Send(PutCmd("g/b/k", "v"), owner_session, 10, 0).code(), kvpb::CODE_SESSION_UNKNOWN);
  EXPECT_EQ(driver.Apply(close).code(), kvpb::CODE_SESSION_UNKNOWN) << "closed twice";
  EXPECT_EQ(driver.Send(PutCmd("g/b/k", "v"), other, 10, 0).code(), kvpb::CODE_OK);
}

TEST(SessionsTest, ExpiryByLeaderTimeReleasesSlots) {
  Driver driver;
  driver.set_leader_time(100 * kSecond);
  const uint64_t session = driver.Register(2 * kSecond);
  driver.Do(PoolCreateCmd("g/p", 2));
  driver.Do(AcquireCmd("g/p", "a"));  // last_active = 100 s
  driver.Advance(2 * kSecond);  // last_active + timeout == time: not yet expired
  EXPECT_EQ(driver.Apply(PoolStatsCmd("g/p")).pool().busy(), 1u);
  driver.Advance(1);  // now last_active + timeout < time
  const kvpb::Result stats = driver.Apply(PoolStatsCmd("g/p"));
  EXPECT_EQ(stats.pool().busy(), 0u) << "a read's entry still moves time and expires sessions";
  EXPECT_EQ(driver.Send(PutCmd("g/b/k", "v"), session, 10, 0).code(), kvpb::CODE_SESSION_UNKNOWN);
  EXPECT_EQ(driver.DecodedSnapshot().sessions_size(), 0);
}

TEST(SessionsTest, ActivityPostponesExpiry) {
  Driver driver;
  const uint64_t session = driver.Register(kSecond);
  for (int i = 0; i < 10; ++i) {
    driver.Advance(kSecond / 2);
    ASSERT_EQ(driver.Do(PutCmd("g/b/k", "v")).code(), kvpb::CODE_OK) << i;
  }
  driver.Advance(kSecond);
  kvpb::Command keep_alive = KeepAliveCmd();
  keep_alive.set_session(session);
  EXPECT_EQ(driver.Apply(keep_alive).code(), kvpb::CODE_OK);
  driver.Advance(kSecond + 1);
  EXPECT_EQ(driver.Apply(keep_alive).code(), kvpb::CODE_SESSION_UNKNOWN);
}

TEST(SessionsTest, TimeNeverRunsBackwards) {
  Driver driver;
  driver.set_leader_time(50 * kSecond);
  const uint64_t session = driver.Register(5 * kSecond);  // last_active 50 s
  driver.set_leader_time(10 * kSecond);  // a new leader whose clock is behind
  EXPECT_EQ(driver.Do(PutCmd("g/b/k", "v")).code(), kvpb::CODE_OK);
  kvpb::StateSnapshot snapshot = driver.DecodedSnapshot();
  EXPECT_EQ(snapshot.time_nanos(), 50 * kSecond);
  EXPECT_EQ(snapshot.sessions(0).last_active_nanos(), 50 * kSecond) << "activity is stamped with log time";
  // 56 s is past the deadline 55 s; a later entry stamped 20 s does not bring the session back.
  driver.set_leader_time(56 * kSecond);
  driver.Apply(GetCmd("g/b/k"));
  driver.set_leader_time(20 * kSecond);
  EXPECT_EQ(driver.Send(PutCmd("g/b/k", "v"), session, 5, 0).code(), kvpb::CODE_SESSION_UNKNOWN);
  EXPECT_EQ(driver.DecodedSnapshot().time_nanos(), 56 * kSecond);
}

TEST(SessionsTest, GarbageDoesNotMoveTime) {
  Driver driver;
  driver.Register(kSecond);
  kvpb::Command no_op;
  no_op.set_leader_time_nanos(100 * kSecond);  // no op: INVALID_ARGUMENT, nothing changes
  EXPECT_EQ(driver.ApplyBytes(no_op.SerializeAsString()).code(), kvpb::CODE_INVALID_ARGUMENT);
  const kvpb::StateSnapshot snapshot = driver.DecodedSnapshot();
  EXPECT_EQ(snapshot.time_nanos(), 0);
  EXPECT_EQ(snapshot.sessions_size(), 1) << "the session did not expire";
}

TEST(SessionsTest, ReadsIgnoreSessionFields) {
  Driver driver;
  kvpb::Command get = GetCmd("g/b/k");
  get.set_session(424242);
  get.set_sequence(0);
  get.set_acked_sequence(99);
  EXPECT_EQ(driver.Apply(get).code(), kvpb::CODE_NOT_FOUND);
  kvpb::Command stats = PoolStatsCmd("g/p");
  stats.set_session(1);
  stats.set_sequence(1);
  EXPECT_EQ(driver.Apply(stats).code(), kvpb::CODE_NOT_FOUND);
}

TEST(SessionsTest, CacheKeepsAtMost4096AndForgetsByRaisingTheWatermark) {
  Driver driver;
  const uint64_t session = driver.Register(3600 * kSecond);
  driver.set_check_invariants(false);  // checked once below
  for (uint64_t sequence = 1; sequence <= 4097; ++sequence) {
    ASSERT_EQ(driver.Send(PutCmd("g/b/k" + std::to_string(sequence), "v"), session, sequence, 0).code(),
              kvpb::CODE_OK);
  }
  ASSERT_TRUE(driver.state().CheckInvariants().ok()) << driver.state().CheckInvariants();
  driver.set_check_invariants(true);
  const kvpb::StateSnapshot snapshot = driver.DecodedSnapshot();
  ASSERT_EQ(snapshot.sessions(0).results_size(), 4096);
  EXPECT_EQ(snapshot.sessions(0).acked_sequence(), 1u);
  EXPECT_EQ(snapshot.sessions(0).results(0).sequence(), 2u);
  // Sequence 1 was forgotten: its retry is refused, never applied a second time.
  ASSERT_EQ(driver.Send(DeleteCmd("g/b/k1"), session, 1, 0).code(), kvpb::CODE_STALE_SEQUENCE);
  EXPECT_EQ(driver.Apply(GetCmd("g/b/k1")).code(), kvpb::CODE_OK);
  EXPECT_EQ(driver.Send(PutCmd("g/b/k2", "v"), session, 2, 0).code(), kvpb::CODE_OK) << "2 is still cached";
}

TEST(SessionsTest, OutOfOrderSequencesAreEachAppliedOnce) {
  Driver driver;
  const uint64_t session = driver.Register();
  driver.Send(PoolCreateCmd("g/p", 10), session, 1, 0);
  const kvpb::Result third = driver.Send(AcquireCmd("g/p", "o"), session, 3, 0);
  const kvpb::Result second = driver.Send(AcquireCmd("g/p", "o"), session, 2, 0);
  EXPECT_EQ(third.slot(), 0u);
  EXPECT_EQ(second.slot(), 1u);
  EXPECT_EQ(driver.Send(AcquireCmd("g/p", "o"), session, 3, 0).slot(), 0u);
  EXPECT_EQ(driver.Apply(PoolStatsCmd("g/p")).pool().busy(), 2u);
}

}  // namespace
}  // namespace keel::kvstate::testing

namespace keel::kvstate::testing {
namespace {

// keel_kvstate is the production library: the planted-bug bits are ignored there (the planted
// variant is tested in tests/planted/kvstate_apply_twice_test.cc).
TEST(SessionsTest, PlantedBugBitsDoNothingInProduction) {
  ASSERT_FALSE(kPlantedBugsCompiledIn);
  Driver driver(KvStateOptions{kBugApplyTwice});
  const uint64_t session = driver.Register();
  driver.Send(PoolCreateCmd("g/p", 4), session, 1, 0);
  driver.Send(AcquireCmd("g/p", "o"), session, 2, 1);
  driver.Send(AcquireCmd("g/p", "o"), session, 2, 1);
  EXPECT_EQ(driver.Apply(PoolStatsCmd("g/p")).pool().busy(), 1u);
}

}  // namespace
}  // namespace keel::kvstate::testing
