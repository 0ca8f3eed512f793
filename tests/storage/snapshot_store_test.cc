// SnapshotStore (engine/storage/snapshot_store.h): snapshots are written whole or not at all
// (temporary file, fsync, rename, directory fsync); at open, leftovers are removed, every file
// is verified, the newest valid one wins and older ones are pruned.
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/crc32c.h"
#include "sim/sim_filesystem.h"
#include "engine/storage/snapshot_store.h"
#include "gtest/gtest.h"
#include "tests/harness/status_matchers.h"

namespace keel {
namespace {


using Strings = std::vector<std::string>;

constexpr char kSnapDir[] = "/node/snap";

std::string SnapName(Index index, Term term) {
  char name[64];
  std::snprintf(name, sizeof(name), "%016" PRIx64 "-%016" PRIx64 ".snap", index, term);
  return name;
}
std::string SnapPath(Index index, Term term) { return JoinPath(kSnapDir, SnapName(index, term)); }

raftpb::SnapshotMeta Meta(Index index, Term term, const std::vector<NodeId>& voters = {1, 2, 3}) {
  raftpb::SnapshotMeta meta;
  meta.set_index(index);
  meta.set_term(term);
  for (NodeId voter : voters) meta.mutable_conf_state()->add_voters(voter);
  return meta;
}

std::string Data(Index index, size_t size = 64) {
  std::string data = absl::StrCat("state machine at ", index, ":");
  while (data.size() < size) data.push_back(static_cast<char>('a' + data.size() % 26));
  data.resize(size);
  return data;
}

std::string Show(const raftpb::SnapshotMeta& meta) {
  std::string voters;
  for (NodeId voter : meta.conf_state().voters()) absl::StrAppend(&voters, voter, ",");
  return absl::StrCat("index=", meta.index(), " term=", meta.term(), " voters=", voters, " size=", meta.size(),
                      " crc=", meta.crc32c());
}

Strings SnapFiles(SimFileSystem& fs) {
  absl::StatusOr<Strings> names = fs.List(kSnapDir);
  return names.ok() ? *names : Strings{"<" + names.status().ToString() + ">"};
}

absl::StatusOr<std::unique_ptr<SnapshotStore>> OpenStore(SimFileSystem& fs) {
  return SnapshotStore::Open(fs, kSnapDir);
}

SimDiskFaults TornWritesAlways() {
  SimDiskFaults faults;
  faults.torn_write_probability = 1;
  return faults;
}

TEST(SnapshotStoreTest, AnEmptyDirectoryHasNoSnapshot) {
  SimFileSystem fs(1);
  absl::StatusOr<std::unique_ptr<SnapshotStore>> store = OpenStore(fs);
  ASSERT_OK(store);
  EXPECT_EQ((*store)->meta().index(), 0u);
  EXPECT_EQ((*store)->meta().term(), 0u);
  EXPECT_TRUE((*store)->skipped().empty());
  EXPECT_CODE((*store)->ReadData(0, 10), absl::StatusCode::kNotFound);
  EXPECT_EQ(SnapFiles(fs), Strings{});
}

TEST(SnapshotStoreTest, SaveThenReopenReturnsMetaAndData) {
  SimFileSystem fs(1, TornWritesAlways());
  const std::string data = Data(10, 5000);
  std::string saved_meta;
  {
    absl::StatusOr<std::unique_ptr<SnapshotStore>> store = OpenStore(fs);
    ASSERT_OK(store);
    ASSERT_OK((*store)->Save(Meta(10, 2, {1, 2, 3, 4}), data));
    const raftpb::SnapshotMeta& meta = (*store)->meta();
    EXPECT_EQ(meta.index(), 10u);
    EXPECT_EQ(meta.term(), 2u);
    EXPECT_EQ(meta.size(), data.size()) << "Save fills in the size";
    EXPECT_EQ(meta.crc32c(), Crc32c(data)) << "Save fills in the CRC";
    absl::StatusOr<std::string> read = (*store)->ReadAllData();
    ASSERT_OK(read);
    EXPECT_EQ(*read, data);
    saved_meta = Show(meta);
  }
  EXPECT_EQ(SnapFiles(fs), Strings{SnapName(10, 2)});
  fs.Crash();  // the file, its name and the rename are all durable
  absl::StatusOr<std::unique_ptr<SnapshotStore>> store = OpenStore(fs);
  ASSERT_OK(store);
  EXPECT_EQ(Show((*store)->meta()), saved_meta);
  EXPECT_TRUE((*store)->skipped().empty());
  absl::StatusOr<std::string> read = (*store)->ReadAllData();
  ASSERT_OK(read);
  EXPECT_EQ(*read, data);
}

TEST(SnapshotStoreTest, AnEmptySnapshotRoundTrips) {
  SimFileSystem fs(1);
  {
    absl::StatusOr<std::unique_ptr<SnapshotStore>> store = OpenStore(fs);
    ASSERT_OK(store);
    ASSERT_OK((*store)->Save(Meta(3, 1), ""));
  }
  absl::StatusOr<std::unique_ptr<SnapshotStore>> store = OpenStore(fs);
  ASSERT_OK(store);
  EXPECT_EQ((*store)->meta().index(), 3u);
  EXPECT_EQ((*store)->meta().size(), 0u);
  absl::StatusOr<std::string> read = (*store)->ReadAllData();
  ASSERT_OK(read);
  EXPECT_EQ(*read, "");
}

TEST(SnapshotStoreTest, LeftoverTemporaryFilesAreRemovedAtOpen) {
  SimFileSystem fs(1, TornWritesAlways());
  {
    absl::StatusOr<std::unique_ptr<SnapshotStore>> store = OpenStore(fs);
    ASSERT_OK(store);
    ASSERT_OK((*store)->Save(Meta(10, 2), Data(10)));
  }
  // A Save that died before its rename, and one that died mid-write.
  fs.SetContents(JoinPath(kSnapDir, SnapName(20, 2) + ".tmp"), "KEELSNP1 half a snapshot");
  fs.SetContents(JoinPath(kSnapDir, SnapName(30, 3) + ".tmp"), "");
  {
    absl::StatusOr<std::unique_ptr<SnapshotStore>> store = OpenStore(fs);
    ASSERT_OK(store);
    EXPECT_EQ((*store)->meta().index(), 10u);
    EXPECT_EQ(SnapFiles(fs), Strings{SnapName(10, 2)});
  }
  fs.Crash();  // the removal was made durable
  EXPECT_EQ(SnapFiles(fs), Strings{SnapName(10, 2)});
}

TEST(SnapshotStoreTest, AFailedSaveKeepsThePreviousSnapshot) {
  SimFileSystem fs(1);
  {
    absl::StatusOr<std::unique_ptr<SnapshotStore>> store = OpenStore(fs);
    ASSERT_OK(store);
    ASSERT_OK((*store)->Save(Meta(10, 2), Data(10)));
    fs.faults().sync_failure_probability = 1;
    EXPECT_FALSE((*store)->Save(Meta(20, 2), Data(20)).ok());
    fs.faults().sync_failure_probability = 0;
    EXPECT_EQ((*store)->meta().index(), 10u) << "a failed Save must not become the newest snapshot";
    absl::StatusOr<std::string> read = (*store)->ReadAllData();
    ASSERT_OK(read);
    EXPECT_EQ(*read, Data(10));
  }
  absl::StatusOr<std::unique_ptr<SnapshotStore>> store = OpenStore(fs);
  ASSERT_OK(store);
  EXPECT_EQ((*store)->meta().index(), 10u);
  EXPECT_EQ(SnapFiles(fs), Strings{SnapName(10, 2)}) << "the temporary file of the failed Save is gone";
}

// Leaves a valid snapshot at 10/2 and a newer file at 20/3 damaged by `damage`.
void TwoSnapshotsNewestDamaged(SimFileSystem& fs, const std::function<void(const std::string&)>& damage) {
  std::string older;
  {
    absl::StatusOr<std::unique_ptr<SnapshotStore>> store = OpenStore(fs);
    ASSERT_OK(store);
    ASSERT_OK((*store)->Save(Meta(10, 2), Data(10)));
    older = fs.Contents(SnapPath(10, 2));
    ASSERT_OK((*store)->Save(Meta(20, 3), Data(20)));
  }
  ASSERT_EQ(SnapFiles(fs), Strings{SnapName(20, 3)}) << "Save prunes the older snapshot";
  fs.SetContents(SnapPath(10, 2), older);  // as if the prune had not happened yet
  damage(SnapPath(20, 3));
}

TEST(SnapshotStoreTest, ACorruptNewestSnapshotFallsBackToThePreviousValidOne) {
  struct Case {
    const char* what;
    std::function<void(SimFileSystem&, const std::string&)> damage;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"flipped data byte", [](SimFileSystem& fs, const std::string& path) { fs.CorruptByte(path, 40); },
       "CRC"},
      {"flipped trailer byte",
       [](SimFileSystem& fs, const std::string& path) { fs.CorruptByte(path, fs.Contents(path).size() - 1); },
       "CRC"},
      {"bad magic", [](SimFileSystem& fs, const std::string& path) { fs.CorruptByte(path, 0); }, "header"},
      {"cut short",
       [](SimFileSystem& fs, const std::string& path) {
         const std::string bytes = fs.Contents(path);
         fs.SetContents(path, bytes.substr(0, bytes.size() / 2));
       },
       ""},
      {"empty file", [](SimFileSystem& fs, const std::string& path) { fs.SetContents(path, ""); }, "header"},
      {"huge meta length", [](SimFileSystem& fs, const std::string& path) { fs.CorruptByte(path, 11); },
       "truncated"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    SimFileSystem fs(1);
    TwoSnapshotsNewestDamaged(fs, [&](const std::string& path) { c.damage(fs, path); });
    absl::StatusOr<std::unique_ptr<SnapshotStore>> store = OpenStore(fs);
    ASSERT_OK(store);
    EXPECT_EQ((*store)->meta().index(), 10u);
    EXPECT_EQ((*store)->meta().term(), 2u);
    absl::StatusOr<std::string> read = (*store)->ReadAllData();
    ASSERT_OK(read);
    EXPECT_EQ(*read, Data(10));
    ASSERT_EQ((*store)->skipped().size(), 1u);
    EXPECT_TRUE(absl::StrContains((*store)->skipped()[0], SnapName(20, 3))) << (*store)->skipped()[0];
    EXPECT_TRUE(absl::StrContains((*store)->skipped()[0], c.reason)) << (*store)->skipped()[0];
    // The damaged file is kept for the operator; the one in use is not pruned.
    EXPECT_EQ(SnapFiles(fs), (Strings{SnapName(10, 2), SnapName(20, 3)}));
  }
}

TEST(SnapshotStoreTest, AValidSnapshotUnderTheWrongNameIsSkipped) {
  SimFileSystem fs(1);
  TwoSnapshotsNewestDamaged(fs, [&](const std::string& path) {
    // A whole, CRC-valid file whose metadata says 20/3, found under the name of 30/3.
    fs.SetContents(SnapPath(30, 3), fs.Contents(path));
    ASSERT_OK(fs.Remove(path));
  });
  absl::StatusOr<std::unique_ptr<SnapshotStore>> store = OpenStore(fs);
  ASSERT_OK(store);
  EXPECT_EQ((*store)->meta().index(), 10u);
  ASSERT_EQ((*store)->skipped().size(), 1u);
  EXPECT_TRUE(absl::StrContains((*store)->skipped()[0], SnapName(30, 3))) << (*store)->skipped()[0];
}

TEST(SnapshotStoreTest, OnlyCorruptSnapshotsMeansNoSnapshotNotAnError) {
  SimFileSystem fs(1);
  ASSERT_OK(fs.MakeDirs(kSnapDir));
  fs.SetContents(SnapPath(5, 1), "not a snapshot at all");
  fs.SetContents(SnapPath(9, 1), "KEELSNP1");
  absl::StatusOr<std::unique_ptr<SnapshotStore>> store = OpenStore(fs);
  ASSERT_OK(store);
  EXPECT_EQ((*store)->meta().index(), 0u);
  EXPECT_EQ((*store)->skipped().size(), 2u);
  EXPECT_CODE((*store)->ReadData(0, 1), absl::StatusCode::kNotFound);
}

TEST(SnapshotStoreTest, OlderValidSnapshotsArePrunedAfterSave) {
  SimFileSystem fs(1, TornWritesAlways());
  {
    absl::StatusOr<std::unique_ptr<SnapshotStore>> store = OpenStore(fs);
    ASSERT_OK(store);
    ASSERT_OK((*store)->Save(Meta(5, 1), Data(5)));
    EXPECT_EQ(SnapFiles(fs), Strings{SnapName(5, 1)});
    ASSERT_OK((*store)->Save(Meta(10, 1), Data(10)));
    EXPECT_EQ(SnapFiles(fs), Strings{SnapName(10, 1)});
    ASSERT_OK((*store)->Save(Meta(15, 2), Data(15)));
    EXPECT_EQ(SnapFiles(fs), Strings{SnapName(15, 2)});
    absl::StatusOr<std::string> read = (*store)->ReadAllData();
    ASSERT_OK(read);
    EXPECT_EQ(*read, Data(15));
  }
  fs.Crash();  // pruning is durable too
  EXPECT_EQ(SnapFiles(fs), Strings{SnapName(15, 2)});
  absl::StatusOr<std::unique_ptr<SnapshotStore>> store = OpenStore(fs);
  ASSERT_OK(store);
  EXPECT_EQ((*store)->meta().index(), 15u);
}

TEST(SnapshotStoreTest, OlderValidSnapshotsArePrunedAtOpen) {
  SimFileSystem fs(1);
  std::string older;
  {
    absl::StatusOr<std::unique_ptr<SnapshotStore>> store = OpenStore(fs);
    ASSERT_OK(store);
    ASSERT_OK((*store)->Save(Meta(10, 2), Data(10)));
    older = fs.Contents(SnapPath(10, 2));
    ASSERT_OK((*store)->Save(Meta(20, 3), Data(20)));
  }
  fs.SetContents(SnapPath(10, 2), older);  // a crash between the rename and the prune
  absl::StatusOr<std::unique_ptr<SnapshotStore>> store = OpenStore(fs);
  ASSERT_OK(store);
  EXPECT_EQ((*store)->meta().index(), 20u);
  EXPECT_EQ(SnapFiles(fs), Strings{SnapName(20, 3)});
}

TEST(SnapshotStoreTest, ReadDataReturnsChunks) {
  SimFileSystem fs(1);
  const std::string data = Data(10, 1000);
  absl::StatusOr<std::unique_ptr<SnapshotStore>> saved = OpenStore(fs);
  ASSERT_OK(saved);
  ASSERT_OK((*saved)->Save(Meta(10, 2), data));
  absl::StatusOr<std::unique_ptr<SnapshotStore>> reopened = OpenStore(fs);
  ASSERT_OK(reopened);
  // The same answers from the store that wrote the file and from one that loaded it.
  for (SnapshotStore* store : {saved->get(), reopened->get()}) {
    std::string assembled;
    for (uint64_t offset = 0; offset < data.size(); offset += 128) {
      absl::StatusOr<std::string> chunk = store->ReadData(offset, 128);
      ASSERT_OK(chunk);
      EXPECT_EQ(chunk->size(), std::min<size_t>(128, data.size() - offset));
      assembled += *chunk;
    }
    EXPECT_EQ(assembled, data);
    absl::StatusOr<std::string> tail = store->ReadData(990, 100);
    ASSERT_OK(tail);
    EXPECT_EQ(*tail, data.substr(990)) << "a chunk never runs into the trailer";
    absl::StatusOr<std::string> at_end = store->ReadData(data.size(), 10);
    ASSERT_OK(at_end);
    EXPECT_EQ(*at_end, "");
    EXPECT_CODE(store->ReadData(data.size() + 1, 1), absl::StatusCode::kInvalidArgument);
    absl::StatusOr<std::string> middle = store->ReadData(500, 7);
    ASSERT_OK(middle);
    EXPECT_EQ(*middle, data.substr(500, 7));
  }
}

TEST(SnapshotStoreTest, ReadAllDataDetectsCorruptionAtRestAfterOpen) {
  SimFileSystem fs(1);
  absl::StatusOr<std::unique_ptr<SnapshotStore>> store = OpenStore(fs);
  ASSERT_OK(store);
  const std::string data = Data(10, 300);
  ASSERT_OK((*store)->Save(Meta(10, 2), data));
  const std::string bytes = fs.Contents(SnapPath(10, 2));
  fs.CorruptByte(SnapPath(10, 2), bytes.size() - 4 - 100);  // inside the data
  EXPECT_CODE((*store)->ReadAllData(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace keel
