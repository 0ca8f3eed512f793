// One connection pool's sequential model: a capacity and a map of held slots.
#include "kvstate/model/models.h"

namespace keel::kvstate::model {

kvpb::PoolStats PoolModel::Stats() const {
  kvpb::PoolStats stats;
  stats.set_capacity(capacity);
  stats.set_busy(held.size());
  stats.set_available(capacity - held.size());
  std::map<std::string, std::vector<uint64_t>> by_owner;
  for (const auto& [slot, holder] : held) by_owner[holder.owner].push_back(slot);
  for (const auto& [owner, slots] : by_owner) {
    kvpb::OwnerSlots* entry = stats.add_owners();
    entry->set_owner(owner);
    for (uint64_t slot : slots) entry->add_slots(slot);
  }
  return stats;
}

void PoolModel::ReleaseSession(uint64_t session) {
  std::map<uint64_t, Holder> kept;
  for (const auto& [slot, holder] : held) {
    if (holder.session != session) kept[slot] = holder;
  }
  held = kept;
}

kvpb::Result PoolModel::Apply(const kvpb::Command& command) {
  constexpr uint64_t kMaxCapacity = 1'000'000;
  switch (command.op_case()) {
    case kvpb::Command::kPoolCreate: {
      const kvpb::PoolCreate& create = command.pool_create();
      if (!IsPoolName(create.pool()) || create.capacity() > kMaxCapacity) {
        return Code(kvpb::CODE_INVALID_ARGUMENT);
      }
      if (exists) return Code(kvpb::CODE_ALREADY_EXISTS);
      exists = true;
      capacity = create.capacity();
      return Code(kvpb::CODE_OK);
    }
    case kvpb::Command::kPoolAcquire: {
      const kvpb::PoolAcquire& acquire = command.pool_acquire();
      if (!IsPoolName(acquire.pool()) || !IsMemberName(acquire.owner())) {
        return Code(kvpb::CODE_INVALID_ARGUMENT);
      }
      if (!exists) return Code(kvpb::CODE_NOT_FOUND);
      if (held.size() >= capacity) return Code(kvpb::CODE_EXHAUSTED);
      uint64_t slot = 0;
      while (held.contains(slot)) ++slot;
      held[slot] = Holder{acquire.owner(), command.session()};
      kvpb::Result result = Code(kvpb::CODE_OK);
      result.set_slot(slot);
      return result;
    }
    case kvpb::Command::kPoolRelease: {
      const kvpb::PoolRelease& release = command.pool_release();
      if (!IsPoolName(release.pool()) || !IsMemberName(release.owner())) {
        return Code(kvpb::CODE_INVALID_ARGUMENT);
      }
      if (!exists) return Code(kvpb::CODE_NOT_FOUND);
      if (!held.contains(release.slot()) || held[release.slot()].owner != release.owner()) {
        return Code(kvpb::CODE_NOT_HELD);
      }
      held.erase(release.slot());
      return Code(kvpb::CODE_OK);
    }
    case kvpb::Command::kPoolResize: {
      const kvpb::PoolResize& resize = command.pool_resize();
      if (!IsPoolName(resize.pool()) || resize.capacity() > kMaxCapacity) {
        return Code(kvpb::CODE_INVALID_ARGUMENT);
      }
      if (!exists) return Code(kvpb::CODE_NOT_FOUND);
      if (resize.capacity() < held.size()) {
        kvpb::Result result = Code(kvpb::CODE_BELOW_BUSY);
        *result.mutable_pool() = Stats();
        return result;
      }
      capacity = resize.capacity();
      return Code(kvpb::CODE_OK);
    }
    case kvpb::Command::kPoolStats: {
      if (!IsPoolName(command.pool_stats().pool())) return Code(kvpb::CODE_INVALID_ARGUMENT);
      if (!exists) return Code(kvpb::CODE_NOT_FOUND);
      kvpb::Result result = Code(kvpb::CODE_OK);
      *result.mutable_pool() = Stats();
      return result;
    }
    default:
      return Code(kvpb::CODE_INVALID_ARGUMENT);
  }
}

}  // namespace keel::kvstate::model
