// An in-memory filesystem with crash semantics, for tests and the simulator:
// - bytes appended but not Sync()ed are lost on Crash(); the last unsynced write may survive
//   partially (torn at any byte: a prefix of it is kept); a file with set_preallocation() may
//   also keep zeros after that (preallocated space reaching the disk, as on a real one);
// - directory operations (create, rename, remove) not followed by SyncDir() are undone by
//   Crash();
// - Sync() can be made to fail (EIO); after that the file refuses further writes;
// - reads can return a flipped bit (latent corruption) with a configured probability;
// - writes fail with ENOSPC once the configured capacity is used (optionally after writing
//   the part that fits).
// All randomness comes from the Prng it was given, so a seed replays exactly.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "engine/env.h"
#include "engine/prng.h"

namespace keel {

struct SimDiskFaults {
  double sync_failure_probability = 0;  // each Sync() fails with EIO
  double read_bit_flip_probability = 0;  // each Read() returns one flipped bit
  double torn_write_probability = 0.5;   // on Crash(), keep a random prefix of unsynced bytes
  uint64_t capacity_bytes = UINT64_MAX;  // total bytes of file data before ENOSPC
  // An append that does not fit first writes the bytes that do (a short write(2), then
  // ENOSPC, as a real disk does); false: it writes nothing.
  bool short_write_at_capacity = false;
};

class SimFileSystem final : public FileSystem {
 public:
  explicit SimFileSystem(uint64_t seed, SimDiskFaults faults = {});
  ~SimFileSystem() override;

  absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status Remove(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> List(const std::string& dir) override;
  absl::Status MakeDirs(const std::string& dir) override;
  absl::Status SyncDir(const std::string& dir) override;
  absl::StatusOr<uint64_t> FreeSpace(const std::string& dir) override;

  // Simulates power loss: unsynced data and directory changes are lost (see above). Files
  // opened before the crash become unusable (every call fails).
  void Crash();
  SimDiskFaults& faults() { return faults_; }
  // Called at the start of every Sync(), before anything becomes durable: the simulator uses
  // it to make fsync take virtual time (the calling fiber sleeps; a crash meanwhile loses the
  // unsynced bytes as usual).
  void set_sync_hook(std::function<void()> hook) { sync_hook_ = std::move(hook); }
  // Test helpers: raw access to durable-or-not contents, and corruption at rest.
  std::string Contents(const std::string& path) const;
  void CorruptByte(const std::string& path, uint64_t offset);
  void SetContents(const std::string& path, std::string contents);
  uint64_t crashes() const { return crashes_; }

 private:
  friend class SimFile;
  struct Inode {
    std::string data;
    // The durable contents are data[0, synced_size) until a truncation cuts into them without
    // a sync; then (diverged) a copy in synced_data. A Sync of an appended file copies nothing
    // (copying the whole file on every fsync was the simulator's biggest memmove).
    uint64_t synced_size = 0;
    bool diverged = false;
    std::string synced_data;
    std::string Durable() const { return diverged ? synced_data : data.substr(0, synced_size); }
    void MarkSynced() {
      synced_size = data.size();
      diverged = false;
      synced_data.clear();
    }
    // Cuts data to `size` (if shorter); the durable bytes stay until the next sync.
    void Shrink(uint64_t size) {
      if (size < synced_size && !diverged) {
        synced_data = data.substr(0, synced_size);
        diverged = true;
      }
      if (size < data.size()) data.resize(size);
      preallocated = false;  // as ftruncate(2) does, this drops the zeros past `size` too
    }
    bool failed = false;        // a Sync failed: the file is poisoned
    uint64_t preallocation = 0;  // set_preallocation(): a crash may leave that many zeros at the end
    bool preallocated = false;   // appended to since then and not truncated since (zeros possible)
  };
  // The namespace: path -> inode. `durable_names_` is what survives a crash.
  std::map<std::string, std::shared_ptr<Inode>> names_;
  std::map<std::string, std::shared_ptr<Inode>> durable_names_;
  std::set<std::string> dirs_;
  uint64_t UsedBytes() const;
  static std::string DirOf(const std::string& path);

  Prng prng_;
  SimDiskFaults faults_;
  uint64_t generation_ = 0;  // bumped on Crash: handles from before stop working
  uint64_t crashes_ = 0;
  std::function<void()> sync_hook_;
};

}  // namespace keel
