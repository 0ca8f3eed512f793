#include "net/http_endpoint.h"

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"

namespace keel::net {
namespace {

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void MetricsBoard::Publish(MetricsSnapshot snapshot, int64_t now_nanos) {
  auto shared = std::make_shared<const MetricsSnapshot>(std::move(snapshot));
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_ = std::move(shared);
  published_nanos_ = now_nanos;
}

MetricsBoard::Latest MetricsBoard::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return Latest{snapshot_, published_nanos_};
}

struct HttpEndpoint::Impl {
  httplib::Server server;
};

HttpEndpoint::HttpEndpoint() : impl_(std::make_unique<Impl>()) {}

HttpEndpoint::~HttpEndpoint() {
  impl_->server.stop();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(const std::string& address,
                                                                  const MetricsBoard& board,
                                                                  const HealthOptions& health) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--metrics-addr '", address, "' is not host:port"));
  }
  const std::string host = address.substr(0, colon);
  std::unique_ptr<HttpEndpoint> endpoint(new HttpEndpoint());
  httplib::Server& server = endpoint->impl_->server;
  // Scrapers are patient and few: short timeouts keep a stuck client from holding a thread.
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  auto age = [](const MetricsBoard::Latest& latest) {
    return static_cast<double>(SteadyNanos() - latest.published_nanos) / 1e9;
  };
  server.Get("/metrics", [&board, health](const httplib::Request&, httplib::Response& response) {
    const MetricsBoard::Latest latest = board.Get();
    if (latest.snapshot == nullptr) {
      response.status = 503;
      response.set_content("starting\n", "text/plain");
      return;
    }
    response.set_content(RenderPrometheus(*latest.snapshot, health), "text/plain; version=0.0.4; charset=utf-8");
  });
  auto judge = [&board, health, age](bool ready) {
    return [&board, health, age, ready](const httplib::Request&, httplib::Response& response) {
      const MetricsBoard::Latest latest = board.Get();
      Verdict verdict{false, "starting"};
      if (latest.snapshot != nullptr) {
        verdict = ready ? Ready(*latest.snapshot, age(latest), health) : Healthy(*latest.snapshot, age(latest), health);
      }
      response.status = verdict.ok ? 200 : 503;
      response.set_content(verdict.why + "\n", "text/plain");
    };
  };
  server.Get("/healthz", judge(false));
  server.Get("/readyz", judge(true));
  if (port == 0) {
    endpoint->port_ = server.bind_to_any_port(host);
  } else if (server.bind_to_port(host, port)) {
    endpoint->port_ = port;
  }
  if (endpoint->port_ <= 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot bind the metrics address ", address,
                                                      " (in use, or not an address of this host)"));
  }
  HttpEndpoint* raw = endpoint.get();
  endpoint->thread_ = std::thread([raw] { raw->impl_->server.listen_after_bind(); });
  return endpoint;
}

}  // namespace keel::net
