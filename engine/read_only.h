// Pending ReadIndex requests on a leader (dissertation §6.4): a read may be served at the
// commit index recorded when it arrived, once a quorum has acknowledged a heartbeat sent after
// it arrived (which proves no newer leader had committed anything by then).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "engine/types.h"

namespace keel {

class ReadOnly {
 public:
  struct Request {
    NodeId from = kNoNode;  // who asked: the leader itself or a follower
    std::string context;    // the requester's opaque context
    Index index = 0;        // the leader's commit index when the request arrived
    uint64_t sequence = 0;  // internal id, carried in heartbeat contexts
    absl::btree_set<NodeId> acks;
  };

  // Registers a request; the leader counts as its first ack. Returns the heartbeat context that
  // confirms it.
  std::string Add(NodeId from, std::string context, Index index, NodeId self);
  // Records `from`'s ack of the heartbeat carrying `heartbeat_context`. Returns, in arrival
  // order, every request confirmed by it (that request and all older ones) once
  // `has_quorum(acks)` holds (the leader's quorum rule: both halves of a joint config);
  // otherwise nothing.
  std::vector<Request> Ack(NodeId from, const std::string& heartbeat_context,
                           const std::function<bool(const absl::btree_set<NodeId>&)>& has_quorum);
  // Releases everything, e.g. in a single-voter cluster where the leader alone is a quorum.
  std::vector<Request> ReleaseAll();
  void Clear() { pending_.clear(); }
  size_t pending() const { return pending_.size(); }

 private:
  static std::string EncodeSequence(uint64_t sequence);
  static std::optional<uint64_t> DecodeSequence(const std::string& context);

  uint64_t next_sequence_ = 1;
  std::deque<Request> pending_;  // ordered by sequence
};

}  // namespace keel
