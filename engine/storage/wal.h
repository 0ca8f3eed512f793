// Segmented write-ahead log of Raft entries and hard state (engine/storage/record_format.h
// frames every record with CRC-32Cs over its header and its body).
//
// - Each Write() is one batch: one append and one fsync (group commit), however many entries;
//   a batch of a commit index alone is not synced (see Write).
// - An entry whose index is at or below the last one replaces the suffix from there (conflict
//   truncation), both in memory and, on recovery, by replay order.
// - A LogReset record voids everything before it (a snapshot from the leader replaced the log).
// - Segments roll over at max_segment_bytes; each starts with a header and the current hard
//   state, so deleting older segments never loses the latest hard state.
// - Recovery verifies every record. A record cut short at the very end of the last segment
//   was never acknowledged (its fsync did not complete) and is truncated away; anything else
//   that fails verification, including a whole last record with a bad CRC (a latent bit flip
//   in an acknowledged record), is a DataLoss error naming the file and offset.
// - A batch that does not fit on the disk (kResourceExhausted from an append, or from
//   creating a new segment) is undone: the file is truncated back to where the batch started
//   and fsynced (or the new segment removed), so the WAL on disk and in memory is exactly as
//   before and the same batch may be written again once space returns.
// - After any other failed write, any failed fsync, or a failed undo, the WAL refuses all
//   further writes (fsyncgate: after a failed fsync the page cache cannot be trusted).
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/entry.h"
#include "engine/env.h"
#include "engine/raft.pb.h"
#include "engine/storage/wal.pb.h"

namespace keel {

// Version 2: records carry a header CRC besides the body CRC, and a batch's hard state record
// follows its entries (version 1: one CRC, hard state first).
// Version 3: the active segment is preallocated (zero-filled space past its end, File::
// set_preallocation), and every batch ends with a kBatchEnd record whose last byte is not
// zero. A torn batch then leaves its written prefix followed by zeros, where version 2 left a
// record cut short by the end of the file. Recovery of a version 3 segment reads its zeros as
// absent: a record running into the zeros was torn; a record that fails its CRC and ends before
// them (the last complete batch ends in a non-zero byte) is corruption, as in version 2.
// Version 2 segments are still read; a version 2 last segment is synced, closed and a version
// 3 segment started after it on open.
// Known limits of version 3 (found in review, not yet fixed): a batch written over zeros has no
// ordering between its pages, so a power loss that persisted a later page of the last batch but
// not an earlier one reads as corruption (DataLoss: nothing acknowledged is lost, but the node
// needs an operator); and damage at rest that zeroes the very end of the last batch (its marker
// and more) reads as a torn tail. The fix planned: a batch-level length and CRC, and the rule
// that only the last batch may be torn, in any of its pages.
inline constexpr uint32_t kWalFormatVersion = 3;
inline constexpr uint32_t kOldestReadableWalFormatVersion = 2;

struct WalOptions {
  uint64_t max_segment_bytes = 64ULL << 20;
  uint64_t cache_bytes = 8ULL << 20;  // recent entries kept in memory for replication reads
  // Zero-filled space kept ahead of the active segment's end (File::set_preallocation).
  uint64_t preallocate_bytes = 1ULL << 20;
};

class Wal {
 public:
  // Opens the WAL in `dir` (created if missing) and recovers it. `bootstrap_conf` is recorded
  // in the segments of a new WAL; a recovered WAL reports the one it recorded.
  static absl::StatusOr<std::unique_ptr<Wal>> Open(FileSystem& fs, const std::string& dir,
                                                   const WalOptions& options,
                                                   const raftpb::ConfState& bootstrap_conf);
  ~Wal();

  const raftpb::HardState& hard_state() const { return hard_state_; }
  const raftpb::ConfState& bootstrap_conf() const { return bootstrap_conf_; }
  // The log is (base_index, base_term) followed by entries [base_index + 1, last_index()].
  Index base_index() const { return base_index_; }
  Term base_term() const { return base_term_; }
  Index last_index() const { return base_index_ + entries_.size(); }
  // Term of `index` for index in [base_index, last_index]; nullopt outside.
  std::optional<Term> TermAt(Index index) const;
  // The terms of [lo, hi) into out[0, hi - lo). Precondition: base_index() <= lo, hi <=
  // last_index() + 1.
  void Terms(Index lo, Index hi, Term* out) const;
  // Appends entries [lo, hi) bounded by max_bytes (at least one) to `out`, verifying each
  // record read from disk. Precondition: base_index < lo < hi <= last_index + 1.
  absl::Status ReadEntries(Index lo, Index hi, uint64_t max_bytes, std::vector<Entry>* out);

  // Durably writes one batch: an optional log reset, then entries (contiguous; the first may
  // be at or below last_index to replace a suffix), then an optional hard state. Returns only
  // once the batch is fsynced, except for a batch of a hard state alone with sync == false (a
  // commit index that moved, engine/ready.h): that one is written and synced with the next
  // batch (or before the segment rolls over), so a crash may lose it, and only it, as a torn
  // tail. Precondition: the first entry's index is in (base_index, last_index + 1] (after the
  // reset, if any).
  // kResourceExhausted: the disk is full and nothing of the batch was kept (not poisoned;
  // retry later). Any other error poisons the WAL (poisoned() never is kResourceExhausted).
  absl::Status Write(const std::optional<walpb::LogReset>& reset,
                     const std::vector<Entry>& entries, const raftpb::HardState* hard_state,
                     bool sync = true);

  // Entries up to `index` are in a snapshot: forget them and delete every segment (but the one
  // being written) holding no entry above `index`. Precondition: index <= last_index, or the
  // log was reset to it.
  absl::Status CompactTo(Index index, Term term);

  // Reconciles the recovered log with the newest snapshot (index, term): keeps the suffix after
  // it if the log holds the snapshot's last entry (Figure 13 rule 6), otherwise drops every
  // entry and durably logs a reset to the snapshot. Fails if the log begins after the
  // snapshot's index + 1 (entries are missing).
  absl::Status ReconcileWithSnapshot(Index index, Term term);

  size_t segment_count() const { return segments_.size(); }
  // The first error of a failed write, after which every call fails; OK otherwise.
  const absl::Status& poisoned() const { return poisoned_; }

 private:
  struct Location {
    Term term;
    uint64_t segment;
    uint64_t offset;
    uint32_t frame_bytes;
  };
  struct Segment {
    std::string path;
    std::unique_ptr<File> file;  // opened lazily for reads; always open for the active one
    Index max_index = 0;         // highest entry index recorded in it
    uint32_t version = kWalFormatVersion;  // from its header
  };

  Wal(FileSystem& fs, std::string dir, const WalOptions& options);
  absl::Status Recover(const raftpb::ConfState& bootstrap_conf);
  absl::Status RecoverSegment(uint64_t sequence, bool last);
  absl::Status ApplyEntry(const raftpb::Entry& entry, uint64_t segment, uint64_t offset,
                          uint32_t frame_bytes, const std::string& where);
  absl::Status StartSegment(uint64_t sequence);
  absl::StatusOr<File*> SegmentFile(uint64_t sequence);
  void TruncateCacheAfter(Index index);
  // ReconcileWithSnapshot without adopting the snapshot's term.
  absl::Status ReconcileBase(Index index, Term term);
  // If the last log entry (or the base) has a term above the hard state's, raises the hard
  // state's term to it and clears the vote, in memory (the next hard state write persists it).
  // Recovery and ReconcileWithSnapshot call it.
  void AdoptLastTerm();
  void Poison(const absl::Status& status);
  // Cuts a batch that hit a full disk (`cause`) off `file` at `start`; returns a clean
  // kResourceExhausted, or the poison if the cut fails.
  absl::Status UndoAppend(File& file, uint64_t start, const absl::Status& cause);

  FileSystem& fs_;
  const std::string dir_;
  const WalOptions options_;
  std::map<uint64_t, Segment> segments_;  // by sequence; the last one is written
  raftpb::HardState hard_state_;
  raftpb::ConfState bootstrap_conf_;
  Index base_index_ = 0;
  Term base_term_ = 0;
  bool base_known_ = false;  // false until a reset or the first entry fixes the base (recovery)
  bool base_inferred_ = false;  // the base came from the first entry seen, not from a reset
  std::deque<Location> entries_;
  std::deque<Entry> cache_;  // the most recent entries, ending at last_index()
  uint64_t cache_bytes_ = 0;
  absl::Status poisoned_;
  // The active segment holds bytes written without an fsync (a hard state alone, sync ==
  // false). They are synced with the next batch, and before a new segment starts: an older
  // segment must never end in a torn record (recovery would call it corruption).
  bool unsynced_ = false;
};

}  // namespace keel
