// Snapshot files: `<dir>/<index:016x>-<term:016x>.snap`, each
//   "KEELSNP1" | u32 meta length | SnapshotMeta | data | u32 CRC-32C over meta and data.
// Written to a temporary name, fsynced, renamed into place, then the directory is fsynced, so
// a crash leaves either the old set or the new file whole. At open, leftover temporary files
// are removed, every snapshot is verified, the newest valid one is used and the rest pruned.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/env.h"
#include "engine/raft.pb.h"

namespace keel {

class SnapshotStore {
 public:
  // Opens `dir` (created if missing). Fails only on I/O errors; corrupt snapshot files are
  // skipped (reported through skipped()) and the newest valid one wins.
  static absl::StatusOr<std::unique_ptr<SnapshotStore>> Open(FileSystem& fs, const std::string& dir);

  // Metadata of the newest snapshot (index 0 if none).
  const raftpb::SnapshotMeta& meta() const { return meta_; }
  // Bytes [offset, offset + length) of the newest snapshot's data.
  absl::StatusOr<std::string> ReadData(uint64_t offset, uint64_t length);
  // The newest snapshot's data, verified against meta().crc32c().
  absl::StatusOr<std::string> ReadAllData();

  // Durably stores a snapshot (meta.size and meta.crc32c are filled in here) and makes it the
  // newest; older snapshot files are then removed. Precondition: meta.index() > meta().index().
  // kResourceExhausted: the disk is full; the partial file was removed and nothing changed
  // (retry later). Any other error: the directory's state is unknown.
  absl::Status Save(raftpb::SnapshotMeta meta, const std::string& data);

  // Descriptions of files that failed verification at open (for the operator's log).
  const std::vector<std::string>& skipped() const { return skipped_; }

 private:
  SnapshotStore(FileSystem& fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}
  absl::Status Load();
  absl::Status PruneExcept(const std::string& keep);
  // Removes the partial `temp` of a Save that hit a full disk (`cause`): a clean
  // kResourceExhausted, unless the removal fails.
  absl::Status AbandonTemp(const std::string& temp, const absl::Status& cause);
  // `status` with kResourceExhausted replaced: only a clean abandon reports that code.
  absl::Status NotRetryable(const absl::Status& status);

  FileSystem& fs_;
  const std::string dir_;
  raftpb::SnapshotMeta meta_;
  std::string path_;        // file of the newest snapshot
  uint64_t data_offset_ = 0;  // where its data starts
  std::unique_ptr<File> file_;
  std::vector<std::string> skipped_;
};

}  // namespace keel
