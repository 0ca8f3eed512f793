#include "engine/progress.h"

#include <algorithm>

#include "engine/assert.h"

namespace keel {

absl::string_view ToString(ProgressState state) {
  switch (state) {
    case ProgressState::kProbe: return "probe";
    case ProgressState::kReplicate: return "replicate";
    case ProgressState::kSnapshot: return "snapshot";
  }
  return "?";
}

void Inflights::Add(Index last_index, uint64_t bytes) {
  KEEL_ASSERT(!Full());
  KEEL_ASSERT(messages_.empty() || last_index > messages_.back().last_index);
  messages_.push_back({last_index, bytes});
  bytes_ += bytes;
}

void Inflights::FreeLE(Index index) {
  while (!messages_.empty() && messages_.front().last_index <= index) {
    bytes_ -= messages_.front().bytes;
    messages_.pop_front();
  }
}

void Inflights::FreeFirstOne() {
  if (messages_.empty()) return;
  bytes_ -= messages_.front().bytes;
  messages_.pop_front();
}

void Inflights::Reset() {
  messages_.clear();
  bytes_ = 0;
}

void Progress::BecomeProbe() {
  // Leaving a snapshot transfer: the follower holds at least the snapshot if it succeeded; if
  // it did not, probing from match + 1 finds out again.
  if (state_ == ProgressState::kSnapshot) {
    next_ = std::max(match_ + 1, snapshot_.meta.index() + 1);
    snapshot_ = SnapshotTransfer{};
  } else {
    next_ = match_ + 1;
  }
  state_ = ProgressState::kProbe;
  probe_sent_ = false;
  inflights_.Reset();
}

void Progress::BecomeReplicate() {
  state_ = ProgressState::kReplicate;
  next_ = match_ + 1;
  probe_sent_ = false;
  inflights_.Reset();
}

void Progress::BecomeSnapshot(const raftpb::SnapshotMeta& meta) {
  state_ = ProgressState::kSnapshot;
  probe_sent_ = false;
  inflights_.Reset();
  snapshot_ = SnapshotTransfer{};
  snapshot_.meta = meta;
}

bool Progress::MaybeUpdate(Index index) {
  bool updated = false;
  if (index > match_) {
    match_ = index;
    updated = true;
    probe_sent_ = false;
  }
  next_ = std::max(next_, index + 1);
  return updated;
}

void Progress::SentEntries(Index last_index, uint64_t bytes) {
  switch (state_) {
    case ProgressState::kReplicate:
      if (last_index >= next_) {
        next_ = last_index + 1;
        inflights_.Add(last_index, bytes);
      }
      break;
    case ProgressState::kProbe:
      probe_sent_ = true;
      break;
    case ProgressState::kSnapshot:
      KEEL_ASSERT_MSG(false, "entries sent to a follower that is receiving a snapshot");
  }
}

bool Progress::MaybeDecreaseTo(Index rejected, Index hint) {
  if (state_ == ProgressState::kReplicate) {
    // Stale if the rejected append was already acknowledged.
    if (rejected <= match_) return false;
    next_ = match_ + 1;
    return true;
  }
  // Probe (and snapshot): only the rejection of our current probe counts.
  if (next_ == 0 || next_ - 1 != rejected) return false;
  next_ = std::max(std::min(rejected, hint + 1), match_ + 1);
  probe_sent_ = false;
  return true;
}

void Progress::OnHeartbeatResponse() {
  probe_sent_ = false;
  if (state_ == ProgressState::kReplicate && inflights_.Full()) inflights_.FreeFirstOne();
}

bool Progress::IsPaused() const {
  switch (state_) {
    case ProgressState::kProbe: return probe_sent_;
    case ProgressState::kReplicate: return inflights_.Full();
    case ProgressState::kSnapshot: return true;
  }
  return true;
}

}  // namespace keel
