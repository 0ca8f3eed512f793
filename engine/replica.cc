#include "engine/replica.h"

#include <algorithm>

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
  replica->applied_through_ = replica->raft_->log().applied();
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

void Replica::OnMessage(Message&& message) {
  if (!failed_.ok()) return;
  if (held_) {
    // The core is frozen while its Ready is held (see HoldReady): dropped, as a lossy
    // network may; the sender retries.
    ++dropped_while_stalled_;
    return;
  }
  // With lease reads, a follower's promise to a leader runs from the tick count at which it
  // hears from it: ticks still owed for time before the message must not count towards it.
  if (options_.raft.read_only_lease) TickToNow();
  if (!raft_->Step(std::move(message)).ok()) ++rejected_messages_;
}

absl::Status Replica::ReadIndex(std::string context) {
  if (!failed_.ok()) return failed_;
  if (options_.raft.read_only_lease) TickToNow();
  return raft_->ReadIndex(std::move(context));
}

void Replica::Poll() {
  if (!failed_.ok()) return;
  if (held_) {
    const int64_t now = clock_.NowNanos();
    if (now < next_persist_retry_nanos_) return;
    next_persist_retry_nanos_ = now + options_.tick_nanos;  // at most one retry per tick
    Ready ready = std::move(*held_);
    held_.reset();
    if (!Persist(ready)) return;
    // The time frozen is not replayed as ticks: the core resumes where it stopped.
    last_tick_nanos_ = now;
    CompleteReady(ready);
  }
  TickToNow();
  HandleReady();
}

void Replica::TickToNow() {
  // Frozen while a Ready is held (Poll retries it): no ticks, as for a paused process.
  if (held_ || !failed_.ok()) return;
  // After a long stall (a GC pause, a suspended VM) do not replay every missed tick: a few
  // ticks past the election timeout have the same effect.
  const int64_t now = clock_.NowNanos();
  const int64_t max_catch_up = static_cast<int64_t>(options_.raft.election_tick) * 2;
  int64_t due = static_cast<int64_t>(TicksDueAt(now));
  if (due > max_catch_up) {
    last_tick_nanos_ = now - max_catch_up * options_.tick_nanos;
    due = max_catch_up;
  }
  for (int64_t i = 0; i < due && failed_.ok() && !held_; ++i) {
    raft_->Tick();
    last_tick_nanos_ += options_.tick_nanos;
  }
}

absl::StatusOr<LogPosition> Replica::Propose(std::string command, ProposalCallback done) {
  if (!failed_.ok()) return failed_;
  if (held_) return storage_stalled_;
  return Track(raft_->Propose(std::move(command)), std::move(done));
}

absl::StatusOr<LogPosition> Replica::ProposeConfChange(const raftpb::ConfChange& change, ProposalCallback done) {
  if (!failed_.ok()) return failed_;
  if (held_) return storage_stalled_;
  return Track(raft_->ProposeConfChange(change), std::move(done));
}

absl::StatusOr<LogPosition> Replica::Track(absl::StatusOr<LogPosition> position, ProposalCallback done) {
  if (position.ok()) pending_[position->index] = Pending{position->term, std::move(done)};
  return position;
}

void Replica::HandleReady() {
  while (failed_.ok() && !held_ && raft_->HasReady()) {
    Ready ready = raft_->GetReady();
    // The leader's appends go out before its own write (dissertation §10.2.1).
    for (Message& message : ready.messages) transport_.Send(std::move(message));
    // Committed entries are durable on a quorum already: apply them and answer their clients
    // before this node's fsync of the entries proposed since (ready.h, step 4). Under load
    // every leader Ready carries both, so this takes one fsync off each request's latency.
    if (!ready.snapshot) ApplyCommitted(ready);
    if (!Persist(ready)) return;
    CompleteReady(ready);
  }
  if (failed_.ok() && !held_ && !raft_->fatal_error().ok()) Stop(raft_->fatal_error());
}

bool Replica::Persist(Ready& ready) {
  const absl::Status status = storage_.SaveReady(ready);
  if (status.ok()) {
    if (!storage_stalled_.ok()) {
      storage_stalled_ = absl::OkStatus();
      ++storage_recoveries_;
    }
    return true;
  }
  if (!absl::IsResourceExhausted(status)) {
    Stop(status);
    return false;
  }
  HoldReady(std::move(ready), status);
  return false;
}

// Why holding a Ready whose persist found the disk full is safe (Raft §3.8, Figure 2: term,
// vote and entries are durable before any message that depends on them leaves the node):
// - storage left no trace of the Ready (durable_storage.h), so the disk is as before it;
// - of the Ready, only `messages` left: a leader's appends and heartbeats, which depend on its
//   term alone, durable since an earlier Ready (Raft::Send), never on its unwritten log
//   (§10.2.1). Votes, a candidate's vote requests (its vote for itself is in the held hard
//   state) and append acks are in messages_after_persist and wait for the retry to succeed:
//   no candidate wins on a vote it did not persist, no follower acks entries it did not write;
// - Advance() is not called, so the core still counts the Ready's entries as unwritten: a
//   leader's own match stays below them and commits only on followers that did write them.
//   (Its committed entries were applied before the persist; applied_through_ keeps the retry
//   from applying them twice. They were committed, so that was safe either way.)
// - the core is frozen until the Ready is persisted: no Step, Tick, Propose or ReadIndex.
//   (The core hands out a hard state in GetReady and from then on treats it as durable, e.g.
//   to send appends at once; stepping it now could release messages that rely on the held
//   hard state.) Incoming messages are dropped, which Raft tolerates like any lost message,
//   so a stalled node looks to its peers like a partitioned one: a stalled leader stops
//   sending heartbeats and a healthy node takes over; a stalled follower falls behind and is
//   caught up when it returns.
void Replica::HoldReady(Ready ready, const absl::Status& status) {
  KEEL_ASSERT(absl::IsResourceExhausted(status) && !held_);
  if (storage_stalled_.ok()) ++storage_stalls_;
  storage_stalled_ = absl::UnavailableError(
      absl::StrCat("disk full: node ", raft_->id(), " refuses writes until space returns (", status.message(), ")"));
  next_persist_retry_nanos_ = clock_.NowNanos() + options_.tick_nanos;
  held_.emplace(std::move(ready));
}

void Replica::CompleteReady(Ready& ready) {
  if (ready.snapshot) {
    if (absl::Status status = state_machine_.Restore(ready.snapshot->data); !status.ok()) {
      Stop(absl::DataLossError(absl::StrCat("received snapshot does not restore: ", status.message())));
      return;
    }
    last_snapshot_index_ = ready.snapshot->meta.index();
    applied_through_ = std::max(applied_through_, last_snapshot_index_);
    // Proposals at or below the snapshot were decided elsewhere; their results are unknown.
    while (!pending_.empty() && pending_.begin()->first <= last_snapshot_index_) {
      auto node = pending_.extract(pending_.begin());
      node.mapped().done(absl::UnavailableError("outcome unknown: replaced by a snapshot"));
    }
  }
  for (Message& message : ready.messages_after_persist) transport_.Send(std::move(message));
  ApplyCommitted(ready);
  if (read_state_handler_) {
    for (const ReadState& read_state : ready.read_states) read_state_handler_(read_state);
  }
  raft_->Advance(ready);
  raft_->Recycle(std::move(ready));  // the next Ready reuses its vectors; `ready` is done
  KEEL_ASSERT(raft_->log().applied() == applied_through_);
  if (!raft_->fatal_error().ok()) {
    Stop(raft_->fatal_error());
    return;
  }
  MaybeSnapshot();
}

void Replica::ApplyCommitted(const Ready& ready) {
  for (const Entry& entry : ready.committed_entries) {
    if (entry.index() <= applied_through_) continue;  // applied before the persist
    KEEL_ASSERT(entry.index() == applied_through_ + 1);
    applied_through_ = entry.index();
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
}

void Replica::MaybeSnapshot() {
  if (options_.snapshot_every_entries == 0) return;
  const Index applied = raft_->log().applied();
  if (applied < last_snapshot_index_ + options_.snapshot_every_entries) return;
  if (applied < next_snapshot_attempt_index_) return;  // the last attempt found the disk full
  // The state machine's state is as of `applied`; the snapshot must be taken exactly there.
  // The configuration as of the snapshot's index, not the current one: entries after it may
  // change it again, and a node restoring the snapshot replays them.
  const raftpb::ConfState conf = raft_->ConfStateAt(applied);
  if (absl::Status status = storage_.CreateSnapshot(applied, conf, state_machine_.Snapshot()); !status.ok()) {
    if (!absl::IsResourceExhausted(status)) {
      Stop(status);
      return;
    }
    // The disk is full: the snapshot was abandoned whole and the log still holds everything.
    // Try again after a quarter of the interval (serializing the state is not free).
    ++snapshots_abandoned_;
    next_snapshot_attempt_index_ = applied + std::max<uint64_t>(options_.snapshot_every_entries / 4, 1);
    return;
  }
  last_snapshot_index_ = applied;
}

}  // namespace keel
