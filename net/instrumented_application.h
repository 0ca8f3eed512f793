// An Application that times the one it wraps: apply and snapshot latencies, snapshot counts
// and sizes, for the production node's metrics. Decisions stay with the wrapped application;
// this only reads the steady clock around its calls (the engine never sees wall time).
#pragma once

#include <chrono>

#include "engine/application.h"
#include "net/metrics.h"

namespace keel::net {

class InstrumentedApplication final : public Application {
 public:
  // `inner` must outlive this.
  explicit InstrumentedApplication(Application& inner) : inner_(inner) {}

  std::string Apply(Index index, absl::string_view command) override {
    const int64_t start = Now();
    std::string result = inner_.Apply(index, command);
    apply_.Observe(Now() - start);
    return result;
  }
  std::string Snapshot() const override {
    const int64_t start = Now();
    std::string data = inner_.Snapshot();
    snapshot_take_.Observe(Now() - start);
    ++snapshots_taken_;
    last_snapshot_bytes_ = data.size();
    return data;
  }
  absl::Status Restore(absl::string_view data) override {
    absl::Status status = inner_.Restore(data);
    if (status.ok()) {
      ++snapshots_installed_;
      last_snapshot_bytes_ = data.size();
    }
    return status;
  }
  CommandInfo Inspect(absl::string_view command) const override { return inner_.Inspect(command); }
  std::string StampLeaderTime(absl::string_view command, int64_t leader_time_nanos) const override {
    return inner_.StampLeaderTime(command, leader_time_nanos);
  }
  std::string Query(absl::string_view command) const override { return inner_.Query(command); }
  std::string WithSequence(absl::string_view command, uint64_t sequence) const override {
    return inner_.WithSequence(command, sequence);
  }

  // Copies the figures into `snapshot`.
  void Fill(MetricsSnapshot& snapshot) const {
    snapshot.apply = apply_;
    snapshot.snapshot_take = snapshot_take_;
    snapshot.snapshots_taken = snapshots_taken_;
    snapshot.snapshots_installed = snapshots_installed_;
    snapshot.last_snapshot_bytes = last_snapshot_bytes_;
  }

 private:
  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  Application& inner_;
  LatencyHistogram apply_;
  // Snapshot() is const in the interface; taking one is still an event worth counting.
  mutable LatencyHistogram snapshot_take_;
  mutable uint64_t snapshots_taken_ = 0;
  uint64_t snapshots_installed_ = 0;
  mutable uint64_t last_snapshot_bytes_ = 0;
};

}  // namespace keel::net
