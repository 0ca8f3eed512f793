// SimFileSystem (sim/sim_filesystem.h): the crash and fault semantics the simulator
// relies on. What survives Crash() is what a real disk could hold after power loss: synced
// bytes, plus (torn write) a prefix of the unsynced appends; directory changes only if the
// directory was synced. Faults: failing fsync poisons the file (fsyncgate), bit flips on read,
// ENOSPC at capacity.
#include <bit>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "sim/sim_filesystem.h"
#include "gtest/gtest.h"
#include "tests/harness/status_matchers.h"

namespace keel {
namespace {


using Strings = std::vector<std::string>;
using OpenMode = FileSystem::OpenMode;

constexpr char kDir[] = "/disk/d";

SimDiskFaults NoTornWrites() {
  SimDiskFaults faults;
  faults.torn_write_probability = 0;
  return faults;
}

std::string P(const std::string& name) { return JoinPath(kDir, name); }

// Creates `path` holding `contents`, file and directory synced: it survives any crash.
void CreateDurable(SimFileSystem& fs, const std::string& path, const std::string& contents) {
  absl::StatusOr<std::unique_ptr<File>> file = fs.Open(path, OpenMode::kCreateNew);
  ASSERT_OK(file);
  ASSERT_OK((*file)->Append(contents));
  ASSERT_OK((*file)->Sync());
  const size_t slash = path.rfind('/');
  ASSERT_OK(fs.SyncDir(path.substr(0, slash)));
}

// Contents through a fresh handle; NotFound if the file does not exist.
absl::StatusOr<std::string> Read(SimFileSystem& fs, const std::string& path) {
  absl::StatusOr<std::unique_ptr<File>> file = fs.Open(path, OpenMode::kOpenExisting);
  if (!file.ok()) return file.status();
  return (*file)->Read(0, (*file)->Size());
}

class SimFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK(fs_.MakeDirs(kDir)); }
  SimFileSystem fs_{/*seed=*/1, NoTornWrites()};
};

TEST_F(SimFileSystemTest, SyncedBytesSurviveACrash) {
  absl::StatusOr<std::unique_ptr<File>> file = fs_.Open(P("f"), OpenMode::kCreateNew);
  ASSERT_OK(file);
  ASSERT_OK((*file)->Append("first "));
  ASSERT_OK((*file)->Sync());
  ASSERT_OK((*file)->Append("second"));
  ASSERT_OK((*file)->Sync());
  ASSERT_OK(fs_.SyncDir(kDir));
  fs_.Crash();
  EXPECT_EQ(fs_.crashes(), 1u);
  absl::StatusOr<std::string> contents = Read(fs_, P("f"));
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "first second");
}

TEST_F(SimFileSystemTest, UnsyncedBytesAreLostWithoutTornWrites) {
  absl::StatusOr<std::unique_ptr<File>> file = fs_.Open(P("f"), OpenMode::kCreateNew);
  ASSERT_OK(file);
  ASSERT_OK(fs_.SyncDir(kDir));
  ASSERT_OK((*file)->Append("durable"));
  ASSERT_OK((*file)->Sync());
  ASSERT_OK((*file)->Append(" volatile"));
  ASSERT_OK((*file)->Append(" more volatile"));
  EXPECT_EQ(fs_.Contents(P("f")), "durable volatile more volatile");  // before the crash
  fs_.Crash();
  absl::StatusOr<std::string> contents = Read(fs_, P("f"));
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "durable");
}

TEST_F(SimFileSystemTest, NeverSyncedFileComesBackEmpty) {
  absl::StatusOr<std::unique_ptr<File>> file = fs_.Open(P("f"), OpenMode::kCreateNew);
  ASSERT_OK(file);
  ASSERT_OK(fs_.SyncDir(kDir));  // the name is durable, the data never was
  ASSERT_OK((*file)->Append("never synced"));
  fs_.Crash();
  absl::StatusOr<std::string> contents = Read(fs_, P("f"));
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "");
}

TEST(SimFileSystemTornWriteTest, APrefixOfTheUnsyncedAppendsSurvivesAndNothingElse) {
  const std::string durable = "DURABLE|";
  const std::string first_append = "0123456789";
  const std::string second_append = "abcdefghij";
  const std::string unsynced = first_append + second_append;
  std::set<size_t> kept_lengths;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SimDiskFaults faults;
    faults.torn_write_probability = 1;
    SimFileSystem fs(seed, faults);
    ASSERT_OK(fs.MakeDirs(kDir));
    CreateDurable(fs, P("f"), durable);
    absl::StatusOr<std::unique_ptr<File>> file = fs.Open(P("f"), OpenMode::kOpenExisting);
    ASSERT_OK(file);
    ASSERT_OK((*file)->Append(first_append));
    ASSERT_OK((*file)->Append(second_append));
    fs.Crash();
    absl::StatusOr<std::string> contents = Read(fs, P("f"));
    ASSERT_OK(contents);
    ASSERT_GE(contents->size(), durable.size()) << "seed " << seed << ": synced bytes were lost";
    ASSERT_LE(contents->size(), durable.size() + unsynced.size()) << "seed " << seed;
    const size_t kept = contents->size() - durable.size();
    ASSERT_EQ(*contents, durable + unsynced.substr(0, kept))
        << "seed " << seed << ": not the durable bytes followed by a prefix of the appends";
    kept_lengths.insert(kept);
    // What survived is now on disk: a second crash keeps exactly it.
    fs.Crash();
    absl::StatusOr<std::string> again = Read(fs, P("f"));
    ASSERT_OK(again);
    EXPECT_EQ(*again, *contents) << "seed " << seed;
  }
  size_t partial = 0;
  for (size_t kept : kept_lengths) partial += (kept > 0 && kept < unsynced.size()) ? 1 : 0;
  EXPECT_GE(partial, 1u) << "no seed tore the write in the middle";
  EXPECT_GE(kept_lengths.size(), 5u) << "torn lengths should vary with the seed";
}

TEST(SimFileSystemTornWriteTest, AnUnsyncedTruncateIsNeverTornIntoGarbage) {
  // After a truncate (or overwrite) the current bytes are not durable + appends: only the
  // durable contents may survive.
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    SimDiskFaults faults;
    faults.torn_write_probability = 1;
    SimFileSystem fs(seed, faults);
    ASSERT_OK(fs.MakeDirs(kDir));
    CreateDurable(fs, P("f"), "0123456789");
    absl::StatusOr<std::unique_ptr<File>> file = fs.Open(P("f"), OpenMode::kOpenExisting);
    ASSERT_OK(file);
    ASSERT_OK((*file)->Truncate(3));
    ASSERT_OK((*file)->Append("XXXXXXXXXXXXXXX"));
    fs.Crash();
    absl::StatusOr<std::string> contents = Read(fs, P("f"));
    ASSERT_OK(contents);
    EXPECT_EQ(*contents, "0123456789") << "seed " << seed;
  }
}

TEST_F(SimFileSystemTest, AnUnsyncedTruncateIsUndoneByACrash) {
  CreateDurable(fs_, P("f"), "0123456789");
  absl::StatusOr<std::unique_ptr<File>> file = fs_.Open(P("f"), OpenMode::kOpenExisting);
  ASSERT_OK(file);
  ASSERT_OK((*file)->Truncate(4));
  fs_.Crash();
  absl::StatusOr<std::string> contents = Read(fs_, P("f"));
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "0123456789");
}

TEST_F(SimFileSystemTest, ASyncedTruncateSurvivesACrash) {
  CreateDurable(fs_, P("f"), "0123456789");
  absl::StatusOr<std::unique_ptr<File>> file = fs_.Open(P("f"), OpenMode::kOpenExisting);
  ASSERT_OK(file);
  ASSERT_OK((*file)->Truncate(4));
  ASSERT_OK((*file)->Sync());
  fs_.Crash();
  absl::StatusOr<std::string> contents = Read(fs_, P("f"));
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "0123");
}

TEST_F(SimFileSystemTest, AFileWhoseDirectoryWasNeverSyncedDisappears) {
  CreateDurable(fs_, P("kept"), "kept");
  absl::StatusOr<std::unique_ptr<File>> file = fs_.Open(P("lost"), OpenMode::kCreateNew);
  ASSERT_OK(file);
  ASSERT_OK((*file)->Append("synced data, unsynced name"));
  ASSERT_OK((*file)->Sync());  // the data is durable, but not the directory entry
  fs_.Crash();
  EXPECT_CODE(fs_.Open(P("lost"), OpenMode::kOpenExisting), absl::StatusCode::kNotFound);
  absl::StatusOr<Strings> names = fs_.List(kDir);
  ASSERT_OK(names);
  EXPECT_EQ(*names, Strings{"kept"});
}

TEST_F(SimFileSystemTest, SyncDirMakesOnlyItsOwnDirectoryDurable) {
  ASSERT_OK(fs_.MakeDirs(P("one")));
  ASSERT_OK(fs_.MakeDirs(P("two")));
  for (const char* path : {"one/f", "two/g"}) {
    absl::StatusOr<std::unique_ptr<File>> file = fs_.Open(P(path), OpenMode::kCreateNew);
    ASSERT_OK(file);
    ASSERT_OK((*file)->Append(path));
    ASSERT_OK((*file)->Sync());
  }
  ASSERT_OK(fs_.SyncDir(P("one")));
  fs_.Crash();
  absl::StatusOr<std::string> kept = Read(fs_, P("one/f"));
  ASSERT_OK(kept);
  EXPECT_EQ(*kept, "one/f");
  EXPECT_CODE(Read(fs_, P("two/g")), absl::StatusCode::kNotFound);
}

TEST_F(SimFileSystemTest, ARenameNotFollowedBySyncDirIsUndone) {
  CreateDurable(fs_, P("a"), "contents of a");
  ASSERT_OK(fs_.Rename(P("a"), P("b")));
  fs_.Crash();
  absl::StatusOr<std::string> a = Read(fs_, P("a"));
  ASSERT_OK(a);
  EXPECT_EQ(*a, "contents of a");
  EXPECT_CODE(Read(fs_, P("b")), absl::StatusCode::kNotFound);
}

TEST_F(SimFileSystemTest, ARenameOverATargetNotFollowedBySyncDirRestoresTheOldTarget) {
  CreateDurable(fs_, P("snap"), "old snapshot");
  CreateDurable(fs_, P("snap.tmp"), "new snapshot");
  ASSERT_OK(fs_.Rename(P("snap.tmp"), P("snap")));
  absl::StatusOr<std::string> before = Read(fs_, P("snap"));
  ASSERT_OK(before);
  EXPECT_EQ(*before, "new snapshot");
  fs_.Crash();
  absl::StatusOr<std::string> target = Read(fs_, P("snap"));
  ASSERT_OK(target);
  EXPECT_EQ(*target, "old snapshot");
  absl::StatusOr<std::string> source = Read(fs_, P("snap.tmp"));
  ASSERT_OK(source);
  EXPECT_EQ(*source, "new snapshot");
}

TEST_F(SimFileSystemTest, ARenameFollowedBySyncDirSurvives) {
  CreateDurable(fs_, P("snap"), "old snapshot");
  CreateDurable(fs_, P("snap.tmp"), "new snapshot");
  ASSERT_OK(fs_.Rename(P("snap.tmp"), P("snap")));
  ASSERT_OK(fs_.SyncDir(kDir));
  fs_.Crash();
  absl::StatusOr<std::string> target = Read(fs_, P("snap"));
  ASSERT_OK(target);
  EXPECT_EQ(*target, "new snapshot");
  absl::StatusOr<Strings> names = fs_.List(kDir);
  ASSERT_OK(names);
  EXPECT_EQ(*names, Strings{"snap"});
}

TEST_F(SimFileSystemTest, ARemoveNotFollowedBySyncDirIsUndoneAndOneFollowedByItIsNot) {
  CreateDurable(fs_, P("a"), "a");
  CreateDurable(fs_, P("b"), "b");
  ASSERT_OK(fs_.Remove(P("a")));
  fs_.Crash();
  absl::StatusOr<std::string> a = Read(fs_, P("a"));
  ASSERT_OK(a) << "an unsynced unlink must come back after a crash";
  EXPECT_EQ(*a, "a");
  ASSERT_OK(fs_.Remove(P("b")));
  ASSERT_OK(fs_.SyncDir(kDir));
  fs_.Crash();
  EXPECT_CODE(Read(fs_, P("b")), absl::StatusCode::kNotFound);
}

TEST_F(SimFileSystemTest, HandlesFromBeforeACrashFailAndNewOnesWork) {
  CreateDurable(fs_, P("f"), "data");
  absl::StatusOr<std::unique_ptr<File>> old = fs_.Open(P("f"), OpenMode::kOpenExisting);
  ASSERT_OK(old);
  fs_.Crash();
  File& stale = **old;
  EXPECT_CODE(stale.Append("x"), absl::StatusCode::kFailedPrecondition);
  EXPECT_CODE(stale.Read(0, 4), absl::StatusCode::kFailedPrecondition);
  EXPECT_CODE(stale.Sync(), absl::StatusCode::kFailedPrecondition);
  EXPECT_CODE(stale.Truncate(0), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<std::unique_ptr<File>> fresh = fs_.Open(P("f"), OpenMode::kOpenExisting);
  ASSERT_OK(fresh);
  ASSERT_OK((*fresh)->Append("+more"));
  ASSERT_OK((*fresh)->Sync());
  absl::StatusOr<std::string> contents = (*fresh)->Read(0, 100);
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "data+more");
  // The stale handle's failed append changed nothing.
  EXPECT_EQ(fs_.Contents(P("f")), "data+more");
}

TEST_F(SimFileSystemTest, AFailedSyncIsDataLossAndPoisonsTheFile) {
  CreateDurable(fs_, P("f"), "durable");
  CreateDurable(fs_, P("other"), "other");
  absl::StatusOr<std::unique_ptr<File>> file = fs_.Open(P("f"), OpenMode::kOpenExisting);
  ASSERT_OK(file);
  ASSERT_OK((*file)->Append("+unsynced"));
  fs_.faults().sync_failure_probability = 1;
  EXPECT_CODE((*file)->Sync(), absl::StatusCode::kDataLoss);
  fs_.faults().sync_failure_probability = 0;
  // fsyncgate: the file is never trusted again, even once fsync would work.
  EXPECT_CODE((*file)->Append("later"), absl::StatusCode::kDataLoss);
  EXPECT_CODE((*file)->Sync(), absl::StatusCode::kDataLoss);
  EXPECT_CODE((*file)->Truncate(0), absl::StatusCode::kDataLoss);
  EXPECT_EQ(fs_.Contents(P("f")), "durable+unsynced") << "the refused append must write nothing";
  // A second handle on the same file is refused too: the poison is the file's, not the handle's.
  absl::StatusOr<std::unique_ptr<File>> second = fs_.Open(P("f"), OpenMode::kOpenExisting);
  ASSERT_OK(second);
  EXPECT_CODE((*second)->Append("x"), absl::StatusCode::kDataLoss);
  // Other files are unaffected.
  absl::StatusOr<std::unique_ptr<File>> other = fs_.Open(P("other"), OpenMode::kOpenExisting);
  ASSERT_OK(other);
  ASSERT_OK((*other)->Append("!"));
  ASSERT_OK((*other)->Sync());
  // Worst case of a failed fsync: nothing of it reached the disk.
  fs_.Crash();
  absl::StatusOr<std::string> contents = Read(fs_, P("f"));
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "durable");
}

TEST_F(SimFileSystemTest, BitFlipReadsDifferInExactlyOneBit) {
  std::string truth;
  for (int i = 0; i < 64; ++i) truth.push_back(static_cast<char>(i * 37));
  CreateDurable(fs_, P("f"), truth);
  fs_.faults().read_bit_flip_probability = 1;
  absl::StatusOr<std::unique_ptr<File>> file = fs_.Open(P("f"), OpenMode::kOpenExisting);
  ASSERT_OK(file);
  std::set<size_t> flipped_offsets;
  for (int round = 0; round < 200; ++round) {
    const uint64_t offset = static_cast<uint64_t>(round % 16);
    const size_t length = 1 + static_cast<size_t>(round % 48);
    absl::StatusOr<std::string> read = (*file)->Read(offset, length);
    ASSERT_OK(read);
    const std::string expected = truth.substr(offset, length);
    ASSERT_EQ(read->size(), expected.size());
    int differing_bits = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
      const auto x = static_cast<unsigned char>((*read)[i] ^ expected[i]);
      differing_bits += std::popcount(static_cast<unsigned>(x));
      if (x != 0) flipped_offsets.insert(offset + i);
    }
    ASSERT_EQ(differing_bits, 1) << "round " << round;
  }
  EXPECT_GT(flipped_offsets.size(), 10u) << "the flipped bit should move around";
  // The flips are on the read path only: the bytes at rest are intact.
  EXPECT_EQ(fs_.Contents(P("f")), truth);
  fs_.faults().read_bit_flip_probability = 0;
  absl::StatusOr<std::string> clean = (*file)->Read(0, 64);
  ASSERT_OK(clean);
  EXPECT_EQ(*clean, truth);
}

TEST_F(SimFileSystemTest, ReadsAtTheEndAreNotFlipped) {
  CreateDurable(fs_, P("f"), "abc");
  fs_.faults().read_bit_flip_probability = 1;
  absl::StatusOr<std::unique_ptr<File>> file = fs_.Open(P("f"), OpenMode::kOpenExisting);
  ASSERT_OK(file);
  absl::StatusOr<std::string> read = (*file)->Read(3, 10);
  ASSERT_OK(read);
  EXPECT_EQ(*read, "");
}

TEST(SimFileSystemCapacityTest, AppendPastCapacityIsResourceExhaustedAndWritesNothing) {
  SimDiskFaults faults = NoTornWrites();
  faults.capacity_bytes = 10;
  SimFileSystem fs(1, faults);
  ASSERT_OK(fs.MakeDirs(kDir));
  absl::StatusOr<std::unique_ptr<File>> a = fs.Open(P("a"), OpenMode::kCreateNew);
  ASSERT_OK(a);
  ASSERT_OK((*a)->Append("123456"));
  absl::StatusOr<uint64_t> free_bytes = fs.FreeSpace(kDir);
  ASSERT_OK(free_bytes);
  EXPECT_EQ(*free_bytes, 4u);
  EXPECT_CODE((*a)->Append("abcde"), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ((*a)->Size(), 6u);
  EXPECT_EQ(fs.Contents(P("a")), "123456") << "a failed append must not write a prefix";
  ASSERT_OK((*a)->Append("abcd"));  // exactly fills the disk
  free_bytes = fs.FreeSpace(kDir);
  ASSERT_OK(free_bytes);
  EXPECT_EQ(*free_bytes, 0u);
  // The capacity is shared by all files.
  absl::StatusOr<std::unique_ptr<File>> b = fs.Open(P("b"), OpenMode::kCreateNew);
  ASSERT_OK(b);
  EXPECT_CODE((*b)->Append("x"), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ((*b)->Size(), 0u);
  // Removing a file frees its space.
  ASSERT_OK(fs.Remove(P("a")));
  ASSERT_OK((*b)->Append("0123456789"));
  EXPECT_EQ(fs.Contents(P("b")), "0123456789");
}

TEST(SimFileSystemCapacityTest, UnlimitedCapacityReportsHugeFreeSpace) {
  SimFileSystem fs(1);
  ASSERT_OK(fs.MakeDirs(kDir));
  absl::StatusOr<uint64_t> free_bytes = fs.FreeSpace(kDir);
  ASSERT_OK(free_bytes);
  EXPECT_GT(*free_bytes, uint64_t{1} << 40);
}

TEST(SimFileSystemDeterminismTest, TheSameSeedTearsTheSameWay) {
  auto run = [](uint64_t seed) {
    SimFileSystem fs(seed);  // default torn_write_probability: 0.5
    EXPECT_TRUE(fs.MakeDirs(kDir).ok());
    std::vector<std::unique_ptr<File>> files;
    for (int i = 0; i < 8; ++i) {
      const std::string path = P(absl::StrCat("f", i));
      absl::StatusOr<std::unique_ptr<File>> file = fs.Open(path, OpenMode::kCreateNew);
      EXPECT_TRUE(file.ok());
      EXPECT_TRUE((*file)->Append("synced|").ok());
      EXPECT_TRUE((*file)->Sync().ok());
      EXPECT_TRUE((*file)->Append("unsynced bytes that may tear").ok());
      files.push_back(std::move(*file));
    }
    EXPECT_TRUE(fs.SyncDir(kDir).ok());
    fs.Crash();
    std::string all;
    for (int i = 0; i < 8; ++i) absl::StrAppend(&all, fs.Contents(P(absl::StrCat("f", i))), "\n");
    return all;
  };
  for (uint64_t seed = 1; seed <= 20; ++seed) EXPECT_EQ(run(seed), run(seed)) << "seed " << seed;
  std::set<std::string> outcomes;
  for (uint64_t seed = 1; seed <= 20; ++seed) outcomes.insert(run(seed));
  EXPECT_GT(outcomes.size(), 1u) << "different seeds should tear differently";
}

TEST_F(SimFileSystemTest, CorruptByteDamagesTheBytesAtRest) {
  CreateDurable(fs_, P("f"), "abcdef");
  fs_.CorruptByte(P("f"), 2);
  const std::string damaged = fs_.Contents(P("f"));
  ASSERT_EQ(damaged.size(), 6u);
  EXPECT_NE(damaged[2], 'c');
  EXPECT_EQ(damaged.substr(0, 2) + damaged.substr(3), "abdef");
  fs_.Crash();  // damage at rest survives power loss
  EXPECT_EQ(fs_.Contents(P("f")), damaged);
}

TEST_F(SimFileSystemTest, SetContentsIsDurable) {
  fs_.SetContents(P("f"), "crafted bytes");
  absl::StatusOr<std::string> contents = Read(fs_, P("f"));
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "crafted bytes");
  fs_.Crash();
  contents = Read(fs_, P("f"));
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "crafted bytes");
}

TEST_F(SimFileSystemTest, DirectoriesSurviveACrash) {
  ASSERT_OK(fs_.MakeDirs(P("x/y")));
  fs_.Crash();
  absl::StatusOr<Strings> names = fs_.List(P("x/y"));
  ASSERT_OK(names);
  EXPECT_EQ(*names, Strings{});
}

}  // namespace
}  // namespace keel
