// A full disk (issue #12): durable storage refuses the write cleanly and works again once space
// returns. A WAL batch that hits ENOSPC is undone (the segment truncated back and fsynced, a
// half-created segment removed), so the WAL on disk and in memory is exactly as before the
// batch; a snapshot that does not fit is abandoned whole. Only a failed undo or a failed
// fsync still poisons (fsyncgate). All on SimFileSystem's capacity fault, with and without a
// short write before the ENOSPC.
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/storage/storage_test_util.h"
#include "engine/storage/durable_storage.h"
#include "engine/storage/snapshot_store.h"
#include "engine/storage/wal.h"
#include "gtest/gtest.h"
#include "sim/sim_filesystem.h"
#include "tests/harness/status_matchers.h"

namespace keel {
namespace {

using Entries = std::vector<Entry>;

constexpr char kWalDir[] = "/node/wal";

std::string SegmentPath(uint64_t sequence) {
  char name[32];
  std::snprintf(name, sizeof(name), "%016" PRIx64 ".wal", sequence);
  return JoinPath(kWalDir, name);
}

Entries Range(Index lo, Index hi, Term term, size_t data_bytes = 16) {
  Entries entries;
  for (Index index = lo; index <= hi; ++index) {
    Entry& entry = entries.emplace_back();
    entry.set_index(index);
    entry.set_term(term);
    entry.set_data(absl::StrCat("entry ", index, std::string(data_bytes, 'x')));
  }
  return entries;
}

using storagetest::Hs;

raftpb::ConfState Conf() {
  raftpb::ConfState conf;
  for (NodeId voter : {1, 2, 3}) conf.add_voters(voter);
  return conf;
}

absl::Status Write(Wal& wal, const Entries& entries, const raftpb::HardState& hs) {
  return wal.Write(std::nullopt, entries, &hs);
}

absl::StatusOr<std::unique_ptr<Wal>> OpenWal(SimFileSystem& fs, WalOptions options = {}) {
  return Wal::Open(fs, kWalDir, options, Conf());
}

SimDiskFaults Faults(bool short_write) {
  SimDiskFaults faults;
  faults.torn_write_probability = 0;
  faults.short_write_at_capacity = short_write;
  return faults;
}

// The log of `wal` is entries 1..last with these terms, read back verified from disk.
void ExpectLog(Wal& wal, Index last, const raftpb::HardState& hs) {
  EXPECT_EQ(wal.last_index(), last);
  EXPECT_EQ(wal.hard_state().term(), hs.term());
  EXPECT_EQ(wal.hard_state().vote(), hs.vote());
  EXPECT_EQ(wal.hard_state().commit(), hs.commit());
  if (last == 0) return;
  Entries out;
  ASSERT_OK(wal.ReadEntries(1, last + 1, UINT64_MAX, &out));
  ASSERT_EQ(out.size(), last);
  for (Index index = 1; index <= last; ++index) EXPECT_EQ(out[index - 1].index(), index);
}

class WalDiskFullTest : public ::testing::TestWithParam<bool> {};  // param: short write

TEST_P(WalDiskFullTest, ABatchThatDoesNotFitIsUndoneAndTheSameBatchLaterWritesByteExact) {
  // The reference: the same batches on a disk that never filled.
  SimFileSystem reference_fs(1, Faults(GetParam()));
  {
    absl::StatusOr<std::unique_ptr<Wal>> reference = OpenWal(reference_fs);
    ASSERT_OK(reference);
    ASSERT_OK(Write(**reference, Range(1, 2, 1), Hs(1, 1, 1)));
    ASSERT_OK(Write(**reference, Range(3, 5, 1), Hs(1, 1, 2)));
  }
  SimFileSystem fs(1, Faults(GetParam()));
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
  ASSERT_OK(wal);
  ASSERT_OK(Write(**wal, Range(1, 2, 1), Hs(1, 1, 1)));
  const std::string before = fs.Contents(SegmentPath(1));
  fs.faults().capacity_bytes = before.size() + 20;  // a part of the next batch fits
  const absl::Status full = Write(**wal, Range(3, 5, 1), Hs(1, 1, 2));
  EXPECT_CODE(full, absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(full.message(), "disk full")) << full;
  EXPECT_OK((*wal)->poisoned());
  EXPECT_EQ(fs.Contents(SegmentPath(1)), before) << "the batch's prefix was not cut off";
  ExpectLog(**wal, 2, Hs(1, 1, 1));
  // Still full: it fails the same way, as often as asked.
  EXPECT_CODE(Write(**wal, Range(3, 5, 1), Hs(1, 1, 2)), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(fs.Contents(SegmentPath(1)), before);
  // Space returns: the same batch goes in, and the disk holds exactly what it would have.
  fs.faults().capacity_bytes = UINT64_MAX;
  ASSERT_OK(Write(**wal, Range(3, 5, 1), Hs(1, 1, 2)));
  ExpectLog(**wal, 5, Hs(1, 1, 2));
  EXPECT_EQ(fs.Contents(SegmentPath(1)), reference_fs.Contents(SegmentPath(1)));
  // And a restart recovers it.
  wal->reset();
  fs.Crash();
  wal = OpenWal(fs);
  ASSERT_OK(wal);
  ExpectLog(**wal, 5, Hs(1, 1, 2));
}

TEST_P(WalDiskFullTest, ARestartWhileTheDiskIsFullRecoversTheLogAsBeforeTheFailedBatch) {
  SimFileSystem fs(1, Faults(GetParam()));
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, Range(1, 3, 2), Hs(2, 3, 3)));
    fs.faults().capacity_bytes = fs.Contents(SegmentPath(1)).size() + 30;
    EXPECT_CODE(Write(**wal, Range(4, 9, 2), Hs(2, 3, 4)), absl::StatusCode::kResourceExhausted);
  }
  fs.Crash();  // power loss with the disk still full
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
  ASSERT_OK(wal);
  ExpectLog(**wal, 3, Hs(2, 3, 3));
  fs.faults().capacity_bytes = UINT64_MAX;
  ASSERT_OK(Write(**wal, Range(4, 9, 2), Hs(2, 3, 4)));
  wal->reset();
  fs.Crash();
  wal = OpenWal(fs);
  ASSERT_OK(wal);
  ExpectLog(**wal, 9, Hs(2, 3, 4));
}

TEST_P(WalDiskFullTest, ARolloverThatCannotWriteItsNewSegmentRemovesIt) {
  WalOptions options;
  options.max_segment_bytes = 1;  // every batch starts a new segment
  SimFileSystem fs(1, Faults(GetParam()));
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, options);
  ASSERT_OK(wal);
  ASSERT_OK(Write(**wal, Range(1, 1, 1), Hs(1, 1, 0)));
  ASSERT_EQ((*wal)->segment_count(), 2u);
  const std::string second = fs.Contents(SegmentPath(2));
  fs.faults().capacity_bytes = fs.Contents(SegmentPath(1)).size() + second.size() + 5;  // no room for a header
  EXPECT_CODE(Write(**wal, Range(2, 2, 1), Hs(1, 1, 1)), absl::StatusCode::kResourceExhausted);
  EXPECT_OK((*wal)->poisoned());
  EXPECT_EQ((*wal)->segment_count(), 2u);
  absl::StatusOr<std::vector<std::string>> names = fs.List(kWalDir);
  ASSERT_OK(names);
  EXPECT_EQ(names->size(), 2u) << "the half-written third segment must be removed";
  EXPECT_EQ(fs.Contents(SegmentPath(2)), second);
  fs.faults().capacity_bytes = UINT64_MAX;
  ASSERT_OK(Write(**wal, Range(2, 2, 1), Hs(1, 1, 1)));
  EXPECT_EQ((*wal)->segment_count(), 3u);
  wal->reset();
  fs.Crash();
  wal = OpenWal(fs, options);
  ASSERT_OK(wal);
  ExpectLog(**wal, 2, Hs(1, 1, 1));
}

TEST_P(WalDiskFullTest, AFailedFsyncOfTheUndoStillPoisons) {
  SimFileSystem fs(1, Faults(GetParam()));
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
  ASSERT_OK(wal);
  ASSERT_OK(Write(**wal, Range(1, 2, 1), Hs(1, 1, 1)));
  fs.faults().capacity_bytes = fs.Contents(SegmentPath(1)).size() + 10;
  fs.faults().sync_failure_probability = 1;
  const absl::Status status = Write(**wal, Range(3, 5, 1), Hs(1, 1, 2));
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.code(), absl::StatusCode::kResourceExhausted) << "a failed fsync is not retryable";
  EXPECT_FALSE((*wal)->poisoned().ok());
  EXPECT_NE((*wal)->poisoned().code(), absl::StatusCode::kResourceExhausted);
  fs.faults() = Faults(GetParam());
  EXPECT_FALSE(Write(**wal, Range(3, 3, 1), Hs(1, 1, 2)).ok());
}

INSTANTIATE_TEST_SUITE_P(ShortWrite, WalDiskFullTest, ::testing::Bool());

TEST(SnapshotStoreDiskFullTest, ASnapshotThatDoesNotFitIsAbandonedWhole) {
  SimFileSystem fs(1, Faults(/*short_write=*/true));
  absl::StatusOr<std::unique_ptr<SnapshotStore>> store = SnapshotStore::Open(fs, "/node/snap");
  ASSERT_OK(store);
  raftpb::SnapshotMeta meta;
  meta.set_index(10);
  meta.set_term(2);
  *meta.mutable_conf_state() = Conf();
  const std::string data(4096, 's');
  fs.faults().capacity_bytes = 1000;
  EXPECT_CODE((*store)->Save(meta, data), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ((*store)->meta().index(), 0u);
  absl::StatusOr<std::vector<std::string>> names = fs.List("/node/snap");
  ASSERT_OK(names);
  EXPECT_TRUE(names->empty()) << "left behind: " << names->front();
  fs.faults().capacity_bytes = UINT64_MAX;
  ASSERT_OK((*store)->Save(meta, data));
  store = SnapshotStore::Open(fs, "/node/snap");
  ASSERT_OK(store);
  EXPECT_EQ((*store)->meta().index(), 10u);
  absl::StatusOr<std::string> read = (*store)->ReadAllData();
  ASSERT_OK(read);
  EXPECT_EQ(*read, data);
}

TEST(DurableStorageDiskFullTest, AReadyWhoseBatchDoesNotFitAfterItsSnapshotIsRetriedWhole) {
  SimFileSystem fs(1, Faults(/*short_write=*/true));
  absl::StatusOr<std::unique_ptr<DurableStorage>> storage = DurableStorage::Open(fs, "/node", {1, 2, 3}, {});
  ASSERT_OK(storage);
  Ready ready;
  ready.snapshot.emplace();
  ready.snapshot->meta.set_index(20);
  ready.snapshot->meta.set_term(3);
  *ready.snapshot->meta.mutable_conf_state() = Conf();
  ready.snapshot->data = std::string(2000, 'd');
  ready.entries = Range(21, 24, 3, /*data_bytes=*/1000);
  ready.hard_state = Hs(3, 0, 20);
  // Room for the snapshot file, not for the WAL batch behind it.
  fs.faults().capacity_bytes = fs.Contents(SegmentPath(1)).size() + 2200;
  EXPECT_CODE((*storage)->SaveReady(ready), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ((*storage)->SnapshotMetadata().index(), 20u) << "the snapshot is durable";
  EXPECT_EQ((*storage)->LastIndex(), 0u) << "the WAL batch is not";
  EXPECT_OK((*storage)->wal().poisoned());
  fs.faults().capacity_bytes = UINT64_MAX;
  ASSERT_OK((*storage)->SaveReady(ready));  // the same Ready again: the snapshot is not saved twice
  EXPECT_EQ((*storage)->FirstIndex(), 21u);
  EXPECT_EQ((*storage)->LastIndex(), 24u);
  storage->reset();
  fs.Crash();
  storage = DurableStorage::Open(fs, "/node", {1, 2, 3}, {});
  ASSERT_OK(storage);
  EXPECT_EQ((*storage)->FirstIndex(), 21u);
  EXPECT_EQ((*storage)->LastIndex(), 24u);
  EXPECT_EQ((*storage)->InitialHardState().commit(), 20u);
}

TEST(DurableStorageDiskFullTest, AnApplicationSnapshotThatDoesNotFitLeavesTheLogWhole) {
  SimFileSystem fs(1, Faults(/*short_write=*/true));
  absl::StatusOr<std::unique_ptr<DurableStorage>> storage = DurableStorage::Open(fs, "/node", {1, 2, 3}, {});
  ASSERT_OK(storage);
  Ready ready;
  ready.entries = Range(1, 8, 1);
  ready.hard_state = Hs(1, 1, 8);
  ASSERT_OK((*storage)->SaveReady(ready));
  fs.faults().capacity_bytes = fs.Contents(SegmentPath(1)).size() + 100;
  EXPECT_CODE((*storage)->CreateSnapshot(6, Conf(), std::string(1000, 'a')), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ((*storage)->FirstIndex(), 1u);
  EXPECT_EQ((*storage)->SnapshotMetadata().index(), 0u);
  fs.faults().capacity_bytes = UINT64_MAX;
  ASSERT_OK((*storage)->CreateSnapshot(6, Conf(), std::string(1000, 'a')));
  EXPECT_EQ((*storage)->FirstIndex(), 7u);
}

}  // namespace
}  // namespace keel
