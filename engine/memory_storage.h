// An in-memory LogStorage with the mutators an application calls while handling a Ready.
// Used by tests, the benchmark and as the reference the durable storage is compared against.
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "engine/log_storage.h"

namespace keel {

class MemoryStorage final : public LogStorage {
 public:
  // A fresh node of a cluster whose initial voting members are `voters`.
  explicit MemoryStorage(std::vector<NodeId> voters);

  raftpb::HardState InitialHardState() const override { return hard_state_; }
  raftpb::ConfState InitialConfState() const override { return snapshot_meta_.conf_state(); }
  Index FirstIndex() const override { return snapshot_meta_.index() + 1; }
  Index LastIndex() const override { return snapshot_meta_.index() + entries_.size(); }
  absl::StatusOr<Term> TermAt(Index index) const override;
  absl::Status Entries(Index lo, Index hi, uint64_t max_bytes,
                       std::vector<Entry>* out) const override;
  raftpb::SnapshotMeta SnapshotMetadata() const override { return snapshot_meta_; }
  absl::StatusOr<std::string> ReadSnapshotChunk(const raftpb::SnapshotMeta& meta, uint64_t offset,
                                                uint64_t max_bytes) const override;

  // Persists entries: stored entries at or after entries.front().index are replaced.
  // Precondition: entries are contiguous and entries.front().index <= LastIndex() + 1 and is
  // above the snapshot.
  void Append(const std::vector<Entry>& entries);
  void SetHardState(const raftpb::HardState& hard_state) { hard_state_ = hard_state; }
  // Installs a snapshot received from the leader: replaces the whole log.
  void ApplySnapshot(const raftpb::SnapshotMeta& meta, std::string data);
  // Records a snapshot the application took at `index` (<= LastIndex()) and discards the log up
  // to and including it. Returns false (and changes nothing) if index <= the current snapshot.
  bool CreateSnapshot(Index index, const raftpb::ConfState& conf_state, std::string data);
  const std::string& snapshot_data() const { return snapshot_data_; }

 private:
  const Entry& At(Index index) const;

  raftpb::HardState hard_state_;
  raftpb::SnapshotMeta snapshot_meta_;
  std::string snapshot_data_;
  std::deque<Entry> entries_;  // entries_[i].index() == snapshot index + 1 + i
};

}  // namespace keel
