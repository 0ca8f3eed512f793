// The core's view of the log: the durable part (read through LogStorage) followed by entries
// that exist only in memory until the application persists them ("unstable"), plus a snapshot
// received from the leader that the application has not installed yet.
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "engine/log_storage.h"

namespace keel {

class RaftLog {
 public:
  // Starts from what `storage` holds. `committed` comes from the persisted hard state.
  RaftLog(const LogStorage& storage, Index committed);

  Index FirstIndex() const;
  Index LastIndex() const;
  Term LastTerm() const;
  // Term of entry `index`; nullopt if it was compacted (below FirstIndex() - 1) or is past the
  // end. TermAt(0) == 0.
  std::optional<Term> TermAt(Index index) const;
  // The terms of [lo, hi) into out[0, hi - lo): what TermAt answers for each, in one pass
  // (LogStorage::Terms for the stored part). False if TermAt would answer nullopt for any.
  bool Terms(Index lo, Index hi, Term* out) const;
  bool MatchTerm(Index index, Term term) const;
  // Raft §5.4.1: a candidate's log (last_index, last_term) is at least as up-to-date as ours.
  bool IsUpToDate(Index last_index, Term last_term) const;

  Index committed() const { return committed_; }
  // Changes whenever entries are appended, truncated or replaced by a snapshot: observers
  // (the simulator's checkers) use it to skip work when a log did not change.
  uint64_t version() const { return version_; }
  Index applied() const { return applied_; }

  // Appends entries after truncating any suffix that starts at entries.front().index().
  // Precondition: committed() < entries.front().index() <= LastIndex() + 1 (never truncates
  // committed entries). Returns the new last index.
  Index Append(absl::Span<const Entry> entries);
  Index Append(Entry entry);

  // AppendEntries receiver (Figure 2): if our log has (prev_index, prev_term), appends the new
  // entries (skipping those already present, truncating at the first conflict), advances the
  // commit index to min(leader_commit, last new index) and returns the last new index.
  // Returns nullopt if (prev_index, prev_term) does not match.
  std::optional<Index> MaybeAppend(Index prev_index, Term prev_term, Index leader_commit,
                                   const std::vector<Entry>& entries);

  // Fast backtracking: the largest index <= `index` whose term is <= `term`, with that term.
  // Used by a follower to hint the leader past a whole conflicting term at once.
  std::pair<Index, Term> FindConflictByTerm(Index index, Term term) const;

  // Raises the commit index. Precondition: index <= LastIndex(). Never lowers it.
  void CommitTo(Index index);
  // Commits `index` if it is above the commit index and its entry has `term` (Raft §5.4.2:
  // only entries of the leader's current term are committed by counting). Returns true if the
  // commit index moved.
  bool MaybeCommit(Index index, Term term);

  // Entries [lo, hi) bounded by max_bytes (at least one). kOutOfRange if lo was compacted.
  absl::Status Slice(Index lo, Index hi, uint64_t max_bytes, std::vector<Entry>* out) const;

  // --- Ready support ---
  const std::deque<Entry>& unstable_entries() const { return unstable_; }
  const std::optional<raftpb::SnapshotMeta>& unstable_snapshot() const { return unstable_snapshot_meta_; }
  const std::string& unstable_snapshot_data() const { return unstable_snapshot_data_; }
  // Committed entries not yet handed to the application, bounded by max_bytes, into `out`
  // (cleared first; its capacity is reused; left empty on failure). Fails only if storage
  // cannot read them.
  absl::Status NextCommittedEntries(uint64_t max_bytes, std::vector<Entry>* out) const;
  bool HasNextCommittedEntries() const;
  // The application persisted entries up to (index, term): drop them from memory if the entry
  // at index still has that term (it may have been truncated since).
  void StableTo(Index index, Term term);
  // The application installed the unstable snapshot with this index (and restored its state
  // machine from it): applied() moves up to it.
  void StableSnapshotTo(Index index);
  // The application applied entries up to `index`. Precondition: index <= committed().
  void AppliedTo(Index index);

  // Replaces the whole log with a snapshot received from the leader (Figure 13 rule 7).
  // applied() stays where it is until the application installs it (StableSnapshotTo).
  void Restore(const raftpb::SnapshotMeta& meta, std::string data);

 private:
  Index UnstableOffset() const;  // index of unstable_.front() if any

  const LogStorage& storage_;
  std::optional<raftpb::SnapshotMeta> unstable_snapshot_meta_;
  std::string unstable_snapshot_data_;
  std::deque<Entry> unstable_;  // contiguous; not yet persisted
  Index committed_ = 0;
  Index applied_ = 0;
  uint64_t version_ = 0;
};

}  // namespace keel
