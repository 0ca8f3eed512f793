// The production PeerChannel: envelopes between nodes over ZeroMQ. Each node binds a ROUTER on
// its raft address and connects one DEALER per peer (ZeroMQ reconnects by itself). Sends never
// block: a peer whose queue is full (high-water mark) or not connected loses the envelope,
// which Raft and the node driver tolerate like any lost message. Frames larger than
// kMaxFrameBytes are refused by ZeroMQ (it drops the connection), so a hostile or broken peer
// cannot make this node allocate without bound.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/node.h"
#include "net/curve.h"
#include "zmq.hpp"

namespace keel::net {

inline constexpr int64_t kMaxFrameBytes = int64_t{32} << 20;

struct PeerChannelCounters {
  uint64_t sent = 0;
  uint64_t dropped_full = 0;         // peer queue full or not connected
  uint64_t dropped_unknown_peer = 0; // addressed to a node we have no address for
  uint64_t received = 0;
  uint64_t dropped_unparseable = 0;  // frames that are not an Envelope
  uint64_t dropped_impersonation = 0;  // sender field differs from the node the key belongs to
  uint64_t members_added = 0;        // members dialled from the configuration (added at run time)
  uint64_t members_unreachable = 0;  // configuration members without a usable address or key
};

// CURVE on the raft port: this node's key pair, and every member's public key (this node's
// included), which is both whom to trust and how to recognise the peer we dial.
struct PeerCurve {
  CurveKeyPair own;
  std::map<NodeId, std::string> public_keys;
};

class ZmqPeerChannel final : public PeerChannel {
 public:
  // Binds `listen_endpoint` (e.g. tcp://127.0.0.1:7001) and connects to every peer's endpoint
  // (`peers` excludes `self`, this node).
  // Fails (naming the address) if the address cannot be bound, e.g. the port is taken. With
  // `curve`, both directions are CURVE: the inbound socket authenticates through the ZAP
  // domain kPeerDomain (a ZapHandler must already be bound in `context`, with user id = node
  // id), and each outbound socket expects its peer's listed key. Without it: plaintext.
  static absl::StatusOr<std::unique_ptr<ZmqPeerChannel>> Create(zmq::context_t& context, NodeId self,
                                                                const std::string& listen_endpoint,
                                                                const std::map<NodeId, std::string>& peers,
                                                                const PeerCurve* curve);

  void Send(Envelope&& envelope) override;
  // Dials members this channel has no address for yet (added at run time: their MemberInfo
  // comes from the configuration) and, with CURVE, hands their public keys to the key
  // listener so the raft port admits them. Addresses and keys from the flags win over the
  // configuration's (the operator's word); a member whose info lacks what is needed is counted
  // in members_unreachable and reported through `on_problem`.
  void SetMembers(const std::map<NodeId, nodepb::MemberInfo>& members) override;
  // Who hears of keys to admit (the server's ZAP allowlist) and of members that cannot be
  // reached. Both optional.
  void set_key_listener(std::function<void(NodeId, const std::string& key)> listener) {
    key_listener_ = std::move(listener);
  }
  void set_problem_listener(std::function<void(const std::string& what)> listener) {
    problem_listener_ = std::move(listener);
  }
  // The socket to poll for input.
  zmq::socket_t& inbound() { return inbound_; }
  // Hands up to `max_frames` envelopes waiting on the socket to `deliver` without blocking;
  // frames that do not parse, or (with CURVE) whose sender is not the node whose key sent
  // them, are counted and dropped (the node checks the rest: cluster id, sender, address).
  void Drain(int max_frames, const std::function<void(Envelope&&)>& deliver);
  const PeerChannelCounters& counters() const { return counters_; }

 private:
  explicit ZmqPeerChannel(zmq::context_t& context);
  // Opens the DEALER to `id` at `endpoint`; with CURVE `server_key` is the peer's public key.
  absl::Status Connect(NodeId id, const std::string& endpoint, const std::string& server_key);
  void Problem(NodeId id, const std::string& what);

  zmq::context_t& context_;
  NodeId self_ = kNoNode;
  std::optional<PeerCurve> curve_;
  zmq::socket_t inbound_;
  std::function<void(NodeId, const std::string&)> key_listener_;
  std::function<void(const std::string&)> problem_listener_;
  std::map<NodeId, std::string> problems_;  // the last problem reported per member (once each)
  std::map<NodeId, std::unique_ptr<zmq::socket_t>> outbound_;
  PeerChannelCounters counters_;
  bool authenticated_ = false;
};

// "tcp://" + host:port unless a scheme is given.
std::string ToEndpoint(const std::string& address);

}  // namespace keel::net
