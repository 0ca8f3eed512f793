#include "kvstate/pools.h"

#include <iterator>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "kvstate/names.h"
#include "kvstate/results.h"

namespace keel::kvstate {
namespace {

constexpr absl::string_view kBadPool = "pool must be \"group/block\": two non-empty parts, at most 256 bytes";
constexpr absl::string_view kBadOwner = "owner must be 1..128 bytes";
constexpr absl::string_view kBadCapacity = "capacity above 1,000,000";

}  // namespace

// --- Pool ---

Pool::Pool(uint64_t capacity) : capacity_(capacity) {
  KEEL_ASSERT(capacity <= kMaxPoolCapacity);
  free_.emplace(0, kUnbounded);
}

void Pool::set_capacity(uint64_t capacity) {
  KEEL_ASSERT(capacity <= kMaxPoolCapacity);
  KEEL_ASSERT(capacity >= busy());
  capacity_ = capacity;
}

uint64_t Pool::AcquireLowest(Holder holder) {
  KEEL_ASSERT(busy() < capacity_);
  KEEL_ASSERT(!free_.empty());  // the last range is unbounded
  const auto lowest = free_.begin();
  const uint64_t slot = lowest->first;
  const uint64_t end = lowest->second;
  free_.erase(lowest);
  if (slot + 1 != end) free_.emplace(slot + 1, end);
  KEEL_ASSERT(slot < capacity_);
  const bool inserted = held_.emplace(slot, std::move(holder)).second;
  KEEL_ASSERT(inserted);
  return slot;
}

void Pool::Hold(uint64_t slot, Holder holder) {
  KEEL_ASSERT(slot < kMaxPoolCapacity);
  auto range = free_.upper_bound(slot);
  KEEL_ASSERT(range != free_.begin());
  range = std::prev(range);
  const uint64_t first = range->first;
  const uint64_t end = range->second;
  KEEL_ASSERT(first <= slot && slot < end);  // free
  free_.erase(range);
  if (first < slot) free_.emplace(first, slot);
  if (slot + 1 < end) free_.emplace(slot + 1, end);
  const bool inserted = held_.emplace(slot, std::move(holder)).second;
  KEEL_ASSERT(inserted);
}

const Pool::Holder* Pool::Find(uint64_t slot) const {
  const auto it = held_.find(slot);
  return it == held_.end() ? nullptr : &it->second;
}

void Pool::Free(uint64_t slot) {
  const size_t erased = held_.erase(slot);
  KEEL_ASSERT(erased == 1);
  // A held id lies below the last (unbounded) free range, so a range starts above it.
  auto next = free_.upper_bound(slot);
  KEEL_ASSERT(next != free_.end());
  uint64_t end = slot + 1;
  if (next->first == slot + 1) {
    end = next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    const auto previous = std::prev(next);
    KEEL_ASSERT(previous->second <= slot);
    if (previous->second == slot) {
      previous->second = end;  // merge: the ranges stay maximal
      return;
    }
  }
  free_.emplace(slot, end);
}

kvpb::PoolStats Pool::Stats() const {
  kvpb::PoolStats stats;
  stats.set_capacity(capacity_);
  stats.set_busy(busy());
  stats.set_available(capacity_ - busy());
  // Slots come out of held_ ascending, so each owner's list is ascending too.
  absl::btree_map<absl::string_view, std::vector<uint64_t>> by_owner;
  for (const auto& [slot, holder] : held_) by_owner[holder.owner].push_back(slot);
  for (const auto& [owner, slots] : by_owner) {
    kvpb::OwnerSlots* entry = stats.add_owners();
    entry->set_owner(std::string(owner));
    entry->mutable_slots()->Add(slots.begin(), slots.end());
  }
  return stats;
}

absl::Status Pool::CheckConsistency() const {
  if (busy() > capacity_) return absl::InternalError("busy above capacity");
  uint64_t next_id = 0;  // every id below it is accounted for
  auto held = held_.begin();
  for (auto range = free_.begin(); range != free_.end(); ++range) {
    const auto [first, end] = *range;
    if (first >= end || first < next_id) return absl::InternalError("free ranges overlap or are empty");
    if (range != free_.begin() && first == next_id) return absl::InternalError("adjacent free ranges");
    for (uint64_t id = next_id; id < first; ++id, ++held) {
      if (held == held_.end() || held->first != id) return absl::InternalError(absl::StrCat("id ", id, " neither free nor held"));
    }
    next_id = end;
  }
  if (next_id != kUnbounded) return absl::InternalError("the last free range is bounded");
  if (held != held_.end()) return absl::InternalError(absl::StrCat("slot ", held->first, " is held and free"));
  return absl::OkStatus();
}

// --- Pools ---

kvpb::Result Pools::Create(const kvpb::PoolCreate& request) {
  if (!IsPoolName(request.pool())) return InvalidArgument(kBadPool);
  if (request.capacity() > kMaxPoolCapacity) return InvalidArgument(kBadCapacity);
  if (pools_.contains(request.pool())) return ErrorResult(kvpb::CODE_ALREADY_EXISTS, "pool exists");
  pools_.emplace(request.pool(), Pool(request.capacity()));
  return OkResult();
}

kvpb::Result Pools::Acquire(const kvpb::PoolAcquire& request, uint64_t session) {
  if (!IsPoolName(request.pool())) return InvalidArgument(kBadPool);
  if (!IsMemberName(request.owner())) return InvalidArgument(kBadOwner);
  KEEL_ASSERT(session != 0);
  const auto it = pools_.find(request.pool());
  if (it == pools_.end()) return ErrorResult(kvpb::CODE_NOT_FOUND, "no such pool");
  Pool& pool = it->second;
  if (pool.busy() == pool.capacity()) return ErrorResult(kvpb::CODE_EXHAUSTED, "every slot is busy");
  const uint64_t slot = pool.AcquireLowest(Pool::Holder{request.owner(), session});
  by_session_.emplace(session, request.pool(), slot);
  kvpb::Result result = OkResult();
  result.set_slot(slot);
  return result;
}

kvpb::Result Pools::Release(const kvpb::PoolRelease& request) {
  if (!IsPoolName(request.pool())) return InvalidArgument(kBadPool);
  if (!IsMemberName(request.owner())) return InvalidArgument(kBadOwner);
  const auto it = pools_.find(request.pool());
  if (it == pools_.end()) return ErrorResult(kvpb::CODE_NOT_FOUND, "no such pool");
  Pool& pool = it->second;
  const Pool::Holder* holder = pool.Find(request.slot());
  if (holder == nullptr || holder->owner != request.owner()) {
    return ErrorResult(kvpb::CODE_NOT_HELD, absl::StrCat("slot ", request.slot(), " is not held by that owner"));
  }
  const size_t erased = by_session_.erase({holder->session, request.pool(), request.slot()});
  KEEL_ASSERT(erased == 1);
  pool.Free(request.slot());
  return OkResult();
}

kvpb::Result Pools::Resize(const kvpb::PoolResize& request) {
  if (!IsPoolName(request.pool())) return InvalidArgument(kBadPool);
  if (request.capacity() > kMaxPoolCapacity) return InvalidArgument(kBadCapacity);
  const auto it = pools_.find(request.pool());
  if (it == pools_.end()) return ErrorResult(kvpb::CODE_NOT_FOUND, "no such pool");
  Pool& pool = it->second;
  if (request.capacity() < pool.busy()) {
    kvpb::Result result = ErrorResult(kvpb::CODE_BELOW_BUSY, absl::StrCat(pool.busy(), " slots are busy"));
    *result.mutable_pool() = pool.Stats();
    return result;
  }
  pool.set_capacity(request.capacity());
  return OkResult();
}

kvpb::Result Pools::Stats(const kvpb::PoolStatsRequest& request) const {
  if (!IsPoolName(request.pool())) return InvalidArgument(kBadPool);
  const auto it = pools_.find(request.pool());
  if (it == pools_.end()) return ErrorResult(kvpb::CODE_NOT_FOUND, "no such pool");
  kvpb::Result result = OkResult();
  *result.mutable_pool() = it->second.Stats();
  return result;
}

void Pools::ReleaseSession(uint64_t session) {
  const auto first = by_session_.lower_bound({session, std::string(), 0});
  auto last = first;
  for (; last != by_session_.end() && std::get<0>(*last) == session; ++last) {
    const auto& [holder_session, pool_name, slot] = *last;
    KEEL_ASSERT(holder_session == session);
    const auto pool = pools_.find(pool_name);
    KEEL_ASSERT(pool != pools_.end());
    KEEL_ASSERT(pool->second.Find(slot) != nullptr && pool->second.Find(slot)->session == session);
    pool->second.Free(slot);
  }
  by_session_.erase(first, last);
}

void Pools::AppendTo(kvpb::StateSnapshot* snapshot) const {
  for (const auto& [name, pool] : pools_) {
    kvpb::PoolState* state = snapshot->add_pools();
    state->set_name(name);
    state->set_capacity(pool.capacity());
    for (const auto& [slot, holder] : pool.held()) {
      kvpb::SlotState* slot_state = state->add_slots();
      slot_state->set_slot(slot);
      slot_state->set_owner(holder.owner);
      slot_state->set_session(holder.session);
    }
  }
}

absl::StatusOr<Pools> Pools::FromSnapshot(const kvpb::StateSnapshot& snapshot, const Sessions& sessions) {
  Pools pools;
  const std::string* previous = nullptr;
  for (const kvpb::PoolState& state : snapshot.pools()) {
    const std::string where = absl::StrCat("pool \"", state.name(), "\": ");
    if (!IsPoolName(state.name())) return absl::InvalidArgumentError(absl::StrCat(where, "bad name"));
    if (previous != nullptr && state.name() <= *previous) {
      return absl::InvalidArgumentError(absl::StrCat(where, "names not ascending or duplicated"));
    }
    previous = &state.name();
    if (state.capacity() > kMaxPoolCapacity) return absl::InvalidArgumentError(absl::StrCat(where, "capacity too large"));
    if (static_cast<uint64_t>(state.slots_size()) > state.capacity()) {
      return absl::InvalidArgumentError(absl::StrCat(where, "busy above capacity"));
    }
    Pool pool(state.capacity());
    bool first = true;
    uint64_t previous_slot = 0;
    for (const kvpb::SlotState& slot : state.slots()) {
      if (!first && slot.slot() <= previous_slot) {
        return absl::InvalidArgumentError(absl::StrCat(where, "slot ", slot.slot(), " held twice or out of order"));
      }
      first = false;
      previous_slot = slot.slot();
      // Acquire hands out ids below the capacity of the moment, which never exceeds the maximum.
      if (slot.slot() >= kMaxPoolCapacity) return absl::InvalidArgumentError(absl::StrCat(where, "slot id too large"));
      if (!IsMemberName(slot.owner())) return absl::InvalidArgumentError(absl::StrCat(where, "bad owner"));
      if (!sessions.Contains(slot.session())) {
        return absl::InvalidArgumentError(absl::StrCat(where, "slot ", slot.slot(), " held through unknown session ", slot.session()));
      }
      pool.Hold(slot.slot(), Pool::Holder{slot.owner(), slot.session()});
      pools.by_session_.emplace(slot.session(), state.name(), slot.slot());
    }
    pools.pools_.emplace_hint(pools.pools_.end(), state.name(), std::move(pool));
  }
  return pools;
}

absl::Status Pools::CheckConsistency() const {
  size_t held = 0;
  for (const auto& [name, pool] : pools_) {
    if (absl::Status status = pool.CheckConsistency(); !status.ok()) {
      return absl::InternalError(absl::StrCat("pool ", name, ": ", status.message()));
    }
    for (const auto& [slot, holder] : pool.held()) {
      if (!by_session_.contains({holder.session, name, slot})) {
        return absl::InternalError(absl::StrCat("pool ", name, " slot ", slot, " missing from the session index"));
      }
    }
    held += pool.held().size();
  }
  if (held != by_session_.size()) return absl::InternalError("session index has extra slots");
  return absl::OkStatus();
}

uint64_t Pools::TotalCapacity() const {
  uint64_t total = 0;
  for (const auto& [name, pool] : pools_) total += pool.capacity();
  return total;
}

}  // namespace keel::kvstate
