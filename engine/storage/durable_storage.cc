#include "engine/storage/durable_storage.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/assert.h"

namespace keel {
namespace {

// Only a write undone because the disk was full may say kResourceExhausted (durable_storage.h).
absl::Status NotRetryable(const absl::Status& status) {
  if (!absl::IsResourceExhausted(status)) return status;
  return absl::InternalError(status.message());
}

}  // namespace

absl::StatusOr<std::unique_ptr<DurableStorage>> DurableStorage::Open(FileSystem& fs, const std::string& dir,
                                                                     const std::vector<NodeId>& voters,
                                                                     const StorageOptions& options) {
  std::unique_ptr<DurableStorage> storage(new DurableStorage());
  absl::StatusOr<std::unique_ptr<SnapshotStore>> snapshots = SnapshotStore::Open(fs, JoinPath(dir, "snap"));
  if (!snapshots.ok()) return snapshots.status();
  storage->snapshots_ = std::move(*snapshots);
  raftpb::ConfState bootstrap;
  std::vector<NodeId> sorted = voters;
  std::sort(sorted.begin(), sorted.end());
  for (NodeId id : sorted) bootstrap.add_voters(id);
  absl::StatusOr<std::unique_ptr<Wal>> wal = Wal::Open(fs, JoinPath(dir, "wal"), options.wal, bootstrap);
  if (!wal.ok()) return wal.status();
  storage->wal_ = std::move(*wal);
  const raftpb::SnapshotMeta& meta = storage->snapshots_->meta();
  if (absl::Status status = storage->wal_->ReconcileWithSnapshot(meta.index(), meta.term()); !status.ok()) {
    return status;
  }
  if (storage->wal_->hard_state().commit() > storage->wal_->last_index()) {
    // Every hard state follows the entries of its batch, and a torn batch keeps a prefix: a
    // commit index past the log (and the snapshot) means acknowledged records are gone.
    return absl::DataLossError(absl::StrCat("wal ", JoinPath(dir, "wal"), ": commit index ",
                                            storage->wal_->hard_state().commit(), " is past the last entry ",
                                            storage->wal_->last_index(), " (entries it covers are missing)"));
  }
  return storage;
}

raftpb::ConfState DurableStorage::InitialConfState() const {
  if (snapshots_->meta().index() > 0) return snapshots_->meta().conf_state();
  return wal_->bootstrap_conf();
}

absl::StatusOr<Term> DurableStorage::TermAt(Index index) const {
  if (index < wal_->base_index()) return CompactedError(index);
  if (index > wal_->last_index()) return UnavailableError(index);
  return *wal_->TermAt(index);
}

absl::Status DurableStorage::Terms(Index lo, Index hi, Term* out) const {
  if (lo >= hi) return absl::OkStatus();
  if (lo < wal_->base_index()) return CompactedError(lo);
  if (hi - 1 > wal_->last_index()) return UnavailableError(std::max(lo, wal_->last_index() + 1));
  wal_->Terms(lo, hi, out);
  return absl::OkStatus();
}

absl::Status DurableStorage::Entries(Index lo, Index hi, uint64_t max_bytes,
                                     std::vector<Entry>* out) const {
  if (lo <= wal_->base_index()) return CompactedError(lo);
  if (hi > wal_->last_index() + 1) return UnavailableError(hi - 1);
  return wal_->ReadEntries(lo, hi, max_bytes, out);
}

absl::StatusOr<std::string> DurableStorage::ReadSnapshotChunk(const raftpb::SnapshotMeta& meta, uint64_t offset,
                                                              uint64_t max_bytes) const {
  if (meta.index() != snapshots_->meta().index() || meta.term() != snapshots_->meta().term()) {
    return absl::OutOfRangeError("snapshot was replaced by a newer one");
  }
  if (offset == 0) {
    absl::StatusOr<std::string> all = snapshots_->ReadAllData();  // verified
    if (!all.ok()) return all.status();
    all->resize(std::min<uint64_t>(all->size(), max_bytes));
    return all;
  }
  return snapshots_->ReadData(offset, max_bytes);
}

absl::Status DurableStorage::SaveReady(const Ready& ready) {
  std::optional<walpb::LogReset> reset;
  if (ready.snapshot) {
    const raftpb::SnapshotMeta& meta = ready.snapshot->meta;
    // A retry of a Ready whose WAL batch found the disk full: its snapshot is already saved
    // (a crash here is the one ReconcileWithSnapshot repairs: snapshot saved, reset not logged).
    const bool saved = snapshots_->meta().index() == meta.index() && snapshots_->meta().term() == meta.term();
    if (!saved) {
      if (absl::Status status = snapshots_->Save(meta, ready.snapshot->data); !status.ok()) return status;
    }
    reset.emplace();
    reset->set_index(meta.index());
    reset->set_term(meta.term());
  }
  const raftpb::HardState* hard_state = ready.hard_state ? &*ready.hard_state : nullptr;
  if (absl::Status status = wal_->Write(reset, ready.entries, hard_state, ready.MustSync()); !status.ok()) return status;
  KEEL_ASSERT(wal_->poisoned().ok());
  if (!ready.entries.empty()) KEEL_ASSERT(wal_->last_index() == ready.entries.back().index());
  if (ready.hard_state) {
    KEEL_ASSERT(wal_->hard_state().term() == ready.hard_state->term() &&
                wal_->hard_state().vote() == ready.hard_state->vote() &&
                wal_->hard_state().commit() == ready.hard_state->commit());
  }
  if (ready.snapshot) {
    // Segments holding only entries the snapshot replaced can go. The batch is durable: a
    // failure now must not read as "retry the Ready" (kResourceExhausted).
    return NotRetryable(wal_->CompactTo(ready.snapshot->meta.index(), ready.snapshot->meta.term()));
  }
  return absl::OkStatus();
}

absl::Status DurableStorage::CreateSnapshot(Index index, const raftpb::ConfState& conf_state,
                                            const std::string& data) {
  if (index <= snapshots_->meta().index()) return absl::OkStatus();
  if (index <= wal_->base_index() || index > wal_->last_index()) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot index ", index, " outside the log (",
                                                   wal_->base_index(), ", ", wal_->last_index(), "]"));
  }
  raftpb::SnapshotMeta meta;
  meta.set_index(index);
  meta.set_term(*wal_->TermAt(index));
  *meta.mutable_conf_state() = conf_state;
  if (absl::Status status = snapshots_->Save(meta, data); !status.ok()) return status;
  return NotRetryable(wal_->CompactTo(index, meta.term()));
}

}  // namespace keel
