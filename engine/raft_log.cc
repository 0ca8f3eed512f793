#include "engine/raft_log.h"

#include <algorithm>

#include "engine/assert.h"

namespace keel {

RaftLog::RaftLog(const LogStorage& storage, Index committed) : storage_(storage) {
  const Index snapshot_index = storage_.FirstIndex() - 1;
  KEEL_ASSERT(committed <= storage_.LastIndex());
  // A snapshot only covers applied, hence committed, entries.
  committed_ = std::max(committed, snapshot_index);
  applied_ = snapshot_index;
}

Index RaftLog::UnstableOffset() const {
  KEEL_ASSERT(!unstable_.empty());
  return unstable_.front().index();
}

Index RaftLog::FirstIndex() const {
  if (unstable_snapshot_meta_) return unstable_snapshot_meta_->index() + 1;
  return storage_.FirstIndex();
}

Index RaftLog::LastIndex() const {
  if (!unstable_.empty()) return unstable_.back().index();
  if (unstable_snapshot_meta_) return unstable_snapshot_meta_->index();
  return storage_.LastIndex();
}

Term RaftLog::LastTerm() const {
  const std::optional<Term> term = TermAt(LastIndex());
  KEEL_ASSERT(term.has_value());
  return *term;
}

std::optional<Term> RaftLog::TermAt(Index index) const {
  if (index == 0) return 0;
  if (!unstable_.empty() && index >= UnstableOffset()) {
    if (index > unstable_.back().index()) return std::nullopt;
    return unstable_[index - UnstableOffset()].term();
  }
  if (unstable_snapshot_meta_) {
    // Everything before the unstable entries is replaced by the snapshot.
    if (index == unstable_snapshot_meta_->index()) return unstable_snapshot_meta_->term();
    return std::nullopt;
  }
  if (index + 1 < storage_.FirstIndex() || index > storage_.LastIndex()) return std::nullopt;
  absl::StatusOr<Term> term = storage_.TermAt(index);
  KEEL_ASSERT_MSG(term.ok(), "storage failed to return a term inside its own range");
  return *term;
}

bool RaftLog::Terms(Index lo, Index hi, Term* out) const {
  if (lo >= hi) return true;
  // [lo, split) lies below the unstable entries, [split, hi) among them.
  const Index split = unstable_.empty() ? hi : std::clamp(UnstableOffset(), lo, hi);
  if (lo < split) {
    // The unstable snapshot and index 0 are TermAt's special cases: index by index there.
    const bool by_index = lo == 0 || unstable_snapshot_meta_.has_value() || lo + 1 < storage_.FirstIndex() ||
                          split - 1 > storage_.LastIndex();
    if (by_index) {
      for (Index i = lo; i < split; ++i) {
        const std::optional<Term> term = TermAt(i);
        if (!term) return false;
        out[i - lo] = *term;
      }
    } else {
      const absl::Status status = storage_.Terms(lo, split, out);
      KEEL_ASSERT_MSG(status.ok(), "storage failed to return terms inside its own range");
    }
  }
  for (Index i = split; i < hi; ++i) {
    if (i > unstable_.back().index()) return false;
    out[i - lo] = unstable_[i - UnstableOffset()].term();
  }
  return true;
}

bool RaftLog::MatchTerm(Index index, Term term) const {
  const std::optional<Term> existing = TermAt(index);
  return existing.has_value() && *existing == term;
}

bool RaftLog::IsUpToDate(Index last_index, Term last_term) const {
  const Term our_last_term = LastTerm();
  return last_term > our_last_term || (last_term == our_last_term && last_index >= LastIndex());
}

Index RaftLog::Append(Entry entry) {
  // The leader's path for every proposal (nothing to truncate): no vector around the entry.
  if (entry.index() == LastIndex() + 1) {
    KEEL_ASSERT(entry.index() > committed_);
    ++version_;
    unstable_.push_back(std::move(entry));
    return LastIndex();
  }
  return Append(absl::MakeConstSpan(&entry, 1));
}

Index RaftLog::Append(absl::Span<const Entry> entries) {
  if (entries.empty()) return LastIndex();
  ++version_;
  const Index first = entries.front().index();
  KEEL_ASSERT_MSG(first > committed_, "refusing to truncate committed entries");
  KEEL_ASSERT(first <= LastIndex() + 1);
  if (!unstable_.empty() && first >= UnstableOffset()) {
    unstable_.resize(first - UnstableOffset());
  } else {
    // The new entries replace (part of) the persisted log: keep none of the unstable ones.
    // The application truncates its storage when it persists them (Ready::entries contract).
    unstable_.clear();
  }
  for (const Entry& entry : entries) {
    KEEL_ASSERT(unstable_.empty() || entry.index() == unstable_.back().index() + 1);
    unstable_.push_back(entry);
  }
  KEEL_ASSERT(unstable_.front().index() <= first && unstable_.back().index() == entries.back().index());
  return LastIndex();
}

std::optional<Index> RaftLog::MaybeAppend(
    Index prev_index, Term prev_term, Index leader_commit,
    const std::vector<Entry>& entries) {
  if (!MatchTerm(prev_index, prev_term)) return std::nullopt;
  const Index last_new = prev_index + entries.size();
  // Find the first entry that is new or conflicts; entries before it are already present.
  size_t first_new = 0;
  for (; first_new < entries.size(); ++first_new) {
    const Entry& entry = entries[first_new];
    if (!MatchTerm(entry.index(), entry.term())) break;
  }
  if (first_new < entries.size()) {
    KEEL_ASSERT_MSG(entries[first_new].index() > committed_,
                    "a leader tried to overwrite a committed entry");
    Append(absl::MakeConstSpan(entries).subspan(first_new));
  }
  CommitTo(std::min(leader_commit, last_new));
  return last_new;
}

std::pair<Index, Term> RaftLog::FindConflictByTerm(Index index, Term term) const {
  index = std::min(index, LastIndex());
  for (;; --index) {
    const std::optional<Term> our_term = TermAt(index);
    // Below the compaction point we cannot tell; stop there (the snapshot index is committed,
    // so the leader agrees on it).
    if (!our_term.has_value()) return {index, 0};
    if (*our_term <= term || index == 0) return {index, *our_term};
  }
}

void RaftLog::CommitTo(Index index) {
  if (index <= committed_) return;
  KEEL_ASSERT_MSG(index <= LastIndex(), "commit index beyond the last log entry");
  committed_ = index;
}

bool RaftLog::MaybeCommit(Index index, Term term) {
  if (index > committed_ && MatchTerm(index, term)) {
    CommitTo(index);
    return true;
  }
  return false;
}

absl::Status RaftLog::Slice(Index lo, Index hi, uint64_t max_bytes,
                            std::vector<Entry>* out) const {
  KEEL_ASSERT(lo < hi && hi <= LastIndex() + 1);
  if (lo < FirstIndex()) return CompactedError(lo);
  const size_t start_size = out->size();
  uint64_t bytes = 0;
  const Index unstable_start = unstable_.empty() ? LastIndex() + 1 : UnstableOffset();
  if (lo < unstable_start) {
    KEEL_ASSERT(!unstable_snapshot_meta_);
    const Index stored_hi = std::min(hi, unstable_start);
    absl::Status status = storage_.Entries(lo, stored_hi, max_bytes, out);
    if (!status.ok()) return status;
    for (size_t i = start_size; i < out->size(); ++i) bytes += EntryBytes((*out)[i]);
    if (out->size() - start_size < stored_hi - lo) return absl::OkStatus();  // byte limit hit
    lo = stored_hi;
  }
  for (Index i = lo; i < hi; ++i) {
    const Entry& entry = unstable_[i - unstable_start];
    bytes += EntryBytes(entry);
    if (out->size() > start_size && bytes > max_bytes) break;
    out->push_back(entry);
  }
  return absl::OkStatus();
}

bool RaftLog::HasNextCommittedEntries() const {
  // While a received snapshot waits to be installed, the entries it covers are gone from the
  // log; application resumes after it.
  return !unstable_snapshot_meta_ && committed_ > applied_;
}

absl::Status RaftLog::NextCommittedEntries(uint64_t max_bytes, std::vector<Entry>* out) const {
  out->clear();
  if (!HasNextCommittedEntries()) return absl::OkStatus();
  const absl::Status status = Slice(applied_ + 1, committed_ + 1, max_bytes, out);
  // Committed, unapplied entries are never compacted: only a read failure can get here.
  KEEL_ASSERT(!IsCompacted(status));
  if (!status.ok()) out->clear();  // nothing of a failed read: the core stops before applying
  return status;
}

void RaftLog::StableTo(Index index, Term term) {
  if (unstable_.empty() || index < UnstableOffset() || index > unstable_.back().index()) return;
  if (unstable_[index - UnstableOffset()].term() != term) return;
  unstable_.erase(unstable_.begin(), unstable_.begin() + (index - UnstableOffset() + 1));
}

void RaftLog::StableSnapshotTo(Index index) {
  if (unstable_snapshot_meta_ && unstable_snapshot_meta_->index() == index) {
    // Installing the snapshot restored the state machine up to its index.
    applied_ = std::max(applied_, index);
    unstable_snapshot_meta_.reset();
    unstable_snapshot_data_.clear();
  }
}

void RaftLog::AppliedTo(Index index) {
  KEEL_ASSERT(index <= committed_);
  applied_ = std::max(applied_, index);
}

void RaftLog::Restore(const raftpb::SnapshotMeta& meta, std::string data) {
  KEEL_ASSERT(meta.index() > committed_);
  ++version_;
  unstable_.clear();
  unstable_snapshot_meta_ = meta;
  unstable_snapshot_data_ = std::move(data);
  committed_ = meta.index();
}

}  // namespace keel
