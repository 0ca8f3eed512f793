// A simulated network between simulated nodes: per-link latency (a minimum plus an
// exponential tail), drops, duplicates, reordering (from independent per-message delays),
// clogged links (delivery postponed until unclogged), partitions of any shape including
// one-way, all drawn from a seeded Prng. Delivery is a callback scheduled on the Scheduler.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/prng.h"
#include "engine/message.h"
#include "engine/types.h"
#include "sim/scheduler.h"

namespace keel::sim {

struct NetworkOptions {
  int64_t min_latency_nanos = 200'000;     // 0.2 ms
  int64_t mean_tail_nanos = 800'000;       // mean of the exponential part
  double drop_probability = 0;
  double duplicate_probability = 0;
};

class Network {
 public:
  // The network hands over its in-flight copy (moved, not copied).
  using Deliver = std::function<void(Envelope&&)>;

  Network(Scheduler& scheduler, Prng prng, NetworkOptions options);

  // Registers node `id`; messages to it are passed to `deliver` (called from a scheduler
  // callback at delivery time). Re-registering replaces the callback (a restarted node).
  void Attach(NodeId id, Deliver deliver);
  // Messages to a detached node (crashed) are lost.
  void Detach(NodeId id);

  // Sends `message` from message.header.from() to .to(), subject to every fault in force.
  void Send(Envelope&& message);

  // Faults. A cut link drops everything sent over it; a clogged link holds messages and
  // delivers them (with fresh latency) when unclogged.
  void Cut(NodeId from, NodeId to);          // one-way
  void Partition(const std::vector<std::set<NodeId>>& groups);  // cuts all links between groups
  void Clog(NodeId from, NodeId to);         // one-way
  void Unclog(NodeId from, NodeId to);
  void HealAll();                            // no cuts, no clogs (clogged messages flow)
  NetworkOptions& options() { return options_; }

  uint64_t sent() const { return sent_; }
  uint64_t delivered() const { return delivered_; }
  uint64_t dropped() const { return dropped_; }

 private:
  int64_t DrawLatency();
  void Schedule(Envelope&& message);
  void DeliverNow(Envelope&& message);

  Scheduler& scheduler_;
  Prng prng_;
  NetworkOptions options_;
  std::map<NodeId, Deliver> nodes_;
  std::set<NodeId> known_;  // every node ever attached: Partition isolates those in no group
  std::set<std::pair<NodeId, NodeId>> cut_;
  std::set<std::pair<NodeId, NodeId>> clogged_;
  std::map<std::pair<NodeId, NodeId>, std::vector<Envelope>> held_;
  std::vector<Envelope> in_flight_;  // scheduled for delivery, by slot (see Schedule)
  std::vector<size_t> free_slots_;   // of in_flight_
  uint64_t sent_ = 0;
  uint64_t delivered_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace keel::sim
