// InstallSnapshot (Raft §7, Figure 13), sent in resumable chunks.
#include "engine/assert.h"
#include "engine/raft.h"

namespace keel {

void Raft::StartSnapshotTransfer(NodeId to) {
  Progress& progress = progress_.at(to);
  // Do not stream a snapshot into the void: wait until the follower showed signs of life.
  if (!progress.recent_active()) return;
  const raftpb::SnapshotMeta meta = storage_.SnapshotMetadata();
  KEEL_ASSERT_MSG(meta.index() > 0, "log compacted but storage has no snapshot");
  progress.BecomeSnapshot(meta);
  SendSnapshotChunk(to);
}

void Raft::SendSnapshotChunk(NodeId to) {
  Progress& progress = progress_.at(to);
  KEEL_ASSERT(progress.state() == ProgressState::kSnapshot);
  SnapshotTransfer& transfer = progress.snapshot();
  absl::StatusOr<std::string> chunk = storage_.ReadSnapshotChunk(
      transfer.meta, transfer.acked_offset, config_.max_snapshot_chunk_bytes);
  if (!chunk.ok() && IsCompacted(chunk.status())) {
    // The application took a newer snapshot meanwhile: stream that one from the start.
    progress.BecomeSnapshot(storage_.SnapshotMetadata());
    chunk = storage_.ReadSnapshotChunk(transfer.meta, 0, config_.max_snapshot_chunk_bytes);
  }
  if (!chunk.ok()) {
    Fail(chunk.status());
    return;
  }
  MessageHeader message;
  message.set_type(raftpb::MSG_SNAPSHOT);
  message.set_to(to);
  *message.mutable_snapshot() = transfer.meta;
  message.set_snapshot_offset(transfer.acked_offset);
  message.set_snapshot_done(transfer.acked_offset + chunk->size() == transfer.meta.size());
  message.set_snapshot_data(std::move(*chunk));
  transfer.chunk_in_flight = true;
  transfer.ticks_since_send = 0;
  Send(std::move(message));
}

void Raft::TickSnapshotTransfers() {
  for (auto& [id, progress] : progress_) {
    if (progress.state() != ProgressState::kSnapshot) continue;
    SnapshotTransfer& transfer = progress.snapshot();
    // A chunk (or its ack) was lost: resume from what the follower last confirmed.
    if (++transfer.ticks_since_send >= config_.election_tick) SendSnapshotChunk(id);
  }
}

void Raft::HandleSnapshotResponse(const MessageHeader& m) {
  Progress& progress = progress_.at(m.from());
  progress.set_recent_active(true);
  if (progress.state() != ProgressState::kSnapshot) return;
  SnapshotTransfer& transfer = progress.snapshot();
  if (m.snapshot().index() != transfer.meta.index() || m.snapshot().term() != transfer.meta.term()) {
    return;  // about a transfer we abandoned
  }
  transfer.chunk_in_flight = false;
  // The follower says what it needs next; that may be 0 if it lost or rejected what it had.
  transfer.acked_offset = m.reject() ? 0 : std::min(m.snapshot_offset(), transfer.meta.size());
  if (transfer.acked_offset < transfer.meta.size()) SendSnapshotChunk(m.from());
  // At the end the follower installs the snapshot and answers with MSG_APPEND_RESP.
}

void Raft::HandleSnapshotChunk(const MessageHeader& m) {
  const raftpb::SnapshotMeta& meta = m.snapshot();
  if (meta.index() <= log_.committed()) {
    // We already have everything it covers; tell the leader where we really are.
    snapshot_receiver_.Reset();
    MessageHeader reply;
    reply.set_type(raftpb::MSG_APPEND_RESP);
    reply.set_to(m.from());
    reply.set_index(log_.committed());
    Send(std::move(reply));
    return;
  }
  const SnapshotReceiver::Result result = snapshot_receiver_.Offer(m);
  if (!result.complete) {
    MessageHeader reply;
    reply.set_type(raftpb::MSG_SNAPSHOT_RESP);
    reply.set_to(m.from());
    reply.mutable_snapshot()->set_index(meta.index());
    reply.mutable_snapshot()->set_term(meta.term());
    reply.set_snapshot_offset(result.next_offset);
    reply.set_reject(result.corrupt);
    Send(std::move(reply));
    return;
  }
  InstallReceivedSnapshot(meta, snapshot_receiver_.TakeData());
}

void Raft::InstallReceivedSnapshot(const raftpb::SnapshotMeta& meta, std::string data) {
  KEEL_ASSERT(meta.index() > log_.committed());
  MessageHeader reply;
  reply.set_type(raftpb::MSG_APPEND_RESP);
  reply.set_to(leader_);
  if (log_.MatchTerm(meta.index(), meta.term())) {
    // Figure 13 rule 6: our log already holds the snapshot's last entry, so it holds everything
    // before it too (Log Matching). Keep the suffix; just commit up to the snapshot.
    log_.CommitTo(meta.index());
    reply.set_index(meta.index());
  } else {
    // Rule 7: discard the whole log and restore the state machine from the snapshot.
    log_.Restore(meta, std::move(data));
    base_conf_ = meta.conf_state();
    conf_history_.clear();
    pending_conf_index_ = 0;
    SetConfState(base_conf_);
    reply.set_index(meta.index());
  }
  Send(std::move(reply));
}

}  // namespace keel
