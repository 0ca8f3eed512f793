// The node driver's record of one client request it must answer (engine/node.h). Private to
// the node's implementation files.
#pragma once

#include <cstdint>
#include <set>

#include "engine/application.h"
#include "engine/node.h"

namespace keel {

struct Node::Call {
  uint64_t serial = 0;       // node-local, in arrival order; 0 until Poll admits it
  nodepb::Request request;
  Reply reply;
  int64_t deadline = 0;      // on this node's clock
  NodeId proxied_from = kNoNode;  // a follower proxied it here; answered over the peer channel
  bool answered = false;
  bool inspected = false;
  CommandInfo info;          // valid once inspected
  bool proposed = false;     // proposed here: answered by the replica's callback
  bool waiting_for_leader = false;
  // Proxy attempts sent to a leader and not answered yet.
  std::set<uint64_t> outstanding_proxy_ids;
  // Some attempt left this node. A leader's "not applied" covers only the copy it saw (the
  // network may duplicate or delay another), so from then on a mutating call can no longer be
  // answered UNAVAILABLE: only OK or an unknown outcome.
  bool sent_to_leader = false;
  int64_t retry_at = 0;      // when to send another proxy attempt

  // A read changes nothing: whatever happened to it, it was not applied.
  bool read_only() const { return inspected && info.read_only; }
};

}  // namespace keel
