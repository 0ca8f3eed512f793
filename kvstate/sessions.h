// Client sessions (Raft dissertation §6.3, kvstate/README.md steps 2, 3, 5 and 6): timeouts in
// log time, the acknowledged watermark, and the cached result of every unacknowledged
// command so a retry is answered without applying it again.
//
// Sessions knows nothing about pools: the caller releases an ended session's slots.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/types.h"
#include "kvstate/kv.pb.h"

namespace keel::kvstate {

inline constexpr int64_t kNanosPerSecond = 1'000'000'000;
inline constexpr int64_t kDefaultSessionTimeoutNanos = 30 * kNanosPerSecond;
inline constexpr int64_t kMinSessionTimeoutNanos = kNanosPerSecond;
inline constexpr int64_t kMaxSessionTimeoutNanos = 3600 * kNanosPerSecond;
// Bounds a session's memory when a client never acknowledges.
inline constexpr size_t kMaxCachedResults = 4096;

class Sessions {
 public:
  // RegisterSession's timeout rule: 0 means 30 s, anything else is clamped to [1 s, 1 h].
  static int64_t EffectiveTimeout(int64_t requested_nanos);

  // Adds session `id` with the effective timeout of `requested_timeout_nanos`, active at `now`.
  // Precondition: `id` is not a session (ids are log indexes, so they are never reused).
  void Register(uint64_t id, int64_t requested_timeout_nanos, int64_t now);

  bool Contains(uint64_t id) const { return sessions_.contains(id); }

  // Removes every session with last_active + timeout < now, with its cached results, and
  // returns their ids in ascending order (the caller releases their slots).
  std::vector<uint64_t> ExpireBefore(int64_t now);

  // A sign of life from session `id` at `now`: last_active = now, the acknowledged watermark
  // rises to acked_sequence, and cached results at or below it are forgotten.
  // Precondition: Contains(id) and now >= its last_active.
  void Touch(uint64_t id, uint64_t acked_sequence, int64_t now);

  // The acknowledged watermark of session `id`. Precondition: Contains(id).
  uint64_t acked(uint64_t id) const;

  // The cached result of (id, sequence), or null. Precondition: Contains(id).
  const kvpb::Result* FindCached(uint64_t id, uint64_t sequence) const;

  // Caches `result` as the answer to (id, sequence), replacing any earlier one. If that makes
  // more than kMaxCachedResults, the lowest sequence is dropped and the watermark rises to it,
  // so a retry of it is STALE_SEQUENCE instead of a second application.
  // Precondition: Contains(id) and sequence > acked(id).
  void Cache(uint64_t id, uint64_t sequence, kvpb::Result result);

  // Removes session `id` and its cached results. Precondition: Contains(id).
  void Remove(uint64_t id);

  // Appends every session, by id, with its cached results by sequence.
  void AppendTo(kvpb::StateSnapshot* snapshot) const;

  // The sessions of `snapshot`, or InvalidArgument if they break an invariant: ids ascending,
  // unique and in [1, applied_index]; timeouts in [1 s, 1 h]; 0 <= last_active <= time and not
  // yet expired at `time`; cached sequences ascending, above the watermark, at most
  // kMaxCachedResults, with a known result code.
  static absl::StatusOr<Sessions> FromSnapshot(const kvpb::StateSnapshot& snapshot);

  // Internal consistency (the deadline index matches the sessions); for tests.
  absl::Status CheckConsistency(int64_t now) const;

  size_t size() const { return sessions_.size(); }

 private:
  struct Session {
    int64_t timeout_nanos = 0;
    int64_t last_active_nanos = 0;
    uint64_t acked = 0;
    std::map<uint64_t, kvpb::Result> cached;  // sequence -> result, all above `acked`
  };

  // last_active + timeout, saturated: a session active near the end of time never expires
  // rather than overflowing.
  static int64_t Deadline(const Session& session);
  // Forgets cached results at or below the watermark.
  static void DropAcknowledged(Session& session);

  absl::btree_map<uint64_t, Session> sessions_;
  // (deadline, id) for every session, so expiry looks only at the sessions that expire.
  absl::btree_set<std::pair<int64_t, uint64_t>> by_deadline_;
};

}  // namespace keel::kvstate
