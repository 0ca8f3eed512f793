// One Raft node: wires a Raft core to a Clock, a Transport, DurableStorage and a
// StateMachine, and carries out every Ready in the order of the persistence contract
// (engine/ready.h). Event-driven and single-threaded: the owner's loop (a ZeroMQ poll loop in
// production, a fiber in the simulator) calls OnMessage() for each delivery and Poll()
// whenever it wakes; NextWakeNanos() says when the next tick is due.
#pragma once

#include <functional>
#include <map>
#include <memory>
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
  void OnMessage(const raftpb::Message& message);
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
  // When Poll() should run next for the next tick.
  int64_t NextWakeNanos() const { return last_tick_nanos_ + options_.tick_nanos; }

  // Proposes a command; `done` runs once it is applied (or lost). Fails at once when this
  // node is not the leader (the error names the leader if known) or the replica stopped.
  // The entry is written and sent by the next Poll(): proposals made between two Polls share
  // one Ready and one fsync.
  absl::StatusOr<LogPosition> Propose(std::string command, ProposalCallback done);

  // A storage failure (failed fsync, corrupt read) stops the replica for good: from then on it
  // sends nothing, applies nothing and refuses every request with this error.
  const absl::Status& failed() const { return failed_; }
  const Raft& raft() const { return *raft_; }
  Raft& raft() { return *raft_; }
  uint64_t rejected_messages() const { return rejected_messages_; }

 private:
  Replica(const ReplicaOptions& options, const Clock& clock, Transport& transport,
          DurableStorage& storage, StateMachine& state_machine);
  void HandleReady();
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
  struct Pending {
    Term term;
    ProposalCallback done;
  };
  std::map<Index, Pending> pending_;  // proposals made here, by log index
  absl::Status failed_;
  uint64_t rejected_messages_ = 0;
  ReadStateHandler read_state_handler_;
};

}  // namespace keel
