// The production FileSystem: POSIX files with pwrite-free appends (positioned writes at the end), pread, fdatasync,
// rename(2) and fsync of directories.
#pragma once

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
};

}  // namespace keel
