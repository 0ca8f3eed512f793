#include "engine/memory_storage.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "engine/crc32c.h"

namespace keel {

absl::Status CompactedError(Index index) {
  return absl::OutOfRangeError(absl::StrCat("log index ", index, " was compacted"));
}
absl::Status UnavailableError(Index index) {
  return absl::NotFoundError(absl::StrCat("log index ", index, " is past the last entry"));
}

MemoryStorage::MemoryStorage(std::vector<NodeId> voters) {
  std::sort(voters.begin(), voters.end());
  KEEL_ASSERT(std::adjacent_find(voters.begin(), voters.end()) == voters.end());
  for (NodeId id : voters) snapshot_meta_.mutable_conf_state()->add_voters(id);
}

const Entry& MemoryStorage::At(Index index) const {
  KEEL_ASSERT(index >= FirstIndex() && index <= LastIndex());
  const Entry& entry = entries_[index - FirstIndex()];
  KEEL_ASSERT(entry.index() == index);
  return entry;
}

absl::StatusOr<Term> MemoryStorage::TermAt(Index index) const {
  if (index < snapshot_meta_.index()) return CompactedError(index);
  if (index > LastIndex()) return UnavailableError(index);
  if (index == snapshot_meta_.index()) return snapshot_meta_.term();
  return At(index).term();
}

absl::Status MemoryStorage::Entries(Index lo, Index hi, uint64_t max_bytes,
                                    std::vector<Entry>* out) const {
  KEEL_ASSERT(lo < hi);
  if (lo < FirstIndex()) return CompactedError(lo);
  if (hi > LastIndex() + 1) return UnavailableError(hi - 1);
  uint64_t bytes = 0;
  for (Index i = lo; i < hi; ++i) {
    const Entry& entry = At(i);
    bytes += EntryBytes(entry);
    if (i > lo && bytes > max_bytes) break;
    out->push_back(entry);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> MemoryStorage::ReadSnapshotChunk(const raftpb::SnapshotMeta& meta,
                                                             uint64_t offset,
                                                             uint64_t max_bytes) const {
  if (meta.index() != snapshot_meta_.index() || meta.term() != snapshot_meta_.term()) {
    return absl::OutOfRangeError("snapshot was replaced by a newer one");
  }
  if (offset > snapshot_data_.size()) return absl::InvalidArgumentError("offset past snapshot end");
  return snapshot_data_.substr(offset, max_bytes);
}

void MemoryStorage::Append(const std::vector<Entry>& entries) {
  if (entries.empty()) return;
  const Index first = entries.front().index();
  KEEL_ASSERT(first >= FirstIndex());
  KEEL_ASSERT(first <= LastIndex() + 1);
  entries_.resize(first - FirstIndex());
  for (const Entry& entry : entries) {
    KEEL_ASSERT(entry.index() == LastIndex() + 1);
    entries_.push_back(entry);
  }
}

void MemoryStorage::ApplySnapshot(const raftpb::SnapshotMeta& meta, std::string data) {
  KEEL_ASSERT(meta.index() > snapshot_meta_.index());
  snapshot_meta_ = meta;
  snapshot_meta_.set_size(data.size());
  snapshot_meta_.set_crc32c(Crc32c(data));
  snapshot_data_ = std::move(data);
  entries_.clear();
}

bool MemoryStorage::CreateSnapshot(Index index, const raftpb::ConfState& conf_state,
                                   std::string data) {
  if (index <= snapshot_meta_.index()) return false;
  KEEL_ASSERT(index <= LastIndex());
  const Term term = At(index).term();
  entries_.erase(entries_.begin(), entries_.begin() + (index - FirstIndex() + 1));
  snapshot_meta_.set_index(index);
  snapshot_meta_.set_term(term);
  *snapshot_meta_.mutable_conf_state() = conf_state;
  snapshot_meta_.set_size(data.size());
  snapshot_meta_.set_crc32c(Crc32c(data));
  snapshot_data_ = std::move(data);
  return true;
}

}  // namespace keel
