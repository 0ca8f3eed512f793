// The load balancer groups (kvstate/README.md "Load balancers"): request validation and the
// group lookup; the policies live in load_balancer.h.
#pragma once

#include <string>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kvstate/kv.pb.h"
#include "kvstate/load_balancer.h"

namespace keel::kvstate {

class LoadBalancers {
 public:
  // Each operation validates its request first (INVALID_ARGUMENT, nothing changes), then
  // finds the group (NOT_FOUND) and answers as README "Load balancers" says.
  kvpb::Result Create(const kvpb::LbCreate& request);
  kvpb::Result SetBackend(const kvpb::LbSetBackend& request);
  kvpb::Result RemoveBackend(const kvpb::LbRemoveBackend& request);
  kvpb::Result Mark(const kvpb::LbMark& request);
  kvpb::Result Pick(const kvpb::LbPick& request);
  kvpb::Result Done(const kvpb::LbDone& request);
  kvpb::Result Stats(const kvpb::LbStatsRequest& request) const;

  // Appends every group by name.
  void AppendTo(kvpb::StateSnapshot* snapshot) const;
  // The groups of `snapshot`, or InvalidArgument: names ascending, unique and valid, and each
  // group valid (LoadBalancer::FromStats).
  static absl::StatusOr<LoadBalancers> FromSnapshot(const kvpb::StateSnapshot& snapshot);

  absl::Status CheckConsistency() const;

  size_t size() const { return groups_.size(); }
  // Backends in every group, and those of them up (for gauges; O(groups)).
  uint64_t TotalBackends() const;
  uint64_t TotalUp() const;

 private:
  absl::btree_map<std::string, LoadBalancer> groups_;
};

}  // namespace keel::kvstate
