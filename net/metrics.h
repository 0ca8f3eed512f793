// What a production node tells its operators: a snapshot of its figures, taken by the event
// loop (the only thread that may look at the node) and rendered as Prometheus text or judged
// for /healthz and /readyz by the HTTP thread. Rendering and judging are pure functions of
// the snapshot, so tests can check them without a cluster.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "engine/node.h"
#include "kvstate/kv_state.h"
#include "net/auth.h"
#include "net/zmq_peer_channel.h"

namespace keel::net {

// A latency histogram with fixed buckets (seconds), as Prometheus wants them: cumulative
// counts, a sum and a count. Not thread-safe: one writer, copied into snapshots.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 16> kBounds = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                     0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,    10};
  void Observe(int64_t nanos);
  // Observations at or below kBounds[i] (not cumulative; rendering accumulates).
  const std::array<uint64_t, kBounds.size() + 1>& buckets() const { return buckets_; }
  uint64_t count() const { return count_; }
  double sum_seconds() const { return sum_seconds_; }

 private:
  std::array<uint64_t, kBounds.size() + 1> buckets_{};  // the last is +Inf
  uint64_t count_ = 0;
  double sum_seconds_ = 0;
};

struct PeerFigures {
  double last_contact_seconds = -1;  // -1: never heard from
  int64_t match_lag = -1;            // leader only: last index - match; -1 unknown
};

struct MetricsSnapshot {
  // Identity and Raft state.
  NodeId id = kNoNode;
  uint64_t cluster_id = 0;
  std::string role;
  Term term = 0;
  NodeId leader = kNoNode;
  Index commit = 0;
  Index applied = 0;
  Index first_index = 0;
  Index last_index = 0;
  uint64_t leader_changes = 0;
  // Seconds since an envelope of the current leader was admitted (0 on the leader; since
  // start if never). GatewayD's raft_last_contact_seconds.
  double leader_contact_seconds = 0;
  std::string storage_failure;  // non-empty: storage failed
  std::string storage_stalled;  // non-empty: the disk is full; the node refuses requests
  uint64_t storage_stalls = 0;  // times the disk filled up (each followed by a stall)
  double election_timeout_seconds = 0;
  double uptime_seconds = 0;
  std::map<NodeId, PeerFigures> peers;
  // Work and refusals.
  NodeCounters node;
  PeerChannelCounters channel;
  AuthCounters auth;
  uint64_t handshake_failed_raft = 0;
  uint64_t handshake_failed_client = 0;
  uint64_t client_frames_unparseable = 0;
  // Latencies and storage.
  LatencyHistogram apply;
  LatencyHistogram fsync;
  LatencyHistogram snapshot_take;
  uint64_t snapshots_taken = 0;
  uint64_t snapshots_installed = 0;
  uint64_t last_snapshot_bytes = 0;
  uint64_t wal_bytes = 0;
  uint64_t wal_segments = 0;
  kvstate::KvStateGauges state;
};

struct HealthOptions {
  // /readyz fails while applied trails commit by more than this many entries.
  uint64_t max_apply_lag = 1000;
  // /healthz fails if the event loop published no snapshot for this long (it is stuck).
  double max_snapshot_age_seconds = 5;
};

// The snapshot as Prometheus text exposition format (version 0.0.4); raft_health_status is
// Ready() under `health` for a fresh snapshot.
std::string RenderPrometheus(const MetricsSnapshot& snapshot, const HealthOptions& health);

struct Verdict {
  bool ok = false;
  std::string why;  // one line: "ok", or every reason it is not
};

// /healthz: the process serves (the loop is alive: the snapshot is fresh), storage has not
// failed and is not stalled on a full disk (that heals by itself once space returns). `snapshot_age_seconds` is how old the snapshot is when judged.
Verdict Healthy(const MetricsSnapshot& snapshot, double snapshot_age_seconds, const HealthOptions& options);
// /readyz: healthy, a leader is known and heard from within an election timeout (a follower),
// and applied is within max_apply_lag of commit.
Verdict Ready(const MetricsSnapshot& snapshot, double snapshot_age_seconds, const HealthOptions& options);

}  // namespace keel::net
