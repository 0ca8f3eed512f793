// A node's data directory: who it belongs to and who uses it. The identity file
// (`keel-identity`) records the cluster id and node id the directory was created for, so a node
// started on another node's or another cluster's data refuses to run instead of corrupting
// both; an exclusive lock keeps a second process off a directory in use.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/env.h"

namespace keel::net {

// Checks that `dir` belongs to (cluster_id, node_id). A directory without an identity and
// without a log is claimed only with `bootstrap` (the operator's explicit "this is a new
// member"). Errors: FailedPrecondition naming both identities on a mismatch, or what to do
// for an empty directory; DataLoss for an unreadable identity file.
absl::Status ClaimDataDir(FileSystem& fs, const std::string& dir, uint64_t cluster_id, uint64_t node_id,
                          bool bootstrap);

// An exclusive advisory lock (flock) on `dir`/LOCK, held until destroyed.
class DataDirLock {
 public:
  // FailedPrecondition if another process holds it.
  static absl::StatusOr<std::unique_ptr<DataDirLock>> Acquire(const std::string& dir);
  ~DataDirLock();

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace keel::net
