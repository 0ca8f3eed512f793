// KvState: keel's replicated state machine (kvstate/README.md). A log entry's data is one
// serialized kvpb::Command; Apply returns one serialized kvpb::Result. This class owns the
// parts every command shares -- parsing, log time, session expiry and deduplication, and
// snapshots -- and hands each operation to its object (kv_store, pools, load_balancers).
//
// Deterministic by construction: no local clock (time is the largest leader_time_nanos seen),
// no randomness, and only ordered containers decide anything or produce output, so every
// replica applying the same entries returns the same results and the same Snapshot() bytes.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/application.h"
#include "engine/types.h"
#include "kvstate/kv.pb.h"
#include "kvstate/kv_store.h"
#include "kvstate/load_balancers.h"
#include "kvstate/pools.h"
#include "kvstate/sessions.h"

namespace keel::kvstate {

inline constexpr uint32_t kSnapshotFormat = 1;

struct KvStateOptions {
  // engine/planted_bugs.h bits; only kBugApplyTwice matters here, and only in builds compiled
  // with KEEL_PLANTED_BUGS (keel_kvstate_planted). Production ignores them.
  uint32_t planted_bugs = 0;
};

// Sizes of the state, for gauges (metrics).
struct KvStateGauges {
  uint64_t sessions = 0;
  uint64_t kv_keys = 0;
  uint64_t pools = 0;
  uint64_t pool_capacity = 0;  // slots, summed over pools
  uint64_t pool_busy = 0;
  uint64_t lb_groups = 0;
  uint64_t lb_backends = 0;    // summed over groups
  uint64_t lb_backends_up = 0;
};

class KvState final : public Application {
 public:
  explicit KvState(KvStateOptions options = {});

  // Applies the committed entry at `index` (README "Semantics") and returns the serialized
  // Result. Any bytes are accepted: data that is not a Command with an op is answered
  // INVALID_ARGUMENT and changes nothing but the applied index.
  // Precondition: `index` is above every index applied before (and the snapshot's).
  std::string Apply(Index index, absl::string_view command) override;

  // Apply on an already parsed command; the Result is the one Apply serializes.
  kvpb::Result ApplyCommand(Index index, const kvpb::Command& command);

  // The whole state as a deterministically serialized StateSnapshot with every collection in
  // key order: equal states give equal bytes.
  std::string Snapshot() const override;

  // Replaces the state with a Snapshot() output. Bytes that do not parse are DataLoss; a
  // snapshot that breaks an invariant (wrong format, unsorted or duplicate names, a slot held
  // twice or through an unknown session, busy above capacity, an unknown policy, a bad name,
  // an expired session, ...) is InvalidArgument. On failure nothing changes.
  absl::Status Restore(absl::string_view data) override;

  // The node driver's view of a command (engine/application.h): a Command with an op is
  // valid; get, list and the two stats are read-only; reads, keep-alives and object commands
  // carrying a session and sequence (deduplicated) are safe to resend.
  CommandInfo Inspect(absl::string_view command) const override;
  std::string StampLeaderTime(absl::string_view command, int64_t leader_time_nanos) const override;
  // A read answered from the current state, exactly as Apply would answer it next.
  std::string Query(absl::string_view command) const override;
  std::string WithSequence(absl::string_view command, uint64_t sequence) const override;

  Index applied_index() const { return applied_index_; }
  // O(pools + groups).
  KvStateGauges Gauges() const;
  int64_t time_nanos() const { return time_nanos_; }

  // Checks every internal index against the data it indexes, and that Snapshot() is accepted
  // by Restore and restores to the same indexes and bytes; Internal or InvalidArgument on a
  // broken invariant. For tests: it costs O(state).
  absl::Status CheckInvariants() const;

 private:
  kvpb::Result ApplyOp(Index index, const kvpb::Command& command);
  // A read command's answer from the current state (Apply's and Query's, one definition).
  kvpb::Result Read(const kvpb::Command& command) const;
  // README step 2: time never runs backwards; sessions past their deadline end.
  void AdvanceTime(int64_t leader_time_nanos);
  // Close or expiry: the session's slots are released and its cached results dropped.
  void EndSession(uint64_t id);
  kvpb::Result KeepAlive(const kvpb::Command& command);
  kvpb::Result CloseSession(const kvpb::Command& command);
  // README step 6: session checks, the watermark, the result cache, then Mutate.
  kvpb::Result ApplyDeduplicated(Index index, const kvpb::Command& command);
  // The object operation of a mutating command, without any session logic.
  kvpb::Result Mutate(Index index, const kvpb::Command& command);
  kvpb::StateSnapshot ToSnapshot() const;
  // The objects' internal indexes agree with their data.
  absl::Status CheckIndexes() const;

  bool apply_twice_;  // planted bug: step 6 skips the cached-result lookup
  Index applied_index_ = 0;
  int64_t time_nanos_ = 0;
  Sessions sessions_;
  KvStore kv_;
  Pools pools_;
  LoadBalancers load_balancers_;
};

}  // namespace keel::kvstate
