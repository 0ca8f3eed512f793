#include "net/zmq_peer_channel.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "net/auth.h"

namespace keel::net {
namespace {

// Enough for bursts of appends while a peer is briefly slow; beyond it, drop (bounded memory).
constexpr int kHighWaterMark = 10'000;

}  // namespace

std::string ToEndpoint(const std::string& address) {
  return absl::StrContains(address, "://") ? address : absl::StrCat("tcp://", address);
}

ZmqPeerChannel::ZmqPeerChannel(zmq::context_t& context) : inbound_(context, zmq::socket_type::router) {}

absl::StatusOr<std::unique_ptr<ZmqPeerChannel>> ZmqPeerChannel::Create(zmq::context_t& context,
                                                                       const std::string& listen_endpoint,
                                                                       const std::map<NodeId, std::string>& peers,
                                                                       const PeerCurve* curve) {
  std::unique_ptr<ZmqPeerChannel> channel(new ZmqPeerChannel(context));
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
    auto socket = std::make_unique<zmq::socket_t>(context, zmq::socket_type::dealer);
    socket->set(zmq::sockopt::linger, 0);
    socket->set(zmq::sockopt::sndhwm, kHighWaterMark);
    // Queue nothing for a peer that is not connected: stale Raft messages are worse than none.
    socket->set(zmq::sockopt::immediate, 1);
    socket->set(zmq::sockopt::reconnect_ivl, 50);
    socket->set(zmq::sockopt::reconnect_ivl_max, 1000);
    socket->set(zmq::sockopt::maxmsgsize, kMaxFrameBytes);
    if (curve != nullptr) {
      auto key = curve->public_keys.find(id);
      if (key == curve->public_keys.end()) {
        return absl::InvalidArgumentError(absl::StrCat("no public key for peer ", id));
      }
      socket->set(zmq::sockopt::curve_serverkey, key->second);
      socket->set(zmq::sockopt::curve_publickey, curve->own.public_key);
      socket->set(zmq::sockopt::curve_secretkey, curve->own.secret_key);
    }
    try {
      socket->connect(endpoint);
    } catch (const zmq::error_t& error) {
      return absl::InvalidArgumentError(absl::StrCat("bad address for peer ", id, ": ", endpoint, ": ", error.what()));
    }
    channel->outbound_.emplace(id, std::move(socket));
  }
  return channel;
}

void ZmqPeerChannel::Send(const nodepb::Envelope& envelope) {
  auto it = outbound_.find(envelope.to());
  if (it == outbound_.end()) {
    ++counters_.dropped_unknown_peer;
    return;
  }
  const std::string bytes = envelope.SerializeAsString();
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

void ZmqPeerChannel::Drain(int max_frames, const std::function<void(nodepb::Envelope)>& deliver) {
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
    nodepb::Envelope envelope;
    if (parts.size() != 1 || parts[0].size() > static_cast<size_t>(kMaxFrameBytes) ||
        !envelope.ParseFromArray(parts[0].data(), static_cast<int>(parts[0].size()))) {
      ++counters_.dropped_unparseable;
      continue;
    }
    // ZeroMQ stamps each frame with the user id the ZAP handler gave the connection's key:
    // a member's key may only speak for that member.
    const char* user_id = authenticated_ ? zmq_msg_gets(parts[0].handle(), "User-Id") : nullptr;
    if (authenticated_ && (user_id == nullptr || absl::StrCat(envelope.from()) != user_id)) {
      ++counters_.dropped_impersonation;
      continue;
    }
    deliver(std::move(envelope));
  }
}

}  // namespace keel::net
