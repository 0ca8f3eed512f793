// A Clock that moves only when told to: for tests and fuzz targets that drive replicas and
// node drivers by hand (the simulator has its own clocks, with skew and drift).
#pragma once

#include <cstdint>

#include "engine/env.h"

namespace keel {

class ManualClock final : public Clock {
 public:
  int64_t NowNanos() const override { return now_; }
  void Advance(int64_t nanos) { now_ += nanos; }

 private:
  int64_t now_ = 1'000'000'000;
};

}  // namespace keel
