#include "net/zmq_peer_channel.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "net/auth.h"
#include "net/curve.h"

namespace keel::net {
namespace {

// Enough for bursts of appends while a peer is briefly slow; beyond it, drop (bounded memory).
constexpr int kHighWaterMark = 10'000;

}  // namespace

std::string ToEndpoint(const std::string& address) {
  return absl::StrContains(address, "://") ? address : absl::StrCat("tcp://", address);
}

ZmqPeerChannel::ZmqPeerChannel(zmq::context_t& context)
    : context_(context), inbound_(context, zmq::socket_type::router) {}

absl::StatusOr<std::unique_ptr<ZmqPeerChannel>> ZmqPeerChannel::Create(zmq::context_t& context, NodeId self,
                                                                       const std::string& listen_endpoint,
                                                                       const std::map<NodeId, std::string>& peers,
                                                                       const PeerCurve* curve) {
  std::unique_ptr<ZmqPeerChannel> channel(new ZmqPeerChannel(context));
  channel->self_ = self;
  if (curve != nullptr) channel->curve_ = *curve;
  zmq::socket_t& in = channel->inbound_;
  in.set(zmq::sockopt::linger, 0);
  if (curve != nullptr) {
    in.set(zmq::sockopt::curve_server, 1);
    in.set(zmq::sockopt::curve_secretkey, curve->own.secret_key);
    in.set(zmq::sockopt::zap_domain, kPeerDomain);
    channel->authenticated_ = true;
  }
  in.set(zmq::sockopt::rcvhwm, kHighWaterMark);
  in.set(zmq::sockopt::maxmsgsize, kMaxFrameBytes);
  try {
    in.bind(listen_endpoint);
  } catch (const zmq::error_t& error) {
    return absl::FailedPreconditionError(absl::StrCat("cannot bind the raft address ", listen_endpoint, ": ",
                                                      error.what()));
  }
  for (const auto& [id, endpoint] : peers) {
    std::string server_key;
    if (curve != nullptr) {
      auto key = curve->public_keys.find(id);
      if (key == curve->public_keys.end()) return absl::InvalidArgumentError(absl::StrCat("no public key for peer ", id));
      server_key = key->second;
    }
    if (absl::Status status = channel->Connect(id, endpoint, server_key); !status.ok()) return status;
  }
  return channel;
}

absl::Status ZmqPeerChannel::Connect(NodeId id, const std::string& endpoint, const std::string& server_key) {
  KEEL_ASSERT(!outbound_.contains(id));
  auto socket = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
  socket->set(zmq::sockopt::linger, 0);
  socket->set(zmq::sockopt::sndhwm, kHighWaterMark);
  // Queue nothing for a peer that is not connected: stale Raft messages are worse than none.
  socket->set(zmq::sockopt::immediate, 1);
  socket->set(zmq::sockopt::reconnect_ivl, 50);
  socket->set(zmq::sockopt::reconnect_ivl_max, 1000);
  socket->set(zmq::sockopt::maxmsgsize, kMaxFrameBytes);
  if (curve_) {
    KEEL_ASSERT(!server_key.empty());
    socket->set(zmq::sockopt::curve_serverkey, server_key);
    socket->set(zmq::sockopt::curve_publickey, curve_->own.public_key);
    socket->set(zmq::sockopt::curve_secretkey, curve_->own.secret_key);
  }
  try {
    socket->connect(endpoint);
  } catch (const zmq::error_t& error) {
    return absl::InvalidArgumentError(absl::StrCat("bad address for peer ", id, ": ", endpoint, ": ", error.what()));
  }
  outbound_.emplace(id, std::move(socket));
  return absl::OkStatus();
}

void ZmqPeerChannel::SetMembers(const std::map<NodeId, nodepb::MemberInfo>& members) {
  for (const auto& [id, info] : members) {
    if (id == self_) continue;
    std::string key;
    if (curve_) {
      auto listed = curve_->public_keys.find(id);
      if (listed != curve_->public_keys.end()) {
        key = listed->second;  // the flags' key wins
      } else if (IsCurveKey(info.public_key())) {
        key = info.public_key();
        curve_->public_keys[id] = key;
        if (key_listener_) key_listener_(id, key);
      }
    }
    if (outbound_.contains(id)) continue;
    if (info.raft_address().empty()) {
      Problem(id, "its configuration entry has no raft address");
      continue;
    }
    if (curve_ && key.empty()) {
      Problem(id, "no valid public key for it (flags or configuration)");
      continue;
    }
    if (absl::Status status = Connect(id, ToEndpoint(info.raft_address()), key); !status.ok()) {
      Problem(id, std::string(status.message()));
      continue;
    }
    ++counters_.members_added;
  }
}

void ZmqPeerChannel::Problem(NodeId id, const std::string& what) {
  std::string& last = problems_[id];
  if (last == what) return;  // reported once, not on every configuration change
  last = what;
  ++counters_.members_unreachable;
  if (problem_listener_) problem_listener_(absl::StrCat("member ", id, " cannot be reached: ", what));
}

void ZmqPeerChannel::Send(Envelope&& envelope) {
  auto it = outbound_.find(envelope.header.to());
  if (it == outbound_.end()) {
    ++counters_.dropped_unknown_peer;
    return;
  }
  // Written straight from the entries' shared payloads: no protobuf copy of an append.
  const std::string bytes = Encode(envelope);
  zmq::send_result_t sent;
  try {
    sent = it->second->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
    sent = std::nullopt;
  }
  if (sent) {
    ++counters_.sent;
  } else {
    ++counters_.dropped_full;
  }
}

void ZmqPeerChannel::Drain(int max_frames, const std::function<void(Envelope&&)>& deliver) {
  for (int frame = 0; frame < max_frames; ++frame) {
    // A DEALER's frame arrives at the ROUTER as [sender identity][payload].
    zmq::message_t identity;
    if (!inbound_.recv(identity, zmq::recv_flags::dontwait)) return;
    std::vector<zmq::message_t> parts;
    while (inbound_.get(zmq::sockopt::rcvmore)) {
      zmq::message_t part;
      if (!inbound_.recv(part, zmq::recv_flags::dontwait)) break;
      parts.push_back(std::move(part));
    }
    ++counters_.received;
    if (parts.size() != 1 || parts[0].size() > static_cast<size_t>(kMaxFrameBytes)) {
      ++counters_.dropped_unparseable;
      continue;
    }
    // The entries of an append move out of the parsed protobuf, beside its header.
    absl::StatusOr<Envelope> envelope =
        DecodeEnvelope(absl::string_view(static_cast<const char*>(parts[0].data()), parts[0].size()));
    if (!envelope.ok()) {
      ++counters_.dropped_unparseable;
      continue;
    }
    // ZeroMQ stamps each frame with the user id the ZAP handler gave the connection's key:
    // a member's key may only speak for that member.
    const char* user_id = authenticated_ ? zmq_msg_gets(parts[0].handle(), "User-Id") : nullptr;
    if (authenticated_ && (user_id == nullptr || absl::StrCat(envelope->header.from()) != user_id)) {
      ++counters_.dropped_impersonation;
      continue;
    }
    deliver(std::move(*envelope));
  }
}

}  // namespace keel::net
