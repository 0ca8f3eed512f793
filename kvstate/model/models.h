// Sequential models of kvstate's objects (kvstate/README.md "Semantics"): written separately
// from the state machine and as plainly as possible (std::map, linear scans, no caching), so
// that they are easy to believe. The RapidCheck tests run random commands through both and
// compare every result; the linearizability checker (sim/checker) steps the per-object models.
//
// Results carry no `error` text: tests compare every field but that one.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kvstate/kv.pb.h"

namespace keel::kvstate::model {

// A result with just a code.
kvpb::Result Code(kvpb::Code code);

// The name rules of kv.proto.
bool IsKey(const std::string& key);          // "group/block/key"
bool IsPoolName(const std::string& name);    // "group/block"
bool IsGroupName(const std::string& name);   // "group"
bool IsMemberName(const std::string& name);  // backend or owner: 1..128 bytes

// The key-value store (or any part of it: the checker keeps one block per partition).
struct KvModel {
  struct Item {
    std::string value;
    uint64_t version = 0;
    bool operator==(const Item&) const = default;
  };
  std::map<std::string, Item> items;

  // kv_get, kv_put, kv_delete, kv_cas, kv_list; anything else is INVALID_ARGUMENT.
  kvpb::Result Apply(const kvpb::Command& command, uint64_t index);
  bool operator==(const KvModel&) const = default;
};

// One connection pool, which may not exist yet.
struct PoolModel {
  struct Holder {
    std::string owner;
    uint64_t session = 0;
    bool operator==(const Holder&) const = default;
  };
  bool exists = false;
  uint64_t capacity = 0;
  std::map<uint64_t, Holder> held;  // slot -> holder

  // pool_create, pool_acquire (held by command.session()), pool_release, pool_resize,
  // pool_stats.
  kvpb::Result Apply(const kvpb::Command& command);
  // The session ended: its slots are free.
  void ReleaseSession(uint64_t session);
  kvpb::PoolStats Stats() const;
  bool operator==(const PoolModel&) const = default;
};

// One load balancer group, which may not exist yet.
struct LbModel {
  struct Backend {
    uint32_t weight = 1;
    bool up = true;
    uint64_t active = 0;
    int64_t current_weight = 0;
    bool operator==(const Backend&) const = default;
  };
  bool exists = false;
  kvpb::Policy policy = kvpb::POLICY_UNSPECIFIED;
  uint32_t virtual_nodes = 0;
  std::string last_picked;
  std::map<std::string, Backend> backends;

  // lb_create, lb_set_backend, lb_remove_backend, lb_mark, lb_pick, lb_done, lb_stats.
  kvpb::Result Apply(const kvpb::Command& command);
  kvpb::LbStats Stats() const;
  bool operator==(const LbModel&) const = default;
};

// kv.proto's RingHash: FNV-1a 64 then splitmix64's finaliser.
uint64_t RingHash(const std::string& bytes);

// The whole state machine: time, sessions with their cached results, and every object.
struct StateModel {
  struct Session {
    int64_t timeout_nanos = 0;
    int64_t last_active_nanos = 0;
    uint64_t acked = 0;
    std::map<uint64_t, kvpb::Result> cached;  // sequence -> result
  };
  int64_t time_nanos = 0;
  std::map<uint64_t, Session> sessions;
  KvModel kv;
  std::map<std::string, PoolModel> pools;
  std::map<std::string, LbModel> lbs;
  // True: behave like the planted bug apply-twice (no dedupe), to test the tests.
  bool apply_twice = false;

  // Applies one log entry's data, as KvState::Apply does.
  kvpb::Result Apply(uint64_t index, const std::string& data);
};

}  // namespace keel::kvstate::model
