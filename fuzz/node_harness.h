// A live node driver for the node fuzz targets: node 1 of `voters`, on a simulated disk, with
// a hand-moved clock and a peer channel that keeps what the node sends. Single-threaded;
// made fresh per input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "engine/node.h"
#include "kvstate/kv_state.h"
#include "sim/manual_clock.h"
#include "sim/sim_filesystem.h"

namespace keel::fuzz {

inline void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "node fuzz: %s\n", what);
  std::abort();
}

class KeepingChannel final : public PeerChannel {
 public:
  void Send(Envelope&& envelope) override { sent.push_back(std::move(envelope)); }
  std::vector<Envelope> sent;
};

inline constexpr uint64_t kClusterId = 7;
inline constexpr int64_t kTick = 10'000'000;

struct LiveNode {
  explicit LiveNode(const std::vector<NodeId>& voters) : fs(1) {
    auto opened = DurableStorage::Open(fs, "/data", voters, StorageOptions{});
    Check(opened.ok(), "storage does not open");
    storage = std::move(*opened);
    NodeOptions options;
    options.cluster_id = kClusterId;
    options.replica.raft.id = 1;
    options.replica.raft.election_tick = 3;
    options.replica.raft.seed = 1;
    options.replica.tick_nanos = kTick;
    options.replica.snapshot_every_entries = 8;
    auto made = keel::Node::Open(options, clock, channel, *storage, state);
    Check(made.ok(), "node does not open");
    node = std::move(*made);
  }
  // Moves time by `ticks` ticks, polling after each.
  void Run(int ticks) {
    for (int i = 0; i < ticks; ++i) {
      clock.Advance(kTick);
      node->Poll();
    }
  }

  SimFileSystem fs;
  ManualClock clock;
  KeepingChannel channel;
  std::unique_ptr<DurableStorage> storage;
  kvstate::KvState state;
  std::unique_ptr<keel::Node> node;
};

}  // namespace keel::fuzz
