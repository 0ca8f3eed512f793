// A production keel node: the node driver (engine/node.h) on POSIX storage, with peers and
// clients over ZeroMQ, fed by one event loop (zmq_poll plus the node's next tick). The loop only
// moves bytes: every decision is the node driver's, the same code the simulator runs.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/node.h"
#include "kvstate/kv_state.h"
#include "net/data_dir.h"
#include "net/posix_filesystem.h"
#include "net/steady_clock.h"
#include "net/zmq_peer_channel.h"
#include "zmq.hpp"

namespace keel::net {

struct ServerOptions {
  NodeId id = kNoNode;
  uint64_t cluster_id = 0;
  std::string data_dir;
  std::string client_address;             // host:port or a ZeroMQ endpoint
  std::map<NodeId, std::string> members;  // raft address of every member, this node included
  bool bootstrap = false;                 // may claim an empty data dir
  int64_t tick_nanos = 100'000'000;
  int election_tick = 10;
  uint64_t snapshot_every_entries = 10'000;
  // Above this many open calls, new requests are refused (UNAVAILABLE) rather than queued
  // without bound (NodeOptions::max_open_calls).
  size_t max_open_calls = 100'000;
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

 private:
  explicit Server(const ServerOptions& options);
  void DrainClients();
  void LogChanges();

  ServerOptions options_;
  SteadyClock clock_;
  WallClock wall_clock_;  // leader time stamped into commands (NodeOptions::leader_time_clock)
  zmq::context_t context_{1};
  std::unique_ptr<PosixFileSystem> fs_;
  std::unique_ptr<DataDirLock> lock_;
  std::unique_ptr<DurableStorage> storage_;
  std::unique_ptr<kvstate::KvState> state_;
  std::unique_ptr<ZmqPeerChannel> peers_;
  std::unique_ptr<zmq::socket_t> clients_;
  std::unique_ptr<keel::Node> node_;
  ServerCounters counters_;
  // For logging changes once.
  Role logged_role_ = Role::kFollower;
  Term logged_term_ = 0;
  NodeId logged_leader_ = kNoNode;
  NodeCounters logged_drops_;
  int64_t last_drop_log_nanos_ = 0;
};

// One log line on stderr: "<utc time> <level> <message>".
void LogLine(const char* level, const std::string& message);

}  // namespace keel::net
