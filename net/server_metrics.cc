// The server's metrics: a snapshot of everything the loop can see, published to the board the
// HTTP threads read (net/http_endpoint.h).
#include <filesystem>
#include <system_error>

#include "net/server.h"

namespace keel::net {
namespace {

// Snapshots are taken at most this often: a scrape sees figures at most this old (plus the
// loop's turn), and the loop spends microseconds per interval on them.
constexpr int64_t kPublishIntervalNanos = 100'000'000;
// The WAL directory is listed at most this often.
constexpr int64_t kWalScanIntervalNanos = 1'000'000'000;

double Seconds(int64_t nanos) { return static_cast<double>(nanos) / 1e9; }

}  // namespace

void Server::MaybePublishMetrics() {
  const int64_t now = clock_.NowNanos();
  if (last_publish_nanos_ != 0 && now - last_publish_nanos_ < kPublishIntervalNanos) return;
  last_publish_nanos_ = now;
  board_.Publish(CollectMetrics(), now);
}

MetricsSnapshot Server::CollectMetrics() {
  const int64_t now = clock_.NowNanos();
  const Raft& raft = node_->replica().raft();
  if (raft.leader() != kNoNode && raft.leader() != last_known_leader_) {
    if (last_known_leader_ != kNoNode) ++leader_changes_;
    last_known_leader_ = raft.leader();
  }
  if (now - last_wal_scan_nanos_ >= kWalScanIntervalNanos || last_wal_scan_nanos_ == 0) {
    last_wal_scan_nanos_ = now;
    std::error_code error;
    uint64_t bytes = 0;
    uint64_t segments = 0;
    for (const auto& entry : std::filesystem::directory_iterator(options_.data_dir + "/wal", error)) {
      std::error_code size_error;
      const uintmax_t size = entry.file_size(size_error);
      if (size_error) continue;  // removed while listing (compaction)
      bytes += size;
      ++segments;
    }
    if (!error) {
      wal_bytes_ = bytes;
      wal_segments_ = segments;
    }
  }
  MetricsSnapshot s;
  const nodepb::NodeStatus status = node_->Status();
  s.id = options_.id;
  s.cluster_id = options_.cluster_id;
  s.role = status.role();
  s.term = status.term();
  s.leader = status.leader();
  s.commit = status.commit();
  s.applied = status.applied();
  s.first_index = status.first_index();
  s.last_index = status.last_index();
  s.storage_failure = status.failure();
  s.storage_stalled = status.storage_stalled();
  s.storage_stalls = node_->replica().storage_stalls();
  s.leader_changes = leader_changes_;
  s.election_timeout_seconds = Seconds(options_.tick_nanos * options_.election_tick);
  s.uptime_seconds = Seconds(now - started_nanos_);
  const std::map<NodeId, int64_t>& heard = node_->last_heard_nanos();
  for (const auto& [id, address] : options_.members) {
    if (id == options_.id) continue;
    auto it = heard.find(id);
    s.peers[id].last_contact_seconds = it == heard.end() ? -1 : Seconds(now - it->second);
  }
  for (const nodepb::PeerProgress& progress : status.peers()) {
    if (progress.id() == options_.id || !s.peers.contains(progress.id())) continue;
    s.peers[progress.id()].match_lag = static_cast<int64_t>(status.last_index()) - static_cast<int64_t>(progress.match());
  }
  if (s.role == "leader") {
    s.leader_contact_seconds = 0;
  } else if (auto it = heard.find(s.leader); s.leader != kNoNode && it != heard.end()) {
    s.leader_contact_seconds = Seconds(now - it->second);
  } else {
    s.leader_contact_seconds = s.uptime_seconds;
  }
  s.node = node_->counters();
  s.channel = peers_->counters();
  if (zap_ != nullptr) {
    s.auth = zap_->counters();
    s.handshake_failed_raft = peer_monitor_->failed();
    s.handshake_failed_client = client_monitor_->failed();
  }
  s.client_frames_unparseable = counters_.client_unparseable;
  application_->Fill(s);
  s.fsync = fsync_latency_;
  s.wal_bytes = wal_bytes_;
  s.wal_segments = wal_segments_;
  s.state = state_->Gauges();
  return s;
}

}  // namespace keel::net
