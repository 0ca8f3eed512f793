#include "engine/snapshot_receiver.h"

#include "engine/assert.h"
#include "engine/crc32c.h"

namespace keel {

void SnapshotReceiver::Reset() {
  active_ = false;
  leader_term_ = 0;
  leader_ = kNoNode;
  meta_.Clear();
  data_.clear();
}

SnapshotReceiver::Result SnapshotReceiver::Offer(const MessageHeader& chunk) {
  const raftpb::SnapshotMeta& meta = chunk.snapshot();
  const bool same_transfer = active_ && leader_term_ == chunk.term() && leader_ == chunk.from() &&
                             meta_.index() == meta.index() && meta_.term() == meta.term() &&
                             meta_.size() == meta.size() && meta_.crc32c() == meta.crc32c();
  if (!same_transfer) {
    // A new snapshot (or a new leader) starts over; only a first chunk can start it.
    Reset();
    if (chunk.snapshot_offset() != 0) return Result{0, false, false};
    active_ = true;
    leader_term_ = chunk.term();
    leader_ = chunk.from();
    meta_ = meta;
  }
  if (chunk.snapshot_offset() != data_.size()) {
    // Out of order or duplicate: ask for what we need next; keep what we have.
    return Result{data_.size(), false, false};
  }
  data_.append(chunk.snapshot_data());
  KEEL_ASSERT(data_.size() <= meta_.size());
  if (!chunk.snapshot_done()) return Result{data_.size(), false, false};
  if (data_.size() != meta_.size() || Crc32c(data_) != meta_.crc32c()) {
    Reset();
    return Result{0, false, true};
  }
  return Result{data_.size(), true, false};
}

std::string SnapshotReceiver::TakeData() {
  KEEL_ASSERT(active_);
  std::string data = std::move(data_);
  Reset();
  return data;
}

}  // namespace keel
