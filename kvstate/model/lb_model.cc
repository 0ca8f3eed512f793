// One load balancer's sequential model: backends by name and the policy's bookkeeping. Every
// pick recomputes what it needs (the consistent-hash ring included) from scratch.
#include <algorithm>
#include <tuple>
#include <vector>

#include "kvstate/model/models.h"

namespace keel::kvstate::model {
namespace {

// The consistent-hash choice for `key`, computed from scratch; "" if no backend is up.
std::string RingOwner(const LbModel& lb, const std::string& key) {
  std::vector<std::tuple<uint64_t, std::string, uint32_t>> ring;
  for (const auto& [name, backend] : lb.backends) {
    for (uint32_t i = 0; i < lb.virtual_nodes; ++i) {
      ring.emplace_back(RingHash(name + "#" + std::to_string(i)), name, i);
    }
  }
  std::sort(ring.begin(), ring.end());
  const uint64_t point = RingHash(key);
  size_t start = 0;
  while (start < ring.size() && std::get<0>(ring[start]) < point) ++start;
  for (size_t step = 0; step < ring.size(); ++step) {
    const std::string& name = std::get<1>(ring[(start + step) % ring.size()]);
    if (lb.backends.at(name).up) return name;
  }
  return "";
}

}  // namespace

kvpb::LbStats LbModel::Stats() const {
  kvpb::LbStats stats;
  stats.set_policy(policy);
  stats.set_last_picked(last_picked);
  stats.set_virtual_nodes(virtual_nodes);
  for (const auto& [name, backend] : backends) {
    kvpb::BackendState* state = stats.add_backends();
    state->set_name(name);
    state->set_weight(backend.weight);
    state->set_up(backend.up);
    state->set_active(backend.active);
    state->set_current_weight(backend.current_weight);
  }
  return stats;
}

kvpb::Result LbModel::Apply(const kvpb::Command& command) {
  switch (command.op_case()) {
    case kvpb::Command::kLbCreate: {
      const kvpb::LbCreate& create = command.lb_create();
      if (!IsGroupName(create.group()) || create.policy() < kvpb::POLICY_ROUND_ROBIN ||
          create.policy() > kvpb::POLICY_CONSISTENT_HASH || create.virtual_nodes() > 1024) {
        return Code(kvpb::CODE_INVALID_ARGUMENT);
      }
      if (exists) return Code(kvpb::CODE_ALREADY_EXISTS);
      exists = true;
      policy = create.policy();
      virtual_nodes = create.virtual_nodes() == 0 ? 64 : create.virtual_nodes();
      return Code(kvpb::CODE_OK);
    }
    case kvpb::Command::kLbSetBackend: {
      const kvpb::LbSetBackend& set = command.lb_set_backend();
      if (!IsGroupName(set.group()) || !IsMemberName(set.backend()) || set.weight() > 1000) {
        return Code(kvpb::CODE_INVALID_ARGUMENT);
      }
      if (!exists) return Code(kvpb::CODE_NOT_FOUND);
      backends[set.backend()].weight = set.weight() == 0 ? 1 : set.weight();
      return Code(kvpb::CODE_OK);
    }
    case kvpb::Command::kLbRemoveBackend: {
      const kvpb::LbRemoveBackend& remove = command.lb_remove_backend();
      if (!IsGroupName(remove.group()) || !IsMemberName(remove.backend())) {
        return Code(kvpb::CODE_INVALID_ARGUMENT);
      }
      if (!exists || !backends.contains(remove.backend())) return Code(kvpb::CODE_NOT_FOUND);
      backends.erase(remove.backend());
      return Code(kvpb::CODE_OK);
    }
    case kvpb::Command::kLbMark: {
      const kvpb::LbMark& mark = command.lb_mark();
      if (!IsGroupName(mark.group()) || !IsMemberName(mark.backend())) {
        return Code(kvpb::CODE_INVALID_ARGUMENT);
      }
      if (!exists || !backends.contains(mark.backend())) return Code(kvpb::CODE_NOT_FOUND);
      backends[mark.backend()].up = mark.up();
      return Code(kvpb::CODE_OK);
    }
    case kvpb::Command::kLbPick: {
      const kvpb::LbPick& pick = command.lb_pick();
      if (!IsGroupName(pick.group())) return Code(kvpb::CODE_INVALID_ARGUMENT);
      if (!exists) return Code(kvpb::CODE_NOT_FOUND);
      std::vector<std::string> up;
      for (const auto& [name, backend] : backends) {
        if (backend.up) up.push_back(name);
      }
      if (up.empty()) return Code(kvpb::CODE_NO_BACKEND);
      std::string chosen;
      if (policy == kvpb::POLICY_ROUND_ROBIN) {
        chosen = up.front();
        for (const std::string& name : up) {
          if (name > last_picked) {
            chosen = name;
            break;
          }
        }
      } else if (policy == kvpb::POLICY_WEIGHTED_ROUND_ROBIN) {
        int64_t total = 0;
        for (const std::string& name : up) {
          backends[name].current_weight += backends[name].weight;
          total += backends[name].weight;
        }
        chosen = up.front();
        for (const std::string& name : up) {
          if (backends[name].current_weight > backends[chosen].current_weight) chosen = name;
        }
        backends[chosen].current_weight -= total;
      } else if (policy == kvpb::POLICY_LEAST_CONNECTIONS) {
        chosen = up.front();
        for (const std::string& name : up) {
          if (backends[name].active < backends[chosen].active) chosen = name;
        }
      } else {
        chosen = RingOwner(*this, pick.client_key());
      }
      backends[chosen].active += 1;
      last_picked = chosen;
      kvpb::Result result = Code(kvpb::CODE_OK);
      result.set_backend(chosen);
      return result;
    }
    case kvpb::Command::kLbDone: {
      const kvpb::LbDone& done = command.lb_done();
      if (!IsGroupName(done.group()) || !IsMemberName(done.backend())) {
        return Code(kvpb::CODE_INVALID_ARGUMENT);
      }
      if (!exists || !backends.contains(done.backend())) return Code(kvpb::CODE_NOT_FOUND);
      if (backends[done.backend()].active == 0) return Code(kvpb::CODE_NOT_HELD);
      backends[done.backend()].active -= 1;
      return Code(kvpb::CODE_OK);
    }
    case kvpb::Command::kLbStats: {
      if (!IsGroupName(command.lb_stats().group())) return Code(kvpb::CODE_INVALID_ARGUMENT);
      if (!exists) return Code(kvpb::CODE_NOT_FOUND);
      kvpb::Result result = Code(kvpb::CODE_OK);
      *result.mutable_lb() = Stats();
      return result;
    }
    default:
      return Code(kvpb::CODE_INVALID_ARGUMENT);
  }
}

}  // namespace keel::kvstate::model
