// The core's output: everything the application must do, batched. The core is sans-IO; the
// application (engine/replica, the simulator, the tests) carries this out and then calls
// Raft::Advance(). The order below is the persistence contract:
//
//   1. If `snapshot` is set: persist it and restore the state machine from it (the log before
//      and including snapshot->meta.index() is replaced).
//   2. Persist `entries` (first discarding any stored entries at or after
//      entries.front().index()) and `hard_state` if set. If MustSync(), both must be durable
//      (fsynced) before step 3; entries and hard state may be written in one batch (one fsync).
//      A hard state that only moved the commit index need not be synced (MustSync() is false
//      for it): the commit index is volatile state in Raft (Figure 2), and a node that loses
//      the increase to a crash learns it again from the leader. Storage syncs it with the next
//      batch that must be durable. This takes one fsync off every commit's path on the leader.
//   3. Send `messages_after_persist` (votes, append acks: they promise durable state).
//   `messages` may be sent at any time, before or in parallel with step 2: they depend on
//   nothing this Ready persists (a leader's appends to followers; dissertation §10.2.1).
//   4. Apply `committed_entries` in order (they are committed: durable on a quorum). Unless
//      `snapshot` is set, this may happen before step 2: whether this node has written them
//      changes nothing about their being committed (Raft §3.5; etcd's server applies in
//      parallel with its WAL write too). The replica does so, to answer clients without
//      waiting for the fsync of the entries proposed since.
//   5. Serve `read_states` once the state machine has applied read_state.index.
//   6. Call Raft::Advance(ready).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/entry.h"
#include "engine/message.h"
#include "engine/raft.pb.h"
#include "absl/strings/string_view.h"
#include "engine/types.h"

namespace keel {

enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };
absl::string_view ToString(Role role);

// A linearizable read may be served once the state machine has applied `index`
// (dissertation §6.4). `context` identifies the request that asked for it.
struct ReadState {
  Index index = 0;
  std::string context;
  bool lease = false;  // confirmed by the leader's lease, without a heartbeat round
};

struct SnapshotToInstall {
  raftpb::SnapshotMeta meta;
  std::string data;
};

struct Ready {
  // Changes of role or leader since the previous Ready (informational).
  bool soft_state_changed = false;
  Role role = Role::kFollower;
  NodeId leader = kNoNode;

  std::optional<raftpb::HardState> hard_state;
  // Set by the core when hard_state differs from the last one only in its commit index: then
  // it need not be synced (step 2). False (sync) by default: a term or vote must be durable
  // before messages_after_persist leave.
  bool hard_state_commit_only = false;
  std::optional<SnapshotToInstall> snapshot;
  std::vector<Entry> entries;
  std::vector<Message> messages;
  std::vector<Message> messages_after_persist;
  std::vector<Entry> committed_entries;
  std::vector<ReadState> read_states;

  // True if step 2 has anything that must be durable (fsynced) before step 3.
  bool MustSync() const {
    return (hard_state.has_value() && !hard_state_commit_only) || snapshot.has_value() || !entries.empty();
  }
};

}  // namespace keel
