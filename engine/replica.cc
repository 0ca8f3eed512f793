#include "engine/replica.h"

#include "absl/strings/str_cat.h"
#include "engine/assert.h"

namespace keel {

Replica::Replica(const ReplicaOptions& options, const Clock& clock, Transport& transport,
                 DurableStorage& storage, StateMachine& state_machine)
    : options_(options), clock_(clock), transport_(transport), storage_(storage), state_machine_(state_machine) {}

absl::StatusOr<std::unique_ptr<Replica>> Replica::Open(const ReplicaOptions& options, const Clock& clock,
                                                       Transport& transport, DurableStorage& storage,
                                                       StateMachine& state_machine) {
  if (options.tick_nanos <= 0) return absl::InvalidArgumentError("replica: tick_nanos must be > 0");
  std::unique_ptr<Replica> replica(new Replica(options, clock, transport, storage, state_machine));
  const raftpb::SnapshotMeta meta = storage.SnapshotMetadata();
  if (meta.index() > 0) {
    absl::StatusOr<std::string> data = storage.SnapshotData();
    if (!data.ok()) return data.status();
    if (absl::Status status = state_machine.Restore(*data); !status.ok()) {
      return absl::DataLossError(absl::StrCat("snapshot ", meta.index(), " does not restore: ", status.message()));
    }
  }
  replica->last_snapshot_index_ = meta.index();
  absl::StatusOr<std::unique_ptr<Raft>> raft = Raft::Create(options.raft, storage);
  if (!raft.ok()) return raft.status();
  replica->raft_ = std::move(*raft);
  replica->last_tick_nanos_ = clock.NowNanos();
  return replica;
}

void Replica::Stop(const absl::Status& status) {
  if (!failed_.ok()) return;
  failed_ = status;
  FailPending(absl::UnavailableError(absl::StrCat("replica stopped: ", status.message())));
}

void Replica::FailPending(const absl::Status& status) {
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [index, proposal] : pending) proposal.done(status);
}

void Replica::OnMessage(const raftpb::Message& message) {
  if (!failed_.ok()) return;
  // With lease reads, a follower's promise to a leader runs from the tick count at which it
  // hears from it: ticks still owed for time before the message must not count towards it.
  if (options_.raft.read_only_lease) TickToNow();
  if (!raft_->Step(message).ok()) ++rejected_messages_;
}

absl::Status Replica::ReadIndex(std::string context) {
  if (!failed_.ok()) return failed_;
  if (options_.raft.read_only_lease) TickToNow();
  return raft_->ReadIndex(std::move(context));
}

void Replica::Poll() {
  if (!failed_.ok()) return;
  TickToNow();
  HandleReady();
}

void Replica::TickToNow() {
  const int64_t now = clock_.NowNanos();
  // After a long stall (a GC pause, a suspended VM) do not replay every missed tick: a few
  // ticks past the election timeout have the same effect.
  const int64_t max_catch_up = static_cast<int64_t>(options_.raft.election_tick) * 2;
  int64_t due = (now - last_tick_nanos_) / options_.tick_nanos;
  if (due > max_catch_up) {
    last_tick_nanos_ = now - max_catch_up * options_.tick_nanos;
    due = max_catch_up;
  }
  for (int64_t i = 0; i < due; ++i) {
    raft_->Tick();
    last_tick_nanos_ += options_.tick_nanos;
  }
}

absl::StatusOr<LogPosition> Replica::Propose(std::string command, ProposalCallback done) {
  if (!failed_.ok()) return failed_;
  absl::StatusOr<LogPosition> position = raft_->Propose(std::move(command));
  if (!position.ok()) return position.status();
  pending_[position->index] = Pending{position->term, std::move(done)};
  return position;
}

void Replica::HandleReady() {
  while (failed_.ok() && raft_->HasReady()) {
    Ready ready = raft_->GetReady();
    // The leader's appends go out before its own write (dissertation §10.2.1).
    for (const raftpb::Message& message : ready.messages) transport_.Send(message);
    if (absl::Status status = storage_.SaveReady(ready); !status.ok()) {
      Stop(status);
      return;
    }
    if (ready.snapshot) {
      if (absl::Status status = state_machine_.Restore(ready.snapshot->data); !status.ok()) {
        Stop(absl::DataLossError(absl::StrCat("received snapshot does not restore: ", status.message())));
        return;
      }
      last_snapshot_index_ = ready.snapshot->meta.index();
      // Proposals at or below the snapshot were decided elsewhere; their results are unknown.
      while (!pending_.empty() && pending_.begin()->first <= last_snapshot_index_) {
        auto node = pending_.extract(pending_.begin());
        node.mapped().done(absl::UnavailableError("outcome unknown: replaced by a snapshot"));
      }
    }
    for (const raftpb::Message& message : ready.messages_after_persist) transport_.Send(message);
    for (const raftpb::Entry& entry : ready.committed_entries) {
      std::string result;
      if (entry.type() == raftpb::ENTRY_NORMAL) result = state_machine_.Apply(entry.index(), entry.data());
      auto it = pending_.find(entry.index());
      if (it == pending_.end()) continue;
      Pending proposal = std::move(it->second);
      pending_.erase(it);
      if (proposal.term == entry.term()) {
        proposal.done(std::move(result));
      } else {
        proposal.done(absl::AbortedError("proposal lost to a leader change; retry"));
      }
    }
    if (read_state_handler_) {
      for (const ReadState& read_state : ready.read_states) read_state_handler_(read_state);
    }
    raft_->Advance(ready);
    if (!raft_->fatal_error().ok()) {
      Stop(raft_->fatal_error());
      return;
    }
    MaybeSnapshot();
  }
  if (failed_.ok() && !raft_->fatal_error().ok()) Stop(raft_->fatal_error());
}

void Replica::MaybeSnapshot() {
  if (options_.snapshot_every_entries == 0) return;
  const Index applied = raft_->log().applied();
  if (applied < last_snapshot_index_ + options_.snapshot_every_entries) return;
  // The state machine's state is as of `applied`; the snapshot must be taken exactly there.
  // The configuration as of the snapshot's index, not the current one: entries after it may
  // change it again, and a node restoring the snapshot replays them.
  const raftpb::ConfState conf = raft_->ConfStateAt(applied);
  if (absl::Status status = storage_.CreateSnapshot(applied, conf, state_machine_.Snapshot()); !status.ok()) {
    Stop(status);
    return;
  }
  last_snapshot_index_ = applied;
}

}  // namespace keel
