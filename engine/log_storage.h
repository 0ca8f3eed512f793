// The core's read-only view of durable state. The application owns the storage and mutates it
// while handling a Ready (persist entries, hard state, snapshots); the core only reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/entry.h"
#include "engine/raft.pb.h"
#include "engine/types.h"

namespace keel {

// Error conventions for LogStorage reads.
// - kOutOfRange: the index was compacted into a snapshot (the leader then sends the snapshot).
// - kNotFound: the index is past the last entry.
// Any other error is a storage failure the core cannot recover from.
absl::Status CompactedError(Index index);
absl::Status UnavailableError(Index index);
inline bool IsCompacted(const absl::Status& status) {
  return status.code() == absl::StatusCode::kOutOfRange;
}

class LogStorage {
 public:
  virtual ~LogStorage() = default;

  // The state to start from after a restart. Called once, when the core is created.
  virtual raftpb::HardState InitialHardState() const = 0;
  // Membership as of the newest snapshot, or the bootstrap membership if there is none.
  virtual raftpb::ConfState InitialConfState() const = 0;

  // Index of the first entry still stored; SnapshotMeta().index + 1.
  virtual Index FirstIndex() const = 0;
  // Index of the last stored entry; SnapshotMeta().index when no entry follows the snapshot.
  virtual Index LastIndex() const = 0;
  // Term of entry `index`, for index in [FirstIndex() - 1, LastIndex()] (FirstIndex() - 1 is
  // the snapshot's own index and term).
  virtual absl::StatusOr<Term> TermAt(Index index) const = 0;
  // The terms of entries [lo, hi) into out[0, hi - lo), as TermAt answers them; the error of
  // the first index TermAt refuses. One call for a range: readers of many terms (the
  // simulator's checks read the last 64 of every changed log, every step) pay one virtual call
  // and one bounds check, not three per index.
  virtual absl::Status Terms(Index lo, Index hi, Term* out) const {
    for (Index i = lo; i < hi; ++i) {
      absl::StatusOr<Term> term = TermAt(i);
      if (!term.ok()) return term.status();
      out[i - lo] = *term;
    }
    return absl::OkStatus();
  }
  // Appends entries [lo, hi) to `out`, stopping once max_bytes would be exceeded but always
  // returning at least one entry. Precondition: FirstIndex() <= lo < hi <= LastIndex() + 1.
  virtual absl::Status Entries(Index lo, Index hi, uint64_t max_bytes,
                               std::vector<Entry>* out) const = 0;
  // Metadata of the newest snapshot (index 0 if there is none).
  virtual raftpb::SnapshotMeta SnapshotMetadata() const = 0;
  // Bytes [offset, offset + max_bytes) of the snapshot described by `meta`. kOutOfRange if a
  // newer snapshot replaced it (the leader then starts over with the newest). A read at offset
  // 0 (the start of every transfer) verifies the whole snapshot first: kDataLoss if it was
  // damaged at rest, rather than streaming bytes every follower would reject, forever.
  virtual absl::StatusOr<std::string> ReadSnapshotChunk(const raftpb::SnapshotMeta& meta,
                                                        uint64_t offset,
                                                        uint64_t max_bytes) const = 0;
};

}  // namespace keel
