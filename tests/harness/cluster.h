// An in-memory Raft cluster for tests: N cores over MemoryStorage, a message queue that the
// test drives by hand (deliver, drop, partition), crash/restart from durable state, a trivial
// state machine (the list of applied commands) and the invariants checkers after every step.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "sim/invariants.h"
#include "absl/container/btree_set.h"
#include "engine/memory_storage.h"
#include "engine/raft.h"

namespace keel::testing {

struct ClusterOptions {
  int nodes = 3;
  // Nodes 1..initial_voters form the bootstrap configuration; the rest start outside it
  // (spares for membership changes). 0: every node is a voter.
  int initial_voters = 0;
  // Random schedules (random_schedule.h) also propose membership changes.
  bool membership_changes = false;
  bool pre_vote = true;
  bool check_quorum = true;
  bool read_only_lease = false;  // lease reads (Config::read_only_lease)
  int max_clock_drift_ticks = 1;
  int election_tick = 10;
  int heartbeat_tick = 1;
  uint64_t seed = 1;
  uint64_t max_msg_bytes = 1 << 20;
  size_t max_inflight_msgs = 256;
  uint64_t max_snapshot_chunk_bytes = 1 << 20;
  uint32_t planted_bugs = 0;  // only with the planted-bug engine (engine/planted_bugs.h)
};

class Cluster {
 public:
  explicit Cluster(const ClusterOptions& options);

  const ClusterOptions& options() const { return options_; }
  std::vector<NodeId> ids() const;
  bool IsUp(NodeId id) const { return nodes_.at(id).raft != nullptr; }
  Raft& raft(NodeId id);
  MemoryStorage& storage(NodeId id) { return *nodes_.at(id).storage; }
  // Commands the node's state machine applied, in order (rebuilt from the snapshot on restart).
  const std::vector<std::string>& applied(NodeId id) const { return nodes_.at(id).state; }
  std::vector<ReadState>& read_states(NodeId id) { return nodes_.at(id).read_states; }

  // --- driving ---
  void Tick(NodeId id);
  // Handles one Ready of `id` if it has one, following ready.h's contract: send `messages`,
  // persist, send `messages_after_persist`, apply, advance. Returns whether there was one.
  bool ProcessReady(NodeId id);
  // Like ProcessReady, but the node crashes after sending `messages` and before anything of
  // the Ready is durable (exercises the leader's parallel write).
  void ProcessReadyThenCrashBeforePersist(NodeId id);
  // Delivers the oldest queued message (dropped if its link is cut or its target is down).
  // Returns false if the queue is empty.
  bool DeliverOne();
  // Delivers the queued message at `position` (for reordering).
  void DeliverAt(size_t position);
  void DropAt(size_t position);
  // Queues a second copy of the message at `position` (the network duplicated it).
  void DuplicateAt(size_t position);
  // Processes Readys and delivers messages until nothing is left to do. Records a violation if
  // that takes more than 10,000 rounds (a livelock: something keeps sending without ticks).
  void Stabilize();
  // Ticks every live node once, then stabilizes.
  void TickAllAndStabilize();

  const std::deque<raftpb::Message>& queue() const { return queue_; }

  // --- faults ---
  // Cuts every link between different groups; nodes in no group are isolated from all.
  void Partition(const std::vector<std::set<NodeId>>& groups);
  void Isolate(NodeId id);
  void Heal();
  // Cuts the one-way link from -> to.
  void Cut(NodeId from, NodeId to) { cut_.insert({from, to}); }
  bool LinkUp(NodeId from, NodeId to) const { return !cut_.contains({from, to}); }
  // Loses everything not durable and stops the node; messages to it are dropped.
  void Crash(NodeId id);
  // Restarts a crashed node from its storage.
  void Restart(NodeId id);

  // --- application actions ---
  absl::StatusOr<LogPosition> Propose(NodeId id, std::string data);
  absl::StatusOr<LogPosition> ProposeConfChange(NodeId id, const raftpb::ConfChange& change);
  // Takes a snapshot of node `id`'s state machine at its applied index and compacts its log.
  bool Compact(NodeId id, Index index);

  // --- checks ---
  // The first invariant violation seen so far (OK if none). Checked after every step.
  const absl::Status& violation() const { return violation_; }
  // The leader with the highest term among live nodes, or kNoNode.
  NodeId Leader() const;
  // A line per node: "1: term=2 role=leader leader=1 commit=3 applied=3 last=3".
  std::string DescribeNodes() const;
  std::string DescribeLog(NodeId id) const;

 private:
  struct Node {
    std::unique_ptr<MemoryStorage> storage;
    std::unique_ptr<Raft> raft;
    std::vector<std::string> state;  // applied commands
    std::vector<ReadState> read_states;
  };
  static std::string EncodeState(const std::vector<std::string>& state);
  static std::vector<std::string> DecodeState(const std::string& data);
  void StartNode(NodeId id);
  void Enqueue(std::vector<Message>& messages);
  void Check();
  absl::Status CheckDurableQuorum() const;
  // Every configuration some node's storage or core holds (for the durability check), with
  // the index and term of the entry that made it (0: a snapshot's, or a core's current one).
  struct KnownConfig {
    raftpb::ConfState conf;
    Index index = 0;
    Term term = 0;
  };
  std::vector<KnownConfig> KnownConfigs() const;
  // The nodes whose storage holds entry (index, term), or a snapshot past it.
  absl::btree_set<NodeId> DurableAt(Index index, Term term) const;

  ClusterOptions options_;
  std::map<NodeId, Node> nodes_;
  std::deque<raftpb::Message> queue_;
  std::set<std::pair<NodeId, NodeId>> cut_;
  ClusterSafetyChecker checker_;
  absl::Status violation_;
};

}  // namespace keel::testing
