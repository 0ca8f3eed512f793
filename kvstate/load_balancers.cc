#include "kvstate/load_balancers.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "kvstate/names.h"
#include "kvstate/results.h"

namespace keel::kvstate {
namespace {

constexpr absl::string_view kBadGroup = "group must be one non-empty part without '/', at most 128 bytes";
constexpr absl::string_view kBadBackend = "backend must be 1..128 bytes";

kvpb::Result NoGroup() { return ErrorResult(kvpb::CODE_NOT_FOUND, "no such load balancer"); }
kvpb::Result NoBackend() { return ErrorResult(kvpb::CODE_NOT_FOUND, "no such backend"); }

}  // namespace

kvpb::Result LoadBalancers::Create(const kvpb::LbCreate& request) {
  if (!IsGroupName(request.group())) return InvalidArgument(kBadGroup);
  if (!IsKnownPolicy(request.policy())) return InvalidArgument("policy must be 1..4");
  if (request.virtual_nodes() > kMaxVirtualNodes) return InvalidArgument("virtual nodes above 1,024");
  if (groups_.contains(request.group())) return ErrorResult(kvpb::CODE_ALREADY_EXISTS, "load balancer exists");
  const uint32_t virtual_nodes = request.virtual_nodes() == 0 ? kDefaultVirtualNodes : request.virtual_nodes();
  groups_.emplace(request.group(), LoadBalancer(request.policy(), virtual_nodes));
  return OkResult();
}

kvpb::Result LoadBalancers::SetBackend(const kvpb::LbSetBackend& request) {
  if (!IsGroupName(request.group())) return InvalidArgument(kBadGroup);
  if (!IsMemberName(request.backend())) return InvalidArgument(kBadBackend);
  if (request.weight() > kMaxBackendWeight) return InvalidArgument("weight above 1,000");
  const auto it = groups_.find(request.group());
  if (it == groups_.end()) return NoGroup();
  it->second.SetBackend(request.backend(), request.weight() == 0 ? 1 : request.weight());
  return OkResult();
}

kvpb::Result LoadBalancers::RemoveBackend(const kvpb::LbRemoveBackend& request) {
  if (!IsGroupName(request.group())) return InvalidArgument(kBadGroup);
  if (!IsMemberName(request.backend())) return InvalidArgument(kBadBackend);
  const auto it = groups_.find(request.group());
  if (it == groups_.end()) return NoGroup();
  return it->second.RemoveBackend(request.backend()) ? OkResult() : NoBackend();
}

kvpb::Result LoadBalancers::Mark(const kvpb::LbMark& request) {
  if (!IsGroupName(request.group())) return InvalidArgument(kBadGroup);
  if (!IsMemberName(request.backend())) return InvalidArgument(kBadBackend);
  const auto it = groups_.find(request.group());
  if (it == groups_.end()) return NoGroup();
  return it->second.Mark(request.backend(), request.up()) ? OkResult() : NoBackend();
}

kvpb::Result LoadBalancers::Pick(const kvpb::LbPick& request) {
  if (!IsGroupName(request.group())) return InvalidArgument(kBadGroup);
  const auto it = groups_.find(request.group());
  if (it == groups_.end()) return NoGroup();
  const std::string* backend = it->second.Pick(request.client_key());
  if (backend == nullptr) return ErrorResult(kvpb::CODE_NO_BACKEND, "no backend is up");
  kvpb::Result result = OkResult();
  result.set_backend(*backend);
  return result;
}

kvpb::Result LoadBalancers::Done(const kvpb::LbDone& request) {
  if (!IsGroupName(request.group())) return InvalidArgument(kBadGroup);
  if (!IsMemberName(request.backend())) return InvalidArgument(kBadBackend);
  const auto it = groups_.find(request.group());
  if (it == groups_.end()) return NoGroup();
  switch (it->second.Done(request.backend())) {
    case kvpb::CODE_OK: return OkResult();
    case kvpb::CODE_NOT_FOUND: return NoBackend();
    default: return ErrorResult(kvpb::CODE_NOT_HELD, "backend has no active picks");
  }
}

kvpb::Result LoadBalancers::Stats(const kvpb::LbStatsRequest& request) const {
  if (!IsGroupName(request.group())) return InvalidArgument(kBadGroup);
  const auto it = groups_.find(request.group());
  if (it == groups_.end()) return NoGroup();
  kvpb::Result result = OkResult();
  *result.mutable_lb() = it->second.Stats();
  return result;
}

void LoadBalancers::AppendTo(kvpb::StateSnapshot* snapshot) const {
  for (const auto& [group, balancer] : groups_) {
    kvpb::LbState* state = snapshot->add_lbs();
    state->set_group(group);
    *state->mutable_stats() = balancer.Stats();
  }
}

absl::StatusOr<LoadBalancers> LoadBalancers::FromSnapshot(const kvpb::StateSnapshot& snapshot) {
  LoadBalancers balancers;
  const std::string* previous = nullptr;
  for (const kvpb::LbState& state : snapshot.lbs()) {
    const std::string where = absl::StrCat("load balancer \"", state.group(), "\": ");
    if (!IsGroupName(state.group())) return absl::InvalidArgumentError(absl::StrCat(where, "bad name"));
    if (previous != nullptr && state.group() <= *previous) {
      return absl::InvalidArgumentError(absl::StrCat(where, "names not ascending or duplicated"));
    }
    previous = &state.group();
    absl::StatusOr<LoadBalancer> group = LoadBalancer::FromStats(state.stats());
    if (!group.ok()) return absl::InvalidArgumentError(absl::StrCat(where, group.status().message()));
    balancers.groups_.emplace_hint(balancers.groups_.end(), state.group(), *std::move(group));
  }
  return balancers;
}

absl::Status LoadBalancers::CheckConsistency() const {
  for (const auto& [group, balancer] : groups_) {
    if (absl::Status status = balancer.CheckConsistency(); !status.ok()) {
      return absl::InternalError(absl::StrCat("load balancer ", group, ": ", status.message()));
    }
  }
  return absl::OkStatus();
}

uint64_t LoadBalancers::TotalBackends() const {
  uint64_t total = 0;
  for (const auto& [name, group] : groups_) total += group.backend_count();
  return total;
}

uint64_t LoadBalancers::TotalUp() const {
  uint64_t total = 0;
  for (const auto& [name, group] : groups_) total += group.up_count();
  return total;
}

}  // namespace keel::kvstate
