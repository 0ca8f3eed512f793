// The production clocks: std::chrono::steady_clock for ticks and deadlines (monotonic; never
// jumps with wall time), and the wall clock for the leader time stamped into commands (hosts'
// steady clocks have different epochs; wall clocks agree up to NTP's error, and the state
// machine never lets log time run backwards).
#pragma once

#include <chrono>

#include "engine/env.h"

namespace keel::net {

class SteadyClock final : public Clock {
 public:
  int64_t NowNanos() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

class WallClock final : public Clock {
 public:
  int64_t NowNanos() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace keel::net
