// One Raft node: wires a Raft core to a Clock, a Transport, DurableStorage and a
// StateMachine, and carries out every Ready in the order of the persistence contract
// (engine/ready.h). Event-driven and single-threaded: the owner's loop (a ZeroMQ poll loop in
// production, a fiber in the simulator) calls OnMessage() for each delivery and Poll()
// whenever it wakes; NextWakeNanos() says when the next tick is due.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/env.h"
#include "engine/raft.h"
#include "engine/state_machine.h"
#include "engine/storage/durable_storage.h"

namespace keel {

struct ReplicaOptions {
  Config raft;
  int64_t tick_nanos = 100'000'000;  // one Raft tick
  // Take a snapshot (and compact the log up to it) once this many entries were applied since
  // the last one; 0: never.
  uint64_t snapshot_every_entries = 10'000;
};

class Replica {
 public:
  // Result of a proposal: the state machine's result, or an error if the entry was lost to a
  // leader change (another entry was committed at its index) or the replica stopped.
  using ProposalCallback = std::function<void(absl::StatusOr<std::string>)>;

  // Starts a node from `storage`, restoring the state machine from the newest snapshot.
  // Clock, transport, storage and state machine must outlive the replica.
  static absl::StatusOr<std::unique_ptr<Replica>> Open(const ReplicaOptions& options, const Clock& clock,
                                                       Transport& transport, DurableStorage& storage,
                                                       StateMachine& state_machine);

  // Steps a message from a peer into the core (invalid ones are counted and dropped). The
  // next Poll() carries out what it caused, so a burst of messages costs one Ready (one fsync).
  void OnMessage(Message&& message);
  // Ticks the core for the time that passed and carries out every pending Ready.
  void Poll();
  // Raft::ReadIndex, with the core ticked up to the present first when lease reads are on: a
  // lease judged by a tick count that lags the clock (after a long fsync, a pause) would
  // outlive its time. The ReadState comes out of a later Poll().
  absl::Status ReadIndex(std::string context);
  // Receives every ReadState the core releases (Ready::read_states), in order, while the
  // Ready is carried out: the read may be served once the state machine applied its index.
  using ReadStateHandler = std::function<void(const ReadState&)>;
  void set_read_state_handler(ReadStateHandler handler) { read_state_handler_ = std::move(handler); }
  // Ticks the clock says are due that the core has not been given yet (Poll gives them; a
  // step that waited on a slow disk ends with some due).
  uint64_t TicksDue() const { return TicksDueAt(clock_.NowNanos()); }
  // When Poll() should run next for the next tick (or, stalled, the next persist attempt).
  int64_t NextWakeNanos() const {
    return held_ ? next_persist_retry_nanos_ : last_tick_nanos_ + options_.tick_nanos;
  }

  // Proposes a command; `done` runs once it is applied (or lost). Fails at once when this
  // node is not the leader (the error names the leader if known) or the replica stopped.
  // The entry is written and sent by the next Poll(): proposals made between two Polls share
  // one Ready and one fsync.
  absl::StatusOr<LogPosition> Propose(std::string command, ProposalCallback done);
  // Proposes a membership change (Raft::ProposeConfChange: its errors, e.g. another change in
  // flight, come back at once); `done` runs with an empty result once the entry is applied (a
  // joint change: once C_old,new commits; the leader then leaves it on its own), or with an
  // error if it was lost.
  absl::StatusOr<LogPosition> ProposeConfChange(const raftpb::ConfChange& change, ProposalCallback done);

  // A storage failure (failed fsync, corrupt read) stops the replica for good: from then on it
  // sends nothing, applies nothing and refuses every request with this error.
  const absl::Status& failed() const { return failed_; }
  // A full disk does not stop the replica: the Ready it could not persist is held and retried
  // at most once per tick until it fits, and meanwhile the core is frozen (no ticks; incoming
  // messages dropped; proposals refused with this kUnavailable error; see HoldReady in
  // replica.cc for why that is safe). OK when not stalled. While non-OK, the owner must not
  // drive the core either (raft().ReadIndex, TransferLeadership, Campaign...).
  const absl::Status& storage_stalled() const { return storage_stalled_; }
  // Times the replica stalled on a full disk, and recovered from it; messages dropped while
  // stalled; application snapshots abandoned because the disk was full.
  uint64_t storage_stalls() const { return storage_stalls_; }
  uint64_t storage_recoveries() const { return storage_recoveries_; }
  uint64_t dropped_while_stalled() const { return dropped_while_stalled_; }
  uint64_t snapshots_abandoned() const { return snapshots_abandoned_; }
  const Raft& raft() const { return *raft_; }
  Raft& raft() { return *raft_; }
  uint64_t rejected_messages() const { return rejected_messages_; }

 private:
  uint64_t TicksDueAt(int64_t now) const {
    return now > last_tick_nanos_ ? static_cast<uint64_t>((now - last_tick_nanos_) / options_.tick_nanos) : 0;
  }
  Replica(const ReplicaOptions& options, const Clock& clock, Transport& transport,
          DurableStorage& storage, StateMachine& state_machine);
  // Remembers `done` for an accepted proposal (answered when its entry is applied or lost).
  absl::StatusOr<LogPosition> Track(absl::StatusOr<LogPosition> position, ProposalCallback done);
  void HandleReady();
  // Persists `ready`; false if the replica stopped or stalled (then it holds `ready`).
  bool Persist(Ready& ready);
  void HoldReady(Ready ready, const absl::Status& status);
  // Steps 3-6 of the persistence contract (ready.h) for a persisted Ready.
  void CompleteReady(Ready& ready);
  // Step 4: applies ready.committed_entries above applied_through_ and answers their
  // proposals. Called before the persist too (ready.h allows it without a snapshot).
  void ApplyCommitted(const Ready& ready);
  // Ticks the core once per tick_nanos that passed since the last tick.
  void TickToNow();
  void Stop(const absl::Status& status);
  void MaybeSnapshot();
  void FailPending(const absl::Status& status);

  const ReplicaOptions options_;
  const Clock& clock_;
  Transport& transport_;
  DurableStorage& storage_;
  StateMachine& state_machine_;
  std::unique_ptr<Raft> raft_;
  int64_t last_tick_nanos_ = 0;
  Index last_snapshot_index_ = 0;
  // The last entry handed to the state machine. Runs ahead of the core's applied index between
  // an early apply and Advance() (and while a full disk holds the Ready whose entries these
  // were): those entries must not be applied twice.
  Index applied_through_ = 0;
  struct Pending {
    Term term;
    ProposalCallback done;
  };
  std::map<Index, Pending> pending_;  // proposals made here, by log index
  absl::Status failed_;
  absl::Status storage_stalled_;
  std::optional<Ready> held_;  // the Ready a full disk refused; set iff storage_stalled_
  int64_t next_persist_retry_nanos_ = 0;
  Index next_snapshot_attempt_index_ = 0;
  uint64_t storage_stalls_ = 0;
  uint64_t storage_recoveries_ = 0;
  uint64_t dropped_while_stalled_ = 0;
  uint64_t snapshots_abandoned_ = 0;
  uint64_t rejected_messages_ = 0;
  ReadStateHandler read_state_handler_;
};

}  // namespace keel
