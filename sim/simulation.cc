#include "sim/simulation.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/assert.h"
#include "engine/membership.h"
#include "engine/node.h"
#include "engine/planted_bugs.h"
#include "engine/prng.h"
#include "kvstate/kv_state.h"
#include "sim/checker/kvstate_model.h"
#include "sim/checker/models.h"
#include "sim/checker/report.h"
#include "sim/checker/typed_check.h"
#include "sim/invariants.h"
#include "sim/network.h"
#include "sim/observed_state_machine.h"
#include "sim/scheduler.h"
#include "sim/sim_filesystem.h"
#include "sim/simulation_internal.h"
#include "sim/workload.h"

namespace keel::sim::internal {
namespace {

// FNV-1a: a stable hash of the trace, independent of platform and process.
uint64_t Fnv1a(uint64_t hash, absl::string_view text) {
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001B3ULL;
  }
  return hash;
}

}  // namespace

void Simulation::Trace(const std::string& text) {
  const std::string line = absl::StrCat(scheduler_.now(), " ", text);
  trace_hash_ = Fnv1a(trace_hash_, line);
  trace_hash_ = Fnv1a(trace_hash_, "\n");
  if (sink_) sink_(line);
}

void Simulation::TraceDeferred(absl::string_view digest, absl::FunctionRef<std::string()> render) {
  const std::string now = absl::StrCat(scheduler_.now(), " ");
  trace_hash_ = Fnv1a(trace_hash_, now);
  // Length first: a digest holds arbitrary bytes (serialized protos, so the hash of a history
  // event depends on protobuf's encoding of it: fixed for a build, as the hash's other inputs).
  trace_hash_ = Fnv1a(trace_hash_, absl::StrCat(digest.size(), ":"));
  trace_hash_ = Fnv1a(trace_hash_, digest);
  trace_hash_ = Fnv1a(trace_hash_, "\n");
  if (sink_) sink_(absl::StrCat(now, render()));
}

void Simulation::Fail(const std::string& why) {
  if (failed_) return;
  failed_ = true;
  result_.failure = why;
  Trace(absl::StrCat("FAIL ", why));
}

void Simulation::DrawSettings() {
  const int nodes = options_.nodes > 0 ? options_.nodes : 1 + static_cast<int>(swarm_.Uniform(7));
  for (int i = 1; i <= nodes; ++i) voters_.push_back(static_cast<NodeId>(i));
  election_tick_ = 5 + static_cast<int>(swarm_.Uniform(16));
  tick_nanos_ = (2 + static_cast<int64_t>(swarm_.Uniform(19))) * kMillis;
  client_timeout_ = tick_nanos_ * election_tick_ * (2 + static_cast<int64_t>(swarm_.Uniform(4)));
  snapshot_every_ = 10 + swarm_.Uniform(200);
  // Flow control shapes what is in flight: one entry per message makes leaders replicate old
  // entries one by one (the window in which Figure 8's bug bites); large batches hide it.
  const uint64_t msg_sizes[] = {1, 256, 4096, 1 << 20};
  max_msg_bytes_ = msg_sizes[swarm_.Uniform(4)];
  max_inflight_ = 1 + swarm_.Uniform(64);
  NetworkOptions net;
  net.min_latency_nanos = (50 + static_cast<int64_t>(swarm_.Uniform(2000))) * 1000;
  net.mean_tail_nanos = (100 + static_cast<int64_t>(swarm_.Uniform(5000))) * 1000;
  net.drop_probability = options_.faults ? swarm_.NextDouble() * 0.1 : 0;
  net.duplicate_probability = options_.faults ? swarm_.NextDouble() * 0.05 : 0;
  // Swarm testing: each seed weights the fault kinds differently; some switch kinds off.
  auto weight = [&]() { return swarm_.Uniform(3) == 0 ? 0.0 : swarm_.NextDouble(); };
  crash_weight_ = weight();
  partition_weight_ = weight();
  pause_weight_ = weight();
  clog_weight_ = weight();
  slow_disk_weight_ = weight();
  fsync_error_weight_ = weight() * 0.3;
  const uint32_t off = options_.disabled_faults;
  if (off & kFaultCrash) crash_weight_ = 0;
  if (off & kFaultPartition) partition_weight_ = 0;
  if (off & kFaultPause) pause_weight_ = 0;
  if (off & kFaultClog) clog_weight_ = 0;
  if (off & kFaultSlowDisk) slow_disk_weight_ = 0;
  if (off & kFaultFsyncError) fsync_error_weight_ = 0;
  if (off & kFaultLoss) {
    net.drop_probability = 0;
    net.duplicate_probability = 0;
  }
  nemesis_mean_interval_ = (50 + static_cast<int64_t>(swarm_.Uniform(1000))) * kMillis;
  if (options_.production_timing) {
    // Drawn above all the same, so that the swarm's other settings stay what the seed gives.
    election_tick_ = 10;
    tick_nanos_ = 100 * kMillis;
    client_timeout_ = tick_nanos_ * election_tick_ * 3;
    net.min_latency_nanos = 100 * 1000;
    net.mean_tail_nanos = 400 * 1000;
    nemesis_mean_interval_ *= 10;
  }
  network_ = std::make_unique<Network>(scheduler_, network_prng_, net);
  result_.settings = absl::StrCat(
      "seed=", options_.seed, "\ntiming=", options_.production_timing ? "production" : "swarm",
      "\nnodes=", nodes, "\nclients=", options_.clients,
      "\nelection_tick=", election_tick_, "\ntick_ms=", tick_nanos_ / kMillis,
      "\nclient_timeout_ms=", client_timeout_ / kMillis, "\nsnapshot_every=", snapshot_every_,
      "\nmax_msg_bytes=", max_msg_bytes_, "\nmax_inflight_msgs=", max_inflight_,
      "\nmin_latency_us=", net.min_latency_nanos / 1000, "\nmean_tail_us=", net.mean_tail_nanos / 1000,
      "\ndrop_probability=", net.drop_probability, "\nduplicate_probability=", net.duplicate_probability,
      "\nfaults=", options_.faults ? 1 : 0, "\nnemesis_mean_interval_ms=", nemesis_mean_interval_ / kMillis,
      "\ncrash_weight=", crash_weight_, "\npartition_weight=", partition_weight_,
      "\npause_weight=", pause_weight_, "\nclog_weight=", clog_weight_,
      "\nslow_disk_weight=", slow_disk_weight_, "\nfsync_error_weight=", fsync_error_weight_,
      "\nplanted_bugs=", options_.planted_bugs, "\nengine_checks=", options_.engine_checks ? 1 : 0, "\ndisabled_faults=", options_.disabled_faults,
      "\nsafety_ms=", options_.safety_nanos / kMillis,
      "\nliveness_ms=", options_.liveness_nanos / kMillis, "\n");
  workload_shape_ = DrawWorkloadShape(swarm_);
  absl::StrAppend(&result_.settings, workload_shape_.Describe());
  // Drawn last so that adding it did not reshuffle the settings above.
  bit_flip_weight_ = weight() * 0.1;
  if (off & kFaultBitFlip) bit_flip_weight_ = 0;
  absl::StrAppend(&result_.settings, "bit_flip_weight=", bit_flip_weight_, "\n");
  DrawReadSettings();
  result_.nodes = nodes;
  for (NodeId id : voters_) {
    const uint64_t disk_seed = disk_prng_.Next();
    SetUpNode(id, disk_seed, DrawClock(node_prng_));
  }
  DrawMembershipSettings();
}

std::unique_ptr<SimClock> Simulation::DrawClock(Prng& prng) {
  // Clock skew and drift within bounds: offsets up to 1 s, rates off by up to max_drift_
  // (the same draws whatever the bound, so the bound changes nothing else).
  const int64_t offset = static_cast<int64_t>(prng.Uniform(1000)) * kMillis;
  const double spread = (prng.NextDouble() - 0.5) * 2;  // [-1, 1)
  if (!lease_reads_) return std::make_unique<SimClock>(scheduler_, offset, spread * max_drift_);
  // Lease seeds push every clock close to the bound, and flip its rate every 100 ms to 1 s: a
  // lease that ignores the drift must meet a slow leader (elections favour fast clocks) and
  // fast followers often enough to show.
  const double drift = spread >= 0 ? (0.8 + 0.2 * spread) * max_drift_ : (-0.8 + 0.2 * spread) * max_drift_;
  const int64_t period = static_cast<int64_t>(100 + prng.Uniform(901)) * kMillis;
  return std::make_unique<SimClock>(scheduler_, offset, drift, period);
}

void Simulation::SetUpNode(NodeId id, uint64_t disk_seed, std::unique_ptr<SimClock> clock) {
  Node& node = nodes_[id];
  node.id = id;
  node.fs = std::make_unique<SimFileSystem>(disk_seed);
  node.clock = std::move(clock);
  node.channel = std::make_unique<NetChannel>(*network_);
  Node* raw = &node;
  node.fs->set_sync_hook([this, raw]() {
    if (raw->sync_latency > 0) scheduler_.Sleep(raw->sync_latency);
  });
}

void Simulation::DrawReadSettings() {
  // Drawn after every other setting, so that adding them reshuffled none of them; seeds
  // without lease reads or sticky clients run exactly as before.
  workload_shape_.sticky_clients = swarm_.Uniform(2) == 0;
  lease_reads_ = swarm_.Uniform(3) == 0;
  absl::StrAppend(&result_.settings, "sticky_clients=", workload_shape_.sticky_clients ? 1 : 0,
                  "\nlease_reads=", lease_reads_ ? 1 : 0, "\n");
  if (!lease_reads_) return;
  // Lease seeds get a drift bound of 20% to 30% (far beyond quartz, so that the margin
  // matters) and the drift bound that covers them: the lease is judged on the leader's clock,
  // the promise on a follower's, over election_tick - 1 whole ticks (raft.h "Lease reads"),
  // so a slow leader and a fast follower need (E - 1) * 2r / (1 + r) ticks of margin.
  max_drift_ = 0.2 + swarm_.NextDouble() * 0.1;
  const double margin = (election_tick_ - 1) * 2 * max_drift_ / (1 + max_drift_);
  max_clock_drift_ticks_ = static_cast<int>(std::ceil(margin - 1e-9));
  KEEL_ASSERT(election_tick_ - max_clock_drift_ticks_ - 1 > 1);  // a valid Config (heartbeat_tick 1)
  absl::StrAppend(&result_.settings, "max_drift=", max_drift_,
                  "\nmax_clock_drift_ticks=", max_clock_drift_ticks_, "\n");
}

NodeId Simulation::KnownLeader() const {
  NodeId leader = kNoNode;
  Term best = 0;
  for (const auto& [id, node] : nodes_) {
    if (!node.up || !node.replica().failed().ok()) continue;
    const Raft& raft = node.replica().raft();
    if (raft.role() == Role::kLeader && raft.term() >= best) {
      best = raft.term();
      leader = id;
    }
  }
  return leader;
}

void Simulation::StartNode(NodeId id) {
  Node& node = nodes_.at(id);
  // Only one process per node: a second restart while one is recovering is a no-op. A removed
  // node's id never runs again.
  if (node.up || node.starting || removed_.contains(id)) return;
  node.starting = true;
  struct Done {
    Node& node;
    ~Done() { node.starting = false; }
  } done{node};
  StorageOptions storage_options;
  storage_options.wal.max_segment_bytes = 64 * 1024;
  absl::StatusOr<std::unique_ptr<DurableStorage>> storage =
      DurableStorage::Open(*node.fs, "/keel", voters_, storage_options);
  if (!storage.ok()) {
    // The process exits (its volatile state, including a poisoned page cache, is gone); it
    // stays down until the next restart. The cluster must live without it meanwhile.
    Trace(absl::StrCat("node ", id, " refuses to start: ", storage.status().ToString()));
    node.refused_data_loss = absl::IsDataLoss(storage.status());
    node.fs->Crash();
    return;
  }
  node.storage = std::move(*storage);
  node.state_machine = std::make_unique<kvstate::KvState>(kvstate::KvStateOptions{options_.planted_bugs});
  node.observed = std::make_unique<ObservedStateMachine>(
      *node.state_machine, [this, id](Index index, absl::string_view command) { OnApply(id, index, command); },
      [this, id]() { OnRestore(id); });
  NodeOptions options;
  options.cluster_id = kClusterId;
  options.replica.raft.id = id;
  options.replica.raft.election_tick = election_tick_;
  options.replica.raft.heartbeat_tick = 1;
  options.replica.raft.seed = node_prng_.Next();
  options.replica.raft.planted_bugs = options_.planted_bugs;
  options.replica.raft.max_snapshot_chunk_bytes = 512;
  options.replica.raft.max_msg_bytes = max_msg_bytes_;
  options.replica.raft.max_inflight_msgs = max_inflight_;
  options.replica.raft.read_only_lease = lease_reads_;
  options.replica.raft.max_clock_drift_ticks = max_clock_drift_ticks_;
  options.replica.tick_nanos = tick_nanos_;
  options.replica.snapshot_every_entries = snapshot_every_;
  absl::StatusOr<std::unique_ptr<keel::Node>> driver =
      keel::Node::Open(options, *node.clock, *node.channel, *node.storage, *node.observed);
  if (!driver.ok()) {
    Trace(absl::StrCat("node ", id, " refuses to start: ", driver.status().ToString()));
    node.refused_data_loss = absl::IsDataLoss(driver.status());
    node.storage.reset();
    node.fs->Crash();
    return;
  }
  node.driver = std::move(*driver);
  node.up = true;
  node.refused_data_loss = false;
  checker_.OnRestart(id, node.storage->SnapshotMetadata().index()).IgnoreError();
  network_->Attach(id, [this, id](Envelope&& envelope) {
    Node& target = nodes_.at(id);
    if (!target.up) return;
    target.driver->OnEnvelope(std::move(envelope));
    scheduler_.Wake(target.fiber);
  });
  node.fiber = scheduler_.Spawn(absl::StrCat("node-", id), [this, id]() { NodeMain(id); });
  Trace(absl::StrCat("node ", id, " started term=", node.replica().raft().term(),
                     " log=", node.storage->FirstIndex(), "..", node.storage->LastIndex()));
}

void Simulation::PowerOff(Node& node) {
  // Remember the durable log for the durability check while the node is down.
  node.durable_terms_at_crash.clear();
  node.durable_first_at_crash = node.storage->FirstIndex();
  for (Index i = node.storage->FirstIndex(); i <= node.storage->LastIndex(); ++i) {
    node.durable_terms_at_crash[i] = *node.storage->TermAt(i);
  }
  node.up = false;
  result_.lease_reads_served += node.driver->counters().lease_reads;
  network_->Detach(node.id);
  // Open calls of the node's own clients end with it (their connections drop: outcome
  // unknown where they may have been proposed); proxied ones die silently.
  node.driver.reset();
  node.observed.reset();
  node.state_machine.reset();
  node.storage.reset();
  node.fs->Crash();
}

void Simulation::CrashNode(NodeId id) {
  Node& node = nodes_.at(id);
  if (!node.up) return;
  if (scheduler_.Alive(node.fiber) && scheduler_.current() != node.fiber) scheduler_.Kill(node.fiber);
  PowerOff(node);
  Trace(absl::StrCat("node ", id, " crashed"));
}

void Simulation::NodeMain(NodeId id) {
  while (true) {
    Node& node = nodes_.at(id);
    if (!node.up) return;
    if (node.paused_until > scheduler_.now()) scheduler_.SleepUntil(node.paused_until);
    // Everything queued since the last wake-up, one Ready (one fsync), ticks on time.
    const bool led = node.replica().raft().role() == Role::kLeader;
    const Term led_term = node.replica().raft().term();
    const uint64_t lease_reads = node.driver->counters().lease_reads;
    node.driver->Poll();
    if (!node.up) return;
    CheckLease(id, led && node.driver->counters().lease_reads > lease_reads ? led_term : 0);
    if (!node.replica().failed().ok()) {
      Trace(absl::StrCat("node ", id, " stopped: ", node.replica().failed().ToString()));
      ++result_.faults["node_stopped"];
      node.refused_data_loss = absl::IsDataLoss(node.replica().failed());
      // The process exits (an operator, the nemesis, restarts it later); whatever the failed
      // fsync did not write is gone.
      PowerOff(node);
      return;
    }
    CheckStep();
    const Raft& raft = node.replica().raft();
    if (raft.role() == Role::kLeader) newest_leader_term_ = std::max(newest_leader_term_, raft.term());
    if (raft.role() == Role::kLeader && (raft.id() != last_leader_ || raft.term() != last_leader_term_)) {
      last_leader_ = raft.id();
      last_leader_term_ = raft.term();
      ++result_.leader_changes;
      Trace(absl::StrCat("leader ", raft.id(), " term ", raft.term()));
    }
    if (!node.driver->HasQueuedInput()) {
      scheduler_.Park(scheduler_.now() + node.clock->Until(node.driver->NextWakeNanos()));
    }
  }
}

std::optional<nodepb::Response> Simulation::CallNode(NodeId target, nodepb::Request request, int64_t deadline) {
  Node& node = nodes_.at(target);
  if (!node.up) {
    scheduler_.Sleep(tick_nanos_);  // connection refused
    return std::nullopt;
  }
  struct Pending {  // shared with the callback, which may run after the caller gave up
    bool done = false;
    nodepb::Response response;
  };
  auto pending = std::make_shared<Pending>();
  const FiberId self = scheduler_.current();
  request.set_id(++request_ids_);
  request.set_timeout_nanos(std::max<int64_t>(1, deadline - scheduler_.now()));
  node.driver->OnRequest(std::move(request), [this, pending, self](nodepb::Response response) {
    pending->done = true;
    pending->response = std::move(response);
    scheduler_.Wake(self);
  });
  scheduler_.Wake(node.fiber);
  while (!pending->done && scheduler_.now() < deadline) scheduler_.Park(deadline);
  if (!pending->done) return std::nullopt;
  return pending->response;
}

Attempt Simulation::Submit(NodeId target, const std::string& command, int64_t deadline) {
  Node& node = nodes_.at(target);
  if (!node.up) {
    // Connection refused: nothing was sent. Clients notice after a while.
    scheduler_.Sleep(tick_nanos_);
    return Attempt{Attempt::Outcome::kNotApplied, ""};
  }
  // The same request a production client sends to a node's client port.
  nodepb::Request request;
  request.set_command(command);
  const std::optional<nodepb::Response> response = CallNode(target, std::move(request), deadline);
  if (!response) return Attempt{Attempt::Outcome::kUnknown, ""};  // Jepsen's :info
  switch (response->code()) {
    case nodepb::CODE_OK:
      return Attempt{Attempt::Outcome::kApplied, response->result()};
    case nodepb::CODE_UNAVAILABLE:
    case nodepb::CODE_INVALID_ARGUMENT:
    case nodepb::CODE_FAILED_PRECONDITION:
      // The node says this attempt was not applied and never will be.
      return Attempt{Attempt::Outcome::kNotApplied, ""};
    default:
      break;
  }
  return Attempt{Attempt::Outcome::kUnknown, ""};
}

void Simulation::CheckStep() {
  if (failed_ || !options_.engine_checks) return;
  // Members, so that a step allocates nothing here.
  std::vector<const Raft*>& live = check_live_;
  std::vector<uint64_t>& signature = check_signature_;
  live.clear();
  signature.clear();
  for (const auto& [id, node] : nodes_) {
    if (!node.up) continue;
    const Raft& raft = node.replica().raft();
    live.push_back(&raft);
    // Everything the checks depend on; if none of it changed on any node, neither can their
    // verdict (heartbeat traffic is most steps).
    signature.insert(signature.end(), {id, raft.term(), raft.vote(), static_cast<uint64_t>(raft.role()),
                                       raft.log().committed(), raft.log().applied(), raft.log().version(),
                                       raft.log().FirstIndex(), node.storage->LastIndex()});
  }
  if (signature == last_signature_) return;
  last_signature_.swap(signature);
  // Every step: everything but the deep log comparison; that one every 1,000 steps and at the
  // end of the run.
  absl::Status status = checker_.Observe(live, ++steps_checked_ % 1000 == 0);
  if (status.ok()) status = CheckDurableQuorum();
  if (status.ok()) status = CheckUnreadableNodesWereDamaged();
  if (!status.ok()) Fail(std::string(status.message()));
}

void Simulation::CheckLease(NodeId id, Term served_in) {
  if (failed_ || !options_.engine_checks || !lease_reads_) return;
  // What a lease promises (raft.h, "Lease reads"): while it holds, no other leader can have
  // been elected. One elected in a later term (the simulator sees every node at once) means
  // the lease outlived a follower's promise: a read may miss a write that leader already
  // acknowledged. The clients' history shows that only when such a write and a read line up
  // in the window; this check shows every overrun, at each of the leader's steps and for
  // every read its lease served.
  const Raft& raft = nodes_.at(id).replica().raft();
  if (served_in != 0 && newest_leader_term_ > served_in) {
    Fail(absl::StrCat("lease read served by node ", id, " as leader of term ", served_in, " after a leader of term ",
                      newest_leader_term_, " was elected"));
  } else if (raft.role() == Role::kLeader && newest_leader_term_ > raft.term() &&
             raft.LeaseHolds(nodes_.at(id).replica().TicksDue())) {
    // Judged at the node's clock's now: a step that waited on a slow disk ends with ticks due
    // that the core has not been given yet, and a lease read always catches them up first
    // (Replica::ReadIndex). Seed 80205 (fsync 17 ms, 2 ms ticks) failed here on the stale count.
    Fail(absl::StrCat("node ", id, " holds a lease as leader of term ", raft.term(), " after a leader of term ",
                      newest_leader_term_, " was elected"));
  }
}

void Simulation::OnApply(NodeId id, Index index, absl::string_view command) {
  if (failed_ || !options_.engine_checks) return;
  const Node& node = nodes_.at(id);
  KEEL_ASSERT(node.driver != nullptr);
  // Committed entries are applied before they can be compacted, so the term is in the log.
  const std::optional<Term> term = node.replica().raft().log().TermAt(index);
  KEEL_ASSERT(term.has_value());
  // ObservedStateMachine sees only normal entries' commands.
  if (absl::Status status =
          checker_.OnApplied(id, index, *term, raftpb::ENTRY_NORMAL, command, node.replica().raft().term());
      !status.ok()) {
    Fail(std::string(status.message()));
  }
}

void Simulation::OnRestore(NodeId id) {
  checker_.OnRestart(id, nodes_.at(id).state_machine->applied_index()).IgnoreError();
}

void Simulation::CheckStepThorough() {
  if (failed_ || !options_.engine_checks) return;
  std::vector<const Raft*> live;
  for (const auto& [id, node] : nodes_) {
    if (node.up) live.push_back(&node.replica().raft());
  }
  absl::Status status = checker_.Observe(live, /*thorough=*/true);
  if (status.ok()) status = CheckUnreadableNodesWereDamaged();
  if (!status.ok()) Fail(std::string(status.message()));
}

absl::Status Simulation::CheckUnreadableNodesWereDamaged() const {
  for (NodeId id : checker_.unreadable_nodes()) {
    if (!damaged_.contains(id)) {
      return absl::InternalError(absl::StrCat("node ", id, "'s log is unreadable (data loss) but the nemesis never "
                                              "damaged its disk"));
    }
  }
  return absl::OkStatus();
}

Simulation::Holders Simulation::HoldersOf(Index index, Term term) const {
  Holders holders;
  for (const auto& [id, n] : nodes_) {
    bool holds = false;
    if (n.up) {
      holds = n.storage->FirstIndex() > index ||
              (n.storage->LastIndex() >= index && n.storage->TermAt(index).value_or(0) == term);
    } else {
      auto it = n.durable_terms_at_crash.find(index);
      holds = n.durable_first_at_crash > index || (it != n.durable_terms_at_crash.end() && it->second == term);
    }
    if (holds) holders.push_back(id);  // in id order: nodes_ is ordered
  }
  return holders;
}

absl::Status Simulation::CheckDurableQuorum() {
  // The commit index must never be ahead of a quorum's durable logs (crashed nodes' disks
  // count as what survived): otherwise a crash could lose an acknowledged write.
  const Node* committer = nullptr;
  Index commit = 0;
  Term commit_term = 0;
  for (const auto& [id, node] : nodes_) {
    if (!node.up) continue;
    const RaftLog& log = node.replica().raft().log();
    if (log.committed() > commit) {
      commit = log.committed();
      commit_term = log.TermAt(commit).value_or(0);
      committer = &node;
    }
  }
  if (commit == 0 || commit_term == 0) return absl::OkStatus();
  // Which quorum: the configuration in force at the commit index, or the one of the next
  // configuration entry if that was appended before `commit` committed (it takes effect when
  // appended). The latter is possible only if no configuration entry sits at `commit` itself:
  // the next change waits for the previous one to commit.
  const Raft& raft = committer->replica().raft();
  Holders holding = HoldersOf(commit, commit_term);
  // The configuration at a committed index never changes (State Machine Safety is checked on
  // its own), so a verdict reached with that configuration's quorum holds for as long as the
  // commit index, its term and its holders stay the same (building the configuration's
  // quorum every step was half of this check's cost).
  if (durable_quorum_seen_.commit == commit && durable_quorum_seen_.term == commit_term &&
      durable_quorum_seen_.holders == holding) {
    return absl::OkStatus();
  }
  const raftpb::ConfState at_commit = raft.ConfStateAt(commit);
  const absl::btree_set<NodeId> holders(holding.begin(), holding.end());
  if (QuorumOf(at_commit).HasQuorum(holders)) {
    durable_quorum_seen_ = {commit, commit_term, std::move(holding)};
    return absl::OkStatus();
  }
  const bool change_at_commit = raft.ConfStateAt(commit - 1).SerializeAsString() != at_commit.SerializeAsString();
  // The next configuration may be known only to the leader (and whoever it reached): a
  // follower with the highest commit index need not hold it yet (seed 83: a leader removing
  // itself committed with two of the three remaining voters). So any running node's latest.
  if (!change_at_commit) {
    for (const auto& [id, node] : nodes_) {
      if (node.up && QuorumOf(node.replica().raft().conf_state()).HasQuorum(holders)) return absl::OkStatus();
    }
  }
  return absl::InternalError(absl::StrCat("durability violated: commit index ", commit, " (term ", commit_term,
                                          ") is durable only on {", absl::StrJoin(holders, ","),
                                          "}, not a quorum of its configuration (", DescribeConfState(at_commit), ")"));
}

bool Simulation::CheckLiveness() {
  // Heal everything, restart everyone, stop faults: a leader must commit a fresh entry on
  // every node within the liveness bound.
  network_->HealAll();
  network_->options().drop_probability = 0;
  network_->options().duplicate_probability = 0;
  for (auto& [id, node] : nodes_) {
    node.paused_until = 0;
    node.sync_latency = 0;
    node.fs->faults().sync_failure_probability = 0;
  }
  for (NodeId id : members_) {
    if (!nodes_.at(id).up) StartNode(id);
  }
  Trace("liveness phase");
  // Shared with the prober fiber and the probes' callbacks, which may outlive this call (the
  // final reads run the scheduler again): nothing of this stack frame may be captured.
  struct Liveness {
    int64_t deadline = 0;
    bool committed_everywhere = false;
    std::vector<Index> probes;  // indexes of probes known to be committed
  };
  auto live = std::make_shared<Liveness>();
  live->deadline = scheduler_.now() + options_.liveness_nanos;
  const int64_t deadline = live->deadline;
  scheduler_.Spawn("liveness-client", [this, live]() {
    // Each attempt proposes a fresh probe (registering a session: no retry is ever applied
    // twice); the cluster is live once some probe is applied on every node.
    while (scheduler_.now() < live->deadline && !live->committed_everywhere && !failed_) {
      const NodeId leader = KnownLeader();
      if (leader != kNoNode) {
        kvpb::Command probe;
        probe.mutable_register_session()->set_timeout_nanos(1'000'000'000);
        nodepb::Request request;
        request.set_id(++request_ids_);
        request.set_timeout_nanos(client_timeout_);
        request.set_command(probe.SerializeAsString());
        nodes_.at(leader).driver->OnRequest(std::move(request), [live](nodepb::Response response) {
          kvpb::Result applied;
          if (response.code() == nodepb::CODE_OK && applied.ParseFromString(response.result())) {
            live->probes.push_back(applied.session());
          }
        });
        scheduler_.Wake(nodes_.at(leader).fiber);
      }
      scheduler_.Sleep(client_timeout_);
      // Every member of the leader's configuration (a node added late is started now; a node
      // whose removal committed, or whose add never did, need not apply anything).
      if (const NodeId now = KnownLeader(); membership_ && now != kNoNode) StartJoiners(nodes_.at(now).driver->Status());
      const std::vector<NodeId> required = ConfiguredMembers();
      for (const Index probe : live->probes) {
        bool everywhere = true;
        for (const NodeId id : required) {
          const Node& node = nodes_.at(id);
          // A node whose disk the nemesis damaged may rightly refuse to run; every other node
          // must apply the probe.
          const bool excused = !node.up && node.refused_data_loss && damaged_.contains(id);
          everywhere = everywhere && (excused || (node.up && node.state_machine->applied_index() >= probe));
        }
        if (everywhere) live->committed_everywhere = true;
      }
    }
  });
  result_.events += scheduler_.Run(deadline + 1, [&]() { return live->committed_everywhere || failed_; });
  if (!failed_) CheckStepThorough();
  if (failed_) return false;
  if (!live->committed_everywhere) {
    std::string state;
    for (const auto& [id, node] : nodes_) {
      absl::StrAppend(&state, " [",
                      node.up ? absl::StrCat(node.replica().raft().Status().ToString(), " conf[",
                                             DescribeConfState(node.replica().raft().conf_state()),
                                             "] dropped_unknown_peer=", node.driver->counters().dropped_unknown_peer)
                              : absl::StrCat("node ", id, " down", node.refused_data_loss ? " (data loss)" : "",
                                             damaged_.contains(id) ? " (damaged by the nemesis)" : ""),
                      "]");
    }
    Fail(absl::StrCat("liveness: no fresh entry committed on every node within ",
                      options_.liveness_nanos / kMillis, " ms after healing;", state));
    return false;
  }
  return true;
}

void Simulation::RunFinalReads() {
  // Jepsen's final reads: with the cluster healthy, read every object once, so that the
  // history ends with the state everything before led to (a slot taken twice shows here).
  workload_->StopClients();
  scheduler_.Spawn("final-reads", [this]() { workload_->FinalReads(); });
  const int64_t deadline = scheduler_.now() + options_.liveness_nanos;
  result_.events += scheduler_.Run(deadline, [this]() { return workload_->final_reads_done() || failed_; });
  if (!failed_ && !workload_->final_reads_done()) {
    Fail(absl::StrCat("final reads did not finish within ", options_.liveness_nanos / kMillis, " ms"));
  }
}

void Simulation::CheckHistory() {
  // The workload's operations, not its text parsed back (parsing and decoding the EDN were a
  // tenth of a run's time): the same operations but without values (workload_test), the same
  // verdict.
  const checker::History& history = workload_->operations();
  checker::CheckOptions options;
  options.max_steps = 5'000'000;  // deterministic; a search this long answers "unknown"
  options.explain_max_steps = 5'000'000;
  absl::StatusOr<checker::CheckResult> check = workload_->CheckOperations(options);
  if (!check.ok()) return Fail(absl::StrCat("the workload wrote a history the checker refuses: ", check.status().ToString()));
  result_.history_ops = history.ops.size();
  result_.history_verdict = std::string(checker::VerdictName(check->verdict));
  Trace(absl::StrCat("history ", history.ops.size(), " operations, ", check->partitions, " objects, ",
                     check->steps, " search steps: ", result_.history_verdict));
  if (check->verdict == checker::Verdict::kNotLinearizable) {
    checker::ReportContext context;
    context.model = "kvstate";
    context.input = "history";
    const checker::History full = workload_->operations_with_values();
    Fail(absl::StrCat("history not linearizable: ", checker::RenderText(full, *check, context)));
  }
}

void Simulation::CheckReplicasAgree() {
  // Replicas that applied the same prefix hold the same state, byte for byte.
  std::map<Index, std::pair<NodeId, std::string>> by_applied;
  for (const auto& [id, node] : nodes_) {
    if (!node.up) continue;
    const Index applied = node.state_machine->applied_index();
    std::string snapshot = node.state_machine->Snapshot();
    auto [it, inserted] = by_applied.try_emplace(applied, id, snapshot);
    if (!inserted && it->second.second != snapshot) {
      return Fail(absl::StrCat("nodes ", it->second.first, " and ", id, " applied up to ", applied,
                               " but hold different states"));
    }
  }
}

SimResult Simulation::Run() {
  DrawSettings();
  result_.seed = options_.seed;
  result_.lease_reads = lease_reads_;
  for (absl::string_view line : absl::StrSplit(result_.settings, '\n', absl::SkipEmpty())) {
    Trace(absl::StrCat("setting ", line));
  }
  for (NodeId id : voters_) StartNode(id);
  WorkloadEnv env;
  env.scheduler = &scheduler_;
  env.nodes = voters_;
  if (membership_) env.members = [this]() { return members_; };
  env.leader_hint = [this]() {
    // What a client learns from redirects, most of the time.
    const NodeId leader = KnownLeader();
    return workload_prng_.Uniform(4) != 0 ? leader : kNoNode;
  };
  env.submit = [this](NodeId node, const std::string& command, int64_t deadline) {
    return Submit(node, command, deadline);
  };
  env.trace = [this](const std::string& line) { Trace(line); };
  env.trace_deferred = [this](absl::string_view digest, absl::FunctionRef<std::string()> render) {
    TraceDeferred(digest, render);
  };
  env.stopped = [this]() { return failed_; };
  env.attempt_timeout_nanos = client_timeout_;
  env.think_nanos = tick_nanos_ * 3;
  workload_ = std::make_unique<Workload>(std::move(env), workload_shape_, options_.clients, workload_prng_.Fork(1));
  for (int client = 1; client <= options_.clients; ++client) {
    scheduler_.Spawn(absl::StrCat("client-", client), [this, client]() { workload_->ClientMain(client); });
  }
  if (options_.faults) scheduler_.Spawn("nemesis", [this]() { NemesisMain(); });
  if (membership_) scheduler_.Spawn("operator", [this]() { MembershipMain(); });
  result_.events += scheduler_.Run(options_.safety_nanos, [this]() { return failed_; });
  safety_over_ = true;
  workload_->StopClients();
  if (!failed_ && CheckLiveness()) {
    RunFinalReads();
    // The history first: when both would fail, the clients' view is the one to report.
    if (!failed_) CheckHistory();
    if (!failed_) CheckReplicasAgree();
  }
  for (const auto& [id, node] : nodes_) {
    if (node.up) result_.lease_reads_served += node.driver->counters().lease_reads;
  }
  result_.client_ops = workload_->outcomes();
  if (options_.keep_history) result_.history = workload_->history();
  result_.passed = !failed_;
  result_.sim_nanos = scheduler_.now();
  result_.trace_hash = trace_hash_;
  return result_;
}

}  // namespace keel::sim::internal

namespace keel::sim {

using internal::kMillis;

std::string SimResult::VerdictLine() const {
  std::string faults_text;
  for (const auto& [kind, count] : faults) absl::StrAppend(&faults_text, faults_text.empty() ? "" : ",", kind, ":", count);
  std::string ops_text;
  for (const auto& [kind, count] : client_ops) absl::StrAppend(&ops_text, ops_text.empty() ? "" : ",", kind, ":", count);
  return absl::StrCat("seed=", seed, " nodes=", nodes, " sim_ms=", sim_nanos / kMillis, " events=", events,
                      " faults=", faults_text.empty() ? "none" : faults_text, " leader_changes=", leader_changes,
                      " membership_changes=", membership_changes, " membership_refused=", membership_refused,
                      " transfers=", transfers,
                      " lease_reads=", lease_reads ? absl::StrCat("1 lease_served=", lease_reads_served) : "0",
                      " client_ops=", ops_text.empty() ? "none" : ops_text, " history_ops=", history_ops,
                      " history=", history_verdict.empty() ? "unchecked" : history_verdict,
                      " trace_hash=", absl::Hex(trace_hash, absl::kZeroPad16),
                      " verdict=", passed ? "pass" : "FAIL");
}

const std::vector<FaultClassInfo>& FaultClasses() {
  static const std::vector<FaultClassInfo> classes = {
      {"crash", kFaultCrash},           {"partition", kFaultPartition}, {"pause", kFaultPause},
      {"clog", kFaultClog},             {"slow-disk", kFaultSlowDisk},  {"fsync-error", kFaultFsyncError},
      {"loss", kFaultLoss},             {"bit-flip", kFaultBitFlip},    {"membership", kFaultMembership},
  };
  return classes;
}

int64_t SafetyNanosForSeed(uint64_t seed) {
  // Its own stream: drawing it changes nothing else the seed decides.
  Prng prng = Prng(seed).Fork(7);
  const double millis = 1000.0 * std::pow(40.0, prng.NextDouble());
  return static_cast<int64_t>(millis) * kMillis;
}

SimResult RunSimulation(const SimOptions& options, const TraceSink& trace) {
  internal::Simulation simulation(options, trace);
  return simulation.Run();
}

}  // namespace keel::sim
