// The replica driver end to end: three replicas over an in-memory transport, each with its own
// simulated disk, a manual clock and a trivial state machine (the list of applied commands).
// They elect, replicate, snapshot, survive crashes (losing unsynced disk bytes) and restarts,
// and never lose an acknowledged command.
#include <algorithm>
#include <deque>
#include <map>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "sim/invariants.h"
#include "engine/replica.h"
#include "sim/manual_clock.h"
#include "sim/sim_filesystem.h"
#include "gtest/gtest.h"

namespace keel {
namespace {

class QueueTransport final : public Transport {
 public:
  QueueTransport(std::deque<raftpb::Message>* queue, std::vector<raftpb::Message>* sent)
      : queue_(queue), sent_(sent) {}
  void Send(Message&& message) override {
    queue_->push_back(ToProto(message));
    sent_->push_back(ToProto(message));
  }

 private:
  std::deque<raftpb::Message>* queue_;
  std::vector<raftpb::Message>* sent_;  // everything ever sent, for tests to inspect
};

// Commands joined with '\n'; Apply returns "applied:<command>".
class ListStateMachine final : public StateMachine {
 public:
  std::string Apply(Index index, absl::string_view command) override {
    commands.emplace_back(command);
    return absl::StrCat("applied:", command);
  }
  std::string Snapshot() const override { return absl::StrJoin(commands, "\n"); }
  absl::Status Restore(absl::string_view data) override {
    commands.clear();
    if (!data.empty()) commands = absl::StrSplit(data, '\n');
    return absl::OkStatus();
  }
  std::vector<std::string> commands;
};

constexpr int64_t kTick = 10'000'000;

class ReplicaCluster {
 public:
  explicit ReplicaCluster(uint64_t snapshot_every) : snapshot_every_(snapshot_every) {
    for (NodeId id = 1; id <= 3; ++id) {
      nodes_[id].fs = std::make_unique<SimFileSystem>(id);
      Start(id);
    }
  }

  void Start(NodeId id) {
    Node& node = nodes_[id];
    absl::StatusOr<std::unique_ptr<DurableStorage>> storage =
        DurableStorage::Open(*node.fs, "/data", {1, 2, 3}, StorageOptions{});
    ASSERT_TRUE(storage.ok()) << storage.status();
    node.storage = std::move(*storage);
    node.state_machine = std::make_unique<ListStateMachine>();
    node.transport = std::make_unique<QueueTransport>(&queue_, &sent_);
    ReplicaOptions options;
    options.raft.id = id;
    options.raft.seed = id * 7919 + restarts_++;
    options.tick_nanos = kTick;
    options.snapshot_every_entries = snapshot_every_;
    absl::StatusOr<std::unique_ptr<Replica>> replica =
        Replica::Open(options, clock_, *node.transport, *node.storage, *node.state_machine);
    ASSERT_TRUE(replica.ok()) << replica.status();
    node.replica = std::move(*replica);
  }

  // Power loss: the process and every unsynced byte are gone.
  void Crash(NodeId id) {
    Node& node = nodes_[id];
    node.replica.reset();
    node.storage.reset();
    node.state_machine.reset();
    node.fs->Crash();
  }

  bool Up(NodeId id) const { return nodes_.at(id).replica != nullptr; }
  Replica& replica(NodeId id) { return *nodes_.at(id).replica; }
  SimFileSystem& fs(NodeId id) { return *nodes_.at(id).fs; }
  const std::vector<std::string>& commands(NodeId id) const { return nodes_.at(id).state_machine->commands; }

  // One tick of time: poll everyone, deliver every message (to live nodes; others lose it).
  void Step() {
    clock_.Advance(kTick);
    for (auto& [id, node] : nodes_) {
      if (node.replica) node.replica->Poll();
    }
    for (int delivered = 0; !queue_.empty() && delivered < 100000; ++delivered) {
      raftpb::Message message = std::move(queue_.front());
      queue_.pop_front();
      Node& target = nodes_[message.to()];
      if (target.replica && !cut_.contains(message.to()) && !cut_.contains(message.from())) {
        target.replica->OnMessage(FromProto(message));
        target.replica->Poll();  // as an event loop does after each input
      }
    }
    // The Raft safety checkers after every step, over the replicas' cores.
    std::vector<const Raft*> live;
    for (auto& [id, node] : nodes_) {
      if (node.replica && node.replica->failed().ok()) live.push_back(&node.replica->raft());
    }
    const absl::Status status = checker_.Observe(live, /*thorough=*/true);
    ASSERT_TRUE(status.ok()) << status;
  }

  // A stalled replica's core is frozen (Replica::storage_stalled): its role is stale.
  NodeId Leader() const {
    for (const auto& [id, node] : nodes_) {
      if (node.replica && node.replica->failed().ok() && node.replica->storage_stalled().ok() &&
          node.replica->raft().role() == Role::kLeader) {
        return id;
      }
    }
    return kNoNode;
  }

  NodeId RunUntilLeader(int max_steps = 500) {
    for (int i = 0; i < max_steps; ++i) {
      if (NodeId leader = Leader(); leader != kNoNode) return leader;
      Step();
    }
    return kNoNode;
  }

  // Proposes `commands` on the current leader and runs until each is acknowledged (retrying
  // on leader changes). Returns the acknowledged commands in order.
  std::vector<std::string> ProposeAll(const std::vector<std::string>& commands) {
    std::vector<std::string> acknowledged;
    for (const std::string& command : commands) {
      for (int attempt = 0; attempt < 20; ++attempt) {
        const NodeId leader = RunUntilLeader();
        if (leader == kNoNode) break;
        bool done = false;
        bool ok = false;
        auto position = replica(leader).Propose(command, [&](absl::StatusOr<std::string> result) {
          done = true;
          ok = result.ok() && *result == absl::StrCat("applied:", command);
        });
        ++attempts_;
        if (!position.ok()) continue;
        for (int i = 0; i < 200 && !done; ++i) Step();
        if (done && ok) {
          acknowledged.push_back(command);
          break;
        }
      }
    }
    return acknowledged;
  }

  // Proposals made, counting retries.
  int attempts() const { return attempts_; }
  void Isolate(NodeId id) { cut_.insert(id); }
  std::vector<raftpb::Message>& sent() { return sent_; }
  void Heal() { cut_.clear(); }

 private:
  struct Node {
    std::unique_ptr<SimFileSystem> fs;
    std::unique_ptr<DurableStorage> storage;
    std::unique_ptr<ListStateMachine> state_machine;
    std::unique_ptr<QueueTransport> transport;
    std::unique_ptr<Replica> replica;
  };
  uint64_t snapshot_every_;
  uint64_t restarts_ = 0;
  int attempts_ = 0;
  ManualClock clock_;
  std::deque<raftpb::Message> queue_;
  std::vector<raftpb::Message> sent_;
  std::map<NodeId, Node> nodes_;
  std::set<NodeId> cut_;
  ClusterSafetyChecker checker_;
};

std::vector<std::string> Commands(const std::string& prefix, int count) {
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) out.push_back(absl::StrCat(prefix, i));
  return out;
}

// Every live node applied the same commands, and every acknowledged command is among them in
// acknowledgement order. (A retried proposal whose first attempt also committed appears twice:
// without client sessions Raft gives at-least-once; kvstate's sessions make it exactly-once.)
void ExpectAllApplied(ReplicaCluster& cluster, const std::vector<std::string>& acknowledged) {
  const std::vector<std::string>* reference = nullptr;
  for (NodeId id = 1; id <= 3; ++id) {
    if (!cluster.Up(id)) continue;
    if (reference == nullptr) {
      reference = &cluster.commands(id);
    } else {
      EXPECT_EQ(cluster.commands(id), *reference) << "node " << id << " diverged";
    }
  }
  ASSERT_NE(reference, nullptr);
  size_t next = 0;
  for (const std::string& command : *reference) {
    if (next < acknowledged.size() && command == acknowledged[next]) ++next;
  }
  EXPECT_EQ(next, acknowledged.size()) << "acknowledged command '" << acknowledged[next]
                                       << "' is missing or out of order";
}

TEST(ReplicaTest, ElectsReplicatesAndApplies) {
  ReplicaCluster cluster(/*snapshot_every=*/0);
  ASSERT_NE(cluster.RunUntilLeader(), kNoNode);
  const std::vector<std::string> acknowledged = cluster.ProposeAll(Commands("a", 20));
  ASSERT_EQ(acknowledged.size(), 20u);
  EXPECT_EQ(cluster.attempts(), 20) << "no faults: every proposal must succeed first time";
  for (int i = 0; i < 5; ++i) cluster.Step();
  for (NodeId id = 1; id <= 3; ++id) EXPECT_EQ(cluster.commands(id), acknowledged) << "node " << id;
}

TEST(ReplicaTest, FollowerCrashAndRestartLosesNothing) {
  ReplicaCluster cluster(/*snapshot_every=*/0);
  const NodeId leader = cluster.RunUntilLeader();
  ASSERT_NE(leader, kNoNode);
  std::vector<std::string> acknowledged = cluster.ProposeAll(Commands("a", 10));
  const NodeId follower = leader == 1 ? 2 : 1;
  cluster.Crash(follower);
  for (const std::string& c : cluster.ProposeAll(Commands("b", 10))) acknowledged.push_back(c);
  cluster.Start(follower);
  for (int i = 0; i < 50; ++i) cluster.Step();
  ASSERT_EQ(acknowledged.size(), 20u);
  ExpectAllApplied(cluster, acknowledged);
}

TEST(ReplicaTest, LeaderCrashFailsOverAndLosesNothingAcknowledged) {
  ReplicaCluster cluster(/*snapshot_every=*/0);
  const NodeId old_leader = cluster.RunUntilLeader();
  ASSERT_NE(old_leader, kNoNode);
  std::vector<std::string> acknowledged = cluster.ProposeAll(Commands("a", 15));
  cluster.Crash(old_leader);
  const NodeId new_leader = cluster.RunUntilLeader();
  ASSERT_NE(new_leader, kNoNode);
  EXPECT_NE(new_leader, old_leader);
  for (const std::string& c : cluster.ProposeAll(Commands("b", 15))) acknowledged.push_back(c);
  cluster.Start(old_leader);
  for (int i = 0; i < 80; ++i) cluster.Step();
  ASSERT_EQ(acknowledged.size(), 30u);
  ExpectAllApplied(cluster, acknowledged);
}

TEST(ReplicaTest, SnapshotsCompactAndCatchUpALaggingFollower) {
  ReplicaCluster cluster(/*snapshot_every=*/8);
  const NodeId leader = cluster.RunUntilLeader();
  ASSERT_NE(leader, kNoNode);
  const NodeId lagging = leader == 3 ? 2 : 3;
  std::vector<std::string> acknowledged = cluster.ProposeAll(Commands("a", 5));
  cluster.Isolate(lagging);
  for (const std::string& c : cluster.ProposeAll(Commands("b", 40))) acknowledged.push_back(c);
  // The leader compacted past what the lagging follower has: it must get a snapshot.
  EXPECT_GT(cluster.replica(cluster.Leader()).raft().log().FirstIndex(),
            cluster.replica(lagging).raft().log().LastIndex() + 1);
  cluster.Heal();
  for (int i = 0; i < 100; ++i) cluster.Step();
  ASSERT_EQ(acknowledged.size(), 45u);
  ExpectAllApplied(cluster, acknowledged);
  // Restart from the snapshot plus the log suffix.
  cluster.Crash(lagging);
  cluster.Start(lagging);
  for (int i = 0; i < 20; ++i) cluster.Step();
  ExpectAllApplied(cluster, acknowledged);
}

TEST(ReplicaTest, FsyncFailureStopsTheNodeAndTheClusterCarriesOn) {
  ReplicaCluster cluster(/*snapshot_every=*/0);
  const NodeId leader = cluster.RunUntilLeader();
  ASSERT_NE(leader, kNoNode);
  std::vector<std::string> acknowledged = cluster.ProposeAll(Commands("a", 5));
  const NodeId victim = leader == 1 ? 2 : 1;
  cluster.fs(victim).faults().sync_failure_probability = 1.0;
  for (const std::string& c : cluster.ProposeAll(Commands("b", 5))) acknowledged.push_back(c);
  EXPECT_FALSE(cluster.replica(victim).failed().ok());
  EXPECT_EQ(cluster.replica(victim).failed().code(), absl::StatusCode::kDataLoss);
  ASSERT_EQ(acknowledged.size(), 10u);
  // The stopped node refuses to act; the other two have everything.
  EXPECT_FALSE(cluster.replica(victim).Propose("x", [](absl::StatusOr<std::string>) {}).ok());
  for (NodeId id = 1; id <= 3; ++id) {
    if (id != victim) {
      EXPECT_EQ(cluster.commands(id), acknowledged) << "node " << id;
    }
  }
  // After the operator replaces the disk fault and restarts it, it catches up from its WAL.
  cluster.Crash(victim);
  cluster.fs(victim).faults().sync_failure_probability = 0;
  cluster.Start(victim);
  for (int i = 0; i < 50; ++i) cluster.Step();
  ExpectAllApplied(cluster, acknowledged);
}

TEST(ReplicaTest, RepeatedRandomCrashesNeverLoseAcknowledgedCommands) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    ReplicaCluster cluster(/*snapshot_every=*/seed % 2 == 0 ? 6 : 0);
    Prng prng(seed);
    std::vector<std::string> acknowledged;
    for (int round = 0; round < 8; ++round) {
      for (const std::string& c : cluster.ProposeAll(Commands(absl::StrCat("r", round, "-"), 4))) {
        acknowledged.push_back(c);
      }
      const NodeId victim = 1 + prng.Uniform(3);
      cluster.Crash(victim);
      for (int i = 0; i < static_cast<int>(prng.Uniform(30)); ++i) cluster.Step();
      cluster.Start(victim);
    }
    for (int i = 0; i < 100; ++i) cluster.Step();
    ASSERT_EQ(acknowledged.size(), 32u) << "seed " << seed;
    ExpectAllApplied(cluster, acknowledged);
  }
}

// --- a full disk (issue #12): the node stalls instead of stopping, and resumes ---

// Messages `from` sent since `since` (an index into sent()) that promise durable state the
// node did not have when its disk filled: acks of entries past `durable_last`, granted votes,
// and vote requests (a candidate's vote for itself).
int DurablePromises(ReplicaCluster& cluster, NodeId from, size_t since, Index durable_last) {
  int count = 0;
  for (size_t i = since; i < cluster.sent().size(); ++i) {
    const raftpb::Message& m = cluster.sent()[i];
    if (m.from() != from) continue;
    if ((m.type() == raftpb::MSG_APPEND_RESP && !m.reject() && m.index() > durable_last) ||
        (m.type() == raftpb::MSG_VOTE_RESP && !m.reject()) || m.type() == raftpb::MSG_VOTE) {
      ++count;
    }
  }
  return count;
}

TEST(ReplicaDiskFullTest, AFollowerWithAFullDiskStallsRefusesProposalsAndCatchesUpWhenSpaceReturns) {
  ReplicaCluster cluster(/*snapshot_every=*/0);
  const NodeId leader = cluster.RunUntilLeader();
  ASSERT_NE(leader, kNoNode);
  std::vector<std::string> acknowledged = cluster.ProposeAll(Commands("a", 5));
  const NodeId full = leader == 1 ? 2 : 1;
  const Index durable_last = cluster.replica(full).raft().log().LastIndex();
  const size_t mark = cluster.sent().size();
  cluster.fs(full).faults().capacity_bytes = 0;
  // The other two carry on.
  for (const std::string& c : cluster.ProposeAll(Commands("b", 10))) acknowledged.push_back(c);
  ASSERT_EQ(acknowledged.size(), 15u);
  Replica& stalled = cluster.replica(full);
  EXPECT_TRUE(stalled.failed().ok()) << stalled.failed();
  EXPECT_EQ(stalled.storage_stalled().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(stalled.storage_stalled().message(), "disk full")) << stalled.storage_stalled();
  EXPECT_EQ(stalled.storage_stalls(), 1u);
  absl::StatusOr<LogPosition> refused = stalled.Propose("x", [](absl::StatusOr<std::string>) {});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(DurablePromises(cluster, full, mark, durable_last), 0) << "it acked what it did not write";
  EXPECT_LT(cluster.commands(full).size(), 15u);
  // Space returns: it persists the held Ready and catches up.
  cluster.fs(full).faults().capacity_bytes = UINT64_MAX;
  for (int i = 0; i < 60; ++i) cluster.Step();
  EXPECT_TRUE(stalled.storage_stalled().ok()) << stalled.storage_stalled();
  EXPECT_TRUE(stalled.failed().ok()) << stalled.failed();
  EXPECT_EQ(stalled.storage_recoveries(), 1u);
  EXPECT_EQ(stalled.raft().log().committed(), cluster.replica(leader).raft().log().committed());
  ExpectAllApplied(cluster, acknowledged);
  EXPECT_EQ(cluster.commands(full), cluster.commands(leader));
  // And what it wrote survives a restart.
  cluster.Crash(full);
  cluster.Start(full);
  for (int i = 0; i < 20; ++i) cluster.Step();
  ExpectAllApplied(cluster, acknowledged);
}

TEST(ReplicaDiskFullTest, ALeaderWithAFullDiskLosesLeadershipAndNoAcknowledgedWriteIsLost) {
  ReplicaCluster cluster(/*snapshot_every=*/0);
  const NodeId old_leader = cluster.RunUntilLeader();
  ASSERT_NE(old_leader, kNoNode);
  std::vector<std::string> acknowledged = cluster.ProposeAll(Commands("a", 5));
  cluster.fs(old_leader).faults().capacity_bytes = 0;
  // In flight when the disk filled: its appends leave before the leader's own write fails
  // (§10.2.1), so the other two may commit it without the leader.
  bool done = false;
  absl::StatusOr<std::string> result;
  ASSERT_TRUE(cluster.replica(old_leader).Propose("p", [&](absl::StatusOr<std::string> r) {
    done = true;
    result = std::move(r);
  }).ok());
  cluster.Step();
  EXPECT_FALSE(cluster.replica(old_leader).storage_stalled().ok());
  const NodeId new_leader = cluster.RunUntilLeader();
  ASSERT_NE(new_leader, kNoNode) << "nobody took over from the stalled leader";
  EXPECT_NE(new_leader, old_leader);
  EXPECT_FALSE(cluster.replica(old_leader).storage_stalled().ok()) << "space came back by itself?";
  for (const std::string& c : cluster.ProposeAll(Commands("b", 10))) acknowledged.push_back(c);
  ASSERT_EQ(acknowledged.size(), 15u);
  cluster.fs(old_leader).faults().capacity_bytes = UINT64_MAX;
  for (int i = 0; i < 100; ++i) cluster.Step();
  EXPECT_TRUE(cluster.replica(old_leader).failed().ok());
  EXPECT_TRUE(cluster.replica(old_leader).storage_stalled().ok());
  EXPECT_NE(cluster.replica(old_leader).raft().role(), Role::kLeader);
  ExpectAllApplied(cluster, acknowledged);
  ASSERT_TRUE(done) << "the proposal made before the disk filled was never answered";
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, "applied:p") << "the new leader committed it: the old one learns so";
  EXPECT_EQ(std::count(cluster.commands(new_leader).begin(), cluster.commands(new_leader).end(), "p"), 1);
}

// Committed entries are applied, and their clients answered, before the persist of the Ready
// that carries them (engine/ready.h step 4): a leader whose disk fills right then has answered
// already, and applies the entry exactly once when the held Ready is finally persisted.
TEST(ReplicaDiskFullTest, ACommittedEntryIsAnsweredBeforeThePersistAndAppliedOnceAfterAStall) {
  ReplicaCluster cluster(/*snapshot_every=*/0);
  const NodeId leader = cluster.RunUntilLeader();
  ASSERT_NE(leader, kNoNode);
  std::vector<std::string> acknowledged = cluster.ProposeAll(Commands("a", 3));
  bool done = false;
  absl::StatusOr<std::string> result;
  ASSERT_TRUE(cluster.replica(leader).Propose("p", [&](absl::StatusOr<std::string> r) {
    done = true;
    result = std::move(r);
  }).ok());
  cluster.replica(leader).Poll();  // p is durable on the leader; its appends are queued
  cluster.fs(leader).faults().capacity_bytes = 0;
  cluster.Step();  // the acks commit p: the leader's next Ready carries it and cannot persist
  EXPECT_FALSE(cluster.replica(leader).storage_stalled().ok()) << "the Ready that committed p was persisted";
  ASSERT_TRUE(done) << "p was committed but its client waits for the leader's own write";
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, "applied:p");
  const std::vector<std::string>& applied = cluster.commands(leader);
  EXPECT_EQ(std::count(applied.begin(), applied.end(), "p"), 1);
  acknowledged.push_back("p");
  cluster.fs(leader).faults().capacity_bytes = UINT64_MAX;
  for (int i = 0; i < 60; ++i) cluster.Step();
  EXPECT_TRUE(cluster.replica(leader).storage_stalled().ok());
  ExpectAllApplied(cluster, acknowledged);
  for (NodeId id = 1; id <= 3; ++id) {
    EXPECT_EQ(std::count(cluster.commands(id).begin(), cluster.commands(id).end(), "p"), 1) << "node " << id;
  }
}

TEST(ReplicaDiskFullTest, NoLeaderIsElectedOnAVoteThatANodeWithAFullDiskCouldNotPersist) {
  ReplicaCluster cluster(/*snapshot_every=*/0);
  const NodeId leader = cluster.RunUntilLeader();
  ASSERT_NE(leader, kNoNode);
  std::vector<std::string> acknowledged = cluster.ProposeAll(Commands("a", 3));
  const NodeId full = leader == 1 ? 2 : 1;
  const NodeId other = 6 - leader - full;
  const Index durable_last = cluster.replica(full).raft().log().LastIndex();
  cluster.fs(full).faults().capacity_bytes = 0;
  cluster.Isolate(leader);  // the other two must elect, and one of them cannot persist a vote
  const size_t mark = cluster.sent().size();
  for (int i = 0; i < 300; ++i) {
    cluster.Step();
    ASSERT_NE(cluster.replica(other).raft().role(), Role::kLeader) << "won without a durable vote, step " << i;
    ASSERT_NE(cluster.replica(full).raft().role(), Role::kLeader) << "step " << i;
  }
  EXPECT_FALSE(cluster.replica(full).storage_stalled().ok());
  EXPECT_EQ(DurablePromises(cluster, full, mark, durable_last), 0);
  cluster.fs(full).faults().capacity_bytes = UINT64_MAX;
  const NodeId new_leader = cluster.RunUntilLeader();
  ASSERT_TRUE(new_leader == full || new_leader == other) << new_leader;
  for (const std::string& c : cluster.ProposeAll(Commands("b", 3))) acknowledged.push_back(c);
  cluster.Heal();
  for (int i = 0; i < 60; ++i) cluster.Step();
  ASSERT_EQ(acknowledged.size(), 6u);
  ExpectAllApplied(cluster, acknowledged);
}

}  // namespace
}  // namespace keel
