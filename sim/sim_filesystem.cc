#include "sim/sim_filesystem.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/assert.h"

namespace keel {

class SimFile final : public File {
 public:
  SimFile(SimFileSystem* fs, std::shared_ptr<SimFileSystem::Inode> inode, std::string path)
      : fs_(fs), inode_(std::move(inode)), path_(std::move(path)), generation_(fs->generation_) {}

  absl::Status Append(absl::string_view data) override {
    if (absl::Status status = Usable(); !status.ok()) return status;
    // UsedBytes() walks every file: only worth it when there is a capacity to check.
    const uint64_t used = fs_->faults_.capacity_bytes == UINT64_MAX ? 0 : fs_->UsedBytes();
    if (used + data.size() > fs_->faults_.capacity_bytes) {
      if (fs_->faults_.short_write_at_capacity && used < fs_->faults_.capacity_bytes) {
        inode_->data.append(data.data(), fs_->faults_.capacity_bytes - used);
      }
      return absl::ResourceExhaustedError(absl::StrCat(path_, ": no space left on device (ENOSPC)"));
    }
    inode_->data.append(data.data(), data.size());
    if (inode_->preallocation > 0) inode_->preallocated = true;
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Read(uint64_t offset, size_t length) override {
    if (generation_ != fs_->generation_) return Stale();
    if (offset >= inode_->data.size()) return std::string();
    std::string out = inode_->data.substr(offset, length);
    if (!out.empty() && fs_->faults_.read_bit_flip_probability > 0 &&
        fs_->prng_.NextDouble() < fs_->faults_.read_bit_flip_probability) {
      const uint64_t byte = fs_->prng_.Uniform(out.size());
      out[byte] = static_cast<char>(out[byte] ^ (1 << fs_->prng_.Uniform(8)));
    }
    return out;
  }

  absl::Status Sync() override {
    if (absl::Status status = Usable(); !status.ok()) return status;
    if (fs_->sync_hook_) {
      fs_->sync_hook_();
      // The world may have moved on while we waited (a crash invalidates this handle).
      if (absl::Status status = Usable(); !status.ok()) return status;
    }
    if (fs_->faults_.sync_failure_probability > 0 &&
        fs_->prng_.NextDouble() < fs_->faults_.sync_failure_probability) {
      // What reached the disk is unknown; model the worst case: nothing did, and the file is
      // unusable from now on (the kernel may have dropped the dirty pages: fsyncgate).
      inode_->failed = true;
      return absl::DataLossError(absl::StrCat(path_, ": fsync failed (EIO)"));
    }
    inode_->MarkSynced();
    return absl::OkStatus();
  }

  absl::Status Truncate(uint64_t size) override {
    if (absl::Status status = Usable(); !status.ok()) return status;
    inode_->Shrink(size);
    return absl::OkStatus();
  }

  uint64_t Size() const override { return inode_->data.size(); }

  // Not modelled while running (appends stay appends); Crash() adds the zeros a preallocating
  // file can leave on disk.
  void set_preallocation(uint64_t bytes) override { inode_->preallocation = bytes; }

 private:
  absl::Status Stale() const {
    return absl::FailedPreconditionError(absl::StrCat(path_, ": handle from before a crash"));
  }
  absl::Status Usable() const {
    if (generation_ != fs_->generation_) return Stale();
    if (inode_->failed) {
      return absl::DataLossError(absl::StrCat(path_, ": unusable after a failed fsync"));
    }
    return absl::OkStatus();
  }

  SimFileSystem* fs_;
  std::shared_ptr<SimFileSystem::Inode> inode_;
  std::string path_;
  uint64_t generation_;
};

SimFileSystem::SimFileSystem(uint64_t seed, SimDiskFaults faults) : prng_(seed), faults_(faults) {
  dirs_.insert("");
  dirs_.insert("/");
}

SimFileSystem::~SimFileSystem() = default;

std::string SimFileSystem::DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

uint64_t SimFileSystem::UsedBytes() const {
  uint64_t used = 0;
  std::set<const Inode*> seen;
  for (const auto& [path, inode] : names_) {
    if (seen.insert(inode.get()).second) used += inode->data.size();
  }
  return used;
}

absl::StatusOr<std::unique_ptr<File>> SimFileSystem::Open(const std::string& path, OpenMode mode) {
  if (!dirs_.contains(DirOf(path))) {
    return absl::NotFoundError(absl::StrCat(path, ": no such directory"));
  }
  if (dirs_.contains(path)) return absl::FailedPreconditionError(absl::StrCat(path, ": is a directory"));
  auto it = names_.find(path);
  switch (mode) {
    case OpenMode::kCreateNew:
      if (it != names_.end()) return absl::AlreadyExistsError(absl::StrCat(path, ": exists"));
      it = names_.emplace(path, std::make_shared<Inode>()).first;
      break;
    case OpenMode::kOpenExisting:
      if (it == names_.end()) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
      break;
    case OpenMode::kTruncate:
      if (it == names_.end()) {
        it = names_.emplace(path, std::make_shared<Inode>()).first;
      } else {
        it->second->Shrink(0);  // as Truncate(0): the synced bytes stay durable until a Sync
      }
      break;
  }
  return std::unique_ptr<File>(new SimFile(this, it->second, path));
}

absl::Status SimFileSystem::Rename(const std::string& from, const std::string& to) {
  auto it = names_.find(from);
  if (it == names_.end()) return absl::NotFoundError(absl::StrCat(from, ": no such file"));
  if (!dirs_.contains(DirOf(to))) return absl::NotFoundError(absl::StrCat(to, ": no such directory"));
  std::shared_ptr<Inode> inode = it->second;
  names_.erase(it);
  names_[to] = std::move(inode);
  return absl::OkStatus();
}

absl::Status SimFileSystem::Remove(const std::string& path) {
  if (names_.erase(path) == 0) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> SimFileSystem::List(const std::string& dir) {
  if (!dirs_.contains(dir)) return absl::NotFoundError(absl::StrCat(dir, ": no such directory"));
  std::vector<std::string> out;
  for (const auto& [path, inode] : names_) {
    if (DirOf(path) == dir) out.push_back(path.substr(dir.empty() ? 0 : dir.size() + 1));
  }
  return out;  // std::map order: sorted
}

absl::Status SimFileSystem::MakeDirs(const std::string& dir) {
  // Directories are modelled as always durable: keel creates them once, before any data.
  std::string current = dir;
  while (!current.empty() && !dirs_.contains(current)) {
    dirs_.insert(current);
    current = DirOf(current);
  }
  return absl::OkStatus();
}

absl::Status SimFileSystem::SyncDir(const std::string& dir) {
  if (!dirs_.contains(dir)) return absl::NotFoundError(absl::StrCat(dir, ": no such directory"));
  for (auto it = durable_names_.begin(); it != durable_names_.end();) {
    it = DirOf(it->first) == dir && !names_.contains(it->first) ? durable_names_.erase(it) : std::next(it);
  }
  for (const auto& [path, inode] : names_) {
    if (DirOf(path) == dir) durable_names_[path] = inode;
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> SimFileSystem::FreeSpace(const std::string& dir) {
  if (faults_.capacity_bytes == UINT64_MAX) return UINT64_MAX;
  const uint64_t used = UsedBytes();
  return used >= faults_.capacity_bytes ? 0 : faults_.capacity_bytes - used;
}

void SimFileSystem::Crash() {
  ++crashes_;
  ++generation_;
  names_ = durable_names_;
  std::set<Inode*> done;
  for (auto& [path, inode] : names_) {
    if (!done.insert(inode.get()).second) continue;
    inode->failed = false;
    const std::string durable = inode->Durable();
    std::string& current = inode->data;
    if (current.size() > durable.size() && current.compare(0, durable.size(), durable) == 0 &&
        prng_.NextDouble() < faults_.torn_write_probability) {
      // Only appends since the last sync: a prefix of them may have reached the disk.
      current.resize(durable.size() + prng_.Uniform(current.size() - durable.size() + 1));
    } else {
      current = durable;
    }
    if (inode->preallocated) {
      inode->preallocated = false;
      // Some of the zero-filled space a real preallocating file keeps past its end. Drawn
      // from the crash count, not from prng_, so that files without preallocation see the
      // same random stream as before it existed.
      // At most 16 KiB: the length changes nothing for recovery, and memory stays small.
      const uint64_t most = std::min<uint64_t>(inode->preallocation, 16 << 10);
      const uint64_t zeros = (crashes_ * 0x9E3779B97F4A7C15ULL + current.size()) % (most + 1);
      current.append(zeros, '\0');
    }
    inode->MarkSynced();  // what survived (now `data`) is what is on disk
  }
}

std::string SimFileSystem::Contents(const std::string& path) const {
  auto it = names_.find(path);
  return it == names_.end() ? std::string() : it->second->data;
}

void SimFileSystem::CorruptByte(const std::string& path, uint64_t offset) {
  auto it = names_.find(path);
  KEEL_ASSERT(it != names_.end() && offset < it->second->data.size());
  SimFileSystem::Inode& inode = *it->second;
  // Flips the byte in the current contents and in the durable ones (one buffer unless diverged).
  inode.data[offset] = static_cast<char>(inode.data[offset] ^ 0x5A);
  if (inode.diverged && offset < inode.synced_data.size()) {
    inode.synced_data[offset] = static_cast<char>(inode.synced_data[offset] ^ 0x5A);
  }
}

void SimFileSystem::SetContents(const std::string& path, std::string contents) {
  auto& inode = names_[path];
  if (!inode) inode = std::make_shared<Inode>();
  inode->data = std::move(contents);
  inode->MarkSynced();
  durable_names_[path] = inode;
}

}  // namespace keel
