#include "engine/storage/snapshot_store.h"

#include <cinttypes>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "engine/crc32c.h"

namespace keel {
namespace {

constexpr absl::string_view kMagic = "KEELSNP1";
constexpr absl::string_view kSuffix = ".snap";
constexpr absl::string_view kTempSuffix = ".tmp";

std::string SnapshotName(Index index, Term term) {
  char name[64];
  std::snprintf(name, sizeof(name), "%016" PRIx64 "-%016" PRIx64 ".snap", index, term);
  return name;
}

uint32_t GetU32(absl::string_view bytes) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= uint32_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
  return value;
}

void PutU32(uint32_t value, std::string* out) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SnapshotStore>> SnapshotStore::Open(FileSystem& fs, const std::string& dir) {
  std::unique_ptr<SnapshotStore> store(new SnapshotStore(fs, dir));
  if (absl::Status status = store->Load(); !status.ok()) return status;
  return store;
}

absl::Status SnapshotStore::Load() {
  if (absl::Status status = fs_.MakeDirs(dir_); !status.ok()) return status;
  absl::StatusOr<std::vector<std::string>> names = fs_.List(dir_);
  if (!names.ok()) return names.status();
  bool removed_temp = false;
  std::vector<std::string> candidates;
  for (const std::string& name : *names) {
    if (absl::EndsWith(name, kTempSuffix)) {
      // A snapshot whose write did not complete: it was never used.
      if (absl::Status status = fs_.Remove(JoinPath(dir_, name)); !status.ok()) return status;
      removed_temp = true;
    } else if (absl::EndsWith(name, kSuffix)) {
      candidates.push_back(name);
    }
  }
  if (removed_temp) {
    if (absl::Status status = fs_.SyncDir(dir_); !status.ok()) return status;
  }
  // Names sort by index then term (fixed-width hex): try the newest first.
  for (auto it = candidates.rbegin(); it != candidates.rend(); ++it) {
    const std::string path = JoinPath(dir_, *it);
    absl::StatusOr<std::unique_ptr<File>> file = fs_.Open(path, FileSystem::OpenMode::kOpenExisting);
    if (!file.ok()) return file.status();
    absl::StatusOr<std::string> contents = (*file)->Read(0, (*file)->Size());
    if (!contents.ok()) return contents.status();
    const std::string& bytes = *contents;
    auto reject = [&](absl::string_view why) { skipped_.push_back(absl::StrCat(path, ": ", why)); };
    if (bytes.size() < kMagic.size() + 8 || !absl::StartsWith(bytes, kMagic)) {
      reject("bad header");
      continue;
    }
    const uint32_t meta_length = GetU32(absl::string_view(bytes).substr(kMagic.size()));
    const uint64_t data_offset = kMagic.size() + 4 + uint64_t{meta_length};
    if (data_offset + 4 > bytes.size()) {
      reject("truncated");
      continue;
    }
    const absl::string_view covered = absl::string_view(bytes).substr(kMagic.size() + 4, bytes.size() - kMagic.size() - 8);
    if (Crc32c(covered) != GetU32(absl::string_view(bytes).substr(bytes.size() - 4))) {
      reject("CRC mismatch");
      continue;
    }
    raftpb::SnapshotMeta meta;
    if (!meta.ParseFromString(std::string(covered.substr(0, meta_length))) ||
        meta.size() != bytes.size() - data_offset - 4 || SnapshotName(meta.index(), meta.term()) != *it) {
      reject("metadata does not match the file");
      continue;
    }
    meta_ = meta;
    path_ = path;
    data_offset_ = data_offset;
    file_ = std::move(*file);
    return PruneExcept(*it);
  }
  return absl::OkStatus();
}

absl::Status SnapshotStore::PruneExcept(const std::string& keep) {
  absl::StatusOr<std::vector<std::string>> names = fs_.List(dir_);
  if (!names.ok()) return names.status();
  bool removed = false;
  for (const std::string& name : *names) {
    // Corrupt files are kept for the operator to inspect; only valid older ones are pruned.
    if (name == keep || !absl::EndsWith(name, kSuffix) || name > keep) continue;
    if (absl::Status status = fs_.Remove(JoinPath(dir_, name)); !status.ok()) return status;
    removed = true;
  }
  return removed ? fs_.SyncDir(dir_) : absl::OkStatus();
}

absl::StatusOr<std::string> SnapshotStore::ReadData(uint64_t offset, uint64_t length) {
  if (!file_) return absl::NotFoundError("no snapshot");
  if (offset > meta_.size()) return absl::InvalidArgumentError("offset past snapshot end");
  return file_->Read(data_offset_ + offset, std::min<uint64_t>(length, meta_.size() - offset));
}

absl::StatusOr<std::string> SnapshotStore::ReadAllData() {
  absl::StatusOr<std::string> data = ReadData(0, meta_.size());
  if (!data.ok()) return data.status();
  if (data->size() != meta_.size() || Crc32c(*data) != meta_.crc32c()) {
    return absl::DataLossError(absl::StrCat(path_, ": snapshot data failed verification"));
  }
  return data;
}

absl::Status SnapshotStore::NotRetryable(const absl::Status& status) {
  if (!absl::IsResourceExhausted(status)) return status;
  return absl::InternalError(absl::StrCat("snapshot ", dir_, ": ", status.message()));
}

absl::Status SnapshotStore::AbandonTemp(const std::string& temp, const absl::Status& cause) {
  // The temporary file was never renamed into place, so nothing reads it; a crash before the
  // removal leaves it for Load() to remove.
  if (absl::Status status = fs_.Remove(temp); !status.ok() && !absl::IsNotFound(status)) {
    return NotRetryable(status);
  }
  return absl::ResourceExhaustedError(absl::StrCat("snapshot ", dir_, ": disk full, snapshot ",
                                                   "not written (", cause.message(), ")"));
}

absl::Status SnapshotStore::Save(raftpb::SnapshotMeta meta, const std::string& data) {
  KEEL_ASSERT(meta.index() > meta_.index());
  meta.set_size(data.size());
  meta.set_crc32c(Crc32c(data));
  const std::string name = SnapshotName(meta.index(), meta.term());
  const std::string path = JoinPath(dir_, name);
  const std::string temp = absl::StrCat(path, kTempSuffix);
  const std::string meta_bytes = meta.SerializeAsString();
  std::string header(kMagic);
  PutU32(static_cast<uint32_t>(meta_bytes.size()), &header);
  header.append(meta_bytes);
  uint32_t crc = Crc32c(meta_bytes);
  crc = Crc32cExtend(crc, data.data(), data.size());
  std::string trailer;
  PutU32(crc, &trailer);
  absl::StatusOr<std::unique_ptr<File>> file = fs_.Open(temp, FileSystem::OpenMode::kTruncate);
  if (!file.ok()) return absl::IsResourceExhausted(file.status()) ? AbandonTemp(temp, file.status()) : file.status();
  for (absl::string_view part : {absl::string_view(header), absl::string_view(data), absl::string_view(trailer)}) {
    if (absl::Status status = (*file)->Append(part); !status.ok()) {
      file->reset();
      return absl::IsResourceExhausted(status) ? AbandonTemp(temp, status) : status;
    }
  }
  // From here on a failure is not a full disk the caller may wait out: a failed fsync or
  // rename leaves the directory in an unknown state.
  if (absl::Status status = (*file)->Sync(); !status.ok()) return NotRetryable(status);
  if (absl::Status status = fs_.Rename(temp, path); !status.ok()) return NotRetryable(status);
  if (absl::Status status = fs_.SyncDir(dir_); !status.ok()) return NotRetryable(status);
  meta_ = meta;
  path_ = path;
  data_offset_ = header.size();
  file_ = std::move(*file);
  return NotRetryable(PruneExcept(name));
}

}  // namespace keel
