// The production FileSystem: POSIX files with pwrite-free appends (positioned writes at the end), pread, fdatasync,
// rename(2) and fsync of directories.
#pragma once

#include <cstdint>
#include <functional>

#include "engine/env.h"

namespace keel {

class PosixFileSystem final : public FileSystem {
 public:
  absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status Remove(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> List(const std::string& dir) override;
  absl::Status MakeDirs(const std::string& dir) override;
  absl::Status SyncDir(const std::string& dir) override;
  absl::StatusOr<uint64_t> FreeSpace(const std::string& dir) override;

  // Called with the duration of every successful fdatasync of a file opened afterwards (for
  // the fsync latency metric). Set before the storage opens its files.
  using SyncObserver = std::function<void(int64_t nanos)>;
  void set_sync_observer(SyncObserver observer) { sync_observer_ = std::move(observer); }

 private:
  SyncObserver sync_observer_;
};

}  // namespace keel
