// Network: faults are decided when a message is sent (cut, drop, duplicate, clog), except for
// the destination being attached, which is checked again at delivery time so a node that
// crashes while a message is in flight never sees it. Every random draw comes from prng_ in
// program order, so a seed fixes the whole run.
//
// Scheduled deliveries capture `this`: the Network must outlive the scheduler events it queued
// (in the simulator both live for the whole run).
#include "sim/network.h"

#include <cmath>
#include <cstddef>
#include <limits>

#include "engine/assert.h"

namespace keel::sim {

Network::Network(Scheduler& scheduler, Prng prng, NetworkOptions options)
    : scheduler_(scheduler), prng_(prng), options_(options) {}

void Network::Attach(NodeId id, Deliver deliver) {
  KEEL_ASSERT(deliver != nullptr);
  nodes_[id] = std::move(deliver);
  known_.insert(id);
}

void Network::Detach(NodeId id) {
  nodes_.erase(id);
}

void Network::Send(Envelope&& message) {
  ++sent_;
  const std::pair<NodeId, NodeId> link{message.header.from(), message.header.to()};
  if (cut_.contains(link) || !nodes_.contains(message.header.to())) {
    ++dropped_;
    return;
  }
  // Probabilities of 0 draw nothing, so switching a fault off leaves the other draws alone.
  if (options_.drop_probability > 0 && prng_.NextDouble() < options_.drop_probability) {
    ++dropped_;
    return;
  }
  const bool duplicate =
      options_.duplicate_probability > 0 && prng_.NextDouble() < options_.duplicate_probability;
  auto send = [&](Envelope&& sent) {
    if (clogged_.contains(link)) {
      held_[link].push_back(std::move(sent));
    } else {
      Schedule(std::move(sent));
    }
  };
  if (duplicate) send(Envelope(message));  // the copy first, then the envelope itself
  send(std::move(message));
}

void Network::Cut(NodeId from, NodeId to) {
  cut_.insert({from, to});
}

void Network::Partition(const std::vector<std::set<NodeId>>& groups) {
  constexpr size_t kNoGroup = std::numeric_limits<size_t>::max();
  std::map<NodeId, size_t> group_of;
  std::set<NodeId> nodes = known_;
  for (size_t group = 0; group < groups.size(); ++group) {
    for (NodeId id : groups[group]) {
      KEEL_ASSERT_MSG(group_of.emplace(id, group).second, "Partition: a node in two groups");
      nodes.insert(id);
    }
  }
  auto group = [&](NodeId id) {
    auto it = group_of.find(id);
    return it == group_of.end() ? kNoGroup : it->second;
  };
  // Adds cuts; links cut before stay cut (HealAll first for a fresh shape).
  for (NodeId a : nodes) {
    for (NodeId b : nodes) {
      if (a == b) continue;
      if (group(a) == kNoGroup || group(a) != group(b)) cut_.insert({a, b});
    }
  }
}

void Network::Clog(NodeId from, NodeId to) {
  clogged_.insert({from, to});
}

void Network::Unclog(NodeId from, NodeId to) {
  const std::pair<NodeId, NodeId> link{from, to};
  clogged_.erase(link);
  auto it = held_.find(link);
  if (it == held_.end()) return;
  std::vector<Envelope> released = std::move(it->second);
  held_.erase(it);
  for (Envelope& message : released) Schedule(std::move(message));
}

void Network::HealAll() {
  cut_.clear();
  clogged_.clear();
  // Links in (from, to) order, each in send order: deterministic.
  auto held = std::move(held_);
  held_.clear();
  for (auto& [link, messages] : held) {
    for (Envelope& message : messages) Schedule(std::move(message));
  }
}

int64_t Network::DrawLatency() {
  if (options_.mean_tail_nanos <= 0) return options_.min_latency_nanos;
  // Inverse-CDF sampling of an exponential; 1 - u is in (0, 1], so the log is finite.
  const double u = prng_.NextDouble();
  const double tail = -static_cast<double>(options_.mean_tail_nanos) * std::log(1.0 - u);
  return options_.min_latency_nanos + static_cast<int64_t>(tail);
}

void Network::Schedule(Envelope&& message) {
  // The envelope waits in a slot of in_flight_ and the event carries only the slot's number:
  // small enough for std::function's inline storage, so a message costs no allocation here.
  size_t slot = in_flight_.size();
  if (free_slots_.empty()) {
    in_flight_.push_back(std::move(message));
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
    in_flight_[slot] = std::move(message);
  }
  scheduler_.At(scheduler_.now() + DrawLatency(), [this, slot]() {
    Envelope message = std::move(in_flight_[slot]);
    free_slots_.push_back(slot);
    DeliverNow(std::move(message));
  });
}

void Network::DeliverNow(Envelope&& message) {
  auto it = nodes_.find(message.header.to());
  if (it == nodes_.end()) {  // detached while the message was in flight
    ++dropped_;
    return;
  }
  ++delivered_;
  // A copy: the callback may detach or re-attach its own node.
  const Deliver deliver = it->second;
  deliver(std::move(message));
}

}  // namespace keel::sim
