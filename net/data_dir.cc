#include "net/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace keel::net {
namespace {

constexpr char kIdentityFile[] = "keel-identity";
constexpr char kHeader[] = "keel data dir v1";

struct Identity {
  uint64_t cluster_id = 0;
  uint64_t node_id = 0;
};

absl::StatusOr<Identity> ParseIdentity(const std::string& path, const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  Identity identity;
  bool cluster = false;
  bool node = false;
  if (lines.empty() || lines[0] != kHeader) return absl::DataLossError(absl::StrCat(path, ": not a keel identity file"));
  for (size_t i = 1; i < lines.size(); ++i) {
    std::pair<std::string, std::string> kv = absl::StrSplit(lines[i], absl::MaxSplits('=', 1));
    if (kv.first == "cluster_id") cluster = absl::SimpleAtoi(kv.second, &identity.cluster_id);
    if (kv.first == "node_id") node = absl::SimpleAtoi(kv.second, &identity.node_id);
  }
  if (!cluster || !node) return absl::DataLossError(absl::StrCat(path, ": damaged identity file"));
  return identity;
}

absl::Status WriteIdentity(FileSystem& fs, const std::string& dir, const Identity& identity) {
  const std::string path = JoinPath(dir, kIdentityFile);
  const std::string temp = path + ".tmp";
  const std::string text =
      absl::StrCat(kHeader, "\ncluster_id=", identity.cluster_id, "\nnode_id=", identity.node_id, "\n");
  absl::StatusOr<std::unique_ptr<File>> file = fs.Open(temp, FileSystem::OpenMode::kTruncate);
  if (!file.ok()) return file.status();
  if (absl::Status s = (*file)->Append(text); !s.ok()) return s;
  if (absl::Status s = (*file)->Sync(); !s.ok()) return s;
  if (absl::Status s = fs.Rename(temp, path); !s.ok()) return s;
  if (absl::Status s = fs.SyncDir(dir); !s.ok()) return s;
  // Read back what was written: the identity guards everything else in the directory.
  absl::StatusOr<std::unique_ptr<File>> check = fs.Open(path, FileSystem::OpenMode::kOpenExisting);
  if (!check.ok()) return check.status();
  absl::StatusOr<std::string> back = (*check)->Read(0, text.size() + 1);
  if (!back.ok()) return back.status();
  if (*back != text) return absl::DataLossError(absl::StrCat(path, ": read back differs from what was written"));
  return absl::OkStatus();
}

}  // namespace

absl::Status ClaimDataDir(FileSystem& fs, const std::string& dir, uint64_t cluster_id, uint64_t node_id,
                          bool bootstrap) {
  if (absl::Status s = fs.MakeDirs(dir); !s.ok()) return s;
  const std::string path = JoinPath(dir, kIdentityFile);
  absl::StatusOr<std::unique_ptr<File>> file = fs.Open(path, FileSystem::OpenMode::kOpenExisting);
  if (file.ok()) {
    absl::StatusOr<std::string> text = (*file)->Read(0, 4096);
    if (!text.ok()) return text.status();
    absl::StatusOr<Identity> identity = ParseIdentity(path, *text);
    if (!identity.ok()) return identity.status();
    if (identity->cluster_id != cluster_id || identity->node_id != node_id) {
      return absl::FailedPreconditionError(
          absl::StrCat("data dir ", dir, " belongs to node ", identity->node_id, " of cluster ",
                       identity->cluster_id, ", not to node ", node_id, " of cluster ", cluster_id));
    }
    return absl::OkStatus();
  }
  if (!absl::IsNotFound(file.status())) return file.status();
  absl::StatusOr<std::vector<std::string>> names = fs.List(dir);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    if (name == "wal" || name == "snap") {
      return absl::FailedPreconditionError(
          absl::StrCat("data dir ", dir, " holds a log but no ", kIdentityFile, " file: not starting on it"));
    }
  }
  if (!bootstrap) {
    return absl::FailedPreconditionError(absl::StrCat("data dir ", dir, " is empty: pass --bootstrap to create node ",
                                                      node_id, " of cluster ", cluster_id, " there"));
  }
  return WriteIdentity(fs, dir, Identity{cluster_id, node_id});
}

absl::StatusOr<std::unique_ptr<DataDirLock>> DataDirLock::Acquire(const std::string& dir) {
  const std::string path = JoinPath(dir, "LOCK");
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return absl::FailedPreconditionError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat("data dir ", dir, " is in use by another keel process"));
  }
  return std::unique_ptr<DataDirLock>(new DataDirLock(fd));
}

DataDirLock::~DataDirLock() { ::close(fd_); }

}  // namespace keel::net
