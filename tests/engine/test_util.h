// Helpers shared by the engine unit tests (tests/engine/*_test.cc): a single core over a
// MemoryStorage driven by hand-crafted messages, and a few Cluster conveniences.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/crc32c.h"
#include "sim/invariants.h"
#include "engine/memory_storage.h"
#include "engine/raft.h"
#include "gtest/gtest.h"
#include "tests/harness/cluster.h"

namespace keel::testing {

inline Entry MakeEntry(Index index, Term term, std::string data = "",
                               raftpb::EntryType type = raftpb::ENTRY_NORMAL) {
  Entry entry;
  entry.set_index(index);
  entry.set_term(term);
  entry.set_type(type);
  entry.set_data(std::move(data));
  return entry;
}

// Entries 1..terms.size(), entry i having term terms[i-1].
inline std::vector<Entry> EntriesWithTerms(const std::vector<Term>& terms) {
  std::vector<Entry> entries;
  for (size_t i = 0; i < terms.size(); ++i) {
    entries.push_back(MakeEntry(i + 1, terms[i], absl::StrCat("e", i + 1)));
  }
  return entries;
}

inline raftpb::Message MakeMessage(raftpb::MessageType type, NodeId from, NodeId to, Term term) {
  raftpb::Message message;
  message.set_type(type);
  message.set_from(from);
  message.set_to(to);
  message.set_term(term);
  return message;
}

inline raftpb::Message MakeAppend(NodeId from, NodeId to, Term term, Index prev_index,
                                  Term prev_term, Index commit,
                                  const std::vector<Entry>& entries) {
  raftpb::Message message = MakeMessage(raftpb::MSG_APPEND, from, to, term);
  message.set_index(prev_index);
  message.set_log_term(prev_term);
  message.set_commit(commit);
  for (const Entry& entry : entries) ToProto(entry, message.add_entries());
  return message;
}

inline raftpb::Message MakeVote(raftpb::MessageType type, NodeId from, NodeId to, Term term,
                                Index last_index, Term last_term) {
  raftpb::Message message = MakeMessage(type, from, to, term);
  message.set_index(last_index);
  message.set_log_term(last_term);
  return message;
}

inline raftpb::SnapshotMeta MakeSnapshotMeta(Index index, Term term, const std::vector<NodeId>& voters,
                                             const std::string& data) {
  raftpb::SnapshotMeta meta;
  meta.set_index(index);
  meta.set_term(term);
  for (NodeId voter : voters) meta.mutable_conf_state()->add_voters(voter);
  meta.set_size(data.size());
  meta.set_crc32c(Crc32c(data));
  return meta;
}

inline raftpb::Message MakeSnapshotChunk(NodeId from, NodeId to, Term term,
                                         const raftpb::SnapshotMeta& meta, uint64_t offset,
                                         const std::string& chunk) {
  raftpb::Message message = MakeMessage(raftpb::MSG_SNAPSHOT, from, to, term);
  *message.mutable_snapshot() = meta;
  message.set_snapshot_offset(offset);
  message.set_snapshot_data(chunk);
  message.set_snapshot_done(offset + chunk.size() == meta.size());
  return message;
}

struct NodeOptions {
  std::vector<NodeId> voters = {1, 2, 3};
  std::vector<Entry> entries;  // initial durable log (starting at index 1)
  Term term = 0;
  NodeId vote = kNoNode;
  Index commit = 0;
  bool pre_vote = true;
  bool check_quorum = true;
  bool read_only_lease = false;
  int max_clock_drift_ticks = 1;
  int election_tick = 10;
  int heartbeat_tick = 1;
  uint64_t max_msg_bytes = 1 << 20;
  size_t max_inflight_msgs = 256;
  uint64_t max_inflight_bytes = 64ULL << 20;
  uint64_t max_snapshot_chunk_bytes = 1 << 20;
  uint64_t max_committed_bytes_per_ready = 64ULL << 20;
  uint64_t seed = 7;
};

inline Config MakeConfig(NodeId id, const NodeOptions& options) {
  Config config;
  config.id = id;
  config.election_tick = options.election_tick;
  config.heartbeat_tick = options.heartbeat_tick;
  config.pre_vote = options.pre_vote;
  config.check_quorum = options.check_quorum;
  config.read_only_lease = options.read_only_lease;
  config.max_clock_drift_ticks = options.max_clock_drift_ticks;
  config.max_msg_bytes = options.max_msg_bytes;
  config.max_inflight_msgs = options.max_inflight_msgs;
  config.max_inflight_bytes = options.max_inflight_bytes;
  config.max_snapshot_chunk_bytes = options.max_snapshot_chunk_bytes;
  config.max_committed_bytes_per_ready = options.max_committed_bytes_per_ready;
  config.seed = options.seed;
  return config;
}

// One core over its own MemoryStorage, driven directly by a test.
class TestNode {
 public:
  TestNode(NodeId id, const NodeOptions& options) : id_(id), options_(options) {
    storage_ = std::make_unique<MemoryStorage>(options.voters);
    storage_->Append(options.entries);
    raftpb::HardState hard_state;
    hard_state.set_term(options.term);
    hard_state.set_vote(options.vote);
    hard_state.set_commit(options.commit);
    storage_->SetHardState(hard_state);
    Start();
  }

  Raft& raft() { return *raft_; }
  const Raft& raft() const { return *raft_; }
  MemoryStorage& storage() { return *storage_; }
  Raft* operator->() { return raft_.get(); }

  // Recreates the core from what is durable (a crash and restart).
  void Restart() {
    raft_.reset();
    Start();
  }

  // Takes a Ready, persists it to the storage as ready.h says, advances, and returns it.
  // Returns an empty Ready if there was none.
  Ready Process() {
    if (!raft_->HasReady()) return Ready{};
    Ready ready = raft_->GetReady();
    if (ready.snapshot) storage_->ApplySnapshot(ready.snapshot->meta, ready.snapshot->data);
    storage_->Append(ready.entries);
    if (ready.hard_state) storage_->SetHardState(*ready.hard_state);
    for (const Entry& entry : ready.committed_entries) applied_.push_back(entry);
    raft_->Advance(ready);
    CheckInvariants();
    return ready;
  }

  // The LogCabin-style checker after every state change the test drives through this class.
  void CheckInvariants() const {
    const absl::Status status = CheckNodeInvariants(*raft_);
    EXPECT_TRUE(status.ok()) << status;
  }

  // Processes every pending Ready and returns all messages they contained (both kinds).
  std::vector<raftpb::Message> Drain() {
    std::vector<raftpb::Message> out;
    while (raft_->HasReady()) {
      Ready ready = Process();
      for (const Message& message : ready.messages) out.push_back(ToProto(message));
      for (const Message& message : ready.messages_after_persist) out.push_back(ToProto(message));
    }
    return out;
  }

  absl::Status Step(const raftpb::Message& message) {
    absl::Status status = raft_->Step(message);
    CheckInvariants();
    return status;
  }

  const std::vector<Entry>& applied() const { return applied_; }

 private:
  void Start() {
    absl::StatusOr<std::unique_ptr<Raft>> raft = Raft::Create(MakeConfig(id_, options_), *storage_);
    EXPECT_TRUE(raft.ok()) << raft.status();
    raft_ = std::move(*raft);
    CheckInvariants();
  }

  NodeId id_;
  NodeOptions options_;
  std::unique_ptr<MemoryStorage> storage_;
  std::unique_ptr<Raft> raft_;
  std::vector<Entry> applied_;
};

inline std::vector<raftpb::Message> Filter(const std::vector<raftpb::Message>& messages,
                                           raftpb::MessageType type, NodeId to = kNoNode) {
  std::vector<raftpb::Message> out;
  for (const raftpb::Message& message : messages) {
    if (message.type() == type && (to == kNoNode || message.to() == to)) out.push_back(message);
  }
  return out;
}

inline bool Contains(const std::vector<raftpb::Message>& messages, raftpb::MessageType type) {
  return !Filter(messages, type).empty();
}

// The same for a Ready's messages, as protobuf (entries included).
inline std::vector<raftpb::Message> Filter(const std::vector<Message>& messages, raftpb::MessageType type,
                                           NodeId to = kNoNode) {
  std::vector<raftpb::Message> out;
  for (const Message& message : messages) {
    if (message.header.type() == type && (to == kNoNode || message.header.to() == to)) {
      out.push_back(ToProto(message));
    }
  }
  return out;
}

inline bool Contains(const std::vector<Message>& messages, raftpb::MessageType type) {
  return !Filter(messages, type).empty();
}

// Makes `node` the leader of its term + 1 by granting it (pre-)votes from `granters`, then
// drains its Ready (the no-op is persisted) and returns the messages of that Ready.
inline std::vector<raftpb::Message> BecomeLeaderByVotes(TestNode& node, NodeId self = 1,
                                                        std::vector<NodeId> granters = {2, 3}) {
  node->Campaign();
  node.Drain();
  if (node->role() == Role::kPreCandidate) {
    for (NodeId from : granters) {
      raftpb::Message grant = MakeMessage(raftpb::MSG_PRE_VOTE_RESP, from, self, node->term() + 1);
      EXPECT_TRUE(node.Step(grant).ok());
    }
    node.Drain();
  }
  EXPECT_EQ(node->role(), Role::kCandidate);
  const Term term = node->term();
  for (NodeId from : granters) {
    raftpb::Message grant = MakeMessage(raftpb::MSG_VOTE_RESP, from, self, term);
    EXPECT_TRUE(node.Step(grant).ok());
  }
  EXPECT_EQ(node->role(), Role::kLeader);
  return node.Drain();
}

// --- Cluster helpers ---

// Processes Readys and delivers only queued messages for which `deliver` holds; the others stay
// queued. Runs until nothing more happens.
inline void StabilizeWhere(Cluster& cluster,
                           const std::function<bool(const raftpb::Message&)>& deliver) {
  for (int round = 0; round < 10000; ++round) {
    bool progress = false;
    for (NodeId id : cluster.ids()) progress |= cluster.ProcessReady(id);
    for (size_t i = 0; i < cluster.queue().size();) {
      if (deliver(cluster.queue()[i])) {
        cluster.DeliverAt(i);
        progress = true;
      } else {
        ++i;
      }
    }
    if (!progress) return;
  }
  ADD_FAILURE() << "StabilizeWhere did not settle";
}

// Drops every queued message for which `drop` holds.
inline size_t DropWhere(Cluster& cluster, const std::function<bool(const raftpb::Message&)>& drop) {
  size_t dropped = 0;
  for (size_t i = 0; i < cluster.queue().size();) {
    if (drop(cluster.queue()[i])) {
      cluster.DropAt(i);
      ++dropped;
    } else {
      ++i;
    }
  }
  return dropped;
}

inline size_t CountQueued(const Cluster& cluster,
                          const std::function<bool(const raftpb::Message&)>& pred) {
  size_t count = 0;
  for (const raftpb::Message& message : cluster.queue()) count += pred(message) ? 1 : 0;
  return count;
}

// Campaigns `id` and stabilizes; the caller asserts the outcome.
inline void ElectLeader(Cluster& cluster, NodeId id) {
  cluster.raft(id).Campaign();
  cluster.Stabilize();
}

struct DurableState {
  NodeId id = kNoNode;
  std::vector<Entry> entries;
  Term term = 0;
  NodeId vote = kNoNode;
  Index commit = 0;
};

// Replaces the durable state of the listed nodes (they must be up and have empty logs): all of
// them are crashed, their storages written, then all restarted, so that the harness's
// durability check never sees a half-written cluster.
inline void SetDurableStates(Cluster& cluster, const std::vector<DurableState>& states) {
  for (const DurableState& state : states) cluster.Crash(state.id);
  for (const DurableState& state : states) {
    cluster.storage(state.id).Append(state.entries);
    raftpb::HardState hard_state;
    hard_state.set_term(state.term);
    hard_state.set_vote(state.vote);
    hard_state.set_commit(state.commit);
    cluster.storage(state.id).SetHardState(hard_state);
  }
  for (const DurableState& state : states) cluster.Restart(state.id);
}

}  // namespace keel::testing
