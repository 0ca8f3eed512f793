// The replica's durable storage: a write-ahead log (engine/storage/wal.h) and snapshot files
// (engine/storage/snapshot_store.h) under one directory, exposed to the Raft core as a
// LogStorage and to the replica through SaveReady()/CreateSnapshot().
//
// Layout: <dir>/wal/*.wal, <dir>/snap/*.snap.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/log_storage.h"
#include "engine/ready.h"
#include "engine/storage/snapshot_store.h"
#include "engine/storage/wal.h"

namespace keel {

struct StorageOptions {
  WalOptions wal;
};

class DurableStorage final : public LogStorage {
 public:
  // Opens (or creates, bootstrapped with `voters`) the storage under `dir` and recovers it.
  // Fails with DataLoss, naming file and offset, if anything but a torn tail is corrupt; the
  // node must then not serve from this log.
  static absl::StatusOr<std::unique_ptr<DurableStorage>> Open(FileSystem& fs, const std::string& dir,
                                                              const std::vector<NodeId>& voters,
                                                              const StorageOptions& options);

  // --- LogStorage ---
  raftpb::HardState InitialHardState() const override { return wal_->hard_state(); }
  raftpb::ConfState InitialConfState() const override;
  Index FirstIndex() const override { return wal_->base_index() + 1; }
  Index LastIndex() const override { return wal_->last_index(); }
  absl::StatusOr<Term> TermAt(Index index) const override;
  absl::Status Terms(Index lo, Index hi, Term* out) const override;
  absl::Status Entries(Index lo, Index hi, uint64_t max_bytes,
                       std::vector<Entry>* out) const override;
  raftpb::SnapshotMeta SnapshotMetadata() const override { return snapshots_->meta(); }
  absl::StatusOr<std::string> ReadSnapshotChunk(const raftpb::SnapshotMeta& meta, uint64_t offset,
                                                uint64_t max_bytes) const override;

  // Makes the durable part of a Ready durable, in the order ready.h prescribes: the snapshot
  // file first, then one WAL batch (log reset, entries, hard state) with a single fsync (none
  // if only the commit index moved: !ready.MustSync()).
  // kResourceExhausted: the disk is full and nothing of the Ready was kept but, possibly, its
  // snapshot file (a retry of the same Ready reuses it): call again with the same Ready once
  // space returns. After any other error the storage is unusable and the node must stop.
  absl::Status SaveReady(const Ready& ready);
  // Stores a snapshot the application took at `index` (<= LastIndex(), applied) and compacts
  // the log up to it. No-op if index <= the current snapshot. kResourceExhausted: the disk is
  // full, nothing changed, try again later; any other error: unusable, stop.
  absl::Status CreateSnapshot(Index index, const raftpb::ConfState& conf_state, const std::string& data);
  // The newest snapshot's data, verified (to restore the state machine at start).
  absl::StatusOr<std::string> SnapshotData() const { return snapshots_->ReadAllData(); }
  const Wal& wal() const { return *wal_; }

 private:
  DurableStorage() = default;
  std::unique_ptr<Wal> wal_;  // pointer: reads are logically const but fill caches
  std::unique_ptr<SnapshotStore> snapshots_;
};

}  // namespace keel
