// RapidCheck: random command sequences through KvState and the sequential model
// (kvstate/model/models.h) give equal results and equal states. The universe of names is small
// so that commands collide; the client side retries earlier (session, sequence) pairs, sends
// stale and malformed session fields and garbage bytes, and the leader clock jumps forwards
// (expiring sessions) and backwards. At random points the state is snapshotted and restored
// into a fresh KvState, which carries on.
#include <algorithm>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
// clang-format off: rapidcheck's gtest glue needs gtest first.
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
// clang-format on
#include "absl/strings/escaping.h"
#include "google/protobuf/util/message_differencer.h"
#include "kvstate/model/models.h"
#include "tests/kvstate/kv_test_util.h"

namespace keel::kvstate::testing {
namespace {

namespace gen = rc::gen;

// Uniform in [min, max): gen::inRange alone shrinks its range with RapidCheck's size, which
// would make early cases pick the first op and the first session almost always.
template <typename T>
T Uniform(T min, T max) {
  return *gen::resize(100, gen::inRange<T>(min, max));
}

// One of `valid` most of the time, one of `invalid` (names that break kv.proto's rules) now
// and then.
std::string Name(const std::vector<std::string>& valid, const std::vector<std::string>& invalid) {
  if (*gen::weightedElement<int>({{12, 0}, {1, 1}}) == 1) return *gen::elementOf(invalid);
  return *gen::elementOf(valid);
}

std::string Key() { return Name({"g/b/k1", "g/b/k2", "g/b/k12", "g/c/k1", "h/b/k1"}, {"g/b", "g/b/", "", "a/b/c/d"}); }
std::string Pool() { return Name({"g/p1", "g/p2"}, {"g", "g/p/x", ""}); }
std::string Owner() { return Name({"o1", "o2", "o3"}, {"", std::string(129, 'o')}); }
std::string Group() { return Name({"lb1", "lb2"}, {"l/b", ""}); }
std::string Backend() { return Name({"b1", "b2", "b3", "b4"}, {"", std::string(129, 'b')}); }

std::string Value() {
  return *gen::weightedElement<std::string>({{10, ""}, {10, "v"}, {10, "w"}, {1, std::string(64 * 1024 + 1, 'x')}});
}
uint64_t Capacity() { return *gen::elementOf(std::vector<uint64_t>{0, 1, 2, 3, 5, 1'000'001}); }

// A mutating command's op (README step 6), fields drawn from the small universe.
kvpb::Command MutationOp() {
  switch (Uniform(0, 18)) {
    case 0: return PutCmd(Key(), Value());
    case 1: return DeleteCmd(Key());
    case 2: return CasCmd(Key(), *gen::elementOf(std::vector<uint64_t>{0, 1, 2, 3, 5, 8, 13, 21}), Value());
    case 3: return PoolCreateCmd(Pool(), Capacity());
    case 4:
    case 5:
    case 6: return AcquireCmd(Pool(), Owner());
    case 7: return ReleaseCmd(Pool(), Uniform<uint64_t>(0, 5), Owner());
    case 8: return ResizeCmd(Pool(), Capacity());
    case 9:
      return LbCreateCmd(Group(), static_cast<kvpb::Policy>(*gen::weightedElement<int>({{1, 0}, {3, 1}, {3, 2}, {3, 3}, {3, 4}, {1, 5}})),
                         *gen::elementOf(std::vector<uint32_t>{0, 1, 2, 3, 1025}));
    case 10:
    case 11: return SetBackendCmd(Group(), Backend(), *gen::elementOf(std::vector<uint32_t>{0, 1, 2, 5, 1001}));
    case 12: return RemoveBackendCmd(Group(), Backend());
    case 13: return MarkCmd(Group(), Backend(), *gen::weightedElement<bool>({{1, false}, {2, true}}));
    case 14:
    case 15:
    case 16: return PickCmd(Group(), *gen::elementOf(std::vector<std::string>{"", "c1", "c2", "c3", "c4", "c5"}));
    default: return DoneCmd(Group(), Backend());
  }
}

kvpb::Command ReadOp() {
  switch (Uniform(0, 4)) {
    case 0: return GetCmd(Key());
    case 1:
      return ListCmd(*gen::elementOf(std::vector<std::string>{"", "g/", "g/b/", "g/b/k1", "zz", std::string(513, 'g')}),
                     *gen::elementOf(std::vector<uint32_t>{0, 1, 2, 1001}));
    case 2: return PoolStatsCmd(Pool());
    default: return LbStatsCmd(Group());
  }
}

// Random bytes; the rare ones that parse as a command with an op must keep the clock sane
// (the model computes last_active + timeout without overflow protection).
std::string Garbage() {
  std::string bytes = *gen::container<std::string>(Uniform<size_t>(0, 24), gen::arbitrary<char>());
  kvpb::Command parsed;
  if (parsed.ParseFromString(bytes) && parsed.op_case() != kvpb::Command::OP_NOT_SET &&
      parsed.leader_time_nanos() > (int64_t{1} << 50)) {
    bytes = "\xff";
  }
  return bytes;
}

// The model's whole state in KvState's snapshot form, for a state-by-state comparison.
kvpb::StateSnapshot ModelSnapshot(const model::StateModel& model, Index applied_index) {
  kvpb::StateSnapshot snapshot;
  snapshot.set_format(1);
  snapshot.set_applied_index(applied_index);
  snapshot.set_time_nanos(model.time_nanos);
  for (const auto& [id, session] : model.sessions) {
    kvpb::SessionState* state = snapshot.add_sessions();
    state->set_id(id);
    state->set_timeout_nanos(session.timeout_nanos);
    state->set_last_active_nanos(session.last_active_nanos);
    state->set_acked_sequence(session.acked);
    for (const auto& [sequence, result] : session.cached) {
      kvpb::CachedResult* cached = state->add_results();
      cached->set_sequence(sequence);
      *cached->mutable_result() = result;
    }
  }
  for (const auto& [key, item] : model.kv.items) {
    kvpb::KeyValue* entry = snapshot.add_kv();
    entry->set_key(key);
    entry->set_value(item.value);
    entry->set_version(item.version);
  }
  for (const auto& [name, pool] : model.pools) {
    if (!pool.exists) continue;
    kvpb::PoolState* state = snapshot.add_pools();
    state->set_name(name);
    state->set_capacity(pool.capacity);
    for (const auto& [slot, holder] : pool.held) {
      kvpb::SlotState* slot_state = state->add_slots();
      slot_state->set_slot(slot);
      slot_state->set_owner(holder.owner);
      slot_state->set_session(holder.session);
    }
  }
  for (const auto& [group, lb] : model.lbs) {
    if (!lb.exists) continue;
    kvpb::LbState* state = snapshot.add_lbs();
    state->set_group(group);
    *state->mutable_stats() = lb.Stats();
  }
  return snapshot;
}

// KvState's snapshot without the people-only error texts of cached results.
kvpb::StateSnapshot RealSnapshot(const KvState& state) {
  kvpb::StateSnapshot snapshot;
  RC_ASSERT(snapshot.ParseFromString(state.Snapshot()));
  for (kvpb::SessionState& session : *snapshot.mutable_sessions()) {
    for (kvpb::CachedResult& cached : *session.mutable_results()) cached.mutable_result()->clear_error();
  }
  return snapshot;
}

void ExpectSameMessage(const google::protobuf::Message& real, const google::protobuf::Message& model,
                       const std::string& what) {
  std::string diff;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  if (!differencer.Compare(model, real)) RC_FAIL(what + " differs (model -> KvState):\n" + diff);
}

// The client side of the random run: sessions ever registered (some closed or expired since),
// their next sequence numbers, and every mutating command sent, for retries.
class RandomRun {
 public:
  explicit RandomRun(bool compare_states) : compare_states_(compare_states) {}

  void Run(int steps) {
    for (int step = 0; step < steps; ++step) Step();
  }

 private:
  // Mostly a live session (the model knows which), sometimes any session ever registered
  // (maybe closed or expired since), sometimes none or one never registered.
  uint64_t SomeSession() {
    const int choice = sessions_.empty() ? 0 : *gen::weightedElement<int>({{1, 0}, {4, 1}, {15, 2}});
    if (choice == 0) return *gen::element<uint64_t>(0, 999'999);
    if (choice == 1 || model_.sessions.empty()) return *gen::elementOf(sessions_);
    auto live = model_.sessions.begin();
    std::advance(live, Uniform<size_t>(0, model_.sessions.size()));
    return live->first;
  }

  // The leader clock: mostly small steps, sometimes exactly a timeout (to hit the
  // "last_active + timeout < time" boundary), rarely past every timeout or backwards.
  void AdvanceClock() {
    switch (*gen::weightedElement<int>({{40, 0}, {30, 1}, {8, 2}, {4, 3}, {1, 4}, {2, 5}})) {
      case 0: break;
      case 1: clock_ += Uniform<int64_t>(0, kSecond / 4); break;
      case 2: clock_ += kSecond; break;
      case 3: clock_ += *gen::element<int64_t>(1, 2 * kSecond, 2 * kSecond + 1); break;
      case 4: clock_ += 2 * 3600 * kSecond; break;  // past every timeout
      default: clock_ -= Uniform<int64_t>(0, 10 * kSecond); break;  // a leader behind
    }
  }

  kvpb::Command Mutation() {
    kvpb::Command command = MutationOp();
    const uint64_t session = SomeSession();
    uint64_t& next = next_sequence_[session];
    if (next == 0) next = 1;
    uint64_t sequence = next;
    switch (*gen::weightedElement<int>({{20, 0}, {1, 1}, {1, 2}})) {
      case 0: ++next; break;
      case 1: sequence = 0; break;
      default: sequence = next + Uniform<uint64_t>(1, 3); next = sequence + 1; break;  // skips some
    }
    uint64_t acked = 0;
    switch (*gen::weightedElement<int>({{6, 0}, {6, 1}, {3, 2}, {1, 3}})) {
      case 0: acked = 0; break;
      case 1: acked = sequence == 0 ? 0 : sequence - 1; break;
      case 2: acked = sequence == 0 ? 0 : Uniform<uint64_t>(0, sequence); break;
      default: acked = sequence; break;  // invalid: acknowledges the command itself
    }
    command.set_session(session);
    command.set_sequence(sequence);
    command.set_acked_sequence(acked);
    sent_.push_back(command);
    return command;
  }

  // A retry of a recent command mostly (its session is likely alive), of any earlier one
  // sometimes.
  kvpb::Command Retry() {
    const size_t recent = std::min<size_t>(sent_.size(), 8);
    const size_t back = *gen::weightedElement<int>({{4, 0}, {1, 1}}) == 0 ? Uniform<size_t>(0, recent)
                                                                          : Uniform<size_t>(0, sent_.size());
    kvpb::Command command = sent_[sent_.size() - 1 - back];
    if (*gen::weightedElement<int>({{3, 0}, {1, 1}}) == 1) {
      // The retry may carry a newer acknowledgement, as a client that got later results would.
      const uint64_t sequence = command.sequence();
      command.set_acked_sequence(sequence == 0 ? 0 : Uniform<uint64_t>(0, sequence));
    }
    return command;
  }

  void Step() {
    AdvanceClock();
    const int kind = *gen::weightedElement<int>(
        {{model_.sessions.empty() ? 30u : 3u, 0}, {3, 1}, {1, 2}, {40, 3}, {8, 4}, {sent_.empty() ? 0u : 10u, 5}, {2, 6}, {2, 7}});
    std::string data;
    kvpb::Command command;
    switch (kind) {
      case 0:
        command = RegisterCmd(*gen::weightedElement<int64_t>(
            {{6, 0}, {2, 3600 * kSecond}, {1, kSecond}, {1, 2 * kSecond}, {1, -5}, {1, 7200 * kSecond}}));
        break;
      case 1:
      case 2:
        command = kind == 1 ? KeepAliveCmd() : CloseCmd();
        command.set_session(SomeSession());
        command.set_acked_sequence(Uniform<uint64_t>(0, 6));
        break;
      case 3: command = Mutation(); break;
      case 4:
        command = ReadOp();
        command.set_session(Uniform<uint64_t>(0, 3));  // ignored by reads
        command.set_sequence(Uniform<uint64_t>(0, 3));
        break;
      case 5: command = Retry(); break;
      case 6: data = Garbage(); break;
      default: SnapshotAndRestore(); return;
    }
    if (kind != 6) {
      command.set_leader_time_nanos(clock_);
      data = command.SerializeAsString();
    }
    const Index index = next_index_++;
    kvpb::Result real;
    RC_ASSERT(real.ParseFromString(real_->Apply(index, data)));
    kvpb::Result expected = model_.Apply(index, data);
    // The error text is for people; every other field must agree.
    real.clear_error();
    expected.clear_error();
    const std::string what = kind == 6 ? "result of garbage \"" + absl::CEscape(data) + "\""
                                       : "result of " + command.ShortDebugString();
    ExpectSameMessage(real, expected, what);
    if (kind == 0 && real.code() == kvpb::CODE_OK) sessions_.push_back(real.session());
    const absl::Status invariants = real_->CheckInvariants();
    if (!invariants.ok()) RC_FAIL("KvState invariants: " + invariants.ToString());
    if (compare_states_) {
      ExpectSameMessage(RealSnapshot(*real_), ModelSnapshot(model_, real_->applied_index()), "state");
    }
  }

  void SnapshotAndRestore() {
    const std::string bytes = real_->Snapshot();
    auto restored = std::make_unique<KvState>();
    const absl::Status status = restored->Restore(bytes);
    if (!status.ok()) RC_FAIL("Restore refused its own snapshot: " + status.ToString());
    RC_ASSERT(restored->Snapshot() == bytes);
    real_ = std::move(restored);
  }

  const bool compare_states_;
  std::unique_ptr<KvState> real_ = std::make_unique<KvState>();
  model::StateModel model_;
  Index next_index_ = 1;
  int64_t clock_ = 0;
  std::vector<uint64_t> sessions_;
  std::map<uint64_t, uint64_t> next_sequence_;
  std::vector<kvpb::Command> sent_;  // every mutating command, for retries
};

RC_GTEST_PROP(KvStateModelTest, ResultsMatchTheModel, ()) {
  RandomRun run(/*compare_states=*/false);
  run.Run(*gen::inRange(1, 300));
}

RC_GTEST_PROP(KvStateModelTest, StatesMatchTheModelAfterEveryEntry, ()) {
  RandomRun run(/*compare_states=*/true);
  run.Run(*gen::inRange(1, 120));
}

// Dedupe under retries: every mutation is sent twice in a row (the first reply was "lost").
// The retry gets the very same bytes and the objects do not change.
RC_GTEST_PROP(KvStateModelTest, ImmediateRetriesAreAnsweredFromTheCache, ()) {
  KvState state;
  Index index = 1;
  const auto apply = [&](const kvpb::Command& command) { return state.Apply(index++, command.SerializeAsString()); };
  kvpb::Result registered;
  RC_ASSERT(registered.ParseFromString(apply(RegisterCmd(3600 * kSecond))));
  const uint64_t session = registered.session();
  const int steps = *gen::inRange(1, 150);
  for (int sequence = 1; sequence <= steps; ++sequence) {
    kvpb::Command command = MutationOp();
    command.set_session(session);
    command.set_sequence(sequence);
    command.set_acked_sequence(Uniform(0, sequence));
    const std::string first = apply(command);
    kvpb::StateSnapshot before;
    RC_ASSERT(before.ParseFromString(state.Snapshot()));
    const std::string retry = apply(command);
    RC_ASSERT(retry == first);
    kvpb::StateSnapshot after;
    RC_ASSERT(after.ParseFromString(state.Snapshot()));
    // Only the applied index moved: sessions, keys, pools and load balancers are as they were.
    after.set_applied_index(before.applied_index());
    RC_ASSERT(after.SerializeAsString() == before.SerializeAsString());
  }
}

}  // namespace
}  // namespace keel::kvstate::testing
