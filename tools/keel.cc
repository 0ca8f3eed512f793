// keel: one node of a keel cluster (net/server.h). Flags below, or a file of them through
// --flagfile (abseil). SIGTERM/SIGINT stop it gracefully; SIGKILL loses nothing acknowledged
// (every acknowledged write is fsynced on a quorum first).
//
// Exit status: 0 stopped on a signal; 1 stopped because storage failed (the log must not be
// served: see the message); 2 bad flags or a data dir / port / log it refuses to start on.
#include <csignal>
#include <cstdio>
#include <algorithm>
#include <map>
#include <optional>
#include <vector>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/planted_bugs.h"
#include "net/curve.h"
#include "net/log.h"
#include "net/server.h"

ABSL_FLAG(uint64_t, id, 0, "This node's id (>= 1), one of the ids in --peers.");
ABSL_FLAG(uint64_t, cluster_id, 0, "The cluster's id (>= 1); every node of a cluster uses the same one.");
ABSL_FLAG(std::string, data_dir, "", "Directory for the log, snapshots and the node's identity.");
ABSL_FLAG(std::string, peers, "",
          "Every member's raft address, this node included: id=host:port,id=host:port,...");
ABSL_FLAG(std::string, raft_addr, "", "This node's raft address (default: its entry in --peers).");
ABSL_FLAG(std::string, client_addr, "", "Address of the client port (host:port), e.g. 127.0.0.1:7101.");
ABSL_FLAG(bool, bootstrap, false,
          "Allow claiming an empty data dir as a new member of the cluster in --peers. Without it, "
          "an empty data dir is an error (protects against a wiped or mistyped directory).");
ABSL_FLAG(std::string, initial_voters, "",
          "With --bootstrap: the voters the new data dir starts from, id,id,... (default: every id in "
          "--peers). A node joining a running cluster after `keelctl member add-learner` passes the "
          "cluster's initial voters, which that command prints.");
ABSL_FLAG(int64_t, tick_ms, 100, "One Raft tick, in milliseconds.");
ABSL_FLAG(int32_t, election_ticks, 10, "Election timeout in ticks (heartbeats go out every tick).");
ABSL_FLAG(bool, lease_reads, false,
          "Serve linearizable reads on the leader's lease, without a heartbeat round per batch, while a "
          "quorum acknowledged a heartbeat sent less than election_ticks - max_clock_drift_ticks - 1 ticks ago. "
          "Set it on every node or none. Unsafe if clocks drift apart by more than --max_clock_drift_ticks per "
          "election timeout, or if the process can stall between reading its clock and serving (a VM "
          "suspended mid-request); without it every read confirms leadership with a quorum.");
ABSL_FLAG(int32_t, max_clock_drift_ticks, 1,
          "With --lease_reads: the most, in ticks, that one node's clock may gain on another's during one "
          "election timeout; the lease is that much shorter.");
ABSL_FLAG(uint64_t, snapshot_every, 10000, "Take a snapshot after this many applied entries (0: never).");
ABSL_FLAG(uint64_t, wal_preallocate_bytes, 1 << 20,
          "Zero-filled space kept written ahead of the WAL's end, so that an fsync of new entries "
          "changes no file metadata (0: off; then every fsync also journals the file's new size).");
ABSL_FLAG(std::string, key_file, "",
          "This node's CURVE key pair (from `keel keygen`): the raft port's, and the client port's "
          "unless --client-key-file is given.");
ABSL_FLAG(std::string, client_key_file, "", "The client port's CURVE key pair (default: --key-file).");
ABSL_FLAG(std::string, peer_keys, "",
          "Every member's CURVE public key, this node's included: a file of id=<key> lines. Only these "
          "keys may connect to the raft port, and each only as its own node.");
ABSL_FLAG(std::string, client_keys, "",
          "The CURVE public keys allowed on the client port: a file of [name=]<key> lines.");
ABSL_FLAG(bool, insecure, false,
          "Serve both ports in plaintext, to anyone who can reach them (no --key-file etc.). For "
          "tests on a trusted host only.");
ABSL_FLAG(std::string, metrics_addr, "",
          "host:port of an HTTP port serving /metrics (Prometheus), /healthz and /readyz; empty: none.");
ABSL_FLAG(uint64_t, ready_max_apply_lag, 1000,
          "/readyz fails while the applied index trails the commit index by more than this.");
ABSL_FLAG(std::string, log_format, "text", "text, or json for one JSON object per line.");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warn or error.");
#ifdef KEEL_PLANTED_BUGS
// keel-planted only (tools/CMakeLists.txt): the chaos test's node with a known bug switched on.
ABSL_FLAG(std::string, planted_bug, "",
          "keel-planted only: a bug to switch on: stale-reads (linearizable reads served from local "
          "state), or an engine/planted_bugs.h name (ack-before-fsync, apply-twice, ...).");
#endif
ABSL_FLAG(std::string, out, "", "keygen: write the key pair to <out>.key (mode 0600) and <out>.pub.");

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

// abseil's flag names use '_'; operators type '-' (--cluster-id). Accept both on the command
// line (a --flagfile must use '_').
std::vector<char*> DashesToUnderscores(int argc, char** argv, std::vector<std::string>* storage) {
  storage->reserve(static_cast<size_t>(argc));
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (i > 0 && arg.rfind("--", 0) == 0) {
      const size_t end = std::min(arg.find('='), arg.size());
      for (size_t k = 2; k < end; ++k) {
        if (arg[k] == '-') arg[k] = '_';
      }
    }
    storage->push_back(std::move(arg));
  }
  std::vector<char*> out;
  for (std::string& arg : *storage) out.push_back(arg.data());
  return out;
}

int Fail(const std::string& message, int code) {
  keel::net::LogEvent(keel::net::LogLevel::kError, "not_starting", message);
  return code;
}

absl::StatusOr<std::map<keel::NodeId, std::string>> ParsePeers(const std::string& text) {
  std::map<keel::NodeId, std::string> peers;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(absl::StripAsciiWhitespace(item), absl::MaxSplits('=', 1));
    keel::NodeId id = 0;
    if (!absl::SimpleAtoi(kv.first, &id) || id == 0 || kv.second.empty() || kv.second.find(':') == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("--peers: '", item, "' is not id=host:port"));
    }
    if (!peers.emplace(id, kv.second).second) {
      return absl::InvalidArgumentError(absl::StrCat("--peers: node ", id, " listed twice"));
    }
  }
  if (peers.empty()) return absl::InvalidArgumentError("--peers is required (id=host:port,...)");
  return peers;
}

// `keel keygen --out NAME`.
int KeyGen() {
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return Fail("keygen needs --out NAME (writes NAME.key and NAME.pub)", 2);
  absl::StatusOr<keel::net::CurveKeyPair> pair = keel::net::GenerateCurveKeyPair();
  if (!pair.ok()) return Fail(std::string(pair.status().message()), 1);
  if (absl::Status s = keel::net::WriteCurveKeyPair(out, *pair); !s.ok()) return Fail(std::string(s.message()), 1);
  std::printf("%s\n", pair->public_key.c_str());
  return 0;
}

// The CURVE settings from the flags, nullopt for --insecure, or why they do not make sense.
absl::StatusOr<std::optional<keel::net::ServerCurve>> CurveFromFlags() {
  const bool insecure = absl::GetFlag(FLAGS_insecure);
  const std::string key_file = absl::GetFlag(FLAGS_key_file);
  const std::string peer_keys = absl::GetFlag(FLAGS_peer_keys);
  const std::string client_keys = absl::GetFlag(FLAGS_client_keys);
  const std::string client_key_file = absl::GetFlag(FLAGS_client_key_file);
  const bool any_key_flag = !key_file.empty() || !peer_keys.empty() || !client_keys.empty() || !client_key_file.empty();
  if (insecure) {
    if (any_key_flag) return absl::InvalidArgumentError("--insecure contradicts the key flags given");
    return std::nullopt;
  }
  if (key_file.empty() || peer_keys.empty() || client_keys.empty()) {
    return absl::InvalidArgumentError(
        "both ports are CURVE-authenticated: give --key-file, --peer-keys and --client-keys (make keys with "
        "`keel keygen --out NAME`), or --insecure for plaintext");
  }
  keel::net::ServerCurve curve;
  absl::StatusOr<keel::net::CurveKeyPair> node = keel::net::ReadCurveKeyPair(key_file);
  if (!node.ok()) return node.status();
  curve.node = *node;
  curve.client_port = *node;
  if (!client_key_file.empty()) {
    absl::StatusOr<keel::net::CurveKeyPair> pair = keel::net::ReadCurveKeyPair(client_key_file);
    if (!pair.ok()) return pair.status();
    curve.client_port = *pair;
  }
  absl::StatusOr<std::vector<keel::net::NamedKey>> peers = keel::net::ReadCurveKeyList(peer_keys);
  if (!peers.ok()) return peers.status();
  for (const keel::net::NamedKey& entry : *peers) {
    keel::NodeId id = 0;
    if (!absl::SimpleAtoi(entry.name, &id) || id == 0) {
      return absl::InvalidArgumentError(absl::StrCat(peer_keys, ": every line must be <node id>=<key>"));
    }
    curve.peer_keys[id] = entry.key;
  }
  absl::StatusOr<std::vector<keel::net::NamedKey>> clients = keel::net::ReadCurveKeyList(client_keys);
  if (!clients.ok()) return clients.status();
  curve.client_keys = *clients;
  return curve;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "one node of a keel cluster.\n"
      "  keel --id 1 --cluster-id 7 --data-dir /var/lib/keel \\\n"
      "       --peers 1=10.0.0.1:7001,2=10.0.0.2:7001,3=10.0.0.3:7001 --client-addr 10.0.0.1:7101 \\\n"
      "       --key-file n1.key --peer-keys peers.keys --client-keys clients.keys [--bootstrap]\n"
      "  keel keygen --out NAME    writes a CURVE key pair to NAME.key and NAME.pub\n"
      "Exit status: 0 stopped by SIGTERM/SIGINT, 1 storage failed, 2 refused to start.");
  std::vector<std::string> storage;
  std::vector<char*> args = DashesToUnderscores(argc, argv, &storage);
  std::vector<char*> positional = absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  keel::net::LogOptions log;
  if (absl::Status s = keel::net::ParseLogFlags(absl::GetFlag(FLAGS_log_format), absl::GetFlag(FLAGS_log_level), &log);
      !s.ok()) {
    return Fail(std::string(s.message()), 2);
  }
  log.node = absl::GetFlag(FLAGS_id);
  keel::net::InitLogging(log);
  if (positional.size() == 2 && std::string(positional[1]) == "keygen") return KeyGen();
  if (positional.size() > 1) return Fail(absl::StrCat("unexpected argument '", positional[1], "'"), 2);

  absl::StatusOr<std::map<keel::NodeId, std::string>> peers = ParsePeers(absl::GetFlag(FLAGS_peers));
  if (!peers.ok()) return Fail(std::string(peers.status().message()), 2);
  keel::net::ServerOptions options;
  options.id = absl::GetFlag(FLAGS_id);
  options.cluster_id = absl::GetFlag(FLAGS_cluster_id);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.client_address = absl::GetFlag(FLAGS_client_addr);
  options.members = *peers;
  options.bootstrap = absl::GetFlag(FLAGS_bootstrap);
  if (const std::string voters = absl::GetFlag(FLAGS_initial_voters); !voters.empty()) {
    for (absl::string_view item : absl::StrSplit(voters, ',')) {
      uint64_t id = 0;
      if (!absl::SimpleAtoi(item, &id) || id == 0) return Fail(absl::StrCat("--initial-voters: '", item, "' is not a node id"), 2);
      options.initial_voters.push_back(id);
    }
    std::sort(options.initial_voters.begin(), options.initial_voters.end());
    if (std::adjacent_find(options.initial_voters.begin(), options.initial_voters.end()) != options.initial_voters.end()) {
      return Fail("--initial-voters names a node twice", 2);
    }
    if (!options.bootstrap) return Fail("--initial-voters only applies to a new data dir: add --bootstrap", 2);
  }
  options.tick_nanos = absl::GetFlag(FLAGS_tick_ms) * 1'000'000;
  options.election_tick = absl::GetFlag(FLAGS_election_ticks);
  options.read_only_lease = absl::GetFlag(FLAGS_lease_reads);
  options.max_clock_drift_ticks = absl::GetFlag(FLAGS_max_clock_drift_ticks);
  options.snapshot_every_entries = absl::GetFlag(FLAGS_snapshot_every);
  options.wal_preallocate_bytes = absl::GetFlag(FLAGS_wal_preallocate_bytes);
  if (const std::string raft = absl::GetFlag(FLAGS_raft_addr); !raft.empty()) {
    auto self = options.members.find(options.id);
    if (self != options.members.end() && self->second != raft) {
      return Fail(absl::StrCat("--raft-addr ", raft, " differs from this node's entry in --peers (", self->second, ")"), 2);
    }
    options.members[options.id] = raft;
  }
  if (options.client_address.empty()) return Fail("--client-addr is required", 2);
  if (options.tick_nanos <= 0 || options.election_tick < 2) return Fail("need --tick-ms >= 1 and --election-ticks >= 2", 2);
  absl::StatusOr<std::optional<keel::net::ServerCurve>> curve = CurveFromFlags();
  if (!curve.ok()) return Fail(std::string(curve.status().message()), 2);
  options.curve = *std::move(curve);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_addr);
  options.health.max_apply_lag = absl::GetFlag(FLAGS_ready_max_apply_lag);
#ifdef KEEL_PLANTED_BUGS
  if (const std::string bug = absl::GetFlag(FLAGS_planted_bug); bug == "stale-reads") {
    options.planted_stale_reads = true;
  } else if (!bug.empty()) {
    std::optional<keel::PlantedBug> planted = keel::PlantedBugByName(bug);
    if (!planted) return Fail(absl::StrCat("--planted-bug: no bug named '", bug, "'"), 2);
    options.planted_bugs = *planted;
  }
  if (options.planted_stale_reads || options.planted_bugs != 0) {
    keel::net::LogEvent(keel::net::LogLevel::kWarn, "planted_bug", absl::StrCat("planted bug on: ", absl::GetFlag(FLAGS_planted_bug)));
  }
#endif
  if (!options.curve) {
    keel::net::LogEvent(keel::net::LogLevel::kWarn, "insecure",
                        "--insecure: both ports serve plaintext to anyone who can reach them");
  }

  absl::StatusOr<std::unique_ptr<keel::net::Server>> server = keel::net::Server::Start(options);
  if (!server.ok()) return Fail(absl::StrCat("not starting: ", server.status().ToString()), 2);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);
  const absl::Status status = (*server)->Run(g_stop);
  server->reset();
  if (!status.ok()) return Fail(absl::StrCat("stopped: ", status.ToString()), 1);
  keel::net::LogEvent(keel::net::LogLevel::kInfo, "stopped", "stopped cleanly");
  return 0;
}
