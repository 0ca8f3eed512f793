// One load balancer group (kvstate/README.md "Load balancers"): its backends and the state
// its policy picks with. Requests are validated by LoadBalancers before they get here, so
// everything below works on well-formed names and values.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kvstate/kv.pb.h"

namespace keel::kvstate {

inline constexpr uint32_t kDefaultVirtualNodes = 64;
inline constexpr uint32_t kMaxVirtualNodes = 1024;
inline constexpr uint32_t kMaxBackendWeight = 1000;

// True for the four policies of kv.proto (proto3 enums can carry any number).
bool IsKnownPolicy(int policy);

class LoadBalancer {
 public:
  // Preconditions: IsKnownPolicy(policy), virtual_nodes in [1, kMaxVirtualNodes].
  LoadBalancer(kvpb::Policy policy, uint32_t virtual_nodes);

  // Adds `name` (up, no active picks, current weight 0) or changes only its weight.
  // Precondition: weight in [1, kMaxBackendWeight].
  void SetBackend(const std::string& name, uint32_t weight);
  // False if there is no such backend.
  bool RemoveBackend(const std::string& name);
  // False if there is no such backend.
  bool Mark(const std::string& name, bool up);
  // The backend the policy chooses, whose active count rises and which becomes last_picked;
  // null if no backend is up. `client_key` matters to consistent hashing only.
  const std::string* Pick(absl::string_view client_key);
  // A pick of `name` finished: CODE_OK (active -= 1), CODE_NOT_FOUND or CODE_NOT_HELD (active
  // is 0).
  kvpb::Code Done(const std::string& name);

  kvpb::LbStats Stats() const;
  // The group `stats` describes, or InvalidArgument: a known policy; virtual nodes in [1,
  // 1,024]; backends ascending, unique, with valid names and weights in [1, 1,000]; a current
  // weight of 0 unless the policy is smooth weighted round robin; last_picked empty or a valid
  // backend name (it may name a removed backend).
  static absl::StatusOr<LoadBalancer> FromStats(const kvpb::LbStats& stats);

  // The indexes (up set, least-connections order, ring) agree with the backends; for tests.
  absl::Status CheckConsistency() const;

  size_t backend_count() const { return backends_.size(); }
  size_t up_count() const { return up_.size(); }

 private:
  struct Backend {
    uint32_t weight = 1;
    bool up = true;
    uint64_t active = 0;
    int64_t current_weight = 0;
  };
  // One virtual node on the consistent-hash ring, ordered by (hash, backend, vnode).
  struct RingPoint {
    uint64_t hash;
    std::string backend;
    uint32_t vnode;
    friend bool operator<(const RingPoint& a, const RingPoint& b) {
      return std::tie(a.hash, a.backend, a.vnode) < std::tie(b.hash, b.backend, b.vnode);
    }
  };

  // The derived indexes of one backend: taken out before it changes and put back after, so
  // they never disagree with backends_.
  void Unindex(const std::string& name, const Backend& backend);
  void Index(const std::string& name, const Backend& backend);
  // Consistent hash: the ring changes only when a backend is added or removed (down backends
  // keep their points, so marking one down moves only the keys it had).
  void AddRingPoints(const std::string& name);
  void RemoveRingPoints(const std::string& name);
  // Every backend's points, sorted once (restoring a group: adding backends one by one would
  // merge the whole ring once per backend).
  void RebuildRing();
  // The `virtual_nodes_` points of backend `name`, unsorted.
  void AppendRingPoints(const std::string& name, std::vector<RingPoint>* points) const;

  const std::string* PickRoundRobin() const;
  const std::string* PickSmoothWeighted();
  const std::string* PickLeastConnections() const;
  const std::string* PickConsistentHash(absl::string_view client_key) const;

  kvpb::Policy policy_;
  uint32_t virtual_nodes_;
  std::string last_picked_;
  absl::btree_map<std::string, Backend> backends_;
  absl::btree_set<std::string> up_;  // names of the up backends
  // Least connections only: (active, name) of the up backends, so the pick is the first.
  absl::btree_set<std::pair<uint64_t, std::string>> by_active_;
  // Consistent hash only: every backend's virtual nodes, sorted.
  std::vector<RingPoint> ring_;
};

}  // namespace keel::kvstate
