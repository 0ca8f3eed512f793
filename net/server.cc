#include "net/server.h"

#include <algorithm>
#include <ctime>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/assert.h"
#include "engine/membership.h"
#include "engine/planted_bugs.h"
#include "kvstate/command_kind.h"
#include "net/log.h"

namespace keel::net {
namespace {

// The longest the loop sleeps without looking at the stop flag.
constexpr int64_t kMaxPollNanos = 50'000'000;
// Frames read from one socket per loop turn (bounded work between ticks).
constexpr int kMaxFramesPerTurn = 4096;
// Drop counters are logged at most this often (a hostile peer must not flood the log).
constexpr int64_t kDropLogIntervalNanos = 10'000'000'000;

}  // namespace

Server::Server(const ServerOptions& options) : options_(options) {}

Server::~Server() {
  // The node answers its open calls (outcome unknown where proposed) while sockets still exist.
  node_.reset();
  // The histogram the observer writes to is destroyed before the storage that may still sync.
  fs_->set_sync_observer(nullptr);
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  if (options.id == kNoNode) return absl::InvalidArgumentError("--id must be a node id >= 1");
  if (options.cluster_id == 0) return absl::InvalidArgumentError("--cluster-id must be >= 1");
  if (!options.members.contains(options.id)) {
    return absl::InvalidArgumentError(absl::StrCat("--peers must list this node (", options.id, ") too"));
  }
  if (options.data_dir.empty()) return absl::InvalidArgumentError("--data-dir is required");
  if ((options.planted_bugs != 0 || options.planted_stale_reads) && !kPlantedBugsCompiledIn) {
    return absl::InvalidArgumentError("planted bugs requested, but this build has none (only keel-planted does)");
  }
  std::unique_ptr<Server> server(new Server(options));
  server->fs_ = std::make_unique<PosixFileSystem>();
  Server* raw = server.get();
  server->fs_->set_sync_observer([raw](int64_t nanos) { raw->fsync_latency_.Observe(nanos); });
  if (absl::Status s = server->fs_->MakeDirs(options.data_dir); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<DataDirLock>> lock = DataDirLock::Acquire(options.data_dir);
  if (!lock.ok()) return lock.status();
  server->lock_ = std::move(*lock);
  if (absl::Status s = ClaimDataDir(*server->fs_, options.data_dir, options.cluster_id, options.id, options.bootstrap);
      !s.ok()) {
    return s;
  }
  std::vector<NodeId> voters = options.initial_voters;
  if (voters.empty()) {
    for (const auto& [id, address] : options.members) voters.push_back(id);
  }
  StorageOptions storage_options;
  storage_options.wal.preallocate_bytes = options.wal_preallocate_bytes;
  absl::StatusOr<std::unique_ptr<DurableStorage>> storage =
      DurableStorage::Open(*server->fs_, options.data_dir, voters, storage_options);
  if (!storage.ok()) return storage.status();
  server->storage_ = std::move(*storage);
  server->state_ = std::make_unique<kvstate::KvState>(kvstate::KvStateOptions{.planted_bugs = options.planted_bugs});
  server->application_ = std::make_unique<InstrumentedApplication>(*server->state_);

  if (absl::Status s = server->StartAuth(); !s.ok()) return s;
  std::map<NodeId, std::string> peers;
  for (const auto& [id, address] : options.members) {
    if (id != options.id) peers[id] = ToEndpoint(address);
  }
  std::optional<PeerCurve> peer_curve;
  if (options.curve) peer_curve = PeerCurve{options.curve->node, options.curve->peer_keys};
  absl::StatusOr<std::unique_ptr<ZmqPeerChannel>> channel =
      ZmqPeerChannel::Create(server->context_, options.id, ToEndpoint(options.members.at(options.id)), peers,
                             peer_curve ? &*peer_curve : nullptr);
  if (!channel.ok()) return channel.status();
  server->peers_ = std::move(*channel);
  // Members added at run time: the configuration carries their address and key (keelctl
  // member add); the raft port admits the key as that node from then on.
  server->peers_->set_key_listener([raw](NodeId id, const std::string& key) {
    if (raw->zap_ != nullptr && !raw->zap_->Allow(kPeerDomain, key, absl::StrCat(id))) {
      LogEvent(LogLevel::kWarn, "member_key_conflict",
               absl::StrCat("member ", id, "'s key from the configuration belongs to another member; not admitted"));
    }
  });
  server->peers_->set_problem_listener(
      [](const std::string& what) { LogEvent(LogLevel::kWarn, "member_unreachable", what); });
  server->clients_ = std::make_unique<zmq::socket_t>(server->context_, zmq::socket_type::router);
  server->clients_->set(zmq::sockopt::linger, 0);
  server->clients_->set(zmq::sockopt::maxmsgsize, kMaxFrameBytes);
  server->clients_->set(zmq::sockopt::sndhwm, 100'000);
  if (options.curve) {
    server->clients_->set(zmq::sockopt::curve_server, 1);
    server->clients_->set(zmq::sockopt::curve_secretkey, options.curve->client_port.secret_key);
    server->clients_->set(zmq::sockopt::zap_domain, kClientDomain);
    absl::StatusOr<std::unique_ptr<HandshakeMonitor>> peer_monitor =
        HandshakeMonitor::Start(server->context_, server->peers_->inbound(), "raft");
    if (!peer_monitor.ok()) return peer_monitor.status();
    server->peer_monitor_ = std::move(*peer_monitor);
    absl::StatusOr<std::unique_ptr<HandshakeMonitor>> client_monitor =
        HandshakeMonitor::Start(server->context_, *server->clients_, "client");
    if (!client_monitor.ok()) return client_monitor.status();
    server->client_monitor_ = std::move(*client_monitor);
  }
  try {
    server->clients_->bind(ToEndpoint(options.client_address));
  } catch (const zmq::error_t& error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot bind the client address ", options.client_address, ": ", error.what()));
  }

  NodeOptions node_options;
  node_options.cluster_id = options.cluster_id;
  node_options.replica.tick_nanos = options.tick_nanos;
  node_options.replica.snapshot_every_entries = options.snapshot_every_entries;
  node_options.max_open_calls = options.max_open_calls;
  node_options.replica.raft.id = options.id;
  node_options.replica.raft.election_tick = options.election_tick;
  node_options.replica.raft.read_only_lease = options.read_only_lease;
  node_options.replica.raft.max_clock_drift_ticks = options.max_clock_drift_ticks;
  node_options.replica.raft.planted_bugs = options.planted_bugs;
  // Randomised election timeouts and per-run proxy ids come from it: a fresh seed every run.
  node_options.replica.raft.seed = (uint64_t{std::random_device{}()} << 32) | std::random_device{}();
  node_options.leader_time_clock = &server->wall_clock_;
  absl::StatusOr<std::unique_ptr<keel::Node>> node =
      keel::Node::Open(node_options, server->clock_, *server->peers_, *server->storage_, *server->application_);
  if (!node.ok()) return node.status();
  server->node_ = std::move(*node);
  server->started_nanos_ = server->clock_.NowNanos();
  server->MaybePublishMetrics();
  if (!options.metrics_address.empty()) {
    absl::StatusOr<std::unique_ptr<HttpEndpoint>> http =
        HttpEndpoint::Start(options.metrics_address, server->board_, options.health);
    if (!http.ok()) return http.status();
    server->http_ = std::move(*http);
  }
  return server;
}

absl::Status Server::StartAuth() {
  if (!options_.curve) return absl::OkStatus();
  const ServerCurve& curve = *options_.curve;
  ZapHandler::Allowlist peers;
  for (const auto& [id, address] : options_.members) {
    auto key = curve.peer_keys.find(id);
    if (key == curve.peer_keys.end()) {
      return absl::InvalidArgumentError(absl::StrCat("--peer-keys has no key for member ", id));
    }
    if (!peers.emplace(key->second, absl::StrCat(id)).second) {
      return absl::InvalidArgumentError(absl::StrCat("--peer-keys gives member ", id, " another member's key"));
    }
  }
  if (curve.peer_keys.at(options_.id) != curve.node.public_key) {
    return absl::InvalidArgumentError(
        absl::StrCat("--key-file's public key is not node ", options_.id, "'s entry in --peer-keys"));
  }
  ZapHandler::Allowlist clients;
  for (const NamedKey& client : curve.client_keys) {
    clients.emplace(client.key, client.name.empty() ? client.key.substr(0, 8) : client.name);
  }
  if (clients.empty()) return absl::InvalidArgumentError("--client-keys lists no client key");
  absl::StatusOr<std::unique_ptr<ZapHandler>> zap =
      ZapHandler::Bind(context_, {{kPeerDomain, std::move(peers)}, {kClientDomain, std::move(clients)}});
  if (!zap.ok()) return zap.status();
  zap_ = std::move(*zap);
  return absl::OkStatus();
}

void Server::LogRefusal(const std::string& what, const std::string& subject) {
  const int64_t now = clock_.NowNanos();
  // Bounded: a scan of many keys resets the table rather than growing it.
  if (refusal_log_.size() >= 1024 && !refusal_log_.contains(subject)) refusal_log_.clear();
  RefusalLog& log = refusal_log_[subject];
  if (log.last_nanos != 0 && now - log.last_nanos < kDropLogIntervalNanos) {
    ++log.unlogged;
    return;
  }
  LogEvent(LogLevel::kWarn, "refused", absl::StrCat("refused ", what, " ", subject,
                               log.unlogged > 0 ? absl::StrCat(" (and ", log.unlogged, " more times since last logged)") : ""));
  log.last_nanos = now;
  log.unlogged = 0;
}

void Server::DrainAuth() {
  if (zap_ == nullptr) return;
  zap_->Drain(kMaxFramesPerTurn, [this](const AuthRefusal& refusal) {
    LogRefusal(refusal.domain == kPeerDomain ? "a raft connection: key not in --peer-keys:"
                                             : "a client connection: key not in --client-keys:",
               absl::StrCat(refusal.key, " from ", refusal.address));
  });
  peer_monitor_->Drain(kMaxFramesPerTurn, [this](const std::string& endpoint) {
    LogRefusal("a raft connection: CURVE handshake failed (plaintext, or it does not know this node's key):",
               endpoint);
  });
  client_monitor_->Drain(kMaxFramesPerTurn, [this](const std::string& endpoint) {
    LogRefusal("a client connection: CURVE handshake failed (plaintext, or the wrong server key):", endpoint);
  });
}

void Server::DrainClients() {
  // At most this many frames per loop turn: a flood must not keep the node from ticking.
  for (int frame = 0; frame < kMaxFramesPerTurn; ++frame) {
    // [identity][optional empty delimiter (REQ clients)][payload]
    std::vector<zmq::message_t> frames;
    zmq::message_t first;
    if (!clients_->recv(first, zmq::recv_flags::dontwait)) return;
    frames.push_back(std::move(first));
    while (clients_->get(zmq::sockopt::rcvmore)) {
      zmq::message_t part;
      if (!clients_->recv(part, zmq::recv_flags::dontwait)) break;
      frames.push_back(std::move(part));
    }
    ++counters_.client_frames;
    if (frames.size() < 2 || frames.size() > 3 || (frames.size() == 3 && frames[1].size() != 0)) {
      ++counters_.client_unparseable;
      continue;  // not our framing: nothing sensible to answer
    }
    // What the answer goes back with: the identity and the delimiter, if any.
    auto route = std::make_shared<std::vector<std::string>>();
    for (size_t i = 0; i + 1 < frames.size(); ++i) route->push_back(frames[i].to_string());
    zmq::socket_t* socket = clients_.get();
    auto reply = [socket, route](nodepb::Response response) {
      const std::string bytes = response.SerializeAsString();
      for (const std::string& part : *route) socket->send(zmq::buffer(part), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      socket->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
    };
    const zmq::message_t& payload = frames.back();
    nodepb::Request request;
    if (payload.size() > static_cast<size_t>(kMaxFrameBytes) ||
        !request.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      ++counters_.client_unparseable;
      nodepb::Response response;
      response.set_code(nodepb::CODE_INVALID_ARGUMENT);
      response.set_error("frame is not a keel.client.Request");
      reply(std::move(response));
      continue;
    }
    if (kPlantedBugsCompiledIn && options_.planted_stale_reads && request.has_command()) {
      kvpb::Command command;
      if (command.ParseFromString(request.command()) && kvstate::IsReadCommand(command)) {
        request.set_read_mode(nodepb::READ_STALE);  // the planted bug: no ReadIndex, no proxying
      }
    }
    node_->OnRequest(std::move(request), std::move(reply));
  }
}

void Server::LogChanges() {
  if (const bool stalled = !node_->storage_stalled().ok(); stalled != logged_stalled_) {
    logged_stalled_ = stalled;
    if (stalled) {
      LogEvent(LogLevel::kError, "storage_stalled",
               absl::StrCat(node_->storage_stalled().message(), "; retrying every tick"));
    } else {
      LogEvent(LogLevel::kInfo, "storage_recovered",
               absl::StrCat("node ", options_.id, ": disk has space again, storage resumed; log ",
                            storage_->FirstIndex(), "..", storage_->LastIndex()));
    }
  }
  const Raft& raft = node_->replica().raft();
  if (raft.role() != logged_role_ || raft.term() != logged_term_ || raft.leader() != logged_leader_) {
    logged_role_ = raft.role();
    logged_term_ = raft.term();
    logged_leader_ = raft.leader();
    LogEvent(LogLevel::kInfo, "role_change", absl::StrCat("node ", options_.id, " role=", ToString(raft.role()), " term=", raft.term(),
                                 " leader=", raft.leader(), " commit=", raft.log().committed()));
  }
  if (std::string conf = DescribeConfState(raft.conf_state()); conf != logged_conf_) {
    LogEvent(LogLevel::kInfo, "membership",
             absl::StrCat("node ", options_.id, " configuration ", conf, logged_conf_.empty() ? "" : " (was ",
                          logged_conf_, logged_conf_.empty() ? "" : ")", " last_index=", raft.log().LastIndex()));
    logged_conf_ = std::move(conf);
  }
  const int64_t now = clock_.NowNanos();
  const NodeCounters& c = node_->counters();
  const bool changed = c.dropped_wrong_cluster != logged_drops_.dropped_wrong_cluster ||
                       c.dropped_unknown_peer != logged_drops_.dropped_unknown_peer ||
                       c.dropped_invalid != logged_drops_.dropped_invalid ||
                       peers_->counters().dropped_impersonation != logged_impersonation_;
  if (changed && now - last_drop_log_nanos_ >= kDropLogIntervalNanos) {
    last_drop_log_nanos_ = now;
    LogEvent(LogLevel::kWarn, "dropped_envelopes", absl::StrCat("dropped peer envelopes so far: wrong_cluster=", c.dropped_wrong_cluster,
                                 " unknown_peer=", c.dropped_unknown_peer, " invalid=", c.dropped_invalid,
                                 " unparseable=", peers_->counters().dropped_unparseable,
                                 " impersonation=", peers_->counters().dropped_impersonation,
                                 "; client frames unparseable=", counters_.client_unparseable));
    logged_drops_ = c;
    logged_impersonation_ = peers_->counters().dropped_impersonation;
  }
}

absl::Status Server::Run(const std::atomic<bool>& stop) {
  LogEvent(LogLevel::kInfo, "serving", absl::StrCat("node ", options_.id, " of cluster ", options_.cluster_id, " serving: raft ",
                               options_.members.at(options_.id), ", clients ", options_.client_address, ", log ",
                               storage_->FirstIndex(), "..", storage_->LastIndex(),
                               options_.curve ? ", CURVE on both ports" : ", PLAINTEXT (--insecure)"));
  while (!stop.load(std::memory_order_relaxed)) {
    const int64_t wait = std::clamp<int64_t>(node_->NextWakeNanos() - clock_.NowNanos(), 0, kMaxPollNanos);
    std::vector<zmq::pollitem_t> items = {{peers_->inbound().handle(), 0, ZMQ_POLLIN, 0},
                                          {clients_->handle(), 0, ZMQ_POLLIN, 0}};
    if (zap_ != nullptr) {
      for (zmq::socket_t* s : {&zap_->socket(), &peer_monitor_->socket(), &client_monitor_->socket()}) {
        items.push_back({s->handle(), 0, ZMQ_POLLIN, 0});
      }
    }
    try {
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds((wait + 999'999) / 1'000'000));
    } catch (const zmq::error_t& error) {
      if (error.num() != EINTR) return absl::InternalError(absl::StrCat("zmq_poll: ", error.what()));
    }
    DrainAuth();
    peers_->Drain(kMaxFramesPerTurn, [this](Envelope&& envelope) { node_->OnEnvelope(std::move(envelope)); });
    DrainClients();
    node_->Poll();
    if (!node_->failed().ok()) {
      LogEvent(LogLevel::kError, "storage_failed", absl::StrCat("storage failed, stopping: ", node_->failed().ToString()));
      return node_->failed();
    }
    LogChanges();
    MaybePublishMetrics();
  }
  LogEvent(LogLevel::kInfo, "stopping", absl::StrCat("node ", options_.id, " stopping"));
  return absl::OkStatus();
}

}  // namespace keel::net
