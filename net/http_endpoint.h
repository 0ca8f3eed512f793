// The node's HTTP port for operators (--metrics-addr): GET /metrics (Prometheus text),
// /healthz and /readyz (200 "ok", or 503 with the reasons on one line). Served by
// cpp-httplib's threads from the latest snapshot the event loop published on a MetricsBoard,
// so a scrape never touches the node and a stuck loop shows as a stale snapshot.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "net/metrics.h"

namespace keel::net {

// The latest snapshot, handed from the event loop to the HTTP threads.
class MetricsBoard {
 public:
  // `now_nanos`: steady-clock time of publishing.
  void Publish(MetricsSnapshot snapshot, int64_t now_nanos);
  struct Latest {
    std::shared_ptr<const MetricsSnapshot> snapshot;  // null before the first Publish
    int64_t published_nanos = 0;
  };
  Latest Get() const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const MetricsSnapshot> snapshot_;
  int64_t published_nanos_ = 0;
};

class HttpEndpoint {
 public:
  // Binds `address` (host:port; port 0 picks a free one) and starts serving in the
  // background. FailedPrecondition naming the address if it cannot be bound. `board` must
  // outlive the endpoint.
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(const std::string& address, const MetricsBoard& board,
                                                             const HealthOptions& health);
  // Stops serving and joins the HTTP threads.
  ~HttpEndpoint();
  int port() const { return port_; }

 private:
  struct Impl;
  HttpEndpoint();
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace keel::net
