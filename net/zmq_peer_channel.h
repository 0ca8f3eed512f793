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
};

// CURVE on the raft port: this node's key pair, and every member's public key (this node's
// included), which is both whom to trust and how to recognise the peer we dial.
struct PeerCurve {
  CurveKeyPair own;
  std::map<NodeId, std::string> public_keys;
};

class ZmqPeerChannel final : public PeerChannel {
 public:
  // Binds `listen_endpoint` (e.g. tcp://127.0.0.1:7001) and connects to every peer's endpoint.
  // Fails (naming the address) if the address cannot be bound, e.g. the port is taken. With
  // `curve`, both directions are CURVE: the inbound socket authenticates through the ZAP
  // domain kPeerDomain (a ZapHandler must already be bound in `context`, with user id = node
  // id), and each outbound socket expects its peer's listed key. Without it: plaintext.
  static absl::StatusOr<std::unique_ptr<ZmqPeerChannel>> Create(zmq::context_t& context,
                                                                const std::string& listen_endpoint,
                                                                const std::map<NodeId, std::string>& peers,
                                                                const PeerCurve* curve);

  void Send(const nodepb::Envelope& envelope) override;
  // The socket to poll for input.
  zmq::socket_t& inbound() { return inbound_; }
  // Hands up to `max_frames` envelopes waiting on the socket to `deliver` without blocking;
  // frames that do not parse, or (with CURVE) whose sender is not the node whose key sent
  // them, are counted and dropped (the node checks the rest: cluster id, sender, address).
  void Drain(int max_frames, const std::function<void(nodepb::Envelope)>& deliver);
  const PeerChannelCounters& counters() const { return counters_; }

 private:
  explicit ZmqPeerChannel(zmq::context_t& context);
  zmq::socket_t inbound_;
  std::map<NodeId, std::unique_ptr<zmq::socket_t>> outbound_;
  PeerChannelCounters counters_;
  bool authenticated_ = false;
};

// "tcp://" + host:port unless a scheme is given.
std::string ToEndpoint(const std::string& address);

}  // namespace keel::net
