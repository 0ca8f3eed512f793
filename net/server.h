// A production keel node: the node driver (engine/node.h) on POSIX storage, with peers and
// clients over ZeroMQ, fed by one event loop (zmq_poll plus the node's next tick). The loop only
// moves bytes: every decision is the node driver's, the same code the simulator runs.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/node.h"
#include "kvstate/kv_state.h"
#include "net/auth.h"
#include "net/curve.h"
#include "net/data_dir.h"
#include "net/http_endpoint.h"
#include "net/instrumented_application.h"
#include "net/metrics.h"
#include "net/posix_filesystem.h"
#include "net/steady_clock.h"
#include "net/zmq_peer_channel.h"
#include "zmq.hpp"

namespace keel::net {

// CURVE on both ports.
struct ServerCurve {
  CurveKeyPair node;                       // the raft port, and this node when it dials peers
  CurveKeyPair client_port;                // the client port (often the same pair)
  std::map<NodeId, std::string> peer_keys; // every member's public key, this node's included
  std::vector<NamedKey> client_keys;       // who may use the client port (name for the logs)
};

struct ServerOptions {
  NodeId id = kNoNode;
  uint64_t cluster_id = 0;
  std::string data_dir;
  std::string client_address;             // host:port or a ZeroMQ endpoint
  std::map<NodeId, std::string> members;  // raft address of every member, this node included
  bool bootstrap = false;                 // may claim an empty data dir
  // The voters a new data dir starts from; empty: every id in `members`. A node joining a
  // running cluster passes the cluster's (NodeStatus.initial_voters), itself not among them.
  std::vector<NodeId> initial_voters;
  int64_t tick_nanos = 100'000'000;
  int election_tick = 10;
  // Lease reads (Config::read_only_lease, max_clock_drift_ticks): every node must agree.
  bool read_only_lease = false;
  int max_clock_drift_ticks = 1;
  uint64_t snapshot_every_entries = 10'000;
  uint64_t wal_preallocate_bytes = 1 << 20;  // WalOptions::preallocate_bytes
  // Above this many open calls, new requests are refused (UNAVAILABLE) rather than queued
  // without bound (NodeOptions::max_open_calls).
  size_t max_open_calls = 100'000;
  // Authentication and encryption of both ports; nullopt serves plaintext to anyone who can
  // reach the ports (keel --insecure).
  std::optional<ServerCurve> curve;
  // host:port of the HTTP port for /metrics, /healthz and /readyz; empty: none.
  std::string metrics_address;
  HealthOptions health;
  // Test-only, for keel-planted (a build linked with keel_engine_planted; Start refuses both
  // elsewhere): engine/planted_bugs.h bits for the Raft core and the state machine, and a bug
  // of this server's own, stale reads: every linearizable read is served from the answering
  // node's local state (as if the client had asked for READ_STALE). The chaos test
  // (tests/chaos/) must catch it.
  uint32_t planted_bugs = 0;
  bool planted_stale_reads = false;
};

// What the loop saw, for logs and tests.
struct ServerCounters {
  uint64_t client_frames = 0;
  uint64_t client_unparseable = 0;
};

class Server {
 public:
  // Claims and locks the data dir, recovers storage (DataLoss names the damaged file and
  // offset), binds both ports (an occupied port is an error naming it). Nothing is served
  // until Run().
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();

  // Serves until `stop` becomes true (checked at least every 50 ms) or storage fails (then
  // returns that failure: the process must exit, not serve from a log it cannot trust).
  absl::Status Run(const std::atomic<bool>& stop);

  const keel::Node& node() const { return *node_; }
  // The HTTP port's number (0 without --metrics-addr).
  int metrics_port() const { return http_ == nullptr ? 0 : http_->port(); }

 private:
  explicit Server(const ServerOptions& options);
  void DrainClients();
  void DrainAuth();
  absl::Status StartAuth();
  void LogChanges();
  // Publishes a metrics snapshot if the last one is older than the publish interval.
  void MaybePublishMetrics();
  MetricsSnapshot CollectMetrics();

  ServerOptions options_;
  SteadyClock clock_;
  WallClock wall_clock_;  // leader time stamped into commands (NodeOptions::leader_time_clock)
  zmq::context_t context_{1};
  std::unique_ptr<PosixFileSystem> fs_;
  std::unique_ptr<DataDirLock> lock_;
  std::unique_ptr<DurableStorage> storage_;
  std::unique_ptr<kvstate::KvState> state_;
  std::unique_ptr<InstrumentedApplication> application_;  // state_, timed
  std::unique_ptr<ZapHandler> zap_;  // null without CURVE; bound before either port
  std::unique_ptr<HandshakeMonitor> peer_monitor_;
  std::unique_ptr<HandshakeMonitor> client_monitor_;
  std::unique_ptr<ZmqPeerChannel> peers_;
  std::unique_ptr<zmq::socket_t> clients_;
  std::unique_ptr<keel::Node> node_;
  ServerCounters counters_;
  // Metrics: figures only the loop sees, the board the HTTP threads read, the HTTP port.
  LatencyHistogram fsync_latency_;
  uint64_t leader_changes_ = 0;
  NodeId last_known_leader_ = kNoNode;
  int64_t started_nanos_ = 0;
  int64_t last_publish_nanos_ = 0;
  int64_t last_wal_scan_nanos_ = 0;
  uint64_t wal_bytes_ = 0;
  uint64_t wal_segments_ = 0;
  MetricsBoard board_;
  std::unique_ptr<HttpEndpoint> http_;  // declared last: destroyed (threads joined) first
  // For logging changes once.
  Role logged_role_ = Role::kFollower;
  std::string logged_conf_;  // the configuration last logged (DescribeConfState)
  Term logged_term_ = 0;
  NodeId logged_leader_ = kNoNode;
  bool logged_stalled_ = false;
  NodeCounters logged_drops_;
  uint64_t logged_impersonation_ = 0;
  int64_t last_drop_log_nanos_ = 0;
  // Refusals logged per (domain, key or address): the first at once, then at most one line per
  // interval with the count in between, so a retrying stranger cannot flood the log.
  struct RefusalLog {
    int64_t last_nanos = 0;
    uint64_t unlogged = 0;
  };
  std::map<std::string, RefusalLog> refusal_log_;
  void LogRefusal(const std::string& what, const std::string& subject);
};


}  // namespace keel::net
