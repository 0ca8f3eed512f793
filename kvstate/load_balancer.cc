#include "kvstate/load_balancer.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "kvstate/names.h"
#include "kvstate/ring_hash.h"

namespace keel::kvstate {
namespace {

// Smooth weighted round robin's running weights change by at most the total weight per pick;
// wrapping arithmetic keeps an adversarial snapshot value from being undefined behaviour.
int64_t WrappingAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

}  // namespace

bool IsKnownPolicy(int policy) {
  return policy >= kvpb::POLICY_ROUND_ROBIN && policy <= kvpb::POLICY_CONSISTENT_HASH;
}

LoadBalancer::LoadBalancer(kvpb::Policy policy, uint32_t virtual_nodes)
    : policy_(policy), virtual_nodes_(virtual_nodes) {
  KEEL_ASSERT(IsKnownPolicy(policy));
  KEEL_ASSERT(virtual_nodes >= 1 && virtual_nodes <= kMaxVirtualNodes);
}

void LoadBalancer::Unindex(const std::string& name, const Backend& backend) {
  if (!backend.up) return;
  const size_t erased = up_.erase(name);
  KEEL_ASSERT(erased == 1);
  if (policy_ == kvpb::POLICY_LEAST_CONNECTIONS) {
    const size_t erased_active = by_active_.erase({backend.active, name});
    KEEL_ASSERT(erased_active == 1);
  }
}

void LoadBalancer::Index(const std::string& name, const Backend& backend) {
  if (!backend.up) return;
  const bool inserted = up_.insert(name).second;
  KEEL_ASSERT(inserted);
  if (policy_ == kvpb::POLICY_LEAST_CONNECTIONS) {
    const bool inserted_active = by_active_.emplace(backend.active, name).second;
    KEEL_ASSERT(inserted_active);
  }
}

void LoadBalancer::AppendRingPoints(const std::string& name, std::vector<RingPoint>* points) const {
  for (uint32_t vnode = 0; vnode < virtual_nodes_; ++vnode) {
    points->push_back(RingPoint{RingHash(absl::StrCat(name, "#", vnode)), name, vnode});
  }
}

void LoadBalancer::AddRingPoints(const std::string& name) {
  if (policy_ != kvpb::POLICY_CONSISTENT_HASH) return;
  std::vector<RingPoint> points;
  points.reserve(virtual_nodes_);
  AppendRingPoints(name, &points);
  std::sort(points.begin(), points.end());
  // A merge, not a re-sort: adding a backend costs O(ring), not O(ring log ring).
  std::vector<RingPoint> merged;
  merged.reserve(ring_.size() + points.size());
  std::merge(std::make_move_iterator(ring_.begin()), std::make_move_iterator(ring_.end()),
             std::make_move_iterator(points.begin()), std::make_move_iterator(points.end()),
             std::back_inserter(merged));
  ring_ = std::move(merged);
}

void LoadBalancer::RebuildRing() {
  ring_.clear();
  if (policy_ != kvpb::POLICY_CONSISTENT_HASH) return;
  ring_.reserve(backends_.size() * virtual_nodes_);
  for (const auto& [name, backend] : backends_) AppendRingPoints(name, &ring_);
  std::sort(ring_.begin(), ring_.end());
}

void LoadBalancer::RemoveRingPoints(const std::string& name) {
  if (policy_ != kvpb::POLICY_CONSISTENT_HASH) return;
  const size_t erased = std::erase_if(ring_, [&](const RingPoint& point) { return point.backend == name; });
  KEEL_ASSERT(erased == virtual_nodes_);
}

void LoadBalancer::SetBackend(const std::string& name, uint32_t weight) {
  KEEL_ASSERT(weight >= 1 && weight <= kMaxBackendWeight);
  const auto [it, inserted] = backends_.try_emplace(name);
  it->second.weight = weight;
  if (!inserted) return;  // an existing backend keeps its state and ring points
  Index(name, it->second);
  AddRingPoints(name);
}

bool LoadBalancer::RemoveBackend(const std::string& name) {
  const auto it = backends_.find(name);
  if (it == backends_.end()) return false;
  Unindex(name, it->second);
  backends_.erase(it);
  RemoveRingPoints(name);
  return true;
}

bool LoadBalancer::Mark(const std::string& name, bool up) {
  const auto it = backends_.find(name);
  if (it == backends_.end()) return false;
  Unindex(name, it->second);
  it->second.up = up;
  Index(name, it->second);
  return true;
}

const std::string* LoadBalancer::PickRoundRobin() const {
  auto it = up_.upper_bound(last_picked_);
  if (it == up_.end()) it = up_.begin();
  return &*it;
}

const std::string* LoadBalancer::PickSmoothWeighted() {
  // nginx's smooth weighted round robin over the up backends in name order.
  int64_t total = 0;
  const std::string* best_name = nullptr;
  Backend* best = nullptr;
  for (auto& [name, backend] : backends_) {
    if (!backend.up) continue;
    backend.current_weight = WrappingAdd(backend.current_weight, backend.weight);
    total += backend.weight;
    if (best == nullptr || backend.current_weight > best->current_weight) {  // ties: first by name
      best_name = &name;
      best = &backend;
    }
  }
  KEEL_ASSERT(best != nullptr);
  best->current_weight = WrappingAdd(best->current_weight, -total);
  return best_name;
}

const std::string* LoadBalancer::PickLeastConnections() const {
  KEEL_ASSERT(by_active_.size() == up_.size());
  return &by_active_.begin()->second;
}

const std::string* LoadBalancer::PickConsistentHash(absl::string_view client_key) const {
  const uint64_t key_hash = RingHash(client_key);
  const auto start = std::lower_bound(ring_.begin(), ring_.end(), key_hash,
                                      [](const RingPoint& point, uint64_t hash) { return point.hash < hash; });
  const size_t first = static_cast<size_t>(start - ring_.begin());
  // Every up backend has points, so the walk ends within one turn of the ring.
  for (size_t step = 0; step < ring_.size(); ++step) {
    const RingPoint& point = ring_[(first + step) % ring_.size()];
    if (up_.contains(point.backend)) return &point.backend;
  }
  KEEL_ASSERT(false);
  return nullptr;
}

const std::string* LoadBalancer::Pick(absl::string_view client_key) {
  if (up_.empty()) return nullptr;
  const std::string* chosen = nullptr;
  switch (policy_) {
    case kvpb::POLICY_ROUND_ROBIN: chosen = PickRoundRobin(); break;
    case kvpb::POLICY_WEIGHTED_ROUND_ROBIN: chosen = PickSmoothWeighted(); break;
    case kvpb::POLICY_LEAST_CONNECTIONS: chosen = PickLeastConnections(); break;
    case kvpb::POLICY_CONSISTENT_HASH: chosen = PickConsistentHash(client_key); break;
    default: KEEL_ASSERT(false);
  }
  KEEL_ASSERT(chosen != nullptr);
  // `chosen` points into an index that Unindex is about to change: look the backend up by a copy.
  const std::string name = *chosen;
  const auto it = backends_.find(name);
  KEEL_ASSERT(it != backends_.end() && it->second.up);
  Unindex(name, it->second);
  it->second.active += 1;
  Index(name, it->second);
  last_picked_ = name;
  return &it->first;
}

kvpb::Code LoadBalancer::Done(const std::string& name) {
  const auto it = backends_.find(name);
  if (it == backends_.end()) return kvpb::CODE_NOT_FOUND;
  if (it->second.active == 0) return kvpb::CODE_NOT_HELD;
  Unindex(name, it->second);
  it->second.active -= 1;
  Index(name, it->second);
  return kvpb::CODE_OK;
}

kvpb::LbStats LoadBalancer::Stats() const {
  kvpb::LbStats stats;
  stats.set_policy(policy_);
  stats.set_last_picked(last_picked_);
  stats.set_virtual_nodes(virtual_nodes_);
  for (const auto& [name, backend] : backends_) {
    kvpb::BackendState* state = stats.add_backends();
    state->set_name(name);
    state->set_weight(backend.weight);
    state->set_up(backend.up);
    state->set_active(backend.active);
    state->set_current_weight(backend.current_weight);
  }
  return stats;
}

absl::StatusOr<LoadBalancer> LoadBalancer::FromStats(const kvpb::LbStats& stats) {
  if (!IsKnownPolicy(stats.policy())) return absl::InvalidArgumentError(absl::StrCat("unknown policy ", stats.policy()));
  if (stats.virtual_nodes() < 1 || stats.virtual_nodes() > kMaxVirtualNodes) {
    return absl::InvalidArgumentError("virtual nodes outside [1, 1024]");
  }
  if (!stats.last_picked().empty() && !IsMemberName(stats.last_picked())) {
    return absl::InvalidArgumentError("bad last picked backend");
  }
  LoadBalancer group(stats.policy(), stats.virtual_nodes());
  group.last_picked_ = stats.last_picked();
  const std::string* previous = nullptr;
  for (const kvpb::BackendState& state : stats.backends()) {
    if (!IsMemberName(state.name())) return absl::InvalidArgumentError("bad backend name");
    if (previous != nullptr && state.name() <= *previous) {
      return absl::InvalidArgumentError(absl::StrCat("backend \"", state.name(), "\" not ascending or duplicated"));
    }
    previous = &state.name();
    if (state.weight() < 1 || state.weight() > kMaxBackendWeight) {
      return absl::InvalidArgumentError(absl::StrCat("backend \"", state.name(), "\" weight outside [1, 1000]"));
    }
    if (stats.policy() != kvpb::POLICY_WEIGHTED_ROUND_ROBIN && state.current_weight() != 0) {
      return absl::InvalidArgumentError(absl::StrCat("backend \"", state.name(), "\" has a running weight"));
    }
    Backend backend{state.weight(), state.up(), state.active(), state.current_weight()};
    group.backends_.emplace_hint(group.backends_.end(), state.name(), backend);
    group.Index(state.name(), backend);
  }
  group.RebuildRing();
  return group;
}

absl::Status LoadBalancer::CheckConsistency() const {
  size_t up = 0;
  for (const auto& [name, backend] : backends_) {
    if (!backend.up) continue;
    ++up;
    if (!up_.contains(name)) return absl::InternalError(absl::StrCat(name, " up but not in the up set"));
    if (policy_ == kvpb::POLICY_LEAST_CONNECTIONS && !by_active_.contains({backend.active, name})) {
      return absl::InternalError(absl::StrCat(name, " missing from the least-connections order"));
    }
  }
  if (up != up_.size()) return absl::InternalError("up set has extra names");
  if (by_active_.size() != (policy_ == kvpb::POLICY_LEAST_CONNECTIONS ? up : 0)) {
    return absl::InternalError("least-connections order has extra entries");
  }
  const size_t ring_size = policy_ == kvpb::POLICY_CONSISTENT_HASH ? backends_.size() * virtual_nodes_ : 0;
  if (ring_.size() != ring_size) return absl::InternalError("ring size differs from backends x virtual nodes");
  if (!std::is_sorted(ring_.begin(), ring_.end())) return absl::InternalError("ring not sorted");
  for (const RingPoint& point : ring_) {
    if (!backends_.contains(point.backend)) return absl::InternalError("ring point of a removed backend");
  }
  return absl::OkStatus();
}

}  // namespace keel::kvstate
