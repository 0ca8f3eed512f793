// Connection pools (kvstate/README.md "Pools"): a global connection budget per "group/block".
// Slots are numbered from 0; acquire takes the lowest id not held, and a slot remembers the
// owner it was acquired for and the session it was acquired through, so that the session's
// end (close or expiry) gives it back.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kvstate/kv.pb.h"
#include "kvstate/sessions.h"

namespace keel::kvstate {

inline constexpr uint64_t kMaxPoolCapacity = 1'000'000;

// One pool's slots. Free ids are kept as ranges so that the lowest one is found in O(log n)
// and the structure stays as small as the holes between held slots.
class Pool {
 public:
  struct Holder {
    std::string owner;
    uint64_t session = 0;
  };

  explicit Pool(uint64_t capacity);

  uint64_t capacity() const { return capacity_; }
  uint64_t busy() const { return held_.size(); }
  // Precondition: capacity <= kMaxPoolCapacity and capacity >= busy().
  void set_capacity(uint64_t capacity);

  // Takes the lowest free slot id for `holder` and returns it. Precondition: busy() <
  // capacity(). The id is below capacity: at most busy() ids under it are held.
  uint64_t AcquireLowest(Holder holder);
  // Marks `slot` held by `holder` (restoring a snapshot). Precondition: `slot` is free and
  // below kMaxPoolCapacity.
  void Hold(uint64_t slot, Holder holder);
  // Who holds `slot`, or null.
  const Holder* Find(uint64_t slot) const;
  // Frees `slot`. Precondition: it is held.
  void Free(uint64_t slot);

  const absl::btree_map<uint64_t, Holder>& held() const { return held_; }
  // capacity, busy, available and the owners by name with their slots ascending.
  kvpb::PoolStats Stats() const;
  // The free ranges exactly cover the ids not held; for tests.
  absl::Status CheckConsistency() const;

 private:
  static constexpr uint64_t kUnbounded = UINT64_MAX;  // end of the last free range

  uint64_t capacity_;
  absl::btree_map<uint64_t, Holder> held_;
  // first free id -> one past the last free id of a maximal range of free ids; the last range
  // is [n, kUnbounded). Slot ids stay below kMaxPoolCapacity, so kUnbounded is never an id.
  absl::btree_map<uint64_t, uint64_t> free_;
};

class Pools {
 public:
  // Each operation validates its request first (INVALID_ARGUMENT, nothing changes) and then
  // answers as README "Pools" says.
  kvpb::Result Create(const kvpb::PoolCreate& request);
  // The slot is recorded with `session`, the (registered) session the command came through.
  kvpb::Result Acquire(const kvpb::PoolAcquire& request, uint64_t session);
  kvpb::Result Release(const kvpb::PoolRelease& request);
  kvpb::Result Resize(const kvpb::PoolResize& request);
  kvpb::Result Stats(const kvpb::PoolStatsRequest& request) const;

  // Session `session` ended: frees every slot acquired through it, in every pool.
  void ReleaseSession(uint64_t session);

  // Appends every pool by name, with its busy slots by id.
  void AppendTo(kvpb::StateSnapshot* snapshot) const;
  // The pools of `snapshot`, or InvalidArgument: names ascending, unique and valid; capacity
  // at most 1,000,000 and at least the busy count; slots ascending and unique (a slot is never
  // held twice), below 1,000,000, with a valid owner and a session in `sessions`.
  static absl::StatusOr<Pools> FromSnapshot(const kvpb::StateSnapshot& snapshot, const Sessions& sessions);

  // Every pool's free ranges and the session index agree with the held slots; for tests.
  absl::Status CheckConsistency() const;

  size_t size() const { return pools_.size(); }
  // Sums over every pool (for gauges; O(pools)).
  uint64_t TotalCapacity() const;
  uint64_t TotalBusy() const { return by_session_.size(); }

 private:
  absl::btree_map<std::string, Pool> pools_;
  // (session, pool, slot) for every held slot, so a session's end does not scan every pool.
  absl::btree_set<std::tuple<uint64_t, std::string, uint64_t>> by_session_;
};

}  // namespace keel::kvstate
