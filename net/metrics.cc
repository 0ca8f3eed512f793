#include "net/metrics.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/assert.h"

namespace keel::net {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

std::string EscapeLabel(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string Number(double value) { return absl::StrFormat("%.9g", value); }

// Writes families in the text format: each family's HELP and TYPE once, then its samples.
class Exposition {
 public:
  void Family(const std::string& name, const char* type, const std::string& help) {
    absl::StrAppend(&out_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
  }
  void Sample(const std::string& name, const Labels& labels, const std::string& value) {
    out_ += name;
    if (!labels.empty()) {
      std::vector<std::string> parts;
      for (const auto& [key, label] : labels) parts.push_back(absl::StrCat(key, "=\"", EscapeLabel(label), "\""));
      absl::StrAppend(&out_, "{", absl::StrJoin(parts, ","), "}");
    }
    absl::StrAppend(&out_, " ", value, "\n");
  }
  void Gauge(const std::string& name, const std::string& help, double value) {
    Family(name, "gauge", help);
    Sample(name, {}, Number(value));
  }
  void Counter(const std::string& name, const std::string& help, uint64_t value) {
    Family(name, "counter", help);
    Sample(name, {}, absl::StrCat(value));
  }
  void Histogram(const std::string& name, const std::string& help, const LatencyHistogram& h) {
    Family(name, "histogram", help);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i) {
      cumulative += h.buckets()[i];
      Sample(name + "_bucket", {{"le", Number(LatencyHistogram::kBounds[i])}}, absl::StrCat(cumulative));
    }
    cumulative += h.buckets().back();
    KEEL_ASSERT(cumulative == h.count());
    Sample(name + "_bucket", {{"le", "+Inf"}}, absl::StrCat(cumulative));
    Sample(name + "_sum", {}, Number(h.sum_seconds()));
    Sample(name + "_count", {}, absl::StrCat(h.count()));
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

void RenderRaft(const MetricsSnapshot& s, const HealthOptions& health, Exposition& e) {
  e.Gauge("keel_node_id", "This node's id.", static_cast<double>(s.id));
  e.Gauge("keel_cluster_id", "The cluster's id.", static_cast<double>(s.cluster_id));
  e.Gauge("keel_raft_term", "The current Raft term.", static_cast<double>(s.term));
  e.Family("keel_raft_role", "gauge", "1 for this node's current Raft role, 0 for the others.");
  for (const char* role : {"follower", "pre-candidate", "candidate", "leader"}) {
    e.Sample("keel_raft_role", {{"role", role}}, s.role == role ? "1" : "0");
  }
  e.Gauge("keel_raft_leader_id", "The leader this node knows of (0: none).", static_cast<double>(s.leader));
  e.Gauge("raft_leader_status", "1 if this node is the leader (GatewayD's name).", s.role == "leader" ? 1 : 0);
  e.Gauge("raft_health_status", "1 if this node is ready to serve: /readyz would answer 200 (GatewayD's name).",
          Ready(s, 0, health).ok ? 1 : 0);
  e.Gauge("raft_last_contact_seconds",
          "Seconds since this node last heard from the leader (0 on the leader; GatewayD's name, in seconds).",
          s.leader_contact_seconds);
  e.Gauge("keel_raft_commit_index", "Highest log index known committed.", static_cast<double>(s.commit));
  e.Gauge("keel_raft_applied_index", "Highest log index applied to the state machine.", static_cast<double>(s.applied));
  e.Gauge("keel_raft_first_index", "First log index still in the WAL.", static_cast<double>(s.first_index));
  e.Gauge("keel_raft_last_index", "Last log index in the WAL.", static_cast<double>(s.last_index));
  e.Counter("keel_raft_leader_changes_total", "Times the known leader changed to another node.", s.leader_changes);
  e.Family("keel_peer_last_contact_seconds", "gauge", "Seconds since an envelope of each peer was accepted (-1: never).");
  for (const auto& [peer, figures] : s.peers) {
    e.Sample("keel_peer_last_contact_seconds", {{"peer", absl::StrCat(peer)}}, Number(figures.last_contact_seconds));
  }
  e.Family("keel_peer_match_lag_entries", "gauge", "On the leader: entries each peer lacks (last index - match).");
  for (const auto& [peer, figures] : s.peers) {
    if (figures.match_lag >= 0) {
      e.Sample("keel_peer_match_lag_entries", {{"peer", absl::StrCat(peer)}}, absl::StrCat(figures.match_lag));
    }
  }
  e.Gauge("keel_storage_failed", "1 once storage failed (the node then serves nothing).",
          s.storage_failure.empty() ? 0 : 1);
  e.Gauge("keel_storage_stalled",
          "1 while the disk is full: the node refuses requests and resumes once space returns.",
          s.storage_stalled.empty() ? 0 : 1);
  e.Counter("keel_storage_stalls_total", "Times a full disk stalled this node.", s.storage_stalls);
  e.Gauge("keel_uptime_seconds", "Seconds since this process started serving.", s.uptime_seconds);
}

void RenderRequests(const MetricsSnapshot& s, Exposition& e) {
  const NodeCounters& n = s.node;
  e.Counter("keel_client_requests_received_total", "Client requests received (proxied ones not counted).", n.requests);
  e.Family("keel_client_requests_total", "counter", "Client requests answered, by kind and result code.");
  for (const auto& [key, count] : n.answers_by_kind) {
    e.Sample("keel_client_requests_total", {{"kind", key.first}, {"code", nodepb::Code_Name(key.second)}},
             absl::StrCat(count));
  }
  e.Counter("keel_proposals_total", "Commands this node proposed as leader.", n.proposals);
  e.Counter("keel_read_index_batches_total", "ReadIndex rounds (each serves a batch of linearizable reads).",
            n.read_index_batches);
  e.Counter("keel_lease_reads_total", "Linearizable reads the leader's lease confirmed without a heartbeat round.",
            n.lease_reads);
  e.Family("keel_proxied_requests_total", "counter", "Requests proxied to the leader (out) or from followers (in).");
  e.Sample("keel_proxied_requests_total", {{"direction", "out"}}, absl::StrCat(n.proxied_out));
  e.Sample("keel_proxied_requests_total", {{"direction", "in"}}, absl::StrCat(n.proxied_in));
  e.Counter("keel_overloaded_total", "Requests refused because too many calls were open.", n.overloaded);
  e.Family("keel_messages_dropped_total", "counter", "Peer messages and client frames dropped, by cause.");
  const std::pair<const char*, uint64_t> drops[] = {
      {"wrong_cluster", n.dropped_wrong_cluster},
      {"unknown_peer", n.dropped_unknown_peer + s.channel.dropped_unknown_peer},
      {"invalid", n.dropped_invalid},
      {"unparseable", s.channel.dropped_unparseable},
      {"impersonation", s.channel.dropped_impersonation},
      {"duplicate_proxied", n.proxied_in_duplicates},
      {"bad_proxy_response", n.bad_proxy_responses},
      {"send_queue_full", s.channel.dropped_full},
      {"client_unparseable", s.client_frames_unparseable},
  };
  for (const auto& [cause, count] : drops) e.Sample("keel_messages_dropped_total", {{"cause", cause}}, absl::StrCat(count));
  e.Family("keel_auth_refused_total", "counter", "Connections refused, by port and reason.");
  e.Sample("keel_auth_refused_total", {{"port", "raft"}, {"reason", "key_not_allowed"}}, absl::StrCat(s.auth.peer_refused));
  e.Sample("keel_auth_refused_total", {{"port", "client"}, {"reason", "key_not_allowed"}},
           absl::StrCat(s.auth.client_refused));
  e.Sample("keel_auth_refused_total", {{"port", "raft"}, {"reason", "handshake_failed"}},
           absl::StrCat(s.handshake_failed_raft));
  e.Sample("keel_auth_refused_total", {{"port", "client"}, {"reason", "handshake_failed"}},
           absl::StrCat(s.handshake_failed_client));
  e.Family("keel_auth_accepted_total", "counter", "Connections accepted after the key check, by port.");
  e.Sample("keel_auth_accepted_total", {{"port", "raft"}}, absl::StrCat(s.auth.peer_accepted));
  e.Sample("keel_auth_accepted_total", {{"port", "client"}}, absl::StrCat(s.auth.client_accepted));
}

void RenderStorageAndState(const MetricsSnapshot& s, Exposition& e) {
  e.Histogram("keel_apply_duration_seconds", "Time to apply one entry to the state machine.", s.apply);
  e.Histogram("keel_fsync_duration_seconds", "Time of each fdatasync (WAL and snapshot files).", s.fsync);
  e.Histogram("keel_snapshot_duration_seconds", "Time to serialize the state machine for a snapshot.",
              s.snapshot_take);
  e.Counter("keel_snapshots_taken_total", "Snapshots this node took.", s.snapshots_taken);
  e.Counter("keel_snapshots_installed_total", "Snapshots installed from the leader or at start.", s.snapshots_installed);
  e.Gauge("keel_snapshot_bytes", "Size of the last snapshot taken or installed.", static_cast<double>(s.last_snapshot_bytes));
  e.Gauge("keel_wal_bytes", "Bytes in the WAL's segment files.", static_cast<double>(s.wal_bytes));
  e.Gauge("keel_wal_segments", "WAL segment files.", static_cast<double>(s.wal_segments));
  const kvstate::KvStateGauges& g = s.state;
  e.Gauge("keel_sessions", "Open client sessions.", static_cast<double>(g.sessions));
  e.Gauge("keel_kv_keys", "Keys in the key-value store.", static_cast<double>(g.kv_keys));
  e.Gauge("keel_pools", "Connection pools.", static_cast<double>(g.pools));
  e.Gauge("keel_pool_slots_capacity", "Slots of every pool, summed.", static_cast<double>(g.pool_capacity));
  e.Gauge("keel_pool_slots_busy", "Slots held, summed over pools.", static_cast<double>(g.pool_busy));
  e.Gauge("keel_lb_groups", "Load-balancer groups.", static_cast<double>(g.lb_groups));
  e.Gauge("keel_lb_backends", "Backends of every group, summed.", static_cast<double>(g.lb_backends));
  e.Gauge("keel_lb_backends_up", "Backends marked up, summed over groups.", static_cast<double>(g.lb_backends_up));
}

}  // namespace

void LatencyHistogram::Observe(int64_t nanos) {
  const double seconds = static_cast<double>(std::max<int64_t>(nanos, 0)) / 1e9;
  size_t bucket = 0;
  while (bucket < kBounds.size() && seconds > kBounds[bucket]) ++bucket;
  ++buckets_[bucket];
  ++count_;
  sum_seconds_ += seconds;
}

std::string RenderPrometheus(const MetricsSnapshot& snapshot, const HealthOptions& health) {
  Exposition exposition;
  RenderRaft(snapshot, health, exposition);
  RenderRequests(snapshot, exposition);
  RenderStorageAndState(snapshot, exposition);
  return exposition.Take();
}

Verdict Healthy(const MetricsSnapshot& snapshot, double snapshot_age_seconds, const HealthOptions& options) {
  std::vector<std::string> problems;
  if (!snapshot.storage_failure.empty()) problems.push_back(absl::StrCat("storage failed: ", snapshot.storage_failure));
  if (!snapshot.storage_stalled.empty()) problems.push_back(absl::StrCat("storage stalled: ", snapshot.storage_stalled));
  if (snapshot_age_seconds > options.max_snapshot_age_seconds) {
    problems.push_back(absl::StrFormat("the event loop published nothing for %.1f s", snapshot_age_seconds));
  }
  if (problems.empty()) return Verdict{true, "ok"};
  return Verdict{false, absl::StrJoin(problems, "; ")};
}

Verdict Ready(const MetricsSnapshot& snapshot, double snapshot_age_seconds, const HealthOptions& options) {
  Verdict health = Healthy(snapshot, snapshot_age_seconds, options);
  std::vector<std::string> problems;
  if (!health.ok) problems.push_back(health.why);
  if (snapshot.leader == kNoNode) {
    problems.push_back("no leader known");
  } else if (snapshot.role != "leader" && snapshot.leader_contact_seconds > snapshot.election_timeout_seconds) {
    problems.push_back(absl::StrFormat("leader %d not heard from for %.1f s", snapshot.leader,
                                       snapshot.leader_contact_seconds));
  }
  if (snapshot.commit > snapshot.applied + options.max_apply_lag) {
    problems.push_back(absl::StrCat("applied ", snapshot.applied, " trails commit ", snapshot.commit, " by more than ",
                                    options.max_apply_lag));
  }
  if (problems.empty()) return Verdict{true, "ok"};
  return Verdict{false, absl::StrJoin(problems, "; ")};
}

}  // namespace keel::net
