// The sockets of a keel client: one DEALER per node endpoint on a context shared by every
// client of the process.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "zmq.hpp"

namespace keel::client {

struct ClientOptions;

// One ZeroMQ context (one I/O thread) per process, shared by every client.
zmq::context_t& SharedContext();

// One DEALER socket per endpoint, connected on first use, with the options' CURVE keys.
class DealerSet {
 public:
  explicit DealerSet(const ClientOptions& options);
  ~DealerSet();
  // The socket of endpoint `index` (< endpoints.size()); connects it on first use.
  zmq::socket_t& For(size_t index);
  // The socket of endpoint `index` if it was made, else null.
  zmq::socket_t* Made(size_t index) const { return dealers_[index].get(); }
  size_t size() const { return dealers_.size(); }

 private:
  const ClientOptions& options_;
  std::vector<std::unique_ptr<zmq::socket_t>> dealers_;
};

}  // namespace keel::client
