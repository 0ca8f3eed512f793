// Helpers for the kvstate tests: command builders and a Driver that plays a leader appending
// entries (increasing indexes, a leader clock) and a well-behaved client (sessions, sequences
// and acknowledgements), checking KvState's invariants after every entry.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "kvstate/kv.pb.h"
#include "kvstate/kv_state.h"

namespace keel::kvstate::testing {

inline constexpr int64_t kSecond = 1'000'000'000;

// --- Command builders (only the op is set) ---
inline kvpb::Command RegisterCmd(int64_t timeout_nanos = 0) {
  kvpb::Command c;
  c.mutable_register_session()->set_timeout_nanos(timeout_nanos);
  return c;
}
inline kvpb::Command KeepAliveCmd() {
  kvpb::Command c;
  c.mutable_keep_alive();
  return c;
}
inline kvpb::Command CloseCmd() {
  kvpb::Command c;
  c.mutable_close_session();
  return c;
}
inline kvpb::Command GetCmd(absl::string_view key) {
  kvpb::Command c;
  c.mutable_kv_get()->set_key(std::string(key));
  return c;
}
inline kvpb::Command PutCmd(absl::string_view key, absl::string_view value) {
  kvpb::Command c;
  c.mutable_kv_put()->set_key(std::string(key));
  c.mutable_kv_put()->set_value(std::string(value));
  return c;
}
inline kvpb::Command DeleteCmd(absl::string_view key) {
  kvpb::Command c;
  c.mutable_kv_delete()->set_key(std::string(key));
  return c;
}
inline kvpb::Command CasCmd(absl::string_view key, uint64_t expected, absl::string_view value) {
  kvpb::Command c;
  c.mutable_kv_cas()->set_key(std::string(key));
  c.mutable_kv_cas()->set_expected_version(expected);
  c.mutable_kv_cas()->set_value(std::string(value));
  return c;
}
inline kvpb::Command ListCmd(absl::string_view prefix, uint32_t limit = 0) {
  kvpb::Command c;
  c.mutable_kv_list()->set_prefix(std::string(prefix));
  c.mutable_kv_list()->set_limit(limit);
  return c;
}
inline kvpb::Command PoolCreateCmd(absl::string_view pool, uint64_t capacity) {
  kvpb::Command c;
  c.mutable_pool_create()->set_pool(std::string(pool));
  c.mutable_pool_create()->set_capacity(capacity);
  return c;
}
inline kvpb::Command AcquireCmd(absl::string_view pool, absl::string_view owner) {
  kvpb::Command c;
  c.mutable_pool_acquire()->set_pool(std::string(pool));
  c.mutable_pool_acquire()->set_owner(std::string(owner));
  return c;
}
inline kvpb::Command ReleaseCmd(absl::string_view pool, uint64_t slot, absl::string_view owner) {
  kvpb::Command c;
  c.mutable_pool_release()->set_pool(std::string(pool));
  c.mutable_pool_release()->set_slot(slot);
  c.mutable_pool_release()->set_owner(std::string(owner));
  return c;
}
inline kvpb::Command ResizeCmd(absl::string_view pool, uint64_t capacity) {
  kvpb::Command c;
  c.mutable_pool_resize()->set_pool(std::string(pool));
  c.mutable_pool_resize()->set_capacity(capacity);
  return c;
}
inline kvpb::Command PoolStatsCmd(absl::string_view pool) {
  kvpb::Command c;
  c.mutable_pool_stats()->set_pool(std::string(pool));
  return c;
}
inline kvpb::Command LbCreateCmd(absl::string_view group, kvpb::Policy policy, uint32_t virtual_nodes = 0) {
  kvpb::Command c;
  c.mutable_lb_create()->set_group(std::string(group));
  c.mutable_lb_create()->set_policy(policy);
  c.mutable_lb_create()->set_virtual_nodes(virtual_nodes);
  return c;
}
inline kvpb::Command SetBackendCmd(absl::string_view group, absl::string_view backend, uint32_t weight = 0) {
  kvpb::Command c;
  c.mutable_lb_set_backend()->set_group(std::string(group));
  c.mutable_lb_set_backend()->set_backend(std::string(backend));
  c.mutable_lb_set_backend()->set_weight(weight);
  return c;
}
inline kvpb::Command RemoveBackendCmd(absl::string_view group, absl::string_view backend) {
  kvpb::Command c;
  c.mutable_lb_remove_backend()->set_group(std::string(group));
  c.mutable_lb_remove_backend()->set_backend(std::string(backend));
  return c;
}
inline kvpb::Command MarkCmd(absl::string_view group, absl::string_view backend, bool up) {
  kvpb::Command c;
  c.mutable_lb_mark()->set_group(std::string(group));
  c.mutable_lb_mark()->set_backend(std::string(backend));
  c.mutable_lb_mark()->set_up(up);
  return c;
}
inline kvpb::Command PickCmd(absl::string_view group, absl::string_view client_key = "") {
  kvpb::Command c;
  c.mutable_lb_pick()->set_group(std::string(group));
  c.mutable_lb_pick()->set_client_key(std::string(client_key));
  return c;
}
inline kvpb::Command DoneCmd(absl::string_view group, absl::string_view backend) {
  kvpb::Command c;
  c.mutable_lb_done()->set_group(std::string(group));
  c.mutable_lb_done()->set_backend(std::string(backend));
  return c;
}
inline kvpb::Command LbStatsCmd(absl::string_view group) {
  kvpb::Command c;
  c.mutable_lb_stats()->set_group(std::string(group));
  return c;
}

// The result bytes KvState::Apply returned, parsed; a parse failure fails the test.
inline kvpb::Result ParseResult(const std::string& bytes) {
  kvpb::Result result;
  EXPECT_TRUE(result.ParseFromString(bytes)) << "Apply returned bytes that are not a Result";
  return result;
}

// Drives one KvState as a leader and one client session would.
class Driver {
 public:
  explicit Driver(KvStateOptions options = {}) : state_(options) {}

  KvState& state() { return state_; }
  Index next_index() const { return next_index_; }
  int64_t leader_time() const { return leader_time_; }
  // The leader clock stamped on the next entries; may go backwards (a new leader behind).
  void set_leader_time(int64_t nanos) { leader_time_ = nanos; }
  void Advance(int64_t nanos) { leader_time_ += nanos; }
  // CheckInvariants costs O(state) per entry; tests that build large states switch it off.
  void set_check_invariants(bool check) { check_invariants_ = check; }

  // Appends `data` as the next entry and returns the parsed result.
  kvpb::Result ApplyBytes(absl::string_view data) {
    const kvpb::Result result = ParseResult(state_.Apply(next_index_++, data));
    if (check_invariants_) {
      const absl::Status invariants = state_.CheckInvariants();
      EXPECT_TRUE(invariants.ok()) << invariants;
    }
    return result;
  }
  // Appends `command` stamped with the leader clock, as is (session fields untouched).
  kvpb::Result Apply(kvpb::Command command) {
    command.set_leader_time_nanos(leader_time_);
    return ApplyBytes(command.SerializeAsString());
  }
  // Registers a session and makes it the client's session; returns its id.
  uint64_t Register(int64_t timeout_nanos = 0) {
    const kvpb::Result result = Apply(RegisterCmd(timeout_nanos));
    EXPECT_EQ(result.code(), kvpb::CODE_OK);
    session_ = result.session();
    next_sequence_ = 1;
    return session_;
  }
  // Sends `command` in the client's session with the next sequence, acknowledging every
  // earlier one (a well-behaved client that has all earlier results).
  kvpb::Result Do(kvpb::Command command) {
    const uint64_t sequence = next_sequence_++;
    return Send(std::move(command), session_, sequence, sequence - 1);
  }
  // Sends `command` with exactly these session fields (a retry, or a client misbehaving).
  kvpb::Result Send(kvpb::Command command, uint64_t session, uint64_t sequence, uint64_t acked) {
    command.set_session(session);
    command.set_sequence(sequence);
    command.set_acked_sequence(acked);
    return Apply(std::move(command));
  }
  uint64_t session() const { return session_; }

  // The state's snapshot, decoded, to look at fields no command reports (timeouts, time).
  kvpb::StateSnapshot DecodedSnapshot() const {
    kvpb::StateSnapshot snapshot;
    EXPECT_TRUE(snapshot.ParseFromString(state_.Snapshot()));
    return snapshot;
  }

 private:
  KvState state_;
  Index next_index_ = 1;
  int64_t leader_time_ = 0;
  uint64_t session_ = 0;
  uint64_t next_sequence_ = 1;
  bool check_invariants_ = true;
};

}  // namespace keel::kvstate::testing
