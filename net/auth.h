// Who may connect to a node's ports. ZeroMQ does the CURVE handshake; before it accepts a
// connection it asks the ZAP handler (ZeroMQ RFC 27) on inproc://zeromq.zap.01 of the same
// context. keel's handler answers from allowlists, one per ZAP domain (the raft port and the
// client port each set theirs), and counts and reports every refusal. A handshake that fails
// before ZAP is asked (a plaintext or wrong-server-key client) is seen through socket monitors.
//
// Both are polled by the server's event loop: the loop is the only thread that touches them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "zmq.hpp"

namespace keel::net {

inline constexpr char kPeerDomain[] = "keel-peer";
inline constexpr char kClientDomain[] = "keel-client";

// One refused connection attempt.
struct AuthRefusal {
  std::string domain;   // kPeerDomain or kClientDomain
  std::string address;  // the remote IP address as ZeroMQ reports it
  std::string key;      // the Z85 public key it presented
};

struct AuthCounters {
  uint64_t peer_accepted = 0;
  uint64_t peer_refused = 0;    // a key not on --peer-keys
  uint64_t client_accepted = 0;
  uint64_t client_refused = 0;  // a key not on --client-keys
  uint64_t malformed = 0;       // ZAP requests that are not RFC 27 (never expected)
};

class ZapHandler {
 public:
  // key (Z85) -> the user id ZeroMQ attaches to every frame of that connection (for peers the
  // node id, so a frame's sender can be checked against the key it authenticated with).
  using Allowlist = std::map<std::string, std::string>;

  // Binds the ZAP endpoint of `context`. Call before any CURVE server socket of the context
  // binds: with no handler bound, ZeroMQ accepts every client key, and keel must never have
  // such a window. FailedPrecondition if the endpoint is already bound.
  static absl::StatusOr<std::unique_ptr<ZapHandler>> Bind(zmq::context_t& context,
                                                          std::map<std::string, Allowlist> by_domain);

  // Admits `key` in `domain` from now on, as `user_id`; false (nothing changes) if the key is
  // already admitted as someone else: one key never speaks for two users.
  bool Allow(const std::string& domain, const std::string& key, const std::string& user_id);
  // The socket to poll for input.
  zmq::socket_t& socket() { return socket_; }
  // Answers up to `max_requests` waiting requests without blocking; `on_refused` hears of
  // each refusal.
  void Drain(int max_requests, const std::function<void(const AuthRefusal&)>& on_refused);
  const AuthCounters& counters() const { return counters_; }

 private:
  ZapHandler(zmq::context_t& context, std::map<std::string, Allowlist> by_domain);
  zmq::socket_t socket_;
  std::map<std::string, Allowlist> by_domain_;
  AuthCounters counters_;
};

// Counts the handshakes of one socket that failed before any key was checked (a plaintext
// client on a CURVE port, a client with the wrong server key, a protocol mismatch).
class HandshakeMonitor {
 public:
  // Starts monitoring `watched` through an inproc endpoint named after `name` (unique per
  // context).
  static absl::StatusOr<std::unique_ptr<HandshakeMonitor>> Start(zmq::context_t& context, zmq::socket_t& watched,
                                                                 const std::string& name);
  zmq::socket_t& socket() { return socket_; }
  // Reads waiting events without blocking; calls `on_failure` with the failing peer's
  // endpoint for each failed handshake.
  void Drain(int max_events, const std::function<void(const std::string& endpoint)>& on_failure);
  uint64_t failed() const { return failed_; }

 private:
  explicit HandshakeMonitor(zmq::context_t& context);
  zmq::socket_t socket_;
  uint64_t failed_ = 0;
};

}  // namespace keel::net
