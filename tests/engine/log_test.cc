// Edge cases of the building blocks: RaftLog (stable + unstable entries over a LogStorage),
// MemoryStorage, Inflights / Progress flow control, quorum arithmetic, Raft::Create's checks of
// what it is started from, and CRC-32C.
#include "gtest/gtest.h"
#include "engine/crc32c.h"
#include "engine/progress.h"
#include "engine/quorum.h"
#include "engine/raft_log.h"
#include "tests/engine/test_util.h"

namespace keel::testing {
namespace {

std::vector<Entry> Entries(Index from, const std::vector<Term>& terms, size_t data_bytes = 0) {
  std::vector<Entry> out;
  for (size_t i = 0; i < terms.size(); ++i) {
    out.push_back(MakeEntry(from + i, terms[i], std::string(data_bytes, 'd')));
  }
  return out;
}

std::vector<Index> Indexes(const std::vector<Entry>& entries) {
  std::vector<Index> out;
  for (const Entry& entry : entries) out.push_back(entry.index());
  return out;
}

// Entries of `inner`, except that reading entry `bad` fails as a damaged record does, after
// the entries before it in the same read were handed out.
class DamagedStorage final : public LogStorage {
 public:
  DamagedStorage(const MemoryStorage& inner, Index bad) : inner_(inner), bad_(bad) {}
  raftpb::HardState InitialHardState() const override { return inner_.InitialHardState(); }
  raftpb::ConfState InitialConfState() const override { return inner_.InitialConfState(); }
  Index FirstIndex() const override { return inner_.FirstIndex(); }
  Index LastIndex() const override { return inner_.LastIndex(); }
  absl::StatusOr<Term> TermAt(Index index) const override { return inner_.TermAt(index); }
  absl::Status Entries(Index lo, Index hi, uint64_t max_bytes, std::vector<Entry>* out) const override {
    for (Index i = lo; i < hi; ++i) {
      if (i == bad_) return absl::DataLossError("damaged record");
      if (absl::Status status = inner_.Entries(i, i + 1, max_bytes, out); !status.ok()) return status;
    }
    return absl::OkStatus();
  }
  raftpb::SnapshotMeta SnapshotMetadata() const override { return inner_.SnapshotMetadata(); }
  absl::StatusOr<std::string> ReadSnapshotChunk(const raftpb::SnapshotMeta& meta, uint64_t offset,
                                                uint64_t max_bytes) const override {
    return inner_.ReadSnapshotChunk(meta, offset, max_bytes);
  }

 private:
  const MemoryStorage& inner_;
  Index bad_;
};

TEST(LogTest, AFailedReadOfCommittedEntriesHandsOutNone) {
  // Entries 1..2 read fine, 3 is damaged: the core must stop without applying any of them
  // (the vector it is given is reused, so it must also come back empty, not as it was).
  MemoryStorage inner({1});
  inner.Append(Entries(1, {1, 1, 1, 1, 1}));
  DamagedStorage storage(inner, 3);
  RaftLog log(storage, 5);
  ASSERT_TRUE(log.HasNextCommittedEntries());
  std::vector<Entry> out = Entries(9, {1});
  const absl::Status status = log.NextCommittedEntries(UINT64_MAX, &out);
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_TRUE(out.empty()) << out.size() << " entries handed out";
  // Undamaged, the same read hands out all five.
  DamagedStorage healthy(inner, 0);
  RaftLog healthy_log(healthy, 5);
  ASSERT_TRUE(healthy_log.NextCommittedEntries(UINT64_MAX, &out).ok());
  EXPECT_EQ(Indexes(out), (std::vector<Index>{1, 2, 3, 4, 5}));
}

TEST(LogTest, EmptyLogBoundaries) {
  MemoryStorage storage({1});
  RaftLog log(storage, 0);
  EXPECT_EQ(log.FirstIndex(), 1u);
  EXPECT_EQ(log.LastIndex(), 0u);
  EXPECT_EQ(log.LastTerm(), 0u);
  EXPECT_EQ(log.TermAt(0), 0u);
  EXPECT_EQ(log.TermAt(1), std::nullopt);
  EXPECT_TRUE(log.IsUpToDate(0, 0));
  EXPECT_FALSE(log.HasNextCommittedEntries());
  EXPECT_EQ(log.FindConflictByTerm(5, 3), (std::pair<Index, Term>{0, 0}));
}

// Appending at an index inside the log replaces everything from there, whether the replaced
// entries were still in memory or already persisted.
TEST(LogTest, AppendTruncatesUnstableAndPersistedSuffixes) {
  MemoryStorage storage({1});
  storage.Append(Entries(1, {1, 1, 1}));
  RaftLog log(storage, 0);
  log.Append(Entries(4, {1, 1}));
  ASSERT_EQ(log.LastIndex(), 5u);
  log.Append(Entries(5, {2}));
  EXPECT_EQ(log.LastIndex(), 5u);
  EXPECT_EQ(log.TermAt(5), 2u);
  EXPECT_EQ(log.TermAt(4), 1u);
  log.Append(Entries(2, {3}));
  EXPECT_EQ(log.LastIndex(), 2u);
  EXPECT_EQ(log.TermAt(2), 3u);
  EXPECT_EQ(log.TermAt(3), std::nullopt) << "the stored entry 3 is hidden until the next persist";
  EXPECT_EQ(log.TermAt(1), 1u);
  std::vector<Entry> slice;
  ASSERT_TRUE(log.Slice(1, 3, UINT64_MAX, &slice).ok());
  ASSERT_EQ(slice.size(), 2u);
  EXPECT_EQ(slice[0].term(), 1u);
  EXPECT_EQ(slice[1].term(), 3u);
  ASSERT_EQ(log.unstable_entries().size(), 1u);
  EXPECT_EQ(log.unstable_entries().front().index(), 2u);
}

// RaftLog::Terms answers a range as TermAt answers each of its indexes, over the stored and the
// unstable parts, around a snapshot, with stored entries hidden by a truncation, and with an
// unstable snapshot.
void ExpectTermsAgreeWithTermAt(const RaftLog& log, const std::string& what) {
  for (Index lo = 0; lo <= log.LastIndex() + 2; ++lo) {
    for (Index hi = lo; hi <= log.LastIndex() + 3; ++hi) {
      std::vector<Term> terms(hi - lo, 999);
      const bool ok = log.Terms(lo, hi, terms.data());
      bool expected = true;
      for (Index i = lo; i < hi; ++i) {
        const std::optional<Term> term = log.TermAt(i);
        expected = expected && term.has_value();
        if (ok && term) {
          EXPECT_EQ(terms[i - lo], *term) << what << ": index " << i << " of [" << lo << ", " << hi << ")";
        }
      }
      EXPECT_EQ(ok, expected) << what << ": [" << lo << ", " << hi << ")";
    }
  }
}

TEST(LogTest, TermsOfARangeAreWhatTermAtAnswersIndexByIndex) {
  MemoryStorage storage({1});
  storage.Append(Entries(1, {1, 1, 2, 2, 2, 3}));
  ASSERT_TRUE(storage.CreateSnapshot(3, raftpb::ConfState(), "s"));
  RaftLog log(storage, 3);
  ExpectTermsAgreeWithTermAt(log, "stored only");
  log.Append(Entries(7, {3, 4, 4}));
  ExpectTermsAgreeWithTermAt(log, "stored and unstable");
  log.Append(Entries(5, {5}));
  ASSERT_EQ(log.LastIndex(), 5u);
  ExpectTermsAgreeWithTermAt(log, "stored entries hidden by a truncation");
  log.Restore(MakeSnapshotMeta(12, 6, {1}, "twelve"), "twelve");
  log.Append(Entries(13, {6, 7}));
  ExpectTermsAgreeWithTermAt(log, "unstable snapshot");
  MemoryStorage empty({1});
  ExpectTermsAgreeWithTermAt(RaftLog(empty, 0), "empty");
}

// StableTo(index, term) must ignore a persist report about an entry that was truncated and
// replaced (by another term) in the meantime: the replacement is not durable yet.
TEST(LogTest, StableToIgnoresReportForTruncatedEntry) {
  MemoryStorage storage({1});
  RaftLog log(storage, 0);
  log.Append(Entries(1, {1, 1}));
  log.Append(Entries(2, {2}));
  storage.Append(Entries(1, {1, 1}));  // the older write (with 2/1) completes
  log.StableTo(2, 1);
  ASSERT_EQ(log.unstable_entries().size(), 2u);
  EXPECT_EQ(log.unstable_entries().back().term(), 2u);
  storage.Append(Entries(2, {2}));
  log.StableTo(2, 2);
  EXPECT_TRUE(log.unstable_entries().empty());
  EXPECT_EQ(log.TermAt(2), 2u);
}

TEST(LogTest, UpToDateCommitAndConflictSearch) {
  MemoryStorage storage({1});
  storage.Append(Entries(1, {1, 1, 2, 2, 3, 3}));
  ASSERT_TRUE(storage.CreateSnapshot(2, raftpb::ConfState(), "snap"));
  RaftLog log(storage, 2);
  // §5.4.1: compare last terms first, then lengths.
  EXPECT_TRUE(log.IsUpToDate(6, 3));
  EXPECT_TRUE(log.IsUpToDate(7, 3));
  EXPECT_FALSE(log.IsUpToDate(5, 3));
  EXPECT_TRUE(log.IsUpToDate(1, 4));
  EXPECT_FALSE(log.IsUpToDate(99, 2));
  // Commit by term: only if the entry at the index has exactly that term; never backwards.
  EXPECT_FALSE(log.MaybeCommit(4, 3));
  EXPECT_TRUE(log.MaybeCommit(4, 2));
  EXPECT_EQ(log.committed(), 4u);
  EXPECT_FALSE(log.MaybeCommit(3, 2));
  log.CommitTo(3);
  EXPECT_EQ(log.committed(), 4u);
  // Fast backtracking search, including at and below the compaction point.
  EXPECT_EQ(log.FindConflictByTerm(6, 2), (std::pair<Index, Term>{4, 2}));
  EXPECT_EQ(log.FindConflictByTerm(100, 5), (std::pair<Index, Term>{6, 3}));
  EXPECT_EQ(log.FindConflictByTerm(6, 1), (std::pair<Index, Term>{2, 1})) << "the snapshot's own term";
  EXPECT_EQ(log.FindConflictByTerm(6, 0).second, 0u) << "below the snapshot the term is unknown";
  EXPECT_LE(log.FindConflictByTerm(6, 0).first, 2u);
}

TEST(LogTest, SliceIsByteBoundedButNeverEmptyAcrossStoredAndUnstable) {
  MemoryStorage storage({1});
  storage.Append(Entries(1, {1, 1, 1}, 10));  // 34 "bytes" each (EntryBytes)
  RaftLog log(storage, 3);
  log.Append(Entries(4, {1, 1}, 10));
  const uint64_t one = EntryBytes(MakeEntry(1, 1, std::string(10, 'd')));
  auto slice = [&](Index lo, Index hi, uint64_t max_bytes) {
    std::vector<Entry> out;
    EXPECT_TRUE(log.Slice(lo, hi, max_bytes, &out).ok());
    return Indexes(out);
  };
  EXPECT_EQ(slice(1, 6, 0), (std::vector<Index>{1})) << "at least one entry";
  EXPECT_EQ(slice(1, 6, 2 * one), (std::vector<Index>{1, 2}));
  EXPECT_EQ(slice(1, 6, 4 * one), (std::vector<Index>{1, 2, 3, 4})) << "across stored/unstable";
  EXPECT_EQ(slice(3, 6, 2 * one), (std::vector<Index>{3, 4}));
  EXPECT_EQ(slice(4, 6, 0), (std::vector<Index>{4}));
  EXPECT_EQ(slice(1, 6, UINT64_MAX), (std::vector<Index>{1, 2, 3, 4, 5}));
}

// Committed entries go to the application in bounded batches, in order, exactly once (here on
// a restart, where the durable commit index lets the node re-apply without a leader).
TEST(LogTest, CommittedEntriesAreHandedOutInBoundedBatchesExactlyOnce) {
  NodeOptions options;
  options.entries = Entries(1, {1, 1, 1, 1, 1}, 10);
  options.term = 1;
  options.commit = 5;
  options.max_committed_bytes_per_ready = 2 * EntryBytes(options.entries[0]);
  TestNode node(1, options);
  std::vector<Index> applied;
  while (node->HasReady()) {
    const Ready ready = node.Process();
    EXPECT_LE(ready.committed_entries.size(), 2u);
    for (const Entry& entry : ready.committed_entries) applied.push_back(entry.index());
  }
  EXPECT_EQ(applied, (std::vector<Index>{1, 2, 3, 4, 5}));
  EXPECT_EQ(node->log().applied(), 5u);
}

TEST(LogTest, CompactedRangesReportOutOfRangeAndPastEndNotFound) {
  MemoryStorage storage({1});
  storage.Append(Entries(1, {1, 1, 2, 2, 2}));
  ASSERT_TRUE(storage.CreateSnapshot(3, raftpb::ConfState(), "s"));
  RaftLog log(storage, 3);
  EXPECT_EQ(log.FirstIndex(), 4u);
  EXPECT_EQ(log.TermAt(3), 2u) << "the snapshot's own index keeps its term";
  EXPECT_EQ(log.TermAt(2), std::nullopt);
  std::vector<Entry> out;
  EXPECT_TRUE(IsCompacted(log.Slice(2, 5, UINT64_MAX, &out)));
  EXPECT_EQ(storage.TermAt(1).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(storage.TermAt(9).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(storage.Entries(2, 4, UINT64_MAX, &out).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(storage.Entries(4, 7, UINT64_MAX, &out).code(), absl::StatusCode::kNotFound);
}

TEST(LogTest, MemoryStorageSnapshotsAndSuffixReplacement) {
  MemoryStorage storage({1, 2, 3});
  storage.Append(Entries(1, {1, 1, 1, 1, 1}));
  storage.Append(Entries(3, {2}));
  EXPECT_EQ(storage.LastIndex(), 3u);
  EXPECT_EQ(*storage.TermAt(3), 2u);
  storage.Append(Entries(4, {2, 2}));
  raftpb::ConfState conf;
  for (NodeId id : {1, 2, 3}) conf.add_voters(id);
  const std::string data = "0123456789";
  ASSERT_TRUE(storage.CreateSnapshot(3, conf, data));
  EXPECT_FALSE(storage.CreateSnapshot(3, conf, "again"));
  EXPECT_FALSE(storage.CreateSnapshot(2, conf, "older"));
  const raftpb::SnapshotMeta meta = storage.SnapshotMetadata();
  EXPECT_EQ(meta.index(), 3u);
  EXPECT_EQ(meta.term(), 2u);
  EXPECT_EQ(meta.size(), data.size());
  EXPECT_EQ(meta.crc32c(), Crc32c(data));
  EXPECT_EQ(storage.FirstIndex(), 4u);
  EXPECT_EQ(storage.LastIndex(), 5u);
  EXPECT_EQ(*storage.ReadSnapshotChunk(meta, 0, 4), "0123");
  EXPECT_EQ(*storage.ReadSnapshotChunk(meta, 8, 100), "89");
  EXPECT_EQ(*storage.ReadSnapshotChunk(meta, 10, 4), "");
  EXPECT_FALSE(storage.ReadSnapshotChunk(meta, 11, 4).ok());
  ASSERT_TRUE(storage.CreateSnapshot(5, conf, "newer"));
  EXPECT_EQ(storage.ReadSnapshotChunk(meta, 0, 4).status().code(), absl::StatusCode::kOutOfRange)
      << "a replaced snapshot is no longer served";
  // Installing a received snapshot replaces the whole log.
  storage.ApplySnapshot(MakeSnapshotMeta(9, 3, {1, 2, 3}, "nine"), "nine");
  EXPECT_EQ(storage.FirstIndex(), 10u);
  EXPECT_EQ(storage.LastIndex(), 9u);
  EXPECT_EQ(*storage.TermAt(9), 3u);
  EXPECT_EQ(storage.snapshot_data(), "nine");
}

TEST(LogTest, InflightsBoundedByCountAndBytes) {
  Inflights by_count(3, 1000);
  by_count.Add(1, 10);
  by_count.Add(2, 10);
  EXPECT_FALSE(by_count.Full());
  by_count.Add(5, 10);
  EXPECT_TRUE(by_count.Full());
  by_count.FreeLE(0);
  EXPECT_EQ(by_count.count(), 3u);
  by_count.FreeLE(3);  // frees the messages ending at 1 and 2, not the one ending at 5
  EXPECT_EQ(by_count.count(), 1u);
  EXPECT_EQ(by_count.bytes(), 10u);
  EXPECT_FALSE(by_count.Full());
  by_count.FreeFirstOne();
  EXPECT_EQ(by_count.count(), 0u);
  by_count.FreeFirstOne();  // harmless when empty
  EXPECT_EQ(by_count.bytes(), 0u);

  Inflights by_bytes(10, 100);
  by_bytes.Add(1, 60);
  EXPECT_FALSE(by_bytes.Full());
  by_bytes.Add(2, 50);
  EXPECT_TRUE(by_bytes.Full());
  by_bytes.Reset();
  EXPECT_EQ(by_bytes.count(), 0u);
  EXPECT_EQ(by_bytes.bytes(), 0u);
  EXPECT_FALSE(by_bytes.Full());
}

TEST(LogTest, ProgressProbeReplicateAndSnapshotTransitions) {
  Progress progress(6, 2, 1 << 20);
  ASSERT_EQ(progress.state(), ProgressState::kProbe);
  EXPECT_FALSE(progress.IsPaused());
  progress.SentEntries(6, 10);
  EXPECT_TRUE(progress.IsPaused()) << "one probe at a time";
  EXPECT_EQ(progress.next(), 6u) << "a probe does not move next optimistically";
  progress.OnHeartbeatResponse();
  EXPECT_FALSE(progress.IsPaused());
  // Only a rejection of the current probe (at next - 1 = 5) counts.
  EXPECT_FALSE(progress.MaybeDecreaseTo(4, 1));
  EXPECT_TRUE(progress.MaybeDecreaseTo(5, 2));
  EXPECT_EQ(progress.next(), 3u);
  EXPECT_TRUE(progress.MaybeUpdate(2));
  EXPECT_FALSE(progress.MaybeUpdate(1)) << "stale";
  EXPECT_EQ(progress.match(), 2u);
  EXPECT_TRUE(progress.MaybeDecreaseTo(2, 0));
  EXPECT_EQ(progress.next(), 3u) << "never at or below match";

  progress.BecomeReplicate();
  EXPECT_EQ(progress.next(), 3u);
  progress.SentEntries(5, 10);
  progress.SentEntries(7, 10);
  EXPECT_EQ(progress.next(), 8u);
  EXPECT_TRUE(progress.IsPaused()) << "max_inflight_msgs = 2";
  progress.OnHeartbeatResponse();
  EXPECT_FALSE(progress.IsPaused()) << "a heartbeat reply frees one slot";
  EXPECT_FALSE(progress.MaybeDecreaseTo(2, 0)) << "rejection of an acknowledged index is stale";
  EXPECT_TRUE(progress.MaybeDecreaseTo(6, 0));
  EXPECT_EQ(progress.next(), 3u);

  raftpb::SnapshotMeta meta;
  meta.set_index(10);
  progress.BecomeSnapshot(meta);
  EXPECT_TRUE(progress.IsPaused());
  progress.BecomeProbe();
  EXPECT_EQ(progress.next(), 11u) << "after a snapshot, probe right after it";
}

TEST(LogTest, CreateRejectsInvalidConfigAndInconsistentStorage) {
  Config config = MakeConfig(1, NodeOptions{});
  {
    // Not a member (yet): it runs, as a follower that never campaigns.
    MemoryStorage storage({2, 3});
    absl::StatusOr<std::unique_ptr<Raft>> outsider = Raft::Create(config, storage);
    ASSERT_TRUE(outsider.ok()) << outsider.status();
    (*outsider)->Campaign();
    for (int i = 0; i < 100; ++i) (*outsider)->Tick();
    EXPECT_EQ((*outsider)->role(), Role::kFollower);
    EXPECT_EQ((*outsider)->term(), 0u);
  }
  {
    MemoryStorage storage({1, 2, 3});
    storage.Append(Entries(1, {1, 1}));
    raftpb::HardState hard_state;
    hard_state.set_term(1);
    hard_state.set_commit(5);
    storage.SetHardState(hard_state);
    EXPECT_FALSE(Raft::Create(config, storage).ok()) << "commit past the last index";
  }
  {
    MemoryStorage storage({1, 2, 3});
    storage.Append(Entries(1, {1, 3}));
    raftpb::HardState hard_state;
    hard_state.set_term(2);
    storage.SetHardState(hard_state);
    EXPECT_FALSE(Raft::Create(config, storage).ok()) << "log term above the durable term";
  }
  MemoryStorage storage({1, 2, 3});
  Config bad = config;
  bad.id = kNoNode;
  EXPECT_EQ(Raft::Create(bad, storage).status().code(), absl::StatusCode::kInvalidArgument);
  bad = config;
  bad.election_tick = bad.heartbeat_tick;
  EXPECT_EQ(Raft::Create(bad, storage).status().code(), absl::StatusCode::kInvalidArgument);
  bad = config;
  bad.max_inflight_msgs = 0;
  EXPECT_EQ(Raft::Create(bad, storage).status().code(), absl::StatusCode::kInvalidArgument);
  bad = config;
  bad.max_snapshot_chunk_bytes = 0;
  EXPECT_EQ(Raft::Create(bad, storage).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Raft::Create(config, storage).ok());
}

TEST(LogTest, Crc32cKnownAnswerAndIncremental) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
  const std::string data = "snapshot bytes in several chunks";
  uint32_t crc = 0;
  for (size_t offset = 0; offset < data.size(); offset += 5) {
    const std::string chunk = data.substr(offset, 5);
    crc = Crc32cExtend(crc, chunk.data(), chunk.size());
  }
  EXPECT_EQ(crc, Crc32c(data));
  EXPECT_NE(Crc32c("0123456789"), Crc32c("0123456789 "));
}

}  // namespace
}  // namespace keel::testing
