// What a leader knows about one follower's log, and the flow control towards it
// (etcd-io/raft's tracker, dissertation §3.5 / §10.2.1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <deque>
#include <utility>
#include <vector>
#include "absl/strings/string_view.h"

#include "engine/raft.pb.h"
#include "engine/types.h"

namespace keel {

enum class ProgressState {
  kProbe,      // next is a guess: one MSG_APPEND at a time until a reply tells where logs match
  kReplicate,  // logs match up to match: stream entries, pipelined up to the inflight bounds
  kSnapshot,   // the follower needs a compacted prefix: send the snapshot in chunks
};
absl::string_view ToString(ProgressState state);

// MSG_APPENDs sent but not yet acknowledged, bounded in count and bytes.
class Inflights {
 public:
  Inflights(size_t max_count, uint64_t max_bytes) : max_count_(max_count), max_bytes_(max_bytes) {}

  // Records a message whose last entry is `last_index`. Precondition: !Full(), and last_index
  // is above every recorded index.
  void Add(Index last_index, uint64_t bytes);
  // Frees every message whose last index <= index (they were acknowledged).
  void FreeLE(Index index);
  // Frees the oldest message; used when a heartbeat reply shows the follower is alive, so one
  // lost message does not block replication until a timeout.
  void FreeFirstOne();
  void Reset();
  bool Full() const { return messages_.size() >= max_count_ || bytes_ >= max_bytes_; }
  size_t count() const { return messages_.size(); }
  uint64_t bytes() const { return bytes_; }

 private:
  struct Inflight {
    Index last_index;
    uint64_t bytes;
  };
  size_t max_count_;
  uint64_t max_bytes_;
  uint64_t bytes_ = 0;
  std::deque<Inflight> messages_;
};

// A snapshot being streamed to a follower in chunks.
struct SnapshotTransfer {
  raftpb::SnapshotMeta meta;
  uint64_t acked_offset = 0;  // bytes the follower confirmed it holds
  bool chunk_in_flight = false;
  int ticks_since_send = 0;   // resend from acked_offset when no reply arrives for a while
};

class Progress {
 public:
  Progress(Index next, size_t max_inflight_msgs, uint64_t max_inflight_bytes)
      : next_(next), inflights_(max_inflight_msgs, max_inflight_bytes) {}

  Index match() const { return match_; }
  Index next() const { return next_; }
  ProgressState state() const { return state_; }
  bool recent_active() const { return recent_active_; }
  void set_recent_active(bool active) { recent_active_ = active; }
  const Inflights& inflights() const { return inflights_; }
  SnapshotTransfer& snapshot() { return snapshot_; }
  const SnapshotTransfer& snapshot() const { return snapshot_; }

  void BecomeProbe();
  void BecomeReplicate();
  void BecomeSnapshot(const raftpb::SnapshotMeta& meta);

  // An acknowledgement that the follower's log matches up to `index`. Returns false if it is
  // stale (index <= match).
  bool MaybeUpdate(Index index);
  // Records that entries up to last_index were sent (bytes of them): in replicate, next moves
  // optimistically; in probe, the follower is paused until it answers.
  void SentEntries(Index last_index, uint64_t bytes);
  // A rejection of the append at `rejected` with the follower's hint. Returns false if the
  // rejection is stale (does not concern the current next/probe); otherwise moves next back.
  bool MaybeDecreaseTo(Index rejected, Index hint);
  // Messages whose entries end at or below `index` were acknowledged.
  void FreeInflightsUpTo(Index index) { inflights_.FreeLE(index); }
  // The follower answered a heartbeat: unpause a probe, free one inflight slot.
  void OnHeartbeatResponse();
  // Whether nothing more should be sent right now.
  bool IsPaused() const;

 private:
  Index match_ = 0;
  Index next_ = 1;
  ProgressState state_ = ProgressState::kProbe;
  bool probe_sent_ = false;
  bool recent_active_ = false;
  Inflights inflights_;
  SnapshotTransfer snapshot_;
};

// Followers a leader will send appends to at its next Ready, in id order (deterministic), each
// with a flag: send even if there are no new entries (a heartbeat-like probe). A sorted vector,
// not a map: it is cleared every Ready and keeps its memory (a map allocated a node per Ready).
class PendingSends {
 public:
  // Adds `id`; if it is already there, its flag becomes flag || send_if_empty.
  void Mark(NodeId id, bool send_if_empty) {
    auto it = std::lower_bound(items_.begin(), items_.end(), id,
                               [](const std::pair<NodeId, bool>& item, NodeId key) { return item.first < key; });
    if (it != items_.end() && it->first == id) {
      it->second = it->second || send_if_empty;
    } else {
      items_.insert(it, {id, send_if_empty});
    }
  }
  void Erase(NodeId id) {
    std::erase_if(items_, [id](const std::pair<NodeId, bool>& item) { return item.first == id; });
  }
  void Clear() { items_.clear(); }
  bool empty() const { return items_.empty(); }
  std::vector<std::pair<NodeId, bool>>::const_iterator begin() const { return items_.begin(); }
  std::vector<std::pair<NodeId, bool>>::const_iterator end() const { return items_.end(); }

 private:
  std::vector<std::pair<NodeId, bool>> items_;
};

}  // namespace keel
