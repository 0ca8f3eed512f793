// A StateMachine decorator that reports every command a replica applies and every state it
// restores, so the cluster checker sees exactly what each replica fed its state machine (State
// Machine Safety is about applies, not about commit indexes).
#pragma once

#include <functional>
#include <string>
#include <utility>

#include "engine/assert.h"
#include "engine/application.h"

namespace keel::sim {

class ObservedStateMachine final : public Application {
 public:
  // Called before the command at `index` is applied.
  using ApplyObserver = std::function<void(Index index, absl::string_view command)>;
  // Called after a successful Restore.
  using RestoreObserver = std::function<void()>;

  // `inner` must outlive this object.
  ObservedStateMachine(Application& inner, ApplyObserver on_apply, RestoreObserver on_restore)
      : inner_(inner), on_apply_(std::move(on_apply)), on_restore_(std::move(on_restore)) {
    KEEL_ASSERT(on_apply_ && on_restore_);
  }

  std::string Apply(Index index, absl::string_view command) override {
    on_apply_(index, command);
    return inner_.Apply(index, command);
  }
  std::string Snapshot() const override { return inner_.Snapshot(); }
  CommandInfo Inspect(absl::string_view command) const override { return inner_.Inspect(command); }
  std::string StampLeaderTime(absl::string_view command, int64_t leader_time_nanos) const override {
    return inner_.StampLeaderTime(command, leader_time_nanos);
  }
  std::string Query(absl::string_view command) const override { return inner_.Query(command); }
  std::string WithSequence(absl::string_view command, uint64_t sequence) const override {
    return inner_.WithSequence(command, sequence);
  }
  absl::Status Restore(absl::string_view data) override {
    absl::Status status = inner_.Restore(data);
    if (status.ok()) on_restore_();
    return status;
  }

 private:
  Application& inner_;
  ApplyObserver on_apply_;
  RestoreObserver on_restore_;
};

}  // namespace keel::sim
