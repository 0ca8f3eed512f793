#include "net/dealer_set.h"

#include "engine/assert.h"
#include "net/client.h"

namespace keel::client {

// Contexts are thread-safe, and a context per client would start an I/O thread per client
// (256 of them for keel-bench's threaded driver at 256 clients, on 2 cores).
zmq::context_t& SharedContext() {
  static zmq::context_t* context = new zmq::context_t(1);  // never destroyed: outlives every client
  return *context;
}

DealerSet::DealerSet(const ClientOptions& options) : options_(options), dealers_(options.endpoints.size()) {}

DealerSet::~DealerSet() = default;

zmq::socket_t& DealerSet::For(size_t index) {
  KEEL_ASSERT(index < dealers_.size());
  if (dealers_[index] != nullptr) return *dealers_[index];
  const std::string& endpoint = options_.endpoints[index];
  auto socket = std::make_unique<zmq::socket_t>(SharedContext(), zmq::socket_type::dealer);
  socket->set(zmq::sockopt::linger, 0);
  // A pipelined client may have thousands of requests in flight on one socket.
  socket->set(zmq::sockopt::sndhwm, 100'000);
  socket->set(zmq::sockopt::rcvhwm, 100'000);
  socket->set(zmq::sockopt::reconnect_ivl, 100);
  socket->set(zmq::sockopt::reconnect_ivl_max, 1000);
  socket->set(zmq::sockopt::maxmsgsize, int64_t{64} << 20);
  if (options_.curve.has_value()) {
    const ClientOptions::Curve& keys = *options_.curve;
    auto server = keys.server_keys.find(endpoint);
    socket->set(zmq::sockopt::curve_serverkey, server != keys.server_keys.end() ? server->second : keys.server_key);
    socket->set(zmq::sockopt::curve_publickey, keys.client.public_key);
    socket->set(zmq::sockopt::curve_secretkey, keys.client.secret_key);
  }
  socket->connect(endpoint);
  dealers_[index] = std::move(socket);
  return *dealers_[index];
}

}  // namespace keel::client
