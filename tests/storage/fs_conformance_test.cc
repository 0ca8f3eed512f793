// FileSystem conformance (engine/env.h): the POSIX filesystem (net/posix_filesystem.h) and the
// simulated one (sim/sim_filesystem.h) must pass the same tests, so that what the
// simulator proves about storage holds in production. Every TEST_P below runs against both;
// the differential test at the end drives both with the same random operations and compares
// every result.
#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engine/env.h"
#include "engine/prng.h"
#include "sim/sim_filesystem.h"
#include "gtest/gtest.h"
#include "tests/harness/status_matchers.h"
#include "net/posix_filesystem.h"

namespace keel {
namespace {


using Strings = std::vector<std::string>;
using OpenMode = FileSystem::OpenMode;

enum class FsKind { kPosix, kSim };

std::string KindName(const ::testing::TestParamInfo<FsKind>& info) {
  return info.param == FsKind::kPosix ? "Posix" : "Sim";
}

// A fresh, unique, empty directory under /tmp, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/keel_storage_test_XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
    error_ = errno;
  }
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // Empty if creation failed.
  const std::string& path() const { return path_; }
  int error() const { return error_; }

 private:
  std::string path_;
  int error_ = 0;
};

class FsConformanceTest : public ::testing::TestWithParam<FsKind> {
 protected:
  void SetUp() override {
    if (GetParam() == FsKind::kPosix) {
      temp_ = std::make_unique<TempDir>();
      ASSERT_FALSE(temp_->path().empty()) << "mkdtemp: " << std::strerror(temp_->error());
      root_ = temp_->path();
      fs_ = std::make_unique<PosixFileSystem>();
    } else {
      root_ = "/tmp/keel_sim_root";
      fs_ = std::make_unique<SimFileSystem>(/*seed=*/7);
      ASSERT_OK(fs_->MakeDirs(root_));
    }
  }

  void TearDown() override {
    if (temp_ != nullptr) {
      const std::string path = temp_->path();
      temp_.reset();
      EXPECT_FALSE(std::filesystem::exists(path)) << path << " was not removed";
    }
  }

  std::string Path(const std::string& name) const { return JoinPath(root_, name); }

  // Creates `path` with `contents`, durably.
  void WriteFile(const std::string& path, const std::string& contents) {
    absl::StatusOr<std::unique_ptr<File>> file = fs_->Open(path, OpenMode::kCreateNew);
    ASSERT_OK(file);
    ASSERT_OK((*file)->Append(contents));
    ASSERT_OK((*file)->Sync());
  }

  // The whole file through a fresh handle, or the error.
  absl::StatusOr<std::string> ReadFile(const std::string& path) {
    absl::StatusOr<std::unique_ptr<File>> file = fs_->Open(path, OpenMode::kOpenExisting);
    if (!file.ok()) return file.status();
    return (*file)->Read(0, (*file)->Size());
  }

  std::unique_ptr<TempDir> temp_;
  std::string root_;
  std::unique_ptr<FileSystem> fs_;
};

INSTANTIATE_TEST_SUITE_P(BothFilesystems, FsConformanceTest,
                         ::testing::Values(FsKind::kPosix, FsKind::kSim), KindName);

// --- open modes -------------------------------------------------------------------------------

TEST_P(FsConformanceTest, CreateNewMakesAnEmptyFile) {
  absl::StatusOr<std::unique_ptr<File>> file = fs_->Open(Path("f"), OpenMode::kCreateNew);
  ASSERT_OK(file);
  EXPECT_EQ((*file)->Size(), 0u);
  absl::StatusOr<std::string> contents = ReadFile(Path("f"));
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "");
}

TEST_P(FsConformanceTest, CreateNewOnAnExistingFileIsAlreadyExistsAndKeepsIt) {
  WriteFile(Path("f"), "keep me");
  EXPECT_CODE(fs_->Open(Path("f"), OpenMode::kCreateNew), absl::StatusCode::kAlreadyExists);
  absl::StatusOr<std::string> contents = ReadFile(Path("f"));
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "keep me");
}

TEST_P(FsConformanceTest, OpenExistingOnAMissingFileIsNotFoundAndCreatesNothing) {
  EXPECT_CODE(fs_->Open(Path("missing"), OpenMode::kOpenExisting), absl::StatusCode::kNotFound);
  absl::StatusOr<Strings> names = fs_->List(root_);
  ASSERT_OK(names);
  EXPECT_EQ(*names, Strings{});
}

TEST_P(FsConformanceTest, OpenExistingSeesTheContentsAndAppendsAtTheEnd) {
  WriteFile(Path("f"), "abc");
  {
    absl::StatusOr<std::unique_ptr<File>> file = fs_->Open(Path("f"), OpenMode::kOpenExisting);
    ASSERT_OK(file);
    EXPECT_EQ((*file)->Size(), 3u);
    ASSERT_OK((*file)->Append("def"));
    EXPECT_EQ((*file)->Size(), 6u);
    ASSERT_OK((*file)->Sync());
  }
  absl::StatusOr<std::string> contents = ReadFile(Path("f"));
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "abcdef");
}

TEST_P(FsConformanceTest, TruncateModeEmptiesAnExistingFile) {
  WriteFile(Path("f"), "old contents");
  absl::StatusOr<std::unique_ptr<File>> file = fs_->Open(Path("f"), OpenMode::kTruncate);
  ASSERT_OK(file);
  EXPECT_EQ((*file)->Size(), 0u);
  ASSERT_OK((*file)->Append("new"));
  ASSERT_OK((*file)->Sync());
  absl::StatusOr<std::string> contents = ReadFile(Path("f"));
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "new");
}

TEST_P(FsConformanceTest, TruncateModeCreatesAMissingFile) {
  absl::StatusOr<std::unique_ptr<File>> file = fs_->Open(Path("f"), OpenMode::kTruncate);
  ASSERT_OK(file);
  EXPECT_EQ((*file)->Size(), 0u);
  absl::StatusOr<Strings> names = fs_->List(root_);
  ASSERT_OK(names);
  EXPECT_EQ(*names, Strings{"f"});
}

TEST_P(FsConformanceTest, OpenInAMissingDirectoryIsNotFoundInEveryMode) {
  for (OpenMode mode : {OpenMode::kCreateNew, OpenMode::kOpenExisting, OpenMode::kTruncate}) {
    EXPECT_CODE(fs_->Open(Path("no_such_dir/f"), mode), absl::StatusCode::kNotFound)
        << "mode " << static_cast<int>(mode);
  }
}

TEST_P(FsConformanceTest, OpeningADirectoryAsAFileFails) {
  ASSERT_OK(fs_->MakeDirs(Path("sub")));
  for (OpenMode mode : {OpenMode::kCreateNew, OpenMode::kOpenExisting, OpenMode::kTruncate}) {
    EXPECT_FALSE(fs_->Open(Path("sub"), mode).ok()) << "mode " << static_cast<int>(mode);
  }
}

// --- append, read, size, truncate, sync ---------------------------------------------------

TEST_P(FsConformanceTest, AppendReadAndSize) {
  absl::StatusOr<std::unique_ptr<File>> file = fs_->Open(Path("f"), OpenMode::kCreateNew);
  ASSERT_OK(file);
  File& f = **file;
  ASSERT_OK(f.Append("hello"));
  EXPECT_EQ(f.Size(), 5u);
  ASSERT_OK(f.Append(""));
  EXPECT_EQ(f.Size(), 5u);
  ASSERT_OK(f.Append(", world"));
  EXPECT_EQ(f.Size(), 12u);
  absl::StatusOr<std::string> all = f.Read(0, 12);
  ASSERT_OK(all);
  EXPECT_EQ(*all, "hello, world");
  absl::StatusOr<std::string> middle = f.Read(3, 4);
  ASSERT_OK(middle);
  EXPECT_EQ(*middle, "lo, ");
  absl::StatusOr<std::string> none = f.Read(2, 0);
  ASSERT_OK(none);
  EXPECT_EQ(*none, "");
}

TEST_P(FsConformanceTest, BinaryDataWithZerosRoundTrips) {
  std::string data;
  for (int i = 0; i < 4096; ++i) data.push_back(static_cast<char>(i * 7 % 256));
  data[100] = '\0';
  WriteFile(Path("bin"), data);
  absl::StatusOr<std::string> contents = ReadFile(Path("bin"));
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, data);
}

TEST_P(FsConformanceTest, LargeAppendRoundTrips) {
  std::string data(3 << 20, '\0');
  Prng prng(11);
  for (char& c : data) c = static_cast<char>(prng.Uniform(256));
  WriteFile(Path("big"), data);
  absl::StatusOr<std::string> contents = ReadFile(Path("big"));
  ASSERT_OK(contents);
  EXPECT_TRUE(*contents == data) << "3 MiB of random bytes did not read back equal";
}

TEST_P(FsConformanceTest, ReadPastTheEndIsShortOrEmptyNotAnError) {
  WriteFile(Path("f"), "0123456789");
  absl::StatusOr<std::unique_ptr<File>> file = fs_->Open(Path("f"), OpenMode::kOpenExisting);
  ASSERT_OK(file);
  absl::StatusOr<std::string> tail = (*file)->Read(7, 100);
  ASSERT_OK(tail);
  EXPECT_EQ(*tail, "789");
  absl::StatusOr<std::string> at_end = (*file)->Read(10, 5);
  ASSERT_OK(at_end);
  EXPECT_EQ(*at_end, "");
  absl::StatusOr<std::string> beyond = (*file)->Read(1000, 5);
  ASSERT_OK(beyond);
  EXPECT_EQ(*beyond, "");
}

// set_preallocation (engine/env.h): the handle sees exactly what was appended; the file may
// hold zeros after that (Posix does: it wrote them ahead), and Truncate to the size drops them.
TEST_P(FsConformanceTest, PreallocationKeepsTheHandlesViewAndLeavesOnlyZerosPastIt) {
  std::string data;
  {
    absl::StatusOr<std::unique_ptr<File>> file = fs_->Open(Path("wal"), OpenMode::kCreateNew);
    ASSERT_OK(file);
    File& f = **file;
    f.set_preallocation(64 << 10);
    for (int i = 0; i < 300; ++i) {
      const std::string record = absl::StrCat("record ", i, ";");
      ASSERT_OK(f.Append(record));
      data += record;
      if (i % 50 == 0) {
        ASSERT_OK(f.Sync());
      }
    }
    ASSERT_OK(f.Sync());
    EXPECT_EQ(f.Size(), data.size());
    absl::StatusOr<std::string> seen = f.Read(0, 1 << 20);
    ASSERT_OK(seen);
    EXPECT_EQ(*seen, data) << "the handle reads up to its size, not into the preallocated zeros";
  }
  absl::StatusOr<std::string> on_disk = ReadFile(Path("wal"));
  ASSERT_OK(on_disk);
  ASSERT_GE(on_disk->size(), data.size());
  EXPECT_EQ(on_disk->substr(0, data.size()), data);
  EXPECT_EQ(on_disk->find_first_not_of('\0', data.size()), std::string::npos) << "only zeros past the data";
  if (GetParam() == FsKind::kPosix) {
    EXPECT_GT(on_disk->size(), data.size()) << "nothing was preallocated";
  }
  {
    absl::StatusOr<std::unique_ptr<File>> file = fs_->Open(Path("wal"), OpenMode::kOpenExisting);
    ASSERT_OK(file);
    ASSERT_OK((*file)->Truncate(data.size()));
    ASSERT_OK((*file)->Sync());
  }
  absl::StatusOr<std::string> truncated = ReadFile(Path("wal"));
  ASSERT_OK(truncated);
  EXPECT_EQ(*truncated, data);
}

TEST_P(FsConformanceTest, TruncateShrinksAndAppendContinuesAtTheNewEnd) {
  absl::StatusOr<std::unique_ptr<File>> file = fs_->Open(Path("f"), OpenMode::kCreateNew);
  ASSERT_OK(file);
  File& f = **file;
  ASSERT_OK(f.Append("0123456789"));
  ASSERT_OK(f.Truncate(4));
  EXPECT_EQ(f.Size(), 4u);
  absl::StatusOr<std::string> after_truncate = f.Read(0, 100);
  ASSERT_OK(after_truncate);
  EXPECT_EQ(*after_truncate, "0123");
  ASSERT_OK(f.Append("xy"));
  EXPECT_EQ(f.Size(), 6u);
  ASSERT_OK(f.Truncate(6));  // to the current size: nothing changes
  ASSERT_OK(f.Sync());
  absl::StatusOr<std::string> contents = ReadFile(Path("f"));
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "0123xy");
  ASSERT_OK(f.Truncate(0));
  EXPECT_EQ(f.Size(), 0u);
  ASSERT_OK(f.Sync());
  contents = ReadFile(Path("f"));
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "");
}

TEST_P(FsConformanceTest, SyncSucceedsAndKeepsTheData) {
  absl::StatusOr<std::unique_ptr<File>> file = fs_->Open(Path("f"), OpenMode::kCreateNew);
  ASSERT_OK(file);
  ASSERT_OK((*file)->Sync());  // nothing to sync yet
  ASSERT_OK((*file)->Append("data"));
  ASSERT_OK((*file)->Sync());
  ASSERT_OK((*file)->Sync());  // twice in a row
  EXPECT_EQ((*file)->Size(), 4u);
  absl::StatusOr<std::string> contents = (*file)->Read(0, 4);
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "data");
}

// --- namespace operations -------------------------------------------------------------------

TEST_P(FsConformanceTest, RenameMovesAFile) {
  WriteFile(Path("a"), "payload");
  ASSERT_OK(fs_->Rename(Path("a"), Path("b")));
  EXPECT_CODE(fs_->Open(Path("a"), OpenMode::kOpenExisting), absl::StatusCode::kNotFound);
  absl::StatusOr<std::string> contents = ReadFile(Path("b"));
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "payload");
  absl::StatusOr<Strings> names = fs_->List(root_);
  ASSERT_OK(names);
  EXPECT_EQ(*names, Strings{"b"});
}

TEST_P(FsConformanceTest, RenameReplacesAnExistingTarget) {
  WriteFile(Path("new.tmp"), "new contents");
  WriteFile(Path("current"), "old contents");
  ASSERT_OK(fs_->Rename(Path("new.tmp"), Path("current")));
  absl::StatusOr<std::string> contents = ReadFile(Path("current"));
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "new contents");
  absl::StatusOr<Strings> names = fs_->List(root_);
  ASSERT_OK(names);
  EXPECT_EQ(*names, Strings{"current"});
}

TEST_P(FsConformanceTest, AHandleSurvivesTheRenameOfItsFile) {
  // SnapshotStore::Save writes a temporary file, renames it and keeps reading the handle.
  absl::StatusOr<std::unique_ptr<File>> file = fs_->Open(Path("f.tmp"), OpenMode::kCreateNew);
  ASSERT_OK(file);
  ASSERT_OK((*file)->Append("snapshot bytes"));
  ASSERT_OK((*file)->Sync());
  ASSERT_OK(fs_->Rename(Path("f.tmp"), Path("f")));
  absl::StatusOr<std::string> contents = (*file)->Read(0, 100);
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "snapshot bytes");
}

TEST_P(FsConformanceTest, RenameOfAMissingFileIsNotFound) {
  EXPECT_CODE(fs_->Rename(Path("missing"), Path("b")), absl::StatusCode::kNotFound);
  WriteFile(Path("a"), "x");
  EXPECT_CODE(fs_->Rename(Path("a"), Path("no_such_dir/b")), absl::StatusCode::kNotFound);
  absl::StatusOr<std::string> contents = ReadFile(Path("a"));
  ASSERT_OK(contents) << "a failed rename must leave the source in place";
  EXPECT_EQ(*contents, "x");
}

TEST_P(FsConformanceTest, RemoveDeletesAndAMissingFileIsNotFound) {
  WriteFile(Path("a"), "x");
  WriteFile(Path("b"), "y");
  ASSERT_OK(fs_->Remove(Path("a")));
  EXPECT_CODE(fs_->Open(Path("a"), OpenMode::kOpenExisting), absl::StatusCode::kNotFound);
  absl::StatusOr<Strings> names = fs_->List(root_);
  ASSERT_OK(names);
  EXPECT_EQ(*names, Strings{"b"});
  EXPECT_CODE(fs_->Remove(Path("a")), absl::StatusCode::kNotFound);
  // The name is free again.
  EXPECT_OK(fs_->Open(Path("a"), OpenMode::kCreateNew));
}

TEST_P(FsConformanceTest, ListIsSortedAndNamesNotPaths) {
  for (const char* name : {"0000000000000010.wal", "b", "0000000000000002.wal", "a", "B"}) {
    WriteFile(Path(name), name);
  }
  absl::StatusOr<Strings> names = fs_->List(root_);
  ASSERT_OK(names);
  EXPECT_EQ(*names, (Strings{"0000000000000002.wal", "0000000000000010.wal", "B", "a", "b"}));
}

TEST_P(FsConformanceTest, ListIsPerDirectory) {
  ASSERT_OK(fs_->MakeDirs(Path("wal")));
  ASSERT_OK(fs_->MakeDirs(Path("snap")));
  WriteFile(Path("wal/1.wal"), "w1");
  WriteFile(Path("wal/2.wal"), "w2");
  WriteFile(Path("snap/1.snap"), "s1");
  absl::StatusOr<Strings> wal = fs_->List(Path("wal"));
  ASSERT_OK(wal);
  EXPECT_EQ(*wal, (Strings{"1.wal", "2.wal"}));
  absl::StatusOr<Strings> snap = fs_->List(Path("snap"));
  ASSERT_OK(snap);
  EXPECT_EQ(*snap, Strings{"1.snap"});
  // Files of a subdirectory never show up in its parent's listing, as names or as paths.
  absl::StatusOr<Strings> root = fs_->List(root_);
  ASSERT_OK(root);
  for (const std::string& name : *root) {
    EXPECT_EQ(name.find('/'), std::string::npos) << name;
    EXPECT_TRUE(name != "1.wal" && name != "2.wal" && name != "1.snap") << name;
  }
}

TEST_P(FsConformanceTest, ListOfAnEmptyDirectoryIsEmptyAndOfAMissingOneNotFound) {
  ASSERT_OK(fs_->MakeDirs(Path("empty")));
  absl::StatusOr<Strings> names = fs_->List(Path("empty"));
  ASSERT_OK(names);
  EXPECT_EQ(*names, Strings{});
  EXPECT_CODE(fs_->List(Path("missing")), absl::StatusCode::kNotFound);
}

TEST_P(FsConformanceTest, ListNamesOnlyFilesNotSubdirectories) {
  ASSERT_OK(fs_->MakeDirs(Path("sub")));
  WriteFile(Path("sub/inner"), "x");
  WriteFile(Path("file"), "y");
  absl::StatusOr<Strings> names = fs_->List(root_);
  ASSERT_OK(names);
  EXPECT_EQ(*names, Strings{"file"});
}

TEST_P(FsConformanceTest, MakeDirsCreatesNestedDirectoriesAndIsIdempotent) {
  const std::string deep = Path("a/b/c");
  ASSERT_OK(fs_->MakeDirs(deep));
  ASSERT_OK(fs_->MakeDirs(deep));          // again: fine
  ASSERT_OK(fs_->MakeDirs(Path("a/b")));  // a prefix: fine
  WriteFile(JoinPath(deep, "f"), "deep");
  absl::StatusOr<std::string> contents = ReadFile(JoinPath(deep, "f"));
  ASSERT_OK(contents);
  EXPECT_EQ(*contents, "deep");
  absl::StatusOr<Strings> names = fs_->List(deep);
  ASSERT_OK(names);
  EXPECT_EQ(*names, Strings{"f"});
  ASSERT_OK(fs_->MakeDirs(Path("a/x")));  // a sibling under an existing parent
  WriteFile(Path("a/x/g"), "g");
  absl::StatusOr<Strings> sibling = fs_->List(Path("a/x"));
  ASSERT_OK(sibling);
  EXPECT_EQ(*sibling, Strings{"g"});
}

TEST_P(FsConformanceTest, SyncDirOfExistingDirectoriesSucceedsAndOfAMissingOneIsNotFound) {
  ASSERT_OK(fs_->MakeDirs(Path("d")));
  WriteFile(Path("d/f"), "x");
  EXPECT_OK(fs_->SyncDir(Path("d")));
  EXPECT_OK(fs_->SyncDir(root_));
  EXPECT_CODE(fs_->SyncDir(Path("missing")), absl::StatusCode::kNotFound);
}

TEST_P(FsConformanceTest, FreeSpaceReturnsAPositiveAmount) {
  absl::StatusOr<uint64_t> free_bytes = fs_->FreeSpace(root_);
  ASSERT_OK(free_bytes);
  EXPECT_GT(*free_bytes, 0u);
}

TEST(JoinPathTest, JoinsWithExactlyOneSeparator) {
  EXPECT_EQ(JoinPath("dir", "name"), "dir/name");
  EXPECT_EQ(JoinPath("dir/", "name"), "dir/name");
  EXPECT_EQ(JoinPath("/", "name"), "/name");
  EXPECT_EQ(JoinPath("", "name"), "name");
  EXPECT_EQ(JoinPath("/a/b", "c.wal"), "/a/b/c.wal");
}

// --- differential: the same random operations on both, every result compared ----------------

struct Side {
  FileSystem* fs;
  std::string root;
  std::map<std::string, std::unique_ptr<File>> handles;  // at most one per name
};

std::string Describe(const absl::Status& status) { return absl::StatusCodeToString(status.code()); }

TEST(FsDifferentialTest, PosixAndSimAgreeOnRandomOperationSequences) {
  TempDir temp;
  ASSERT_FALSE(temp.path().empty()) << std::strerror(temp.error());
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    PosixFileSystem posix;
    SimFileSystem sim(seed);
    const std::string posix_root = JoinPath(temp.path(), absl::StrCat("run", seed));
    ASSERT_OK(posix.MakeDirs(posix_root));
    ASSERT_OK(sim.MakeDirs("/sim/root"));
    Side sides[2] = {{&posix, posix_root, {}}, {&sim, "/sim/root", {}}};
    Prng prng(seed);
    const char* kNames[] = {"a", "b", "c", "d.tmp"};
    for (int step = 0; step < 400; ++step) {
      const std::string name = kNames[prng.Uniform(4)];
      const std::string other = kNames[prng.Uniform(4)];
      const uint64_t op = prng.Uniform(9);
      const uint64_t x = prng.Uniform(64);
      const uint64_t y = prng.Uniform(64);
      std::string results[2];
      for (int s = 0; s < 2; ++s) {
        Side& side = sides[s];
        const std::string path = JoinPath(side.root, name);
        std::string& out = results[s];
        auto handle = side.handles.find(name);
        switch (op) {
          case 0: {  // open
            side.handles.erase(name);
            const auto mode = static_cast<OpenMode>(x % 3);
            absl::StatusOr<std::unique_ptr<File>> file = side.fs->Open(path, mode);
            out = absl::StrCat("open ", x % 3, " ", Describe(file.status()));
            if (file.ok()) {
              absl::StrAppend(&out, " size ", (*file)->Size());
              side.handles[name] = std::move(*file);
            }
            break;
          }
          case 1:  // append
            if (handle == side.handles.end()) break;
            out = absl::StrCat("append ", Describe(handle->second->Append(std::string(x, 'a' + y % 26))),
                               " size ", handle->second->Size());
            break;
          case 2: {  // read
            if (handle == side.handles.end()) break;
            absl::StatusOr<std::string> data = handle->second->Read(x, y);
            out = absl::StrCat("read ", Describe(data.status()), " ", data.ok() ? *data : "");
            break;
          }
          case 3:  // truncate (only shrinking is in the contract)
            if (handle == side.handles.end()) break;
            out = absl::StrCat("truncate ",
                               Describe(handle->second->Truncate(std::min<uint64_t>(x, handle->second->Size()))),
                               " size ", handle->second->Size());
            break;
          case 4:  // sync
            if (handle == side.handles.end()) break;
            out = absl::StrCat("sync ", Describe(handle->second->Sync()));
            break;
          case 5: {  // rename
            side.handles.erase(other);
            const absl::Status status = side.fs->Rename(path, JoinPath(side.root, other));
            out = absl::StrCat("rename ", Describe(status));
            if (status.ok() && name != other) {
              auto moved = side.handles.find(name);
              if (moved != side.handles.end()) {
                std::unique_ptr<File> file = std::move(moved->second);
                side.handles.erase(moved);
                side.handles[other] = std::move(file);
              }
            }
            break;
          }
          case 6:  // remove
            side.handles.erase(name);
            out = absl::StrCat("remove ", Describe(side.fs->Remove(path)));
            break;
          case 7: {  // list
            absl::StatusOr<Strings> names = side.fs->List(side.root);
            out = absl::StrCat("list ", Describe(names.status()));
            if (names.ok()) {
              for (const std::string& listed : *names) absl::StrAppend(&out, " ", listed);
            }
            break;
          }
          case 8: {  // whole contents through a fresh handle
            absl::StatusOr<std::unique_ptr<File>> file = side.fs->Open(path, OpenMode::kOpenExisting);
            out = absl::StrCat("contents ", Describe(file.status()));
            if (file.ok()) {
              absl::StatusOr<std::string> data = (*file)->Read(0, (*file)->Size());
              absl::StrAppend(&out, " ", Describe(data.status()), " ", data.ok() ? *data : "");
            }
            break;
          }
        }
      }
      ASSERT_EQ(results[0], results[1]) << "step " << step << " op " << op << " on " << name
                                        << " (posix left, sim right)";
    }
  }
}

}  // namespace
}  // namespace keel
