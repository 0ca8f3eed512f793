// Tunables of one Raft core. Times are in ticks: the application calls Raft::Tick() at a fixed
// interval, so the core never reads a clock.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "engine/types.h"

namespace keel {

struct Config {
  NodeId id = kNoNode;

  // A follower that hears nothing from a leader for a randomised timeout drawn uniformly from
  // [election_tick, 2 * election_tick) starts an election. Must be > heartbeat_tick.
  int election_tick = 10;
  // A leader sends heartbeats every heartbeat_tick ticks.
  int heartbeat_tick = 1;

  // PreVote (dissertation §9.6): a node asks for votes before bumping its term, so a node
  // rejoining after a partition cannot disrupt a healthy leader.
  bool pre_vote = true;
  // CheckQuorum (dissertation §6.2): a leader that has not heard from a quorum within an
  // election timeout steps down; followers that heard from a leader within the election
  // timeout ignore vote requests (the "leader lease" that makes stale campaigns harmless).
  bool check_quorum = true;

  // Lease reads (opt-in; dissertation §6.4.1, etcd-io/raft's ReadOnlyLeaseBased): the leader
  // answers its own ReadIndex at once, without a heartbeat round, while a quorum of its config
  // acknowledged a heartbeat sent fewer than LeaseTicks() of its ticks ago. It rests on the
  // followers' side of the bargain, which this flag also switches on: for election_tick ticks
  // after hearing from a leader (and after starting), a node grants no vote except to a
  // leadership transfer. Every node of the cluster must enable it, and it needs check_quorum.
  // Unsafe when a clock gains more than max_clock_drift_ticks on another within an election
  // timeout, or when a process stalls between reading its clock and checking the lease (see
  // raft.h "Lease reads").
  bool read_only_lease = false;
  // The most that one node's tick clock may gain on another's over one election timeout, in
  // ticks (e.g. 1 covers +-2.5% between election_tick = 20 clocks). Shortens the lease; only
  // used with read_only_lease.
  int max_clock_drift_ticks = 1;
  // How long a lease lasts, in the leader's ticks after it sent the acknowledged heartbeat: one
  // less than the followers' promise minus the drift margin, because neither the leader nor a
  // follower ticks exactly when the heartbeat moves (each may be up to a tick off).
  int LeaseTicks() const { return election_tick - max_clock_drift_ticks - 1; }

  // Flow control: upper bound of entry bytes in one MSG_APPEND (at least one entry is always
  // sent), and of messages / bytes in flight to one follower in the replicate state.
  uint64_t max_msg_bytes = 1 << 20;
  size_t max_inflight_msgs = 256;
  uint64_t max_inflight_bytes = 64ULL << 20;
  // Snapshots are sent in chunks of at most this many bytes.
  uint64_t max_snapshot_chunk_bytes = 1 << 20;
  // Upper bound of bytes of committed entries handed out in one Ready (at least one entry).
  uint64_t max_committed_bytes_per_ready = 64ULL << 20;
  // A learner is promoted to voter only once its log is within this many entries of the
  // leader's: a voter far behind would hold back commits as soon as it counts.
  uint64_t max_promote_lag = 1000;

  // Seed of the core's PRNG (election timeout jitter). The simulator derives it from the run's
  // seed; production draws it once at start.
  uint64_t seed = 0;

  // Bit set of PlantedBug (engine/planted_bugs.h). Honoured only by the keel_engine_planted
  // library that tests and the simulator use; Validate() rejects it in production builds.
  uint32_t planted_bugs = 0;

  // OK iff the configuration is usable; otherwise says which field is wrong.
  absl::Status Validate() const;
};

}  // namespace keel
