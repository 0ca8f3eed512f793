// Snapshots: equal states give equal bytes, restore reproduces the state exactly (same bytes,
// same answers afterwards), and bad snapshots are refused without changing anything.
#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/kvstate/kv_test_util.h"

namespace keel::kvstate::testing {
namespace {

// A state with something in every collection: two sessions (one with cached results), keys,
// a pool with holes, and one load balancer per policy with picks behind it.
void BuildRichState(Driver& driver) {
  driver.set_leader_time(10 * kSecond);
  const uint64_t first = driver.Register(60 * kSecond);
  driver.Send(PutCmd("g/b/k1", "v1"), first, 1, 0);
  driver.Send(PutCmd("g/b/k2", "v2"), first, 2, 0);
  driver.Send(PoolCreateCmd("g/p", 8), first, 3, 0);
  for (uint64_t sequence = 4; sequence < 9; ++sequence) {
    driver.Send(AcquireCmd("g/p", sequence % 2 == 0 ? "even" : "odd"), first, sequence, 0);
  }
  driver.Send(ReleaseCmd("g/p", 1, "odd"), first, 9, 0);
  driver.Register(5 * kSecond);
  driver.Do(AcquireCmd("g/p", "second"));
  driver.Do(PoolCreateCmd("g/empty", 0));
  uint64_t policy = 1;
  for (const char* group : {"rr", "wrr", "lc", "ch"}) {
    driver.Do(LbCreateCmd(group, static_cast<kvpb::Policy>(policy++), 8));
    driver.Do(SetBackendCmd(group, "x", 3));
    driver.Do(SetBackendCmd(group, "y", 1));
    driver.Do(SetBackendCmd(group, "z", 2));
    driver.Do(MarkCmd(group, "y", false));
    for (int i = 0; i < 4; ++i) driver.Do(PickCmd(group, "client" + std::to_string(i)));
    driver.Do(DoneCmd(group, "x"));
  }
  driver.Advance(kSecond);
  driver.Do(DeleteCmd("g/b/k2"));
}

// The same commands must get the same results from both states, and leave equal bytes.
void ExpectSameFuture(KvState& a, KvState& b, Index next_index, int64_t time) {
  std::vector<kvpb::Command> commands = {
      PutCmd("g/b/k3", "v3"), AcquireCmd("g/p", "late"), PickCmd("rr"), PickCmd("wrr"), PickCmd("lc"),
      PickCmd("ch", "client9"), CasCmd("g/b/k1", 2, "again"), ListCmd("g/"), PoolStatsCmd("g/p"), LbStatsCmd("wrr"),
  };
  const kvpb::StateSnapshot decoded = [&] {
    kvpb::StateSnapshot s;
    EXPECT_TRUE(s.ParseFromString(a.Snapshot()));
    return s;
  }();
  const uint64_t session = decoded.sessions(0).id();
  uint64_t sequence = 100;
  for (kvpb::Command& command : commands) {
    command.set_leader_time_nanos(time);
    command.set_session(session);
    command.set_sequence(sequence++);
    const std::string bytes = command.SerializeAsString();
    EXPECT_EQ(a.Apply(next_index, bytes), b.Apply(next_index, bytes)) << command.DebugString();
    ++next_index;
  }
  // A time jump that expires the second session in both.
  kvpb::Command late = GetCmd("g/b/k1");
  late.set_leader_time_nanos(time + 30 * kSecond);
  EXPECT_EQ(a.Apply(next_index, late.SerializeAsString()), b.Apply(next_index, late.SerializeAsString()));
  EXPECT_EQ(a.Snapshot(), b.Snapshot());
}

TEST(SnapshotTest, RestoreReproducesBytesAndBehaviour) {
  Driver driver;
  BuildRichState(driver);
  const std::string bytes = driver.state().Snapshot();
  EXPECT_EQ(driver.state().Snapshot(), bytes) << "Snapshot() is a pure function of the state";
  const kvpb::StateSnapshot decoded = driver.DecodedSnapshot();
  EXPECT_EQ(decoded.format(), 1u);
  EXPECT_EQ(decoded.sessions_size(), 2);
  EXPECT_EQ(decoded.lbs_size(), 4);
  EXPECT_GT(decoded.sessions(0).results_size(), 3);

  KvState restored;
  ASSERT_TRUE(restored.Restore(bytes).ok());
  EXPECT_EQ(restored.Snapshot(), bytes);
  EXPECT_TRUE(restored.CheckInvariants().ok()) << restored.CheckInvariants();
  EXPECT_EQ(restored.applied_index(), driver.state().applied_index());
  EXPECT_EQ(restored.time_nanos(), driver.state().time_nanos());
  ExpectSameFuture(driver.state(), restored, driver.next_index(), driver.leader_time());
}

TEST(SnapshotTest, RestoreReplacesANonEmptyState) {
  Driver source;
  BuildRichState(source);
  Driver target;
  target.Register();
  target.Do(PutCmd("other/b/k", "x"));
  target.Do(PoolCreateCmd("other/p", 1));
  ASSERT_TRUE(target.state().Restore(source.state().Snapshot()).ok());
  EXPECT_EQ(target.state().Snapshot(), source.state().Snapshot());
}

TEST(SnapshotTest, EqualStatesReachedDifferentlyHaveEqualBytes) {
  // Same final contents built in a different order and through different intermediate states.
  const auto build = [](bool reversed) {
    KvState state;
    kvpb::Command reg = RegisterCmd();
    state.Apply(1, reg.SerializeAsString());
    std::vector<kvpb::Command> commands = {PutCmd("g/b/a", "1"), PutCmd("g/b/c", "3"), PoolCreateCmd("g/p", 4),
                                           PoolCreateCmd("g/a", 2), LbCreateCmd("m", kvpb::POLICY_ROUND_ROBIN),
                                           LbCreateCmd("l", kvpb::POLICY_CONSISTENT_HASH)};
    if (reversed) std::reverse(commands.begin(), commands.end());
    Index index = 2;
    for (kvpb::Command& command : commands) {
      command.set_session(1);
      command.set_sequence(index);
      command.set_acked_sequence(index - 1);
      state.Apply(index++, command.SerializeAsString());
    }
    return state.Snapshot();
  };
  const std::string forward = build(false);
  const std::string backward = build(true);
  // Versions are indexes, so the two differ in the kv versions and the cached result: compare
  // everything else.
  kvpb::StateSnapshot a, b;
  ASSERT_TRUE(a.ParseFromString(forward));
  ASSERT_TRUE(b.ParseFromString(backward));
  for (kvpb::StateSnapshot* s : {&a, &b}) {
    // Every command took effect (a state where all were refused would compare equal too).
    EXPECT_EQ(s->kv_size(), 2);
    EXPECT_EQ(s->pools_size(), 2);
    EXPECT_EQ(s->lbs_size(), 2);
    s->clear_kv();
    s->clear_sessions();
  }
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
}

TEST(SnapshotTest, EmptyStateRoundTrips) {
  KvState empty;
  const std::string bytes = empty.Snapshot();
  KvState restored;
  ASSERT_TRUE(restored.Restore(bytes).ok());
  EXPECT_EQ(restored.Snapshot(), bytes);
}

// --- Refusals ---

void ExpectRefused(const std::string& bytes, absl::StatusCode code) {
  Driver scratch;
  BuildRichState(scratch);  // a non-empty target: a refusal must leave it exactly as it was
  KvState& state = scratch.state();
  const std::string before = state.Snapshot();
  const absl::Status status = state.Restore(bytes);
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_EQ(state.Snapshot(), before) << "a refused Restore changed the state";
}

struct Mutation {
  std::string name;
  std::function<void(kvpb::StateSnapshot&)> mutate;
};

TEST(SnapshotTest, InvariantBreakingSnapshotsAreRefused) {
  Driver driver;
  BuildRichState(driver);
  const kvpb::StateSnapshot good = driver.DecodedSnapshot();
  ASSERT_GE(good.pools(1).slots_size(), 2);
  ASSERT_EQ(good.pools(0).name(), "g/empty");  // by name: "g/empty" < "g/p"
  const std::vector<Mutation> mutations = {
      {"format 2", [](auto& s) { s.set_format(2); }},
      {"format 0", [](auto& s) { s.set_format(0); }},
      {"negative time", [](auto& s) { s.set_time_nanos(-1); }},
      // Sessions.
      {"sessions out of order", [](auto& s) { s.mutable_sessions()->SwapElements(0, 1); }},
      {"duplicate session", [](auto& s) { *s.add_sessions() = s.sessions(1); }},
      {"session id 0", [](auto& s) { s.mutable_sessions(0)->set_id(0); }},
      {"session from the future", [](auto& s) { s.mutable_sessions(1)->set_id(s.applied_index() + 1); }},
      {"timeout too small", [](auto& s) { s.mutable_sessions(0)->set_timeout_nanos(kSecond - 1); }},
      {"timeout too large", [](auto& s) { s.mutable_sessions(0)->set_timeout_nanos(3600 * kSecond + 1); }},
      {"active after time", [](auto& s) { s.mutable_sessions(0)->set_last_active_nanos(s.time_nanos() + 1); }},
      {"expired session kept", [](auto& s) { s.mutable_sessions(1)->set_last_active_nanos(0); }},
      {"cached out of order", [](auto& s) { s.mutable_sessions(0)->mutable_results()->SwapElements(0, 1); }},
      {"cached at the watermark",
       [](auto& s) { s.mutable_sessions(0)->set_acked_sequence(s.sessions(0).results(0).sequence()); }},
      {"cached with no code", [](auto& s) { s.mutable_sessions(0)->mutable_results(0)->mutable_result()->set_code(kvpb::CODE_UNSPECIFIED); }},
      {"cached with unknown code",
       [](auto& s) { s.mutable_sessions(0)->mutable_results(0)->mutable_result()->set_code(static_cast<kvpb::Code>(99)); }},
      {"too many cached", [](auto& s) {
         kvpb::SessionState* session = s.mutable_sessions(0);
         uint64_t sequence = session->results(session->results_size() - 1).sequence();
         while (session->results_size() <= 4096) {
           kvpb::CachedResult* extra = session->add_results();
           extra->set_sequence(++sequence);
           extra->mutable_result()->set_code(kvpb::CODE_OK);
         }
       }},
      // KV.
      {"kv out of order", [](auto& s) {
         *s.add_kv() = s.kv(0);
         s.mutable_kv(1)->set_key("a/a/a");
       }},
      {"kv duplicate", [](auto& s) { *s.add_kv() = s.kv(0); }},
      {"kv bad key", [](auto& s) { s.mutable_kv(0)->set_key("g/b"); }},
      {"kv value too large", [](auto& s) { s.mutable_kv(0)->set_value(std::string(64 * 1024 + 1, 'v')); }},
      {"kv version 0", [](auto& s) { s.mutable_kv(0)->set_version(0); }},
      {"kv version from the future", [](auto& s) { s.mutable_kv(0)->set_version(s.applied_index() + 1); }},
      // Pools.
      {"pools out of order", [](auto& s) { s.mutable_pools()->SwapElements(0, 1); }},
      {"pool duplicate", [](auto& s) { *s.add_pools() = s.pools(1); }},
      {"pool bad name", [](auto& s) { s.mutable_pools(1)->set_name("g/p/q"); }},
      {"pool capacity too large", [](auto& s) { s.mutable_pools(1)->set_capacity(1'000'001); }},
      {"busy above capacity", [](auto& s) { s.mutable_pools(1)->set_capacity(s.pools(1).slots_size() - 1); }},
      {"slot held twice", [](auto& s) { *s.mutable_pools(1)->add_slots() = s.pools(1).slots(0); }},
      {"slot held twice in order", [](auto& s) {
         s.mutable_pools(1)->mutable_slots(1)->set_slot(s.pools(1).slots(0).slot());
       }},
      {"slots out of order", [](auto& s) { s.mutable_pools(1)->mutable_slots()->SwapElements(0, 1); }},
      {"slot id too large", [](auto& s) {
         s.mutable_pools(1)->set_capacity(1'000'000);
         s.mutable_pools(1)->mutable_slots(s.pools(1).slots_size() - 1)->set_slot(1'000'000);
       }},
      {"slot bad owner", [](auto& s) { s.mutable_pools(1)->mutable_slots(0)->set_owner(""); }},
      {"slot of unknown session", [](auto& s) { s.mutable_pools(1)->mutable_slots(0)->set_session(777777); }},
      // Load balancers.
      {"lbs out of order", [](auto& s) { s.mutable_lbs()->SwapElements(0, 1); }},
      {"lb duplicate", [](auto& s) { *s.add_lbs() = s.lbs(0); }},
      {"lb bad group", [](auto& s) { s.mutable_lbs(0)->set_group("a/b"); }},
      {"unknown policy", [](auto& s) { s.mutable_lbs(0)->mutable_stats()->set_policy(static_cast<kvpb::Policy>(9)); }},
      {"policy unspecified", [](auto& s) { s.mutable_lbs(0)->mutable_stats()->set_policy(kvpb::POLICY_UNSPECIFIED); }},
      {"virtual nodes 0", [](auto& s) { s.mutable_lbs(0)->mutable_stats()->set_virtual_nodes(0); }},
      {"virtual nodes too many", [](auto& s) { s.mutable_lbs(0)->mutable_stats()->set_virtual_nodes(1025); }},
      {"backends out of order", [](auto& s) { s.mutable_lbs(0)->mutable_stats()->mutable_backends()->SwapElements(0, 1); }},
      {"backend duplicate", [](auto& s) {
         kvpb::LbStats* stats = s.mutable_lbs(0)->mutable_stats();
         *stats->add_backends() = stats->backends(stats->backends_size() - 1);
       }},
      {"backend bad name", [](auto& s) { s.mutable_lbs(0)->mutable_stats()->mutable_backends(0)->set_name(""); }},
      {"backend weight 0", [](auto& s) { s.mutable_lbs(0)->mutable_stats()->mutable_backends(0)->set_weight(0); }},
      {"backend weight 1001", [](auto& s) { s.mutable_lbs(0)->mutable_stats()->mutable_backends(0)->set_weight(1001); }},
      {"running weight outside wrr", [](auto& s) {
         // lbs by group: ch, lc, rr, wrr; lc has no running weights.
         s.mutable_lbs(1)->mutable_stats()->mutable_backends(0)->set_current_weight(3);
       }},
      {"bad last picked", [](auto& s) { s.mutable_lbs(0)->mutable_stats()->set_last_picked(std::string(129, 'x')); }},
  };
  for (const Mutation& mutation : mutations) {
    SCOPED_TRACE(mutation.name);
    kvpb::StateSnapshot bad = good;
    mutation.mutate(bad);
    ExpectRefused(bad.SerializeAsString(), absl::StatusCode::kInvalidArgument);
  }
  // The unmutated snapshot is accepted: the refusals above are the mutations' doing.
  KvState check;
  EXPECT_TRUE(check.Restore(good.SerializeAsString()).ok());
}

TEST(SnapshotTest, UnparseableBytesAreDataLoss) {
  Driver driver;
  BuildRichState(driver);
  const std::string bytes = driver.state().Snapshot();
  ExpectRefused("\xff\xff\xff", absl::StatusCode::kDataLoss);
  ExpectRefused(bytes.substr(0, bytes.size() - 1), absl::StatusCode::kDataLoss);  // mid-field
}

// Whatever a prefix or a bit flip turns the snapshot into, Restore either refuses it and
// changes nothing, or accepts it and the resulting state satisfies every invariant.
TEST(SnapshotTest, TruncatedAndFlippedSnapshotsNeverBreakInvariants) {
  Driver driver;
  BuildRichState(driver);
  const std::string bytes = driver.state().Snapshot();
  int refused = 0;
  int tried = 0;
  const auto attempt = [&](const std::string& candidate) {
    ++tried;
    KvState state;
    ASSERT_TRUE(state.Restore(bytes).ok());
    const absl::Status status = state.Restore(candidate);
    if (!status.ok()) {
      ++refused;
      EXPECT_EQ(state.Snapshot(), bytes);
    } else {
      EXPECT_TRUE(state.CheckInvariants().ok()) << state.CheckInvariants();
    }
  };
  for (size_t length = 0; length < bytes.size(); length += 7) attempt(bytes.substr(0, length));
  for (size_t bit = 0; bit < bytes.size() * 8; bit += 13) {
    std::string flipped = bytes;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    attempt(flipped);
  }
  EXPECT_GT(refused, tried / 2) << "most damage is detected";
}

}  // namespace
}  // namespace keel::kvstate::testing
