// The simulation's insides (sim/simulation.h is the interface): the simulated node process,
// its clock and peer channel, and the Simulation that runs one seed. Shared by simulation.cc
// (setup, node fibers, checks), nemesis.cc (fault injection) and membership_nemesis.cc (the
// operator's membership changes and leadership transfers); nothing else includes it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/inlined_vector.h"
#include "engine/node.h"
#include "engine/prng.h"
#include "kvstate/kv_state.h"
#include "sim/invariants.h"
#include "sim/network.h"
#include "sim/observed_state_machine.h"
#include "sim/scheduler.h"
#include "sim/sim_filesystem.h"
#include "sim/simulation.h"
#include "sim/workload.h"

namespace keel::sim::internal {

constexpr int64_t kMillis = 1'000'000;

// A node's clock: offset from virtual time, and running fast or slow by `drift`. With a
// period, the drift flips sign every period (a clock that speeds up and slows down, e.g. with
// temperature, always within +-|drift|): a node that won an election while its clock ran fast
// may lead while it runs slow.
class SimClock final : public Clock {
 public:
  SimClock(const Scheduler& scheduler, int64_t offset, double drift, int64_t period = 0)
      : scheduler_(scheduler), offset_(offset), drift_(drift), period_(period) {}
  int64_t NowNanos() const override { return ReadingAt(scheduler_.now()); }
  // Virtual (scheduler) nanoseconds until this clock reads `deadline`.
  int64_t Until(int64_t deadline) const {
    if (period_ == 0) {
      const double remaining = static_cast<double>(deadline - NowNanos()) / (1.0 + drift_);
      return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(remaining)));
    }
    // Segment by segment: within one the rate is constant.
    const int64_t start = scheduler_.now();
    int64_t t = start;
    for (int64_t reading = ReadingAt(t); reading < deadline; reading = ReadingAt(t)) {
      const bool fast = (t / period_) % 2 == 0;
      const double rate = 1.0 + (fast ? drift_ : -drift_);
      const int64_t segment_end = (t / period_ + 1) * period_;
      const auto step = static_cast<int64_t>(std::ceil(static_cast<double>(deadline - reading) / rate));
      t += std::max<int64_t>(1, std::min(step, segment_end - t));
    }
    return std::max<int64_t>(1, t - start);
  }

 private:
  int64_t ReadingAt(int64_t now) const {
    if (period_ == 0) return offset_ + now + static_cast<int64_t>(static_cast<double>(now) * drift_);
    // +drift in even segments, -drift in odd ones: what the clock gained is a triangle wave.
    const int64_t into = now % period_;
    const int64_t gained_over = (now / period_) % 2 == 0 ? into : period_ - into;
    return offset_ + now + static_cast<int64_t>(static_cast<double>(gained_over) * drift_);
  }

  const Scheduler& scheduler_;
  int64_t offset_;
  double drift_;
  int64_t period_;
};

class NetChannel final : public PeerChannel {
 public:
  explicit NetChannel(Network& network) : network_(network) {}
  void Send(Envelope&& envelope) override { network_.Send(std::move(envelope)); }

 private:
  Network& network_;
};

// The simulated cluster's id: every envelope carries it, and nodes check it.
constexpr uint64_t kClusterId = 0x6B65656C;

struct Node {
  NodeId id = kNoNode;
  std::unique_ptr<SimFileSystem> fs;
  std::unique_ptr<SimClock> clock;
  std::unique_ptr<NetChannel> channel;
  std::unique_ptr<DurableStorage> storage;
  std::unique_ptr<kvstate::KvState> state_machine;
  std::unique_ptr<ObservedStateMachine> observed;  // wraps state_machine for the checker
  std::unique_ptr<keel::Node> driver;  // the production node driver, unchanged
  FiberId fiber = kNoFiber;
  const Replica& replica() const { return driver->replica(); }
  bool up = false;
  bool starting = false;  // a restart is recovering its storage (which may sleep in fsync)
  bool refused_data_loss = false;  // its last start or run ended in DataLoss (damaged files)
  int64_t paused_until = 0;
  int64_t sync_latency = 0;
  // The durable log as of the crash (for the durability check while down).
  std::map<Index, Term> durable_terms_at_crash;
  Index durable_first_at_crash = 1;
};

class Simulation {
 public:
  Simulation(const SimOptions& options, const TraceSink& sink)
      : options_(options), sink_(sink), root_(options.seed),
        swarm_(root_.Fork(1)), network_prng_(root_.Fork(2)), disk_prng_(root_.Fork(3)),
        node_prng_(root_.Fork(4)), workload_prng_(root_.Fork(5)), nemesis_prng_(root_.Fork(6)),
        membership_prng_(root_.Fork(8)) {}

  SimResult Run();

 private:
  void DrawSettings();
  // The simulated machine of node `id` (disk, `clock`, channel), not started.
  void SetUpNode(NodeId id, uint64_t disk_seed, std::unique_ptr<SimClock> clock);
  // A node's clock: offset and drift drawn from `prng` (lease seeds: close to the drift bound,
  // flipping between fast and slow).
  std::unique_ptr<SimClock> DrawClock(Prng& prng);
  // Whether clients stick to the node that answered them, whether the nodes serve lease
  // reads, and the clock drift bound the leases rely on.
  void DrawReadSettings();
  void Trace(const std::string& text);
  // A line whose text is costly (a history event): the hash covers `digest` in its place, the
  // sink gets render(). So the hash is the same whether or not a trace is written.
  void TraceDeferred(absl::string_view digest, absl::FunctionRef<std::string()> render);
  void Fail(const std::string& why);
  void StartNode(NodeId id);
  void CrashNode(NodeId id);
  // The node's process is gone: detach it, drop its volatile state and unsynced disk bytes.
  void PowerOff(Node& node);
  void NodeMain(NodeId id);
  // One request through `target`'s driver, as a production client (or keelctl) sends it on
  // the client port; nullopt if the node is down (after a tick: connection refused) or did not
  // answer by `deadline`. Blocks the calling fiber.
  std::optional<nodepb::Response> CallNode(NodeId target, nodepb::Request request, int64_t deadline);
  // The workload's way in: one attempt at having `command` applied through `target`.
  Attempt Submit(NodeId target, const std::string& command, int64_t deadline);
  void NemesisMain();
  // --- membership_nemesis.cc ---
  // Draws whether the run changes membership, its spare nodes and the operator's pace, from
  // their own stream (runs without membership changes stay as they were).
  void DrawMembershipSettings();
  // The operator: adds spare nodes as learners, promotes, removes and replaces members, and
  // moves leadership, through client requests to the nodes.
  void MembershipMain();
  // The operator's actions on a round where the leader showed `status` (settled: no change in
  // flight; the callers ask only then): add the next spare as a learner, remove `voter` or (a third of the time)
  // `learner`, replace `voter` by `learner` in one joint change. Each keeps within the f budget.
  void OperatorAddsLearner(const nodepb::NodeStatus& status);
  void OperatorRemoves(const nodepb::NodeStatus& status, bool settled, NodeId voter, NodeId learner);
  void OperatorReplaces(const nodepb::NodeStatus& status, NodeId voter, NodeId learner);
  // A member change (or transfer) through a member, counted by its answer; true if CODE_OK.
  bool AskMemberChange(const nodepb::MemberChange& change, const std::string& what);
  bool AskTransfer(NodeId target);
  // Starts every spare the configuration `status` names that has not run yet (an operator
  // starts a node it added, also when the add's answer was lost).
  void StartJoiners(const nodepb::NodeStatus& status);
  // The operator stops a node whose removal committed; its id never runs again.
  void StopRemoved(NodeId id);
  // Voters of `status` (a leader's) that are down, paused or damaged, plus its learners still
  // joining (down or behind the commit index), leaving out `except`: what the f budget of the
  // membership actions counts.
  int Unavailable(const nodepb::NodeStatus& status, NodeId except) const;
  // The voters (both halves) the run's operator last saw; the initial voters until then.
  size_t KnownVoterCount() const;
  // The members (voters of both halves and learners) of the known leader's configuration,
  // less the nodes the operator removed; the operator's members_ if no leader is known.
  std::vector<NodeId> ConfiguredMembers() const;
  // Corrupts one byte at rest in one of `victim`'s durable files, unless that would damage
  // more than f nodes.
  void FlipABit(NodeId victim);
  void CheckStep();
  // State Machine Safety as it happens: what node `id` applies must be what was committed.
  void OnApply(NodeId id, Index index, absl::string_view command);
  // Node `id` restored its state machine from a snapshot (at start or from the leader).
  void OnRestore(NodeId id);
  void CheckStepThorough();
  // After node `id`'s step: if it leads with a lease that holds, or served lease reads as
  // leader of `served_in` (0: none), no leader of a later term may have been elected.
  void CheckLease(NodeId id, Term served_in);
  absl::Status CheckDurableQuorum();
  // The nodes whose log holds entry (index, term) or a snapshot past it (a crashed node counts
  // with what its disk kept).
  using Holders = absl::InlinedVector<NodeId, 8>;  // ascending
  Holders HoldersOf(Index index, Term term) const;
  // The checker could not read some node's log: only a disk the nemesis damaged excuses that.
  absl::Status CheckUnreadableNodesWereDamaged() const;
  NodeId KnownLeader() const;
  bool CheckLiveness();
  // After the run: the clients' history is linearizable, and replicas that applied the same
  // prefix hold the same state.
  void RunFinalReads();
  void CheckHistory();
  void CheckReplicasAgree();

  SimOptions options_;
  TraceSink sink_;
  Prng root_;
  Prng swarm_;
  Prng network_prng_;
  Prng disk_prng_;
  Prng node_prng_;
  Prng workload_prng_;
  Prng nemesis_prng_;
  Scheduler scheduler_;
  std::unique_ptr<Network> network_;
  std::map<NodeId, Node> nodes_;
  std::vector<NodeId> voters_;  // the initial voters: every node's bootstrap configuration
  // Nodes the operator runs as members: the initial voters and the spares it started, less
  // those it removed (sorted). Faults, clients and the liveness phase pick from these.
  std::vector<NodeId> members_;
  std::vector<NodeId> spares_;     // ids beyond the initial voters the operator may add
  std::set<NodeId> removed_;       // stopped for good after their removal committed
  Prng membership_prng_;
  bool membership_ = false;        // this run changes membership
  int64_t membership_mean_interval_ = 500 * kMillis;
  int changing_ = 0;               // membership changes the operator awaits (f budget)
  int removing_ = 0;               // members those changes, and unanswered ones, remove (KnownVoterCount)
  size_t known_voters_ = 0;        // voters in the configuration the operator last saw; 0: initial
  ClusterSafetyChecker checker_;
  SimResult result_;
  uint64_t trace_hash_ = 0xCBF29CE484222325ULL;
  bool failed_ = false;
  bool safety_over_ = false;
  NodeId last_leader_ = kNoNode;
  Term last_leader_term_ = 0;
  Term newest_leader_term_ = 0;  // the highest term any node has led (lease read check)
  std::unique_ptr<Workload> workload_;
  WorkloadShape workload_shape_;
  uint64_t steps_checked_ = 0;
  uint64_t request_ids_ = 0;
  std::vector<uint64_t> last_signature_;
  std::vector<uint64_t> check_signature_;  // CheckStep's, kept to reuse the memory
  std::vector<const Raft*> check_live_;
  // The last commit index CheckDurableQuorum found durable on a quorum of the configuration at
  // that index, with its term and holders.
  struct DurableQuorumSeen {
    Index commit = 0;
    Term term = 0;
    Holders holders;
  };
  DurableQuorumSeen durable_quorum_seen_;
  // Swarm-drawn settings.
  int election_tick_ = 10;
  int64_t tick_nanos_ = 10 * kMillis;
  int64_t client_timeout_ = 500 * kMillis;
  double crash_weight_ = 0, partition_weight_ = 0, pause_weight_ = 0, clog_weight_ = 0;
  double slow_disk_weight_ = 0, fsync_error_weight_ = 0, bit_flip_weight_ = 0;
  // Nodes whose durable files the nemesis damaged (at most f of them: the cluster must stay
  // recoverable).
  std::set<NodeId> damaged_;
  int64_t nemesis_mean_interval_ = 300 * kMillis;
  uint64_t snapshot_every_ = 50;
  uint64_t max_msg_bytes_ = 1 << 20;
  uint64_t max_inflight_ = 256;
  bool lease_reads_ = false;
  double max_drift_ = 0.01;  // clock rates are off by at most this fraction
  int max_clock_drift_ticks_ = 1;
};

}  // namespace keel::sim::internal
