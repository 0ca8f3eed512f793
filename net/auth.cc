#include "net/auth.h"

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "net/curve.h"

namespace keel::net {
namespace {

constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";

// Receives the remaining frames of a multi-frame message without blocking.
std::vector<zmq::message_t> RecvRest(zmq::socket_t& socket, zmq::message_t first) {
  std::vector<zmq::message_t> frames;
  frames.push_back(std::move(first));
  while (socket.get(zmq::sockopt::rcvmore)) {
    zmq::message_t part;
    if (!socket.recv(part, zmq::recv_flags::dontwait)) break;
    frames.push_back(std::move(part));
  }
  return frames;
}

}  // namespace

ZapHandler::ZapHandler(zmq::context_t& context, std::map<std::string, Allowlist> by_domain)
    : socket_(context, zmq::socket_type::rep), by_domain_(std::move(by_domain)) {}

absl::StatusOr<std::unique_ptr<ZapHandler>> ZapHandler::Bind(zmq::context_t& context,
                                                             std::map<std::string, Allowlist> by_domain) {
  std::unique_ptr<ZapHandler> handler(new ZapHandler(context, std::move(by_domain)));
  handler->socket_.set(zmq::sockopt::linger, 0);
  try {
    handler->socket_.bind(kZapEndpoint);
  } catch (const zmq::error_t& error) {
    return absl::FailedPreconditionError(absl::StrCat("cannot bind the ZAP handler: ", error.what()));
  }
  return handler;
}

bool ZapHandler::Allow(const std::string& domain, const std::string& key, const std::string& user_id) {
  auto [entry, added] = by_domain_[domain].emplace(key, user_id);
  return added || entry->second == user_id;
}

void ZapHandler::Drain(int max_requests, const std::function<void(const AuthRefusal&)>& on_refused) {
  for (int i = 0; i < max_requests; ++i) {
    zmq::message_t first;
    if (!socket_.recv(first, zmq::recv_flags::dontwait)) return;
    std::vector<zmq::message_t> frames = RecvRest(socket_, std::move(first));
    // RFC 27: version, request id, domain, address, routing id, mechanism, credentials...
    // A REP socket must answer every request, malformed or not, or it stops receiving.
    const bool well_formed = frames.size() >= 6 && frames[0].to_string() == "1.0";
    std::string status = "400";
    std::string status_text = "malformed ZAP request";
    std::string user_id;
    if (!well_formed) {
      ++counters_.malformed;
    } else {
      const std::string domain = frames[2].to_string();
      const std::string mechanism = frames[5].to_string();
      const std::string key = frames.size() >= 7 ? CurveKeyToZ85(frames[6].to_string()) : "";
      const bool peer = domain == kPeerDomain;
      const std::string* allowed_user = nullptr;
      if (auto list = by_domain_.find(domain); list != by_domain_.end() && mechanism == "CURVE") {
        if (auto entry = list->second.find(key); entry != list->second.end()) allowed_user = &entry->second;
      }
      if (allowed_user != nullptr) {
        status = "200";
        status_text = "OK";
        user_id = *allowed_user;
        ++(peer ? counters_.peer_accepted : counters_.client_accepted);
      } else {
        status_text = "key not allowed";
        ++(peer ? counters_.peer_refused : counters_.client_refused);
        on_refused(AuthRefusal{domain, frames[3].to_string(), key.empty() ? mechanism : key});
      }
    }
    const std::string request_id = frames.size() >= 2 ? frames[1].to_string() : "";
    const std::string reply[] = {"1.0", request_id, status, status_text, user_id, ""};
    for (size_t f = 0; f < 6; ++f) {
      socket_.send(zmq::buffer(reply[f]), f + 1 < 6 ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
}

HandshakeMonitor::HandshakeMonitor(zmq::context_t& context) : socket_(context, zmq::socket_type::pair) {}

absl::StatusOr<std::unique_ptr<HandshakeMonitor>> HandshakeMonitor::Start(zmq::context_t& context,
                                                                          zmq::socket_t& watched,
                                                                          const std::string& name) {
  const std::string endpoint = absl::StrCat("inproc://keel-monitor-", name);
  if (zmq_socket_monitor(watched.handle(), endpoint.c_str(),
                         ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0) {
    return absl::InternalError(absl::StrCat("cannot monitor the ", name, " socket: ", zmq_strerror(zmq_errno())));
  }
  std::unique_ptr<HandshakeMonitor> monitor(new HandshakeMonitor(context));
  monitor->socket_.set(zmq::sockopt::linger, 0);
  monitor->socket_.connect(endpoint);
  return monitor;
}

void HandshakeMonitor::Drain(int max_events, const std::function<void(const std::string& endpoint)>& on_failure) {
  for (int i = 0; i < max_events; ++i) {
    zmq::message_t first;
    if (!socket_.recv(first, zmq::recv_flags::dontwait)) return;
    // Frame 1: uint16 event, uint32 value; frame 2: the peer's endpoint.
    std::vector<zmq::message_t> frames = RecvRest(socket_, std::move(first));
    if (frames.size() != 2 || frames[0].size() < sizeof(uint16_t)) continue;
    uint16_t event = 0;
    std::memcpy(&event, frames[0].data(), sizeof(event));
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL || event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
      ++failed_;
      on_failure(frames[1].to_string());
    }
  }
}

}  // namespace keel::net
