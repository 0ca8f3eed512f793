// DurableStorage (engine/storage/durable_storage.h): the LogStorage contract the Raft core
// relies on (engine/log_storage.h), SaveReady in the order engine/ready.h prescribes, snapshots
// and compaction, and that nothing a completed SaveReady made durable is lost to a crash.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/storage/storage_test_util.h"
#include "engine/storage/durable_storage.h"
#include "sim/sim_filesystem.h"
#include "engine/storage/snapshot_store.h"
#include "engine/storage/wal.h"
#include "gtest/gtest.h"
#include "tests/harness/status_matchers.h"

namespace keel {
namespace {


using Strings = std::vector<std::string>;
using Entries = std::vector<Entry>;

constexpr char kDir[] = "/node";

Entry MakeEntry(Index index, Term term) {
  Entry entry;
  entry.set_index(index);
  entry.set_term(term);
  entry.set_data(absl::StrCat("command ", index, "@", term));
  return entry;
}
Entries Range(Index lo, Index hi, Term term) {
  Entries entries;
  for (Index index = lo; index <= hi; ++index) entries.push_back(MakeEntry(index, term));
  return entries;
}
using storagetest::Hs;
std::string Show(const raftpb::HardState& hs) {
  return absl::StrCat("term=", hs.term(), " vote=", hs.vote(), " commit=", hs.commit());
}
std::string Show(const raftpb::ConfState& conf) {
  std::string out = "voters=";
  for (NodeId voter : conf.voters()) absl::StrAppend(&out, voter, ",");
  return out;
}
raftpb::ConfState Conf(const std::vector<NodeId>& voters) {
  raftpb::ConfState conf;
  for (NodeId voter : voters) conf.add_voters(voter);
  return conf;
}
Strings Show(const Entries& entries) {
  Strings out;
  for (const Entry& e : entries) out.push_back(absl::StrCat(e.index(), "/", e.term(), "/", e.data()));
  return out;
}

Ready EntriesReady(const Entries& entries, std::optional<raftpb::HardState> hs = std::nullopt) {
  Ready ready;
  ready.entries = entries;
  ready.hard_state = hs;
  return ready;
}

Ready SnapshotReady(Index index, Term term, const std::vector<NodeId>& voters, const std::string& data,
                    const Entries& entries = {}, std::optional<raftpb::HardState> hs = std::nullopt) {
  Ready ready;
  SnapshotToInstall snapshot;
  snapshot.meta.set_index(index);
  snapshot.meta.set_term(term);
  *snapshot.meta.mutable_conf_state() = Conf(voters);
  snapshot.data = data;
  ready.snapshot = std::move(snapshot);
  ready.entries = entries;
  ready.hard_state = hs;
  return ready;
}

absl::StatusOr<std::unique_ptr<DurableStorage>> OpenStorage(FileSystem& fs, StorageOptions options = {},
                                                            const std::vector<NodeId>& voters = {3, 1, 2}) {
  return DurableStorage::Open(fs, kDir, voters, options);
}

Strings Files(SimFileSystem& fs, const std::string& sub) {
  absl::StatusOr<Strings> names = fs.List(JoinPath(kDir, sub));
  return names.ok() ? *names : Strings{};
}

// Everything the core and the replica can observe of a storage, as text.
std::string Fingerprint(const DurableStorage& storage) {
  std::string out = absl::StrCat("hard state ", Show(storage.InitialHardState()), "\nconf ",
                                 Show(storage.InitialConfState()), "\nfirst ", storage.FirstIndex(), " last ",
                                 storage.LastIndex(), "\n");
  const raftpb::SnapshotMeta meta = storage.SnapshotMetadata();
  absl::StrAppend(&out, "snapshot ", meta.index(), "/", meta.term(), " ", Show(meta.conf_state()), " size ",
                  meta.size(), "\n");
  if (meta.index() > 0) {
    absl::StatusOr<std::string> data = storage.SnapshotData();
    absl::StrAppend(&out, "snapshot data ", data.ok() ? *data : data.status().ToString(), "\n");
  }
  for (Index index = storage.FirstIndex() - 1; index <= storage.LastIndex(); ++index) {
    absl::StatusOr<Term> term = storage.TermAt(index);
    absl::StrAppend(&out, "term at ", index, ": ", term.ok() ? absl::StrCat(*term) : term.status().ToString(), "\n");
  }
  if (storage.LastIndex() >= storage.FirstIndex()) {
    Entries entries;
    const absl::Status status = storage.Entries(storage.FirstIndex(), storage.LastIndex() + 1, UINT64_MAX, &entries);
    absl::StrAppend(&out, "entries ", status.ToString(), "\n");
    for (const std::string& entry : Show(entries)) absl::StrAppend(&out, "  ", entry, "\n");
  }
  return out;
}

TEST(DurableStorageTest, AFreshStorageIsEmptyAndBootstrapped) {
  SimFileSystem fs(1);
  absl::StatusOr<std::unique_ptr<DurableStorage>> storage = OpenStorage(fs, {}, {3, 1, 2});
  ASSERT_OK(storage);
  const DurableStorage& s = **storage;
  EXPECT_EQ(s.FirstIndex(), 1u);
  EXPECT_EQ(s.LastIndex(), 0u);
  absl::StatusOr<Term> term = s.TermAt(0);
  ASSERT_OK(term);
  EXPECT_EQ(*term, 0u);
  EXPECT_CODE(s.TermAt(1), absl::StatusCode::kNotFound);
  EXPECT_EQ(Show(s.InitialConfState()), "voters=1,2,3,") << "voters are recorded sorted";
  EXPECT_EQ(Show(s.InitialHardState()), Show(Hs(0, 0, 0)));
  EXPECT_EQ(s.SnapshotMetadata().index(), 0u);
  EXPECT_EQ(Files(fs, "wal").size(), 1u);
  EXPECT_EQ(Files(fs, "snap"), Strings{});
}

TEST(DurableStorageTest, SaveReadyWithEntriesAndHardStateThenReopenIsEqual) {
  SimFileSystem fs(1);
  std::string before;
  {
    absl::StatusOr<std::unique_ptr<DurableStorage>> storage = OpenStorage(fs);
    ASSERT_OK(storage);
    DurableStorage& s = **storage;
    ASSERT_OK(s.SaveReady(EntriesReady(Range(1, 3, 1), Hs(1, 1, 2))));
    ASSERT_OK(s.SaveReady(EntriesReady(Range(4, 6, 2), Hs(2, 2, 4))));
    ASSERT_OK(s.SaveReady(EntriesReady(Range(5, 5, 3), Hs(3, 3, 4))));  // replaces 5 and 6
    ASSERT_OK(s.SaveReady(Ready{}));                                     // nothing to persist
    EXPECT_EQ(s.LastIndex(), 5u);
    absl::StatusOr<Term> term = s.TermAt(5);
    ASSERT_OK(term);
    EXPECT_EQ(*term, 3u);
    Entries entries;
    ASSERT_OK(s.Entries(1, 6, UINT64_MAX, &entries));
    EXPECT_EQ(Show(entries), Show([] {
                Entries e = Range(1, 3, 1);
                e.push_back(MakeEntry(4, 2));
                e.push_back(MakeEntry(5, 3));
                return e;
              }()));
    before = Fingerprint(s);
  }
  absl::StatusOr<std::unique_ptr<DurableStorage>> reopened = OpenStorage(fs);
  ASSERT_OK(reopened);
  EXPECT_EQ(Fingerprint(**reopened), before);
  EXPECT_EQ(Show((*reopened)->InitialHardState()), Show(Hs(3, 3, 4)));
}

TEST(DurableStorageTest, LogStorageErrorCodesAroundTheSnapshot) {
  SimFileSystem fs(1);
  absl::StatusOr<std::unique_ptr<DurableStorage>> storage = OpenStorage(fs);
  ASSERT_OK(storage);
  DurableStorage& s = **storage;
  ASSERT_OK(s.SaveReady(EntriesReady(Range(1, 10, 2), Hs(2, 1, 8))));
  ASSERT_OK(s.CreateSnapshot(5, Conf({1, 2, 3}), "state at 5"));
  EXPECT_EQ(s.FirstIndex(), 6u);
  EXPECT_EQ(s.LastIndex(), 10u);
  // Compacted: kOutOfRange, which the core turns into sending the snapshot.
  EXPECT_CODE(s.TermAt(4), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(IsCompacted(s.TermAt(1).status()));
  Entries out;
  EXPECT_CODE(s.Entries(5, 7, UINT64_MAX, &out), absl::StatusCode::kOutOfRange);
  EXPECT_CODE(s.Entries(1, 3, UINT64_MAX, &out), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(out.empty());
  // FirstIndex() - 1 is the snapshot's own entry.
  absl::StatusOr<Term> at_snapshot = s.TermAt(5);
  ASSERT_OK(at_snapshot);
  EXPECT_EQ(*at_snapshot, 2u);
  // Past the end: kNotFound.
  EXPECT_CODE(s.TermAt(11), absl::StatusCode::kNotFound);
  EXPECT_CODE(s.Entries(6, 12, UINT64_MAX, &out), absl::StatusCode::kNotFound);
  EXPECT_TRUE(out.empty());
  // In range.
  ASSERT_OK(s.Entries(6, 11, UINT64_MAX, &out));
  EXPECT_EQ(Show(out), Show(Range(6, 10, 2)));
  out.clear();
  ASSERT_OK(s.Entries(6, 11, 1, &out));
  EXPECT_EQ(out.size(), 1u) << "at least one entry, even over max_bytes";
}

TEST(DurableStorageTest, TermsOfARangeAreWhatTermAtAnswersIndexByIndex) {
  SimFileSystem fs(1);
  absl::StatusOr<std::unique_ptr<DurableStorage>> storage = OpenStorage(fs);
  ASSERT_OK(storage);
  DurableStorage& s = **storage;
  ASSERT_OK(s.SaveReady(EntriesReady(Range(1, 10, 2), Hs(2, 1, 8))));
  ASSERT_OK(s.SaveReady(EntriesReady(Range(8, 12, 3), Hs(3, 1, 8))));
  ASSERT_OK(s.CreateSnapshot(5, Conf({1, 2, 3}), "state at 5"));
  // Every range over and around [FirstIndex() - 1, LastIndex()]: the same terms, or the error
  // of the first index TermAt refuses.
  for (Index lo = 0; lo <= s.LastIndex() + 2; ++lo) {
    for (Index hi = lo; hi <= s.LastIndex() + 3; ++hi) {
      std::vector<Term> terms(hi - lo, 999);
      const absl::Status status = s.Terms(lo, hi, terms.data());
      absl::Status expected;
      for (Index i = lo; i < hi && expected.ok(); ++i) {
        absl::StatusOr<Term> term = s.TermAt(i);
        if (!term.ok()) {
          expected = term.status();
        } else if (status.ok()) {
          EXPECT_EQ(terms[i - lo], *term) << "index " << i << " of [" << lo << ", " << hi << ")";
        }
      }
      EXPECT_EQ(status, expected) << "[" << lo << ", " << hi << ")";
    }
  }
}

TEST(DurableStorageTest, SaveReadyWithASnapshotReplacesTheLogAndSurvivesReopen) {
  SimFileSystem fs(1);
  std::string before;
  {
    absl::StatusOr<std::unique_ptr<DurableStorage>> storage = OpenStorage(fs);
    ASSERT_OK(storage);
    DurableStorage& s = **storage;
    ASSERT_OK(s.SaveReady(EntriesReady(Range(1, 3, 1), Hs(1, 0, 3))));
    // The leader sends a snapshot at 10/2 (rule 7: the log does not hold entry 10), with the
    // entry after it and a new hard state.
    ASSERT_OK(s.SaveReady(SnapshotReady(10, 2, {1, 2, 3, 4}, "state at 10", Range(11, 11, 2), Hs(2, 0, 10))));
    EXPECT_EQ(s.FirstIndex(), 11u);
    EXPECT_EQ(s.LastIndex(), 11u);
    EXPECT_CODE(s.TermAt(3), absl::StatusCode::kOutOfRange);
    absl::StatusOr<Term> term = s.TermAt(10);
    ASSERT_OK(term);
    EXPECT_EQ(*term, 2u);
    EXPECT_EQ(s.SnapshotMetadata().index(), 10u);
    absl::StatusOr<std::string> data = s.SnapshotData();
    ASSERT_OK(data);
    EXPECT_EQ(*data, "state at 10");
    before = Fingerprint(s);
  }
  absl::StatusOr<std::unique_ptr<DurableStorage>> reopened = OpenStorage(fs, {}, {1, 2, 3});
  ASSERT_OK(reopened);
  const DurableStorage& s = **reopened;
  EXPECT_EQ(s.FirstIndex(), 11u);
  EXPECT_EQ(s.LastIndex(), 11u);
  EXPECT_EQ(Show(s.InitialConfState()), "voters=1,2,3,4,") << "membership comes from the snapshot";
  EXPECT_EQ(Show(s.InitialHardState()), Show(Hs(2, 0, 10)));
  EXPECT_EQ(Fingerprint(s), before);
}

TEST(DurableStorageTest, SaveReadyWithASnapshotConflictingInsideTheLogDropsTheWholeLog) {
  SimFileSystem fs(1);
  {
    absl::StatusOr<std::unique_ptr<DurableStorage>> storage = OpenStorage(fs);
    ASSERT_OK(storage);
    ASSERT_OK((*storage)->SaveReady(EntriesReady(Range(1, 10, 1), Hs(1, 0, 2))));
    ASSERT_OK((*storage)->SaveReady(SnapshotReady(5, 2, {1, 2, 3}, "state at 5", {}, Hs(2, 0, 5))));
    EXPECT_EQ((*storage)->FirstIndex(), 6u);
    EXPECT_EQ((*storage)->LastIndex(), 5u);
  }
  absl::StatusOr<std::unique_ptr<DurableStorage>> reopened = OpenStorage(fs);
  ASSERT_OK(reopened);
  EXPECT_EQ((*reopened)->FirstIndex(), 6u);
  EXPECT_EQ((*reopened)->LastIndex(), 5u) << "entries 6..10 of term 1 conflict with the snapshot";
  absl::StatusOr<Term> term = (*reopened)->TermAt(5);
  ASSERT_OK(term);
  EXPECT_EQ(*term, 2u);
}

TEST(DurableStorageTest, SaveReadyWithASnapshotDeletesTheSegmentsItReplaced) {
  SimFileSystem fs(1);
  StorageOptions options;
  options.wal.max_segment_bytes = 200;
  absl::StatusOr<std::unique_ptr<DurableStorage>> storage = OpenStorage(fs, options);
  ASSERT_OK(storage);
  DurableStorage& s = **storage;
  for (Index index = 1; index <= 30; ++index) ASSERT_OK(s.SaveReady(EntriesReady(Range(index, index, 1))));
  ASSERT_GT(Files(fs, "wal").size(), 3u);
  ASSERT_OK(s.SaveReady(SnapshotReady(40, 2, {1, 2, 3}, "state at 40", {}, Hs(2, 0, 40))));
  EXPECT_EQ(s.FirstIndex(), 41u);
  EXPECT_EQ(Files(fs, "wal").size(), 1u) << "every entry the snapshot replaced is <= 40";
}

TEST(DurableStorageTest, CreateSnapshotCompactsTheLog) {
  SimFileSystem fs(1);
  StorageOptions options;
  options.wal.max_segment_bytes = 256;
  std::string before;
  {
    absl::StatusOr<std::unique_ptr<DurableStorage>> storage = OpenStorage(fs, options);
    ASSERT_OK(storage);
    DurableStorage& s = **storage;
    for (Index index = 1; index <= 30; ++index) {
      ASSERT_OK(s.SaveReady(EntriesReady(Range(index, index, 1), Hs(1, 1, index))));
    }
    const size_t segments_before = Files(fs, "wal").size();
    ASSERT_GT(segments_before, 4u);
    ASSERT_OK(s.CreateSnapshot(20, Conf({1, 2, 5}), "state at 20"));
    EXPECT_EQ(s.FirstIndex(), 21u);
    EXPECT_EQ(s.LastIndex(), 30u);
    EXPECT_LT(Files(fs, "wal").size(), segments_before) << "segments holding only entries <= 20 go";
    EXPECT_EQ(Files(fs, "snap").size(), 1u);
    EXPECT_EQ(s.SnapshotMetadata().index(), 20u);
    EXPECT_EQ(s.SnapshotMetadata().term(), 1u);
    Entries out;
    ASSERT_OK(s.Entries(21, 31, UINT64_MAX, &out));
    EXPECT_EQ(Show(out), Show(Range(21, 30, 1)));
    // Not newer than the current snapshot: nothing to do. Outside the log: an error.
    EXPECT_OK(s.CreateSnapshot(15, Conf({1}), "older"));
    EXPECT_EQ(s.SnapshotMetadata().index(), 20u);
    EXPECT_CODE(s.CreateSnapshot(31, Conf({1}), "future"), absl::StatusCode::kInvalidArgument);
    before = Fingerprint(s);
  }
  absl::StatusOr<std::unique_ptr<DurableStorage>> reopened = OpenStorage(fs, options);
  ASSERT_OK(reopened);
  EXPECT_EQ(Fingerprint(**reopened), before);
  EXPECT_EQ((*reopened)->FirstIndex(), 21u);
  EXPECT_EQ(Show((*reopened)->InitialConfState()), "voters=1,2,5,");
  // Snapshot at the very end: an empty log after it.
  ASSERT_OK((*reopened)->CreateSnapshot(30, Conf({1, 2, 5}), "state at 30"));
  EXPECT_EQ((*reopened)->FirstIndex(), 31u);
  EXPECT_EQ((*reopened)->LastIndex(), 30u);
  before = Fingerprint(**reopened);
  reopened->reset();
  absl::StatusOr<std::unique_ptr<DurableStorage>> again = OpenStorage(fs, options);
  ASSERT_OK(again);
  EXPECT_EQ(Fingerprint(**again), before);
}

// A storage with entries 1..8 and a snapshot "0123456789" at index 4.
std::unique_ptr<DurableStorage> StorageWithSnapshotAt4(SimFileSystem& fs) {
  absl::StatusOr<std::unique_ptr<DurableStorage>> storage = OpenStorage(fs);
  EXPECT_OK(storage);
  if (!storage.ok()) return nullptr;
  EXPECT_OK((*storage)->SaveReady(EntriesReady(Range(1, 8, 1), Hs(1, 0, 8))));
  EXPECT_OK((*storage)->CreateSnapshot(4, Conf({1, 2, 3}), "0123456789"));
  return std::move(*storage);
}

TEST(DurableStorageTest, ReadSnapshotChunkServesTheCurrentSnapshotOnly) {
  SimFileSystem fs(1);
  std::unique_ptr<DurableStorage> storage = StorageWithSnapshotAt4(fs);
  ASSERT_NE(storage, nullptr);
  DurableStorage& s = *storage;
  const raftpb::SnapshotMeta old_meta = s.SnapshotMetadata();
  absl::StatusOr<std::string> chunk = s.ReadSnapshotChunk(old_meta, 3, 4);
  ASSERT_OK(chunk);
  EXPECT_EQ(*chunk, "3456");
  ASSERT_OK(s.CreateSnapshot(8, Conf({1, 2, 3}), "abcdef"));
  EXPECT_CODE(s.ReadSnapshotChunk(old_meta, 0, 4), absl::StatusCode::kOutOfRange);
  chunk = s.ReadSnapshotChunk(s.SnapshotMetadata(), 4, 100);
  ASSERT_OK(chunk);
  EXPECT_EQ(*chunk, "ef");
}

// A leader whose snapshot file was damaged at rest must not stream it: every follower would
// reject the assembled data and ask again from offset 0, forever (found by keel-sim's bit
// flips). The read that starts a transfer verifies the whole snapshot.
TEST(DurableStorageTest, ReadSnapshotChunkAtOffsetZeroVerifiesTheWholeSnapshot) {
  SimFileSystem fs(1);
  std::unique_ptr<DurableStorage> storage = StorageWithSnapshotAt4(fs);
  ASSERT_NE(storage, nullptr);
  DurableStorage& s = *storage;
  const raftpb::SnapshotMeta meta = s.SnapshotMetadata();
  ASSERT_OK(s.ReadSnapshotChunk(meta, 0, 4));
  const Strings snaps = Files(fs, "snap");
  ASSERT_EQ(snaps.size(), 1u);
  const std::string path = JoinPath(JoinPath(kDir, "snap"), snaps[0]);
  const std::string contents = fs.Contents(path);
  const size_t at = contents.find("789");  // inside the data, past the first chunk
  ASSERT_NE(at, std::string::npos);
  fs.CorruptByte(path, at);
  absl::StatusOr<std::string> chunk = s.ReadSnapshotChunk(meta, 0, 4);
  EXPECT_CODE(chunk, absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(chunk.status().message(), snaps[0])) << chunk.status();
}

TEST(DurableStorageTest, ACrashAfterACompletedSaveReadyLosesNothing) {
  // Crash after each step of a history; whatever completed must be there after recovery.
  // Torn writes are always on: only unacknowledged bytes may be torn.
  for (int steps = 1; steps <= 7; ++steps) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      SCOPED_TRACE(absl::StrCat("crash after ", steps, " steps, seed ", seed));
      SimDiskFaults faults;
      faults.torn_write_probability = 1;
      SimFileSystem fs(seed, faults);
      StorageOptions options;
      options.wal.max_segment_bytes = 300;
      std::string before;
      {
        absl::StatusOr<std::unique_ptr<DurableStorage>> storage = OpenStorage(fs, options);
        ASSERT_OK(storage);
        DurableStorage& s = **storage;
        for (int step = 0; step < steps; ++step) {
          switch (step) {
            case 0: ASSERT_OK(s.SaveReady(EntriesReady(Range(1, 5, 1), Hs(1, 1, 3)))); break;
            case 1: ASSERT_OK(s.SaveReady(EntriesReady(Range(6, 12, 1), Hs(1, 1, 10)))); break;
            case 2: ASSERT_OK(s.CreateSnapshot(8, Conf({1, 2, 3}), "state at 8")); break;
            case 3: ASSERT_OK(s.SaveReady(EntriesReady(Range(11, 14, 2), Hs(2, 3, 10)))); break;
            case 4:
              ASSERT_OK(s.SaveReady(SnapshotReady(20, 3, {1, 2, 3, 4}, "state at 20", Range(21, 22, 3), Hs(3, 0, 20))));
              break;
            case 5: ASSERT_OK(s.SaveReady(EntriesReady({}, Hs(4, 2, 21)))); break;
            case 6:
              for (Index index = 23; index <= 40; ++index) {
                ASSERT_OK(s.SaveReady(EntriesReady(Range(index, index, 4), Hs(4, 2, index - 1))));
              }
              break;
          }
        }
        before = Fingerprint(s);
      }
      fs.Crash();
      absl::StatusOr<std::unique_ptr<DurableStorage>> reopened = OpenStorage(fs, options);
      ASSERT_OK(reopened);
      EXPECT_EQ(Fingerprint(**reopened), before);
    }
  }
}

TEST(DurableStorageTest, OpenFailsWithDataLossOnACorruptLog) {
  SimFileSystem fs(1);
  {
    absl::StatusOr<std::unique_ptr<DurableStorage>> storage = OpenStorage(fs);
    ASSERT_OK(storage);
    for (Index index = 1; index <= 5; ++index) {
      ASSERT_OK((*storage)->SaveReady(EntriesReady(Range(index, index, 1), Hs(1, 0, index))));
    }
  }
  const Strings segments = Files(fs, "wal");
  ASSERT_EQ(segments.size(), 1u);
  const std::string path = JoinPath(JoinPath(kDir, "wal"), segments[0]);
  fs.CorruptByte(path, fs.Contents(path).size() / 2);
  absl::StatusOr<std::unique_ptr<DurableStorage>> storage = OpenStorage(fs);
  EXPECT_CODE(storage, absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(storage.status().message(), segments[0])) << storage.status();
}

// A batch writes its hard state after its entries and a torn write keeps a prefix, so a
// commit index past the recovered log means fsynced records are gone: refuse to start.
TEST(DurableStorageTest, AHardStateCommitPastTheLastEntryIsDataLoss) {
  SimFileSystem fs(1);
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = Wal::Open(fs, JoinPath(kDir, "wal"), {}, Conf({1}));
    ASSERT_OK(wal);
    const raftpb::HardState hs = Hs(1, 1, 5);  // crafted: no batch can write this
    ASSERT_OK((*wal)->Write(std::nullopt, Range(1, 3, 1), &hs));
  }
  absl::StatusOr<std::unique_ptr<DurableStorage>> storage = OpenStorage(fs);
  EXPECT_CODE(storage, absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(storage.status().message(), "commit index 5 is past the last entry 3"))
      << storage.status();
}

TEST(DurableStorageTest, AFailedSyncMakesEveryLaterSaveReadyFail) {
  SimFileSystem fs(1);
  absl::StatusOr<std::unique_ptr<DurableStorage>> storage = OpenStorage(fs);
  ASSERT_OK(storage);
  DurableStorage& s = **storage;
  ASSERT_OK(s.SaveReady(EntriesReady(Range(1, 2, 1), Hs(1, 0, 1))));
  fs.faults().sync_failure_probability = 1;
  EXPECT_FALSE(s.SaveReady(EntriesReady(Range(3, 3, 1))).ok());
  fs.faults().sync_failure_probability = 0;
  EXPECT_FALSE(s.SaveReady(EntriesReady(Range(3, 3, 1))).ok());
  EXPECT_FALSE(s.SaveReady(EntriesReady({}, Hs(2, 0, 1))).ok());
  EXPECT_EQ(s.LastIndex(), 2u);
}

// --- a crash between the two durable steps of a snapshot install -------------------------
//
// SaveReady with a snapshot first stores the snapshot file, then writes the LogReset to the
// WAL. A crash in between leaves a snapshot that the WAL knows nothing about. Open() then
// reconciles in memory (rules 6/7), but nothing records that reconciliation on disk, so the
// WAL's own replay of the old entries must still agree with what is written afterwards.

// The disk right after such a crash: the WAL holds `entries`, the snapshot store a snapshot
// at index/term that the WAL never heard of.
void CrashBetweenSnapshotAndLogReset(SimFileSystem& fs, const Entries& entries, const raftpb::HardState& hs,
                                     Index index, Term term) {
  {
    absl::StatusOr<std::unique_ptr<DurableStorage>> storage = OpenStorage(fs);
    ASSERT_OK(storage);
    ASSERT_OK((*storage)->SaveReady(EntriesReady(entries, hs)));
  }
  absl::StatusOr<std::unique_ptr<SnapshotStore>> snapshots = SnapshotStore::Open(fs, JoinPath(kDir, "snap"));
  ASSERT_OK(snapshots);
  raftpb::SnapshotMeta meta;
  meta.set_index(index);
  meta.set_term(term);
  *meta.mutable_conf_state() = Conf({1, 2, 3});
  ASSERT_OK((*snapshots)->Save(meta, absl::StrCat("state at ", index)));
}

TEST(DurableStorageCrashWindowTest, SnapshotConflictingWithTheLogThenNewEntriesSurviveReopen) {
  SimFileSystem fs(1);
  CrashBetweenSnapshotAndLogReset(fs, Range(1, 10, 1), Hs(1, 0, 4), /*index=*/5, /*term=*/2);
  {
    absl::StatusOr<std::unique_ptr<DurableStorage>> storage = OpenStorage(fs);
    ASSERT_OK(storage);
    EXPECT_EQ((*storage)->FirstIndex(), 6u);
    EXPECT_EQ((*storage)->LastIndex(), 5u) << "rule 7: entries 1..10 of term 1 conflict with 5/2";
    // The node goes on: the leader's entry 6 of term 2, acknowledged once this returns.
    ASSERT_OK((*storage)->SaveReady(EntriesReady(Range(6, 6, 2), Hs(2, 0, 6))));
  }
  absl::StatusOr<std::unique_ptr<DurableStorage>> reopened = OpenStorage(fs);
  ASSERT_OK(reopened);
  EXPECT_EQ((*reopened)->LastIndex(), 6u) << "the acknowledged entry 6 was lost";
  absl::StatusOr<Term> term = (*reopened)->TermAt(6);
  ASSERT_OK(term);
  EXPECT_EQ(*term, 2u);
}

TEST(DurableStorageCrashWindowTest, SnapshotPastTheLogThenNewEntriesSurviveReopen) {
  SimFileSystem fs(1);
  CrashBetweenSnapshotAndLogReset(fs, Range(1, 3, 1), Hs(1, 0, 3), /*index=*/10, /*term=*/2);
  {
    absl::StatusOr<std::unique_ptr<DurableStorage>> storage = OpenStorage(fs);
    ASSERT_OK(storage);
    EXPECT_EQ((*storage)->FirstIndex(), 11u);
    EXPECT_EQ((*storage)->LastIndex(), 10u);
    ASSERT_OK((*storage)->SaveReady(EntriesReady(Range(11, 11, 2), Hs(2, 0, 11))));
  }
  absl::StatusOr<std::unique_ptr<DurableStorage>> reopened = OpenStorage(fs);
  ASSERT_OK(reopened);
  EXPECT_EQ((*reopened)->FirstIndex(), 11u);
  EXPECT_EQ((*reopened)->LastIndex(), 11u);
}

TEST(DurableStorageCrashWindowTest, ImmediatelyAfterTheCrashTheStorageIsConsistent) {
  // The part that does work: right after the crash, the snapshot wins.
  SimFileSystem fs(1);
  CrashBetweenSnapshotAndLogReset(fs, Range(1, 3, 1), Hs(1, 0, 3), /*index=*/10, /*term=*/2);
  absl::StatusOr<std::unique_ptr<DurableStorage>> storage = OpenStorage(fs);
  ASSERT_OK(storage);
  EXPECT_EQ((*storage)->FirstIndex(), 11u);
  EXPECT_EQ((*storage)->LastIndex(), 10u);
  absl::StatusOr<Term> term = (*storage)->TermAt(10);
  ASSERT_OK(term);
  EXPECT_EQ(*term, 2u);
  EXPECT_CODE((*storage)->TermAt(3), absl::StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace keel
